"""`evaluate` refuses a judge whose dataset revision does not match (one line, exit 2, nothing written)."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

import msd_bench.judges.judge as judge_mod
from msd_bench.cli import app
from msd_bench.datasets import get_spec
from msd_bench.harness.examples import build_example
from msd_bench.testing import require_judge


@pytest.fixture(autouse=True)
def _sprites_judge_is_committed():
    """This end-to-end test needs the committed sprites judge: a missing one fails it, never skips it."""
    require_judge("sprites")


def test_judge_dataset_revision_mismatch_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    sub = build_example(tmp_path / "sub", "onnx", dataset="sprites")
    newer = dataclasses.replace(get_spec("sprites"), version="9.9")
    monkeypatch.setattr(judge_mod, "_get_spec", lambda name: newer)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["evaluate", "--submission", str(sub), "--size", "small", "--limit", "8",
                                      "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"dataset version {get_spec('sprites').version}" in result.output and "9.9" in result.output
    assert not (out / "result.json").exists()
