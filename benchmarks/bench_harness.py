"""Benchmark of the evaluation runner: wall time, time inside the model and the judge, overhead.

    .venv/bin/python benchmarks/bench_harness.py [--submission submissions/dsvae-sprites] [--limit N]

Prints one table: per metric group its wall time, then the totals and the harness's overhead
(``evaluate`` wall time / time of the model and judge forward passes it needs). Targets (issue #6):
overhead <= 1.3 and a complete evaluate of a small reference submission on the full sprites test
split <= 120 s on 2 CPU cores.

Two columns: ``cold`` is the first ``evaluate`` of a fresh process (it pays the one-time imports of
the metric code, the submission's code and ONNX Runtime, and first-touch allocations); ``warm`` is a
second, complete ``evaluate`` in the same process (fresh output folder, nothing resumed), as inside a
training loop. The ``wall`` row is the runner's own ``timing.wall_s``.
"""

from __future__ import annotations

import argparse
import tempfile

from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", default="submissions/dsvae-sprites")
    parser.add_argument("--dataset", default="sprites")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=2, help="evaluate this many times in one process (cold, warm...)")
    a = parser.parse_args()

    import msd_bench
    from msd_bench.datasets import open_dataset

    open_dataset(a.dataset, size="full")  # preparing the dataset is not part of the measurement
    results = []
    for _ in range(a.runs):
        with tempfile.TemporaryDirectory() as out:
            results.append(msd_bench.evaluate(a.submission, a.dataset, limit=a.limit, device=a.device, out=out,
                                              trust_code=True))
    first = results[0]
    table = Table(title=f"evaluate {first.submission.name} on {a.dataset} (n={first.dataset.n}, "
                  f"{first.settings.device}, {first.environment['cpu_count']} CPUs)", title_justify="left")
    table.add_column("phase")
    for i in range(len(results)):
        table.add_column("cold (s)" if i == 0 else f"warm {i} (s)", justify="right")
    for phase in first.timing.phases_s:
        table.add_row(phase, *[f"{r.timing.phases_s.get(phase, float('nan')):.1f}" for r in results])
    table.add_row("model forward passes", *[f"{r.timing.model_s:.1f}" for r in results])
    table.add_row("judge forward passes", *[f"{r.timing.judge_s:.1f}" for r in results])
    table.add_row("evaluate wall time", *[f"{r.timing.wall_s:.1f}" for r in results])
    table.add_row("overhead = wall / (model + judge)", *[f"{r.timing.overhead:.2f}" for r in results])
    table.add_row("status", *[r.status for r in results])
    same = all(r.scores == first.scores for r in results[1:])
    table.add_row("identical scores across runs", "yes" if same else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
