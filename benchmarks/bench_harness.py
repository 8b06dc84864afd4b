"""Benchmark of the evaluation runner: wall time, time inside the model and the judge, overhead.

    .venv/bin/python benchmarks/bench_harness.py [--submission submissions/dsvae-sprites] [--limit N]

Prints one table: per metric group its wall time, then the totals and the harness's overhead
(``evaluate`` wall time / time of the model and judge forward passes it needs). Targets (issue #6):
overhead <= 1.3 and a complete evaluate of a small reference submission on the full sprites test
split <= 120 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", default="submissions/dsvae-sprites")
    parser.add_argument("--dataset", default="sprites")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="auto")
    a = parser.parse_args()

    import msd_bench
    from msd_bench.datasets import open_dataset

    open_dataset(a.dataset, size="full")  # preparing the dataset is not part of the measurement
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = msd_bench.evaluate(a.submission, a.dataset, limit=a.limit, device=a.device, out=out,
                                    trust_code=True)
    wall = time.perf_counter() - t0
    t = result.timing
    table = Table(title=f"evaluate {result.submission.name} on {a.dataset} (n={result.dataset.n}, "
                  f"{result.settings.device}, {result.environment['cpu_count']} CPUs)", title_justify="left")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for phase, s in t.phases_s.items():
        table.add_row(phase, f"{s:.1f}")
    table.add_row("model forward passes", f"{t.model_s:.1f}")
    table.add_row("judge forward passes", f"{t.judge_s:.1f}")
    table.add_row("evaluate wall time", f"{wall:.1f}")
    table.add_row("overhead = wall / (model + judge)", f"{t.overhead:.2f}")
    table.add_row("status", result.status)
    Console().print(table)


if __name__ == "__main__":
    main()
