"""pytest-benchmark: scan and build of a 100-result store (see bench_leaderboard.py for the size sweep)."""

from __future__ import annotations

from bench_leaderboard import make_store
from rich.table import Table

from msd_bench.leaderboard import build_leaderboard, scan_store
from msd_bench.testing import example_revisions

N = 100
REV = example_revisions(("sprites", "shapes"))


def test_bench_scan_store(benchmark, tmp_path):
    make_store(tmp_path, N)
    entries, _ = benchmark.pedantic(scan_store, args=(tmp_path, REV), rounds=5, warmup_rounds=1)
    assert len(entries) == N


def test_bench_build_all_formats(benchmark, tmp_path, show):
    make_store(tmp_path, N)
    report = benchmark.pedantic(build_leaderboard, args=(tmp_path,), kwargs={"formats": ["all"], "revisions": REV},
                                rounds=3, warmup_rounds=1)
    out = tmp_path / next(iter(report.boards))
    t = Table(title=f"leaderboard build, {N} results (pytest-benchmark)")
    for col in ("results", "build (all formats) s, median", "html KiB", "json KiB"):
        t.add_column(col, justify="right")
    t.add_row(str(N), f"{benchmark.stats.stats.median:.3f}", f"{(out / 'index.html').stat().st_size / 1024:.0f}",
              f"{(out / 'leaderboard.json').stat().st_size / 1024:.0f}")
    show(t)
