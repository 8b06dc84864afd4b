"""`make demo` writes to a scratch store and leaves the repository clean (issue 18, item 6).

The demo's steps run for real (submit: validate, evaluate, bench, store, build; then show) on a tiny
example submission, with a synthetic dataset and a random judge standing in for sprites and its
judge, so the test takes seconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import msd_bench.datasets as datasets_mod
import msd_bench.judges as judges_mod
from msd_bench import PROTOCOL, demo
from msd_bench.harness.examples import build_example
from msd_bench.testing import RandomJudge, SyntheticDataset

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
REPO = Path(__file__).resolve().parents[1]


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout


def _tree_state(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def synthetic(monkeypatch, tmp_path):
    ds = SyntheticDataset(n=40, frames=4, image_size=16, seed=3, name="synthetic")
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    spec = SimpleNamespace(name="synthetic", factors=ds.factors, shape=ds.shape, version="1",
                           content_hashes=ds.content_hashes)
    monkeypatch.setattr(datasets_mod, "get_spec", lambda name: spec)
    monkeypatch.setattr(datasets_mod, "open_dataset", lambda name, size="full": ds)
    monkeypatch.setattr(judges_mod, "load_judge", lambda name, **kw: RandomJudge(ds.factors))
    return ds


def test_demo_writes_a_scratch_store_and_leaves_git_status_clean(synthetic, tmp_path, monkeypatch, capsys):
    sub = build_example(tmp_path / "sub", "torch", dataset="synthetic", shape=synthetic.shape)
    manifest = yaml.safe_load((sub / "submission.yaml").read_text())
    monkeypatch.chdir(REPO)  # where `make demo` runs
    before_status, before_board = _git_status(), _tree_state(REPO / "leaderboard")
    assert demo.main(["--dataset", "synthetic", "--submission", str(sub), "--limit", "4"]) == 0
    assert _git_status() == before_status  # nothing in the repository changed ...
    assert _tree_state(REPO / "leaderboard") == before_board  # ... not even an ignored or rewritten file
    store = tmp_path / "cache" / "demo"
    assert demo.scratch_store() == store
    result = store / "results" / PROTOCOL / manifest["name"] / manifest["version"] / "synthetic.json"
    assert result.is_file() and (store / PROTOCOL / "leaderboard.json").is_file()
    out = capsys.readouterr().out
    assert str(store) in out and "make leaderboard" in out
    # a second run starts from an empty scratch store (no stale entries)
    (store / "results" / PROTOCOL / "stale").mkdir()
    assert demo.main(["--dataset", "synthetic", "--submission", str(sub), "--limit", "4"]) == 0
    assert not (store / "results" / PROTOCOL / "stale").exists()


def test_demo_picks_the_reference_submission():
    assert demo.find_reference(REPO / "submissions") == REPO / "submissions" / "dsvae-sprites"
    ref = demo.find_reference(REPO / "submissions", dataset="dsprites-dynamic")
    assert ref is not None and "dsprites-dynamic" in yaml.safe_load((ref / "submission.yaml").read_text())["datasets"]
    assert demo.find_reference(REPO / "submissions", dataset="no-such-dataset") is None
