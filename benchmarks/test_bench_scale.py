"""pytest-benchmark: the board's fan-out on a local 2-CPU Ray vs the sequential in-process run.

Two example submissions x two datasets (``--size small``, 48 sequences each to keep ``make bench``
short; ``bench_scale.py`` runs the whole small split) in one measurement. The timed figure is both
runs together; the walls, Ray's start-up and the ratio (target <= 0.65) are printed and saved in
``extra_info``. Not a timed test: only the agreement of the stored scores is asserted (to 1e-9: the sequential run
uses two torch threads, the tasks one, which changes a few scores in the last bits).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("ray")
_spec = importlib.util.spec_from_file_location("bench_scale", Path(__file__).with_name("bench_scale.py"))
bench_scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_scale)


def test_bench_scale_ray_vs_inprocess(benchmark, show):
    figures = {}

    def run():
        figures.update(bench_scale.measure(num_cpus=2, limit=48, bench_queries=100))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in figures.items() if k != "failures"})
    show(bench_scale.table(figures))
    assert not figures["failures"] and figures["max_abs_diff"] < 1e-9  # bytes differ only with other thread counts
