"""`make gpu-check` (benchmarks/gpu_check.py) on a machine without CUDA: refused in one line, exit 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch


def _load():
    path = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_refuses_without_cuda(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _load().main(["--out", str(tmp_path / "x.json")]) == 2
    out = capsys.readouterr().out
    assert "no CUDA device" in out and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_gpu_check_compare_rule():
    mod = _load()
    cpu = {"a": {"value": 0.500}, "b": {"value": 100.0}, "c": {"value": 0.2}, "d": {"value": None}}
    gpu = {"a": {"value": 0.505}, "b": {"value": 100.9}, "c": {"value": 0.25}, "d": {"value": 0.1}, "e": {"value": 1}}
    rows, bad = mod._compare(cpu, gpu, 0.01)
    ok = {r[0]: r[4] for r in rows}
    assert ok == {"a": True, "b": True, "c": False, "e": False} and bad == 2
