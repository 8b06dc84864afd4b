"""Datasets benchmark: prepare times, file sizes, random-batch reads, compression choice.

Run:  .venv/bin/python benchmarks/bench_datasets.py            (small of every built-in, sprites full,
                                                               reads, gzip-1 vs lzf on sprites full)
      .venv/bin/python benchmarks/bench_datasets.py --all-full  (also the full size of every built-in)
      .venv/bin/python benchmarks/bench_datasets.py --only dmelodies,air-quality --no-compression
                                                              (both sizes of the named datasets; targets:
                                                               dmelodies full <= 120 s, air-quality <= 30 s)
      .venv/bin/python benchmarks/bench_datasets.py --probe-air-quality
                                                              (what one day of air-quality can show: probe
                                                               accuracy of every factor, docs/datasets.md)

Everything is written to a temporary cache (MSD_BENCH_CACHE is set to a temp dir), so the user's
cache is untouched. Prints rich tables; the numbers go into docs/datasets.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _prepare(name: str, size: str) -> tuple[float, Path]:
    from msd_bench.datasets import prepare

    t0 = time.perf_counter()
    path = prepare(name, size, force=True, progress=False)
    return time.perf_counter() - t0, path


def _read_times(path: Path, batch: int = 256, repeats: int = 10, seed: int = 0) -> list[float]:
    from msd_bench.datasets import open_h5

    ds = open_h5(path)
    rng = np.random.default_rng(seed)
    ds.read([0])  # open the handle
    times = []
    for _ in range(repeats):
        idx = rng.choice(ds.n, size=min(batch, ds.n), replace=False)
        t0 = time.perf_counter()
        x, _ = ds.read(idx)
        times.append(time.perf_counter() - t0)
        assert x.shape[0] == idx.size
    ds.close()
    return times


def _batches_time(path: Path) -> tuple[float, int]:
    from msd_bench.datasets import open_h5

    ds = open_h5(path)
    t0 = time.perf_counter()
    n = 0
    for x, _ in ds.batches("test", batch_size=256):
        n += x.shape[0]
    return time.perf_counter() - t0, n


def _compression(tmp: Path) -> list[tuple[str, float, float, float]]:
    """Write sprites full with each filter: (filter, write s, MB, median random-256 read s)."""
    from msd_bench.datasets import DatasetWriter, get_spec

    spec = get_spec("sprites")
    plan = spec.plan("full")
    blocks = [b for _, b in plan.blocks()]
    rows = []
    for comp, opts in (("gzip", 1), ("gzip", 4), ("lzf", None)):
        path = tmp / f"sprites-{comp}{opts or ''}.h5"
        t0 = time.perf_counter()
        with DatasetWriter(path, plan.n, spec.shape, spec.factors, {}, compression=comp, compression_opts=opts) as w:
            for b in blocks:
                w.write(b)
            w.finish(plan.labels, plan.splits)
        dt = time.perf_counter() - t0
        rows.append((f"{comp}{'-' + str(opts) if opts else ''}", dt, path.stat().st_size / 1e6,
                     statistics.median(_read_times(path))))
    return rows


def probe_air_quality(console) -> None:
    """Test accuracy of logistic-regression and gradient-boosting probes for every air-quality factor.

    Features of a day: mean, std, min and max over the 24 hours of each of the 13 features, plus the
    values at hours 0, 6, 12 and 18 (117 features); train on the train split, score on the test split
    (splits are by date). The majority-class rate is the chance level.
    """
    from rich.table import Table
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from msd_bench.datasets import open_dataset

    ds = open_dataset("air-quality", "full", progress=False)

    def feats(split):
        x, y = ds.read(ds.indices(split))
        f = np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1), x[:, ::6].reshape(len(x), -1)], axis=1)
        return f, y

    ftr, ytr = feats("train")
    fte, yte = feats("test")
    sc = StandardScaler().fit(ftr)
    table = Table(title=f"air-quality: what one day shows (test accuracy, {len(yte):,} test sequences)")
    for col in ("factor", "ignore", "majority class", "logistic regression", "gradient boosting"):
        table.add_column(col)
    for f in ds.factors:
        lr = LogisticRegression(max_iter=2000).fit(sc.transform(ftr), ytr[:, f.index])
        a_lr = float((lr.predict(sc.transform(fte)) == yte[:, f.index]).mean())
        gb = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(ftr, ytr[:, f.index])
        a_gb = float((gb.predict(fte) == yte[:, f.index]).mean())
        chance = float(np.bincount(yte[:, f.index]).max() / len(yte))
        table.add_row(f.name, "yes" if f.ignore else "no", f"{100 * chance:.1f}", f"{100 * a_lr:.1f}",
                      f"{100 * a_gb:.1f}")
    console.print(table)


def main() -> None:
    import torch
    from rich.console import Console
    from rich.table import Table

    from msd_bench.datasets import get_spec, list_datasets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-full", action="store_true", help="also prepare the full size of every built-in")
    parser.add_argument("--no-compression", action="store_true", help="skip the gzip vs lzf comparison")
    parser.add_argument("--only", default=None, help="comma-separated datasets: both sizes of only these")
    parser.add_argument("--probe-air-quality", action="store_true", help="only the air-quality factor probes")
    args = parser.parse_args()
    torch.set_num_threads(2)
    console = Console(width=160)
    if args.probe_air_quality:
        probe_air_quality(console)
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        os.environ["MSD_BENCH_CACHE"] = str(tmp / "cache")
        table = Table(title=f"prepare (cores available: {os.cpu_count()})")
        for col in ("dataset", "size", "sequences", "prepare s", "file MB", "hash matches registry",
                    "read 256 random (median s)", "test split via batches() (s)"):
            table.add_column(col)
        jobs = [(s.name, "small") for s in list_datasets()] + [("sprites", "full")]
        if args.all_full:
            jobs += [(s.name, "full") for s in list_datasets() if s.name != "sprites"]
        if args.only:
            jobs = [(n, sz) for n in args.only.split(",") for sz in ("small", "full")]
        from msd_bench.datasets import open_h5

        for name, size in jobs:
            dt, path = _prepare(name, size)
            ds = open_h5(path)
            ok = ds.content_hash == get_spec(name).content_hashes.get(size)
            reads = _read_times(path)
            bt, bn = _batches_time(path)
            table.add_row(name, size, f"{ds.n:,}", f"{dt:.1f}", f"{path.stat().st_size / 1e6:.1f}",
                          "yes" if ok else "NO", f"{statistics.median(reads):.3f}", f"{bt:.2f} ({bn:,} seq)")
        console.print(table)
        if not args.no_compression:
            ct = Table(title="compression of data (sprites full, 11,664 x 8 x 3 x 64 x 64 uint8 = 1.15 GB raw)")
            for col in ("filter", "write s (incl. hashing)", "file MB", "read 256 random (median s)"):
                ct.add_column(col)
            for filt, dt, mb, rd in _compression(tmp):
                ct.add_row(filt, f"{dt:.1f}", f"{mb:.1f}", f"{rd:.3f}")
            console.print(ct)


if __name__ == "__main__":
    main()
