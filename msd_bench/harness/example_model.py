"""A tiny, untrained model that implements the interface: the code of the example submissions.

``msd_bench.harness.examples`` copies this file into a torch example submission as ``model.py`` (its
entry point is ``model:build``) and exports the same network to ONNX for the ONNX example. It is a
test fixture for the loaders and ``msd-bench validate``, not a reference method: its scores mean
nothing.

Encoder: average-pool each frame by ``pool``; static code = linear map of the frame-averaged
features, dynamic code = linear map of each frame's features. Decoder: linear map of
``[static, dynamic_t]`` to the pooled frame, sigmoid, nearest upsampling. Priors: standard normal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _GaussianPriors:
    """``decode`` from ``decode_parts`` and standard-normal priors, shared by the example models."""

    def decode(self, z) -> torch.Tensor:
        return self.decode_parts(z.static, z.dynamic)

    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.static_dim, generator=generator, device=generator.device)

    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, frames, self.dynamic_dim, generator=generator, device=generator.device)


class TinyModel(_GaussianPriors, nn.Module):
    def __init__(
        self,
        frames: int,
        channels: int,
        height: int,
        width: int,
        static_dim: int = 4,
        dynamic_dim: int = 2,
        pool: int = 8,
    ):
        super().__init__()
        self.frames, self.channels, self.height, self.width = frames, channels, height, width
        self.static_dim, self.dynamic_dim, self.pool = static_dim, dynamic_dim, pool
        self.ph, self.pw = height // pool, width // pool
        feat = channels * self.ph * self.pw
        self.enc_static = nn.Linear(feat, static_dim)
        self.enc_dynamic = nn.Linear(feat, dynamic_dim)
        self.dec = nn.Linear(static_dim + dynamic_dim, feat)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        pooled = F.avg_pool2d(x.reshape(b * t, self.channels, self.height, self.width), self.pool)
        return pooled.reshape(b, t, -1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self._features(x)
        return self.enc_static(f.mean(dim=1)), self.enc_dynamic(f)

    def decode_parts(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        b, t = dynamic.shape[:2]
        h = torch.cat([static.unsqueeze(1).expand(b, t, self.static_dim), dynamic], dim=-1)
        frames = torch.sigmoid(self.dec(h)).reshape(b * t, self.channels, self.ph, self.pw)
        # nearest upsampling by ``pool`` (expand + reshape: the same values as F.interpolate, faster)
        k = self.pool
        frames = frames[:, :, :, None, :, None].expand(-1, -1, -1, k, -1, k)
        return frames.reshape(b, t, self.channels, self.height, self.width)



class TinyStepModel(_GaussianPriors, nn.Module):
    """The 1-D counterpart of :class:`TinyModel` (interface version 2): sequences ``[B, T, F]`` of
    audio frames (``bounded``: tanh output in [-1, 1]) or time-series steps (linear output)."""

    def __init__(self, frames: int, features: int, static_dim: int = 4, dynamic_dim: int = 2,
                 bounded: bool = True):
        super().__init__()
        self.frames, self.features, self.bounded = frames, features, bool(bounded)
        self.static_dim, self.dynamic_dim = static_dim, dynamic_dim
        self.enc_static = nn.Linear(features, static_dim)
        self.enc_dynamic = nn.Linear(features, dynamic_dim)
        self.dec = nn.Linear(static_dim + dynamic_dim, features)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.enc_static(x.mean(dim=1)), self.enc_dynamic(x)

    def decode_parts(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        b, t = dynamic.shape[:2]
        y = self.dec(torch.cat([static.unsqueeze(1).expand(b, t, self.static_dim), dynamic], dim=-1))
        return torch.tanh(y) if self.bounded else y



def build(**config) -> TinyModel:
    """Entry point of the torch example submission (``model:build``)."""
    return TinyModel(**config)


def build_steps(**config) -> TinyStepModel:
    """Entry point of the 1-D (audio / time-series) torch example submission (``model:build_steps``)."""
    return TinyStepModel(**config)
