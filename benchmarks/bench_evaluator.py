"""Benchmark of :class:`msd_bench.Evaluator`: the harness's own time in a warm call, vs a cold evaluate.

    .venv/bin/python benchmarks/bench_evaluator.py [--submission submissions/dsvae-sprites] [--limit 128]
        [--preset quick] [--calls 3] [--threads 1]

The submission is loaded once (as a model in a training loop is already in memory). Rows: one cold
``msd_bench.evaluate`` with the Evaluator's settings (opens the dataset and the judge, reads and
converts the inputs), the Evaluator's first call (its inputs are read then), and ``--calls`` warm
calls. Columns: wall time, time inside the model's and the judge's forward passes (the runner's
``timing.model_s`` / ``judge_s``), the harness's own time = wall - model - judge, its share of
the wall time, and the part of it spent outside the metric groups (loading, the latent shape check,
the result's bookkeeping: wall - the groups' phase times); the rest of the harness time is the metric
groups' own arithmetic (SSIM, bootstrap intervals, IS / entropies, gathering the swap batches).
Target (issue #15): harness <= 15 % of the wall time of a warm quick call at limit 128 on sprites.
The last line checks that every call's scores equal the cold evaluate's exactly.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

TARGET = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", default="submissions/dsvae-sprites")
    parser.add_argument("--dataset", default="sprites")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--limit", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--calls", type=int, default=3, help="warm calls after the first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    a = parser.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    import msd_bench
    from msd_bench.datasets import open_dataset
    from msd_bench.harness.loader import load_submission

    open_dataset(a.dataset, size="full")  # preparing the dataset is not part of the measurement
    model = load_submission(a.submission, dataset=a.dataset, device=a.device, trust_code=True)
    t0 = time.perf_counter()
    ev = msd_bench.Evaluator(a.dataset, preset=a.preset, limit=a.limit, device=a.device)
    open_s = time.perf_counter() - t0
    cold = msd_bench.evaluate(model, a.dataset, pictures=False, **ev.evaluate_kwargs())
    runs = [("cold msd_bench.evaluate", cold), ("Evaluator call 1 (reads inputs)", ev(model))]
    runs += [(f"Evaluator call {i + 2} (warm)", ev(model)) for i in range(a.calls)]

    table = Table(title=f"{model.manifest.name} on {a.dataset}: preset {a.preset}, groups {', '.join(ev.metrics)}, "
                  f"n={cold.dataset.n}, {cold.settings.device}, torch threads {a.threads}; Evaluator opened in "
                  f"{open_s:.2f} s", title_justify="left")
    for col in ("run", "wall s", "model s", "judge s", "harness s", "harness / wall", "outside groups s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    shares = []
    for label, r in runs:
        t = r.timing
        harness = t.wall_s - t.model_s - t.judge_s
        share = harness / t.wall_s
        if "warm" in label:
            shares.append(share)
        outside = t.wall_s - sum(v for k, v in t.phases_s.items() if k != "load") - t.phases_s.get("load", 0.0)
        table.add_row(label, f"{t.wall_s:.3f}", f"{t.model_s:.3f}", f"{t.judge_s:.3f}", f"{harness:.3f}",
                      f"{100 * share:.1f} %", f"{outside + t.phases_s.get('load', 0.0):.3f}")
    for group in ev.metrics:
        table.add_row(f"  {group} (warm, last call)", f"{runs[-1][1].timing.phases_s.get(group, float('nan')):.3f}",
                      "", "", "", "", "")
    console = Console(width=150)
    console.print(table)
    same = all({k: v.model_dump() for k, v in r.scores.items()} == {k: v.model_dump() for k, v in cold.scores.items()}
               for _, r in runs[1:])
    if shares:
        worst = max(shares)
        verdict = "meets" if worst <= TARGET else "MISSES"
        console.print(f"harness share of a warm call: median {100 * sorted(shares)[len(shares) // 2]:.1f} %, worst "
                      f"{100 * worst:.1f} % — {verdict} the {100 * TARGET:.0f} % target")
    console.print(f"scores identical to the cold evaluate in every call: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
