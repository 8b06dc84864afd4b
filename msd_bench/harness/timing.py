"""Timing of a submission (``msd-bench bench``) and of the harness's own phases.

Methodology (in the spirit of MLPerf's single-stream / offline scenarios):

- *warm-up* calls are run and discarded before anything is measured;
- *latency* is measured per query at batch 1 on the reconstruction path (encode + decode), and the
  p50 / p90 / p99 percentiles are only reported as valid with enough queries: at least 64 for p90
  and 662 for p99 (the MLPerf minimum for a 99th percentile at 95 % confidence, ±0.5 %);
- *throughput* is sequences per second at a large batch, for encode, decode and swap separately;
- on CUDA every timed region is bracketed by ``torch.cuda.synchronize()``;
- peak memory is CUDA's max allocated bytes on GPU, else the process's peak RSS.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .environment import machine_fingerprint
from .interface import Latents, static_mask, swap
from .modality import value_range

MIN_QUERIES_P90 = 64
MIN_QUERIES_P99 = 662


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PhaseTimer:
    """Accumulates wall time per named phase: ``with timer("encode"): ...``."""

    def __init__(self, device: torch.device | None = None):
        self.device = device or torch.device("cpu")
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        _sync(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in self.seconds.items()}


def peak_memory_bytes(device: torch.device) -> tuple[int, str]:
    """Peak memory and what it measures (CUDA max allocated, else the process's peak RSS)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "process_peak_rss"


def percentiles(samples_s: list[float]) -> dict[str, float | None]:
    """p50 / p90 / p99 in milliseconds; a percentile without enough queries is ``None``."""
    arr = np.asarray(samples_s, dtype=np.float64) * 1e3
    n = len(arr)
    return {
        "p50_ms": float(np.percentile(arr, 50)) if n else None,
        "p90_ms": float(np.percentile(arr, 90)) if n >= MIN_QUERIES_P90 else None,
        "p99_ms": float(np.percentile(arr, 99)) if n >= MIN_QUERIES_P99 else None,
        "mean_ms": float(arr.mean()) if n else None,
    }


@dataclass
class BenchReport:
    device: str
    shape: list[int]
    queries: int
    warmup: int
    batch_size: int
    latency: dict[str, float | None]
    throughput: dict[str, float]
    phases_s: dict[str, float]
    peak_memory_bytes: int
    peak_memory_kind: str
    parameters: int | None
    flops_per_sequence: int | None
    flops_method: str
    fingerprint: str
    verdict: str = "VALID"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _time_calls(fn: Callable[[], object], n: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(n):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def count_flops(model, shape: tuple[int, ...], modality: str = "video") -> tuple[int | None, str]:
    """FLOPs of encode + decode for one sequence: torch's FLOP counter, or a graph count for ONNX."""
    from .validate import dummy_batch

    module = getattr(model, "module", None)
    if isinstance(module, torch.nn.Module):
        from torch.utils.flop_counter import FlopCounterMode

        x = dummy_batch(shape, 1, model.device, modality)
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model.decode(model.encode(x))
        return int(counter.get_total_flops()), "torch.utils.flop_counter (encode + decode)"
    paths = getattr(model, "paths", None)
    if paths:
        from .onnx_flops import onnx_graph_flops

        total = 0
        for role in ("encoder", "decoder"):
            flops = onnx_graph_flops(paths[role], shape, model.static_dim, model.dynamic_dim, role, modality)
            if flops is None:
                return None, "onnx graph (shapes not inferable)"
            total += flops
        return total, "onnx graph count of Conv/ConvTranspose/Gemm/MatMul (encode + decode)"
    return None, "unavailable"


def bench_model(
    model,
    shape: tuple[int, ...],
    queries: int = 700,
    warmup: int = 10,
    batch_size: int = 64,
    repeats: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    modality: str = "video",
) -> BenchReport:
    """Time ``model`` on random inputs ``[B, *shape]`` of ``modality`` (its value range: [0, 1] video,
    [-1, 1] audio, standard normal time series); see the module docstring for the method."""
    device = model.device
    timer = PhaseTimer(device)
    gen = torch.Generator().manual_seed(seed)
    bounds = value_range(modality)

    def draw(n: int) -> torch.Tensor:
        if bounds is None:
            return torch.randn(n, *shape, generator=gen).to(device)
        return (torch.rand(n, *shape, generator=gen) * (bounds[1] - bounds[0]) + bounds[0]).to(device)

    x1 = draw(1)
    xb = draw(batch_size)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    reasons: list[str] = []

    def recon1() -> None:
        model.decode(model.encode(x1))

    with timer("warmup"):
        for _ in range(warmup):
            recon1()
        zb = model.encode(xb)
        model.decode(zb)
    if progress:
        progress("latency")
    with timer("latency"):
        lat = _time_calls(recon1, queries, device)
    latency = percentiles(lat)
    if queries < MIN_QUERIES_P90:
        reasons.append(f"p90 needs >= {MIN_QUERIES_P90} queries, got {queries}")
    if queries < MIN_QUERIES_P99:
        reasons.append(f"p99 needs >= {MIN_QUERIES_P99} queries, got {queries}")
    if warmup < 1:
        reasons.append("no warm-up calls")

    if progress:
        progress("throughput")
    half = batch_size // 2
    mask = static_mask(model.static_dim, model.dynamic_dim, device=device)
    za, zb2 = Latents(zb.static[:half], zb.dynamic[:half]), Latents(zb.static[half : 2 * half], zb.dynamic[half:])
    ops: dict[str, tuple[Callable[[], object], int]] = {
        "encode": (lambda: model.encode(xb), batch_size),
        "decode": (lambda: model.decode(zb), batch_size),
        "swap": (lambda: swap(model, za, zb2, mask), half),
        "reconstruct": (lambda: model.decode(model.encode(xb)), batch_size),
    }
    throughput = {}
    with timer("throughput"):
        for name, (fn, n) in ops.items():
            times = _time_calls(fn, repeats, device)
            throughput[f"{name}_seq_per_s"] = float(n / np.median(times))
    params = model.parameter_count() if hasattr(model, "parameter_count") else None
    flops, flops_method = count_flops(model, shape, modality)
    mem, mem_kind = peak_memory_bytes(device)
    return BenchReport(
        device=str(device),
        shape=list(shape),
        queries=queries,
        warmup=warmup,
        batch_size=batch_size,
        latency=latency,
        throughput=throughput,
        phases_s=timer.as_dict(),
        peak_memory_bytes=mem,
        peak_memory_kind=mem_kind,
        parameters=params,
        flops_per_sequence=flops,
        flops_method=flops_method,
        fingerprint=machine_fingerprint(device),
        verdict="VALID" if not reasons else "INVALID",
        reasons=reasons,
    )
