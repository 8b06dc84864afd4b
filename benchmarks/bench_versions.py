"""Harness time of two code trees side by side: full evaluates alternating between them in one run.

    .venv/bin/python benchmarks/bench_versions.py --old PATH [--new PATH] [--submission submissions/dsvae-sprites]
        [--dataset sprites] [--rounds 2] [--threads 2]

``--old`` / ``--new``: checkouts of msd-bench (e.g. ``git worktree add /tmp/old <commit>``; ``--new``
defaults to this repository). Each round evaluates the submission once with each tree's code (a fresh
process with that tree first on ``PYTHONPATH``; the full test split, default settings, pictures on, a
scratch ``--out``), old first, then new, so both see the same machine load as far as a shared machine
allows. Before its evaluate each process runs a tiny boosted-tree fit, so loading (or compiling) the
numba kernels is not counted. Printed per run: wall, model, judge and harness (= wall - model - judge)
seconds and the groups' wall times; then the best harness time of each tree and their difference.
Both trees must be able to load the submission and the dataset's judge.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, tempfile
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[3]))
import msd_bench
from msd_bench.harness.loader import load_submission
from msd_bench.metrics import gbt
rng = np.random.default_rng(0)
gbt.fit_gbts(rng.normal(size=(60, 3)), rng.integers(0, 3, (60, 2)), rng.normal(size=(5, 3)), n_estimators=2)
m = load_submission(sys.argv[1], trust_code=True)
with tempfile.TemporaryDirectory() as out:
    r = msd_bench.evaluate(m, dataset=sys.argv[2], out=out)
t = r.timing
print("RESULT " + json.dumps({"wall": t.wall_s, "model": t.model_s, "judge": t.judge_s, "phases": t.phases_s}))
"""


def run(tree: Path, submission: Path, dataset: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(submission), dataset, str(threads)], env=env,
                          capture_output=True, text=True, cwd=str(tree))
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"evaluate with the code of {tree} failed: {tail}")
    rec = json.loads(line[len("RESULT "):])
    rec["harness"] = rec["wall"] - rec["model"] - rec["judge"]
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="checkout of the code to compare against")
    ap.add_argument("--new", type=Path, default=ROOT, help="checkout of the code to measure (default: this one)")
    ap.add_argument("--submission", type=Path, default=ROOT / "submissions" / "dsvae-sprites")
    ap.add_argument("--dataset", default="sprites")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch (and numba fit) threads of each evaluate")
    a = ap.parse_args()
    for tree in (a.old, a.new):
        if not (tree / "msd_bench" / "__init__.py").is_file():
            raise SystemExit(f"{tree}: not an msd-bench checkout (expected msd_bench/__init__.py)")
    console = Console(width=max(Console().width, 160))
    table = Table(title=f"evaluate {a.submission.name} on {a.dataset} (full test split), old vs new, alternating")
    for col in ("run", "tree", "wall s", "model s", "judge s", "harness s", "groups (wall s)"):
        table.add_column(col)
    best: dict[str, float] = {}
    for r in range(1, a.rounds + 1):
        for label, tree in (("old", a.old), ("new", a.new)):
            rec = run(tree.resolve(), a.submission.resolve(), a.dataset, a.threads)
            best[label] = min(best.get(label, float("inf")), rec["harness"])
            groups = ", ".join(f"{k} {v:.1f}" for k, v in rec["phases"].items())
            table.add_row(str(r), label, f"{rec['wall']:.1f}", f"{rec['model']:.1f}", f"{rec['judge']:.1f}",
                          f"{rec['harness']:.1f}", groups)
            console.print(f"round {r} {label}: harness {rec['harness']:.1f} s (wall {rec['wall']:.1f} s)")
    console.print(table)
    console.print(f"best harness time: old {best['old']:.1f} s, new {best['new']:.1f} s, "
                  f"new - old = {best['new'] - best['old']:+.1f} s")


if __name__ == "__main__":
    main()
