"""pytest-benchmark: a forward pass of a committed judge, ONNX Runtime and torch (see bench_judges.py)."""

from __future__ import annotations

import pytest
import torch
from rich.table import Table

from msd_bench.judges import list_judges, load_judge

BATCH = 16
NAME = "dsprites-dynamic" if "dsprites-dynamic" in list_judges() else (list_judges() or [None])[0]
RESULTS: dict[str, float] = {}


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_bench_judge_forward(benchmark, backend, show):
    assert NAME is not None, "no committed judge in msd_bench/judges/artifacts"
    judge = load_judge(NAME, backend=backend, threads=2) if backend == "onnx" else load_judge(NAME, backend=backend)
    t, c, h, w = judge.card.dataset.shape
    x = torch.rand(BATCH, t, c, h, w, generator=torch.Generator().manual_seed(0))
    out = benchmark.pedantic(judge, args=(x,), rounds=5, warmup_rounds=2)
    assert set(out.sequence) == {f.name for f in judge.factors}
    RESULTS[backend] = BATCH * t / benchmark.stats.stats.median
    if len(RESULTS) == 2:
        table = Table(title=f"judge {NAME} inference on CPU, batch {BATCH}, 2 threads (pytest-benchmark median)")
        for col in ("judge", "input [B,T,C,H,W]", "ONNX Runtime frames/s", "torch frames/s"):
            table.add_column(col)
        table.add_row(NAME, str([BATCH, t, c, h, w]), f"{RESULTS['onnx']:,.0f}", f"{RESULTS['torch']:,.0f}")
        show(table)
