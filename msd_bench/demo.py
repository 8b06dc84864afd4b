"""``make demo``: evaluate a shipped reference submission on the built-in sprites dataset and print
its leaderboard, **without touching the repository**.

Steps: pick the reference submission (``submissions/dsvae-sprites`` when it exists, else the first
folder under ``submissions/`` that declares sprites), run ``msd-bench submit`` on sprites (prepares
the dataset on first use, validates, evaluates on the full test split, times it) into a *scratch*
store, ``$MSD_BENCH_CACHE/demo/`` (default ``~/.cache/msd-bench/demo/``, emptied at the start of
each run), which then holds the result, its pictures and the built board; print the board.

The committed leaderboard (``leaderboard/``) changes only through ``make leaderboard``: the demo's
timings come from whatever machine runs it and must not land in the committed board.

``python -m msd_bench.demo [--store DIR] [--dataset NAME] [--submission PATH] [--limit N] [--size S]``
(``--store DIR`` is used as given and never emptied).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

PREFERRED = ("dsvae-sprites", "c-dsvae-sprites")
DEMO_DIR = "demo"


def find_reference(root: Path = Path("submissions"), dataset: str = "sprites") -> Path | None:
    """The reference submission the demo evaluates, or None when none declares ``dataset``."""
    if dataset == "sprites":
        for name in PREFERRED:
            if (root / name / "submission.yaml").is_file():
                return root / name
    for manifest in sorted(root.glob("*/submission.yaml")):
        try:
            data = yaml.safe_load(manifest.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and dataset in (data.get("datasets") or {}):
            return manifest.parent
    return None


def scratch_store() -> Path:
    """The demo's own store: ``$MSD_BENCH_CACHE/demo`` (outside the repository)."""
    from .datasets.registry import cache_root

    return cache_root() / DEMO_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msd_bench.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="store to write (default: the scratch store)")
    parser.add_argument("--dataset", default="sprites")
    parser.add_argument("--submission", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="score a seeded subset of N sequences")
    parser.add_argument("--size", default="full")
    args = parser.parse_args(argv)

    from .cli import app

    ref = args.submission or find_reference(dataset=args.dataset)
    if ref is None:
        print(f"error: no reference submission declaring {args.dataset} under submissions/", file=sys.stderr)
        return 2
    store = args.store
    if store is None:
        store = scratch_store()
        shutil.rmtree(store, ignore_errors=True)  # the demo's own folder: start from an empty store
    store.mkdir(parents=True, exist_ok=True)
    print(f"== msd-bench demo: submitting the reference submission {ref} on {args.dataset} into {store}", flush=True)
    submit = ["submit", str(ref), "--dataset", args.dataset, "--trust-code", "--store", str(store),
              "--size", args.size]
    if args.limit is not None:
        submit += ["--limit", str(args.limit)]
    # Reference submissions are shipped with the harness, so their code is trusted here.
    for cmd in (submit, ["leaderboard", "show", "--store", str(store), "--dataset", args.dataset]):
        try:
            app(cmd, prog_name="msd-bench")
        except SystemExit as exc:
            if exc.code:
                return int(exc.code) if isinstance(exc.code, int) else 2
    print(f"leaderboard written to {store}/<protocol>/ (LEADERBOARD.md, leaderboard.csv, leaderboard.json, "
          "index.html); the committed leaderboard/ changes only through `make leaderboard`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
