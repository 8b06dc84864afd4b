"""Judge inference throughput on CPU: ONNX Runtime vs torch, side by side.

Run: ``.venv/bin/python benchmarks/bench_judges.py [--threads 2] [--batch 64] [--repeats 20]``

For every committed judge (``msd_bench/judges/artifacts``), times a forward pass of a batch of random
videos of the judge's shape (``[batch, T, C, H, W]``) through ``load_judge(..., backend="onnx")`` and
``backend="torch"`` (both through the public :class:`~msd_bench.judges.Judge` call, so the
tensor <-> numpy copies are included), after warm-up, and prints the median frames per second.
Without committed judges it benchmarks a randomly initialised judge of the sprites shape.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _time(fn, x, repeats: int) -> list[float]:
    for _ in range(3):
        fn(x)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t0)
    return out


def _random_judge_root(tmp: Path) -> tuple[Path, str]:
    """Export a random-weight judge (sprites shape) with a card, so the Judge API can load it."""
    from msd_bench.judges.recipe import recipe_for, train_judge
    from msd_bench.testing import SyntheticDataset

    ds = SyntheticDataset(n=60, frames=8, image_size=64, name="random")
    train_judge(ds, ds.content_hashes, tmp / "random", recipe_for("random", epochs=1), progress=False)
    return tmp, "random"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from msd_bench.judges import list_judges, load_judge

    torch.set_num_threads(args.threads)
    targets: list[tuple[Path | None, str, bool]] = [(None, n, True) for n in list_judges()]
    tmpdir = None
    if not targets:
        tmpdir = tempfile.TemporaryDirectory()
        root, name = _random_judge_root(Path(tmpdir.name))
        targets = [(root, name, False)]

    table = Table(title=f"judge inference on CPU, batch {args.batch}, {args.threads} threads (median of "
                        f"{args.repeats})")
    for col in ("judge", "input [B,T,C,H,W]", "ONNX Runtime frames/s", "torch frames/s", "ONNX ms/batch",
                "torch ms/batch"):
        table.add_column(col)
    gen = torch.Generator().manual_seed(0)
    for root, name, verify in targets:
        oj = load_judge(name, backend="onnx", root=root, threads=args.threads, verify_revision=verify)
        tj = load_judge(name, backend="torch", root=root, verify_revision=verify)
        t, c, h, w = oj.card.dataset.shape
        x = torch.rand(args.batch, t, c, h, w, generator=gen)
        frames = args.batch * t
        o = statistics.median(_time(oj, x, args.repeats))
        p = statistics.median(_time(tj, x, args.repeats))
        table.add_row(name, str([args.batch, t, c, h, w]), f"{frames / o:,.0f}", f"{frames / p:,.0f}",
                      f"{1000 * o:.1f}", f"{1000 * p:.1f}")
    Console().print(table)
    if tmpdir is not None:
        tmpdir.cleanup()


if __name__ == "__main__":
    main()
