"""pytest-benchmark: random-batch reads and a split's batches from an HDF5 file in the on-disk format.

The file is written from the synthetic fixture dataset (512 sequences of 8 x 3 x 64 x 64, the built-in
datasets' frame size, default compression) into a temporary folder, so no built-in dataset has to be
prepared; bench_datasets.py times the built-ins' preparation and their files.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from rich.table import Table

from msd_bench.datasets import DatasetWriter, open_h5
from msd_bench.testing import SyntheticDataset

N, BATCH = 512, 256


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    ds = SyntheticDataset(n=N, frames=8, image_size=64, seed=0, name="bench")
    path = tmp_path_factory.mktemp("h5") / "bench.h5"
    data, labels = ds.read(np.arange(N))
    with DatasetWriter(path, N, ds.shape, ds.factors, {}) as w:
        for s in range(0, N, 128):
            w.write(data[s : s + 128])
        w.finish(labels, {k: ds.indices(k) for k in ("train", "val", "test")})
    return path


def test_bench_read_random_batch(benchmark, h5, show):
    ds = open_h5(h5)
    rng = np.random.default_rng(0)
    ds.read([0])  # open the handle

    def read():
        x, _ = ds.read(np.sort(rng.choice(N, size=BATCH, replace=False)))
        return x

    x = benchmark.pedantic(read, rounds=10, warmup_rounds=1)
    assert x.shape == (BATCH, 8, 3, 64, 64)
    t = Table(title="dataset reads (pytest-benchmark)")
    for col in ("file", "sequences", "file MB", f"read {BATCH} random (median s)"):
        t.add_column(col)
    t.add_row(h5.name, f"{N:,}", f"{h5.stat().st_size / 1e6:.1f}", f"{benchmark.stats.stats.median:.3f}")
    show(t)
    ds.close()


def test_bench_test_split_batches(benchmark, h5):
    ds = open_h5(h5)

    def all_batches():
        return sum(x.shape[0] for x, _ in ds.batches("test", batch_size=BATCH))

    n = benchmark.pedantic(all_batches, rounds=5, warmup_rounds=1)
    assert n == len(ds.indices("test")) and statistics.median([n]) == n
    ds.close()
