"""Leaderboard build time against store size.

Run: ``.venv/bin/python benchmarks/bench_leaderboard.py [--sizes 10 100 1000] [--repeats 3]``

For each size N, writes a store of N hand-made results (N/2 submissions x 2 datasets, 8 scores each,
timing on 2 machines, one picture per result) into a temporary folder with ``add_result``, then times
``scan_store`` alone and ``build_leaderboard(formats=all)`` (scan + rank + json/csv/md/html/LaTeX/
model-index), median of ``--repeats`` runs, and prints the sizes of the written files.
No network, no datasets, no judges: the current revisions are injected.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from msd_bench.leaderboard import add_result, build_leaderboard, scan_store
from msd_bench.testing import example_revisions, make_result

METRICS = [f"metric_{i}" for i in range(8)]


def make_store(root: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(n):
        dataset = ("sprites", "shapes")[i % 2]
        name = f"model-{i // 2:04d}"
        scores = {m: rng.random() for m in METRICS}
        directions = {m: j % 3 != 0 for j, m in enumerate(METRICS)}
        path = add_result(
            make_result(name, dataset=dataset, scores=scores, directions=directions,
                        latency_ms=rng.uniform(0.5, 50), fingerprint=rng.choice(["m1", "m1", "m2"])),
            root,
        )
        pics = path.with_suffix("")
        pics.mkdir(exist_ok=True)
        (pics / "swap.png").write_bytes(b"\x89PNG")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rev = example_revisions(("sprites", "shapes"))
    t = Table(title="leaderboard build (median of repeats)")
    for col in ("results", "write store s", "scan s", "build (all formats) s", "html KiB", "json KiB"):
        t.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"store-{n}"
            t0 = time.perf_counter()
            make_store(root, n)
            write_s = time.perf_counter() - t0
            scans, builds = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                entries, _ = scan_store(root, rev)
                scans.append(time.perf_counter() - t0)
                assert len(entries) == n
                t0 = time.perf_counter()
                build_leaderboard(root, formats=["all"], revisions=rev)
                builds.append(time.perf_counter() - t0)
            out = next(p for p in root.iterdir() if p.name != "results")
            t.add_row(
                str(n),
                f"{write_s:.2f}",
                f"{statistics.median(scans):.3f}",
                f"{statistics.median(builds):.3f}",
                f"{(out / 'index.html').stat().st_size / 1024:.0f}",
                f"{(out / 'leaderboard.json').stat().st_size / 1024:.0f}",
            )
    Console().print(t)


if __name__ == "__main__":
    main()
