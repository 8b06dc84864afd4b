"""Adapters used by the evaluation runner: Python models as submissions, and call timers."""

from __future__ import annotations

import time
from typing import Any

import torch

from .interface import Latents, has_prior, swap


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_device(model: Any) -> torch.device:
    """The device a model runs on: its ``device`` attribute, else its first parameter's, else CPU."""
    dev = getattr(model, "device", None)
    if isinstance(dev, torch.device | str):
        return torch.device(dev)
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


class TimedModel:
    """Forwards the interface to ``model`` under ``torch.inference_mode`` and accumulates the seconds
    spent inside it (CUDA-synchronised), so the runner can report its own overhead."""

    def __init__(self, model: Any, device: torch.device):
        self.inner = model
        self.device = device
        self.static_dim = int(model.static_dim)
        self.dynamic_dim = int(model.dynamic_dim)
        self.seconds = 0.0
        self.calls = 0

    def _timed(self, fn, *args):
        _sync(self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = fn(*args)
        _sync(self.device)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out

    def encode(self, x: torch.Tensor) -> Latents:
        out = self._timed(self.inner.encode, x.to(self.device))
        if not isinstance(out, Latents):
            out = Latents(out[0], out[1])
        return out

    def decode(self, z: Latents) -> torch.Tensor:
        return self._timed(self.inner.decode, z)

    def has_prior(self, part: str) -> bool:
        return has_prior(self.inner, part)  # type: ignore[arg-type]

    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self._timed(self.inner.sample_static, n, generator)

    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        return self._timed(self.inner.sample_dynamic, n, frames, generator)

    def swap(self, za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
        return self._timed(swap, self.inner, za, zb, mask)


class TimedJudge:
    """Forwards calls to a judge and accumulates the seconds spent inside it."""

    def __init__(self, judge: Any, device: torch.device):
        self.inner = judge
        self.device = device
        self.seconds = 0.0
        self.factors = judge.factors

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, x: torch.Tensor):
        _sync(self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.inner(x)
        _sync(self.device)
        self.seconds += time.perf_counter() - t0
        return out
