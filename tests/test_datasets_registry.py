"""Registry, cache, prepare/open_dataset, CLI, and the sprites generator."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import dataset_path, get_spec, list_datasets, open_dataset, prepare
from msd_bench.datasets.generators import sprites
from msd_bench.errors import DatasetError

runner = CliRunner()


def _no_partial_files(cache):
    d = cache / "datasets"
    return not d.exists() or not any(p.name.startswith(".") or p.suffix == ".tmp" for p in d.rglob("*"))


def test_spec_api():
    spec = get_spec("sprites")
    assert spec.shape == (8, 3, 64, 64) and spec.modality == "video"
    assert [(f.name, f.type, f.n_classes) for f in spec.factors] == [
        ("body", "static", 6), ("bottom", "static", 6), ("top", "static", 6), ("hair", "static", 6),
        ("movement", "dynamic", 9)]
    assert [f.index for f in spec.factors] == list(range(5))
    assert spec.factor("movement").values["slash_right"] == 8
    assert spec.sizes == {"small": 1296, "full": 11664}
    assert set(spec.content_hashes) == {"small", "full"} and all(len(h) == 64 for h in spec.content_hashes.values())
    assert "sprites" in [s.name for s in list_datasets()]


def test_unknown_dataset_lists_known(cache):
    with pytest.raises(DatasetError, match="unknown dataset 'nope'; known datasets: .*sprites"):
        get_spec("nope")
    res = runner.invoke(app, ["datasets", "prepare", "nope"])
    assert res.exit_code == 2 and "known datasets:" in res.output and "sprites" in res.output
    assert _no_partial_files(cache) and not (cache / "datasets").exists()
    res = runner.invoke(app, ["datasets", "prepare", "sprites", "--size", "huge"])
    assert res.exit_code == 2 and "unknown size 'huge'" in res.output


def test_open_dataset_prepares_small_and_matches_registry(cache):
    spec = get_spec("sprites")
    assert not dataset_path("sprites", "small").exists()
    ds = open_dataset("sprites", size="small", progress=False)
    assert ds.path == cache / "datasets" / "sprites-v2.0-small.h5"
    assert ds.content_hash == spec.content_hashes["small"]
    assert ds.compute_content_hash() == spec.content_hashes["small"]
    assert ds.n == 1296 and ds.shape == (8, 3, 64, 64) and ds.size == "small"
    # a second, forced prepare gives identical content
    p2 = prepare("sprites", "small", force=True, progress=False, path=cache / "again.h5")
    from msd_bench.datasets import open_h5

    assert open_h5(p2).compute_content_hash() == spec.content_hashes["small"]
    res = runner.invoke(app, ["datasets", "verify", "sprites", "--size", "small"])
    assert res.exit_code == 0 and "matches the registry" in res.output
    res = runner.invoke(app, ["datasets", "list"])
    assert res.exit_code == 0 and "sprites" in res.output and "small" in res.output


def _check_sprite_splits(labels, splits):
    chars = [set(map(tuple, labels[splits[s], :4].tolist())) for s in ("train", "val", "test")]
    assert not (chars[0] & chars[1]) and not (chars[0] & chars[2]) and not (chars[1] & chars[2])
    allidx = np.concatenate([splits[s] for s in ("train", "val", "test")])
    assert np.array_equal(np.sort(allidx), np.arange(labels.shape[0]))
    for s in ("train", "val", "test"):
        for j, k in enumerate([6, 6, 6, 6, 9]):
            assert set(labels[splits[s], j].tolist()) == set(range(k)), (s, j)
    return [len(c) for c in chars]


@pytest.mark.parametrize("size", ["small", "full"])
def test_sprites_splits_disjoint_by_character_and_covering(size):
    plan = sprites.plan(size, get_spec("sprites").seed)
    n_chars = _check_sprite_splits(plan.labels, plan.splits)
    if size == "full":
        assert plan.n == 11664 and n_chars == [900, 100, 296]
        assert len({tuple(r) for r in plan.labels.tolist()}) == 11664  # the whole grid, once
    else:
        assert plan.n == 1296 and n_chars == [100, 22, 22]


def test_interrupted_prepare_leaves_nothing(cache, monkeypatch):
    spec = get_spec("sprites")
    real = spec.plan_fn

    def broken(size, seed):
        plan = real(size, seed)
        render = plan.render

        def render_then_die(i, j):
            if i >= 512:
                raise KeyboardInterrupt
            return render(i, j)

        plan.render = render_then_die
        return plan

    object.__setattr__(spec, "plan_fn", broken)  # the spec is frozen
    try:
        with pytest.raises(KeyboardInterrupt):
            prepare("sprites", "small", progress=False)
    finally:
        object.__setattr__(spec, "plan_fn", real)
    assert not dataset_path("sprites", "small").exists()
    assert _no_partial_files(cache)


def test_registry_hash_mismatch_refused(cache, monkeypatch):
    spec = get_spec("sprites")
    monkeypatch.setitem(spec.content_hashes, "small", "0" * 64)
    res = runner.invoke(app, ["datasets", "prepare", "sprites", "--size", "small"])
    assert res.exit_code == 2
    assert "but the registry expects 0000000000000000" in res.output and "nothing was written" in res.output
    assert not dataset_path("sprites", "small").exists() and _no_partial_files(cache)


@pytest.mark.slow
def test_sprites_full_matches_registry(cache):
    ds = open_dataset("sprites", size="full", progress=False)
    assert ds.compute_content_hash() == get_spec("sprites").content_hashes["full"]


def test_preview_png_and_gif(cache, tmp_path):
    from PIL import Image

    res = runner.invoke(app, ["datasets", "preview", "sprites", "--out", str(tmp_path / "p.png"), "--n", "3"])
    assert res.exit_code == 0, res.output
    img = Image.open(tmp_path / "p.png")
    assert img.size[1] >= 3 * 128 and img.size[0] > 8 * 128  # 3 rows of 8 frames at scale 2
    res = runner.invoke(app, ["datasets", "preview", "sprites", "--out", str(tmp_path / "p.gif"), "--n", "4"])
    assert res.exit_code == 0, res.output
    gif = Image.open(tmp_path / "p.gif")
    assert gif.n_frames == 8
    res = runner.invoke(app, ["datasets", "preview", "sprites", "--out", str(tmp_path / "p.jpg")])
    assert res.exit_code == 2 and "--out must end in .png or .gif" in res.output
    assert not (tmp_path / "p.jpg").exists() and not list(tmp_path.glob(".p.*"))


def test_info_shows_factors_and_revision(cache):
    res = runner.invoke(app, ["datasets", "info", "sprites", "--size", "small"])
    assert res.exit_code == 0, res.output
    assert get_spec("sprites").content_hashes["small"] in res.output
    assert "spellcast_front" in res.output and "train 900, val 198, test 198" in res.output


def test_verify_detects_modified_cache_file(cache):
    import h5py

    path = prepare("sprites", "small", progress=False)
    with h5py.File(path, "r+") as f:
        f["data"][0, 0, 0, 0, 0] = 7
    res = runner.invoke(app, ["datasets", "verify", "sprites", "--size", "small"])
    assert res.exit_code == 2 and "does not match the declared content_hash" in res.output
    res = runner.invoke(app, ["datasets", "verify", "moving-digits", "--size", "small"])
    assert res.exit_code == 2 and "is not prepared" in res.output


def test_open_dataset_refuses_a_stale_cache_file(cache):
    import h5py

    path = prepare("sprites", "small", progress=False)
    with h5py.File(path, "r+") as f:
        f.attrs["content_hash"] = "f" * 64  # e.g. a file written by an older generator
    with pytest.raises(DatasetError, match=r"expected version 2.0 hash 92a3bde4a29a9e3e.*--force"):
        open_dataset("sprites", size="small", progress=False)
    prepare("sprites", "small", force=True, progress=False)
    assert open_dataset("sprites", size="small", progress=False).content_hash == get_spec("sprites").content_hashes[
        "small"]
