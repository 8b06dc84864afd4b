"""The public fixtures of `msd_bench.testing` (used by these tests and by users' own tests)."""

from __future__ import annotations

import numpy as np
import pytest

import msd_bench.judges as judges_mod
from msd_bench import testing
from msd_bench.leaderboard import add_result, scan_store


def test_synthetic_dataset_has_the_reading_api_and_known_labels():
    ds = testing.SyntheticDataset(n=20, frames=3, image_size=12, seed=1)
    assert len(ds) == 20 and ds.shape == (3, 3, 12, 12)
    assert [f.name for f in ds.factors] == ["color", "motion"] and [f.type for f in ds.factors] == ["static", "dynamic"]
    idx = np.concatenate([ds.indices(s) for s in ("train", "val", "test")])
    assert sorted(idx) == list(range(20))
    x, y = ds.read(ds.indices("test"))
    assert x.dtype == np.uint8 and x.shape[1:] == ds.shape and (y == ds.labels("test")).all()
    # the colour label is the only lit channel of a pure-RGB square
    lit = x.reshape(len(x), 3, 3, -1).max(axis=(1, 3)) > 0
    assert (lit.argmax(1) == y[:, 0]).all() and (lit.sum(1) == 1).all()
    (xb, yb), *_ = list(ds.batches("test", batch_size=64, limit=2))
    assert tuple(xb.shape) == (2, *ds.shape) and float(xb.max()) == 1.0 and yb.tolist() == y[:2].tolist()
    again = testing.SyntheticDataset(n=20, frames=3, image_size=12, seed=1)
    assert (again.read(np.arange(20))[0] == ds.read(np.arange(20))[0]).all()


def test_tiny_dataset_and_bad_arguments():
    ds = testing.tiny_dataset()
    assert (ds.name, ds.size, ds.shape) == ("tiny", "small", (4, 3, 16, 16))
    assert [len(ds.indices(s)) for s in ("train", "val", "test")] == [32, 8, 8]
    with pytest.raises(ValueError, match="adding up to n=10"):
        testing.SyntheticDataset(n=10, splits=(5, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        testing.SyntheticDataset(image_size=8, side=8)


def test_made_up_results_build_a_clean_store(tmp_path):
    add_result(testing.make_result("my-model", scores={"acc": 0.9}), tmp_path)
    entries, problems = scan_store(tmp_path, testing.example_revisions())
    assert not problems and entries[0].result.scores["acc"].value == 0.9


def test_random_judge_shapes():
    import torch

    ds = testing.SyntheticDataset(n=12, frames=3, image_size=16)
    judge = testing.RandomJudge(ds.factors)
    out = judge(torch.rand(2, *ds.shape))
    assert out.sequence["color"].shape == (2, 3) and out.frame["color"].shape == (2, 3, 3)
    assert set(out.frame) == {"color"} and judge.ceiling()["motion"] == {"sequence": 1.0}


def test_require_judge_fails_instead_of_skipping(monkeypatch):
    testing.require_judge("dsprites-dynamic")  # committed
    monkeypatch.setattr(judges_mod, "list_judges", lambda root=None: [])
    with pytest.raises(AssertionError, match="the committed sprites judge is missing"):
        testing.require_judge("sprites")
