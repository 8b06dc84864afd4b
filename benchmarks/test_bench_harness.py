"""pytest-benchmark: the evaluation runner's own cost on a tiny model (see bench_harness.py for a
reference submission on the full sprites test split).

A synthetic dataset and a random judge stand in for the built-in ones, and the model is a two-line
Python model, so what is timed is the runner: batching, interventions, metrics, bookkeeping.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rich.table import Table

import msd_bench.datasets as datasets_mod
import msd_bench.judges as judges_mod
from msd_bench.harness import Latents
from msd_bench.harness.runner import evaluate
from msd_bench.testing import RandomJudge, SyntheticDataset

GROUPS = ["reconstruction", "static_dynamic_swap", "generation", "exploration", "multi_factor"]


class Model:
    static_dim, dynamic_dim, name = 3, 2, "bench-model"

    def encode(self, x):
        return Latents(x.mean(dim=(1, 3, 4)), x.mean(dim=(3, 4))[..., :2])

    def decode(self, z):
        b, t = z.dynamic.shape[:2]
        return z.static[:, None, :, None, None].expand(b, t, 3, 32, 32).clamp(0, 1).contiguous()

    def sample_static(self, n, generator):
        import torch

        return torch.rand(n, 3, generator=generator)

    def sample_dynamic(self, n, frames, generator):
        import torch

        return torch.rand(n, frames, 2, generator=generator)


@pytest.fixture()
def synthetic(monkeypatch, tmp_path):
    ds = SyntheticDataset(n=400, frames=6, image_size=32, seed=0, name="synthetic")
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    spec = SimpleNamespace(name="synthetic", factors=ds.factors, shape=ds.shape)
    monkeypatch.setattr(datasets_mod, "get_spec", lambda name: spec)
    monkeypatch.setattr(datasets_mod, "open_dataset", lambda name, size="full": ds)
    monkeypatch.setattr(judges_mod, "load_judge", lambda name, **kw: RandomJudge(ds.factors))
    return ds


def test_bench_evaluate_runner(benchmark, synthetic, show):
    def run():
        return evaluate(Model(), "synthetic", metrics=GROUPS, device="cpu", batch_size=64, pictures=False)

    result = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert result.status == "complete", result.errors
    table = Table(title=f"evaluate (runner only) on {result.dataset.n} synthetic sequences (last round)",
                  title_justify="left")
    table.add_column("phase")
    table.add_column("s", justify="right")
    for phase, s in result.timing.phases_s.items():
        table.add_row(phase, f"{s:.2f}")
    table.add_row("model / judge forward passes", f"{result.timing.model_s:.2f} / {result.timing.judge_s:.2f}")
    table.add_row("evaluate wall time (median over rounds)", f"{benchmark.stats.stats.median:.2f}")
    show(table)
