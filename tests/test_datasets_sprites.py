"""The standard Sprites: layers, the frame map of the original scripts, exactness, splits, the npy importer."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import DatasetWriter, dataset_path, get_spec, open_dataset, open_h5
from msd_bench.datasets.generators import sprites
from msd_bench.datasets.importers import import_lpc_sprites
from msd_bench.errors import DatasetError

runner = CliRunner()
ACTIONS_ORIG = {"walk": "walk", "spellcast": "spellcard", "slash": "slash"}


def _original_frame_map() -> dict[tuple[str, str, int], int]:
    """(action, pose, frame k) -> tile index, re-derived from the loop of the original random_character.py.

    Written from the original script's branches (not from the generator's table): every tile index is
    visited in order and saved under the frame numbers the script gives it; later saves overwrite.
    """
    out = {}
    for ind in range(13 * 21):
        for lo, pose in ((13, "left"), (26, "front"), (39, "right")):
            if lo <= ind < lo + 7:
                k = ind - lo
                k = k + 1 if k == 6 else k
                out[("spellcast", pose, k)] = ind
                if k == 4:
                    out[("spellcast", pose, 6)] = ind
        for lo, pose in ((118, "left"), (131, "front"), (144, "right")):
            if lo <= ind < lo + 8:
                k = ind - lo
                out[("walk", pose, 0 if k == 7 else k + 1)] = ind
        for lo, pose in ((169, "left"), (182, "front"), (195, "right")):
            if lo <= ind < lo + 6:
                k = ind - lo
                out[("slash", pose, k)] = ind
                if k == 4:
                    out[("slash", pose, 6)] = ind
                if k == 0:
                    out[("slash", pose, 7)] = ind
    return out


def test_tile_table_equals_the_original_script():
    orig = _original_frame_map()
    assert len(orig) == 9 * 8
    for m, name in enumerate(sprites.MOVEMENTS):
        action, direction = name.split("_")
        assert [orig[(action, direction, k)] for k in range(8)] == sprites.TILES[m].tolist(), name
    # load_sprites.py: label = 3 * action + direction with actions (walk, spellcard, slash), (front, left, right)
    assert sprites.MOVEMENTS[3 * 1 + 2] == "spellcast_right"


def test_notice_lists_the_code_hashes():
    assert sprites.expected_hashes() == sprites.LAYER_SHA256
    assert sorted(sprites.LAYER_SHA256) == sorted(sprites.layer_files())
    for name in ("CC-BY-SA-3.0-LICENSE", "GNU-GPL-3.0-LICENSE"):
        assert (sprites.LAYERS_DIR / name).stat().st_size > 10_000


def _literal_sequences(character, tmp_path) -> np.ndarray:
    """One character the way the original scripts make it: composite, save and reload the sheet, crop each
    tile, save and reload it as PNG, keep RGB (uint8 [9, 8, 3, 64, 64])."""
    root = sprites.LAYERS_DIR
    names = [f"{folder}/{v}.png" for (_, folder), v in zip(sprites.FACTORS, character, strict=True)] + ["shoes/1.png"]
    layers = [Image.open(root / n) for n in names]
    sheet = Image.new("RGBA", layers[0].size, "black")
    for layer in layers:
        sheet = Image.alpha_composite(sheet, layer.convert("RGBA"))
    sheet.save(tmp_path / "sheet.png")
    img = Image.open(tmp_path / "sheet.png")
    orig = _original_frame_map()
    out = np.empty((9, 8, 3, 64, 64), dtype=np.uint8)
    for m, name in enumerate(sprites.MOVEMENTS):
        action, direction = name.split("_")
        for k in range(8):
            ind = orig[(action, direction, k)]
            i, j = ind % 13, ind // 13
            img.crop((i * 64, j * 64, (i + 1) * 64, (j + 1) * 64)).save(tmp_path / "tile.png")
            out[m, k] = np.asarray(Image.open(tmp_path / "tile.png"))[:, :, :3].transpose(2, 0, 1)
    return out


@pytest.mark.parametrize("s", [0, 863, 1295])
def test_render_equals_the_literal_procedure(s, tmp_path):
    ch = sprites.all_characters()[s]
    want = _literal_sequences(tuple(ch), tmp_path)
    np.testing.assert_array_equal(sprites.render_characters(ch[None])[0], want)
    np.testing.assert_array_equal(sprites.sequences_from_sheet(np.asarray(sprites.composite_sheet(tuple(ch)))), want)
    lab = np.array([[*ch, 4]])
    np.testing.assert_array_equal(sprites.render_labels(lab)[0], want[4])


@pytest.mark.slow
def test_render_equals_full_sheet_composite_for_every_character():
    chars = sprites.all_characters()
    for s in range(sprites.N_CHARACTERS):
        full = sprites.sequences_from_sheet(np.asarray(sprites.composite_sheet(tuple(chars[s]))))
        np.testing.assert_array_equal(sprites.render_characters(chars[s:s + 1])[0], full, err_msg=str(s))


def test_character_index_and_standard_split():
    chars = sprites.all_characters()
    assert np.array_equal(sprites.character_index(chars), np.arange(1296))
    assert chars[216 * 2 + 36 * 3 + 6 * 4 + 5].tolist() == [2, 3, 4, 5]
    train, test = sprites.standard_split()
    perm = np.random.RandomState(423).permutation(1296)
    assert np.array_equal(train, perm[:1000]) and np.array_equal(test, perm[1000:])
    parts = sprites.character_splits(get_spec("sprites").seed)
    assert [parts[s].size for s in ("train", "val", "test")] == [900, 100, 296]
    assert np.array_equal(np.sort(np.concatenate([parts["train"], parts["val"]])), np.sort(train))
    assert np.array_equal(parts["test"], np.sort(test))
    for j in range(4):  # val covers every value of every static factor
        assert set(chars[parts["val"], j].tolist()) == set(range(6))


def test_full_plan_test_indices_are_the_standard_test_sequences():
    plan = sprites.plan("full", get_spec("sprites").seed)
    _, test = sprites.standard_split()
    rows = np.sort((test[:, None] * 9 + np.arange(9)).reshape(-1))
    assert np.array_equal(plan.splits["test"], rows) and rows.size == 2664
    assert plan.splits["train"].size + plan.splits["val"].size == 9000
    assert np.array_equal(plan.labels[:, :4], np.repeat(sprites.all_characters(), 9, axis=0))
    assert np.array_equal(plan.labels[:, 4], np.tile(np.arange(9), 1296))


# ------------------------------------------------------------------------------------------------ bad layers
def _layers_copy(tmp_path):
    root = tmp_path / "layers"
    shutil.copytree(sprites.LAYERS_DIR, root)
    return root


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_bad_layer_refused_and_nothing_written(damage, tmp_path, cache, monkeypatch):
    root = _layers_copy(tmp_path)
    target = root / "hair" / "3.png"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:1000])
    else:
        raw = bytearray(target.read_bytes())
        raw[-20] ^= 1
        target.write_bytes(bytes(raw))
    monkeypatch.setattr(sprites, "LAYERS_DIR", root)
    res = runner.invoke(app, ["datasets", "prepare", "sprites", "--size", "small"])
    assert res.exit_code == 2
    line = " ".join(res.output.split())
    assert str(target) in line.replace(" ", "") or "hair/3.png" in line
    assert sprites.LAYER_SHA256["hair/3.png"] in line.replace(" ", "")
    assert not dataset_path("sprites", "small").exists()
    assert not (cache / "datasets").exists() or not any((cache / "datasets").rglob("*"))


# ------------------------------------------------------------------------------------------------ importer
def _write_original_npy(folder, characters: np.ndarray, buggy_directions: bool = False):
    """Write the original npy layout (frame_to_npy.py) for ``characters`` (in the standard permutation order)."""
    folder.mkdir(parents=True, exist_ok=True)
    train, test = sprites.standard_split()
    present = set(int(c) for c in characters)
    by_split = {"train": [c for c in train if c in present], "test": [c for c in test if c in present]}
    chars = sprites.all_characters()
    seqs = {s: sprites.render_characters(chars[np.array(ids, dtype=np.int64)]) for s, ids in by_split.items()}
    for a, action in enumerate(sprites.ACTIONS):
        for d, direction in enumerate(sprites.DIRECTIONS):
            stem = f"{ACTIONS_ORIG[action]}_{direction}"
            for split, ids in by_split.items():
                frames = seqs[split][:, 3 * a + d].transpose(0, 1, 3, 4, 2).astype(np.float32) / 256.0
                np.save(folder / f"{stem}_frames_{split}.npy", frames)
                attr = np.zeros((len(ids), 8, 4, 6), dtype=np.float32)
                for i, c in enumerate(ids):
                    attr[i, :, np.arange(4), chars[c]] = 1
                np.save(folder / f"{stem}_attributes_{split}.npy", attr)
                di = np.zeros((len(ids), 8, 3), dtype=np.float32)
                di[:, :, d] = 1
                if buggy_directions:  # frame_to_npy.py saves the test directions under the _train name
                    if split == "test":
                        np.save(folder / f"{stem}_directions_train.npy", di)
                else:
                    np.save(folder / f"{stem}_directions_{split}.npy", di)


def _expected_hash(characters, seed=0) -> str:
    plan = sprites.plan("full", seed, characters=characters)
    spec = get_spec("sprites")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with DatasetWriter(f"{tmp}/x.h5", plan.n, spec.shape, spec.factors) as w:
            for _, block in plan.blocks():
                w.write(block)
            return w.finish(plan.labels, plan.splits)


def _some_characters():
    parts = sprites.character_splits(0)
    return np.concatenate([parts["train"][:3], parts["val"][:2], parts["test"][:3]])


@pytest.mark.parametrize("buggy", [False, True])
def test_importer_gives_the_generator_hash(tmp_path, cache, buggy):
    chars = _some_characters()
    _write_original_npy(tmp_path / "npy", chars, buggy_directions=buggy)
    res = runner.invoke(app, ["datasets", "import", "lpc-sprites", "--from", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = open_dataset("sprites-lpc")
    assert ds.content_hash == _expected_hash(chars) == ds.compute_content_hash()
    assert [ds.indices(s).size for s in ("train", "val", "test")] == [27, 18, 27]
    x, y = ds.read(ds.indices("test")[:9])
    np.testing.assert_array_equal(x, sprites.render_labels(y))


def test_small_size_is_the_import_of_its_characters(tmp_path, cache):
    spec = get_spec("sprites")
    plan = sprites.plan("small", spec.seed)
    chars = np.unique(sprites.character_index(plan.labels[:, :4]))
    # the small size's rows, labels and splits are those of the full layout restricted to its characters
    sub = sprites.plan("full", spec.seed, characters=chars)
    assert np.array_equal(plan.labels, sub.labels)
    assert all(np.array_equal(plan.splits[s], sub.splits[s]) for s in plan.splits)


def _bad_import(tmp_path, cache, msg):
    res = runner.invoke(app, ["datasets", "import", "lpc-sprites", "--from", str(tmp_path / "npy")])
    assert res.exit_code == 2, res.output
    assert msg in " ".join(res.output.split()), res.output
    assert not (cache / "datasets" / "imported" / "sprites-lpc.h5").exists()


def test_importer_bad_inputs(tmp_path, cache):
    chars = _some_characters()[:2]
    npy = tmp_path / "npy"
    _write_original_npy(npy, chars)
    f = npy / "walk_left_frames_train.npy"
    good = np.load(f)
    np.save(f, good * (256.0 / 255.0))  # frames / 255 instead of / 256
    _bad_import(tmp_path, cache, "frame values are not uint8 / 256")
    np.save(f, good)
    a = npy / "slash_front_attributes_train.npy"
    at = np.load(a)
    np.save(a, np.zeros_like(at))
    _bad_import(tmp_path, cache, "slash_front_attributes_train.npy: attributes are not one-hot")
    test_char = sprites.standard_split()[1][0]
    bad = np.zeros_like(at)
    bad[:, :, np.arange(4), sprites.all_characters()[test_char]] = 1
    np.save(a, bad)
    _bad_import(tmp_path, cache, "is not a standard train character")
    np.save(a, at)
    d = npy / "walk_front_directions_train.npy"
    np.save(d, np.tile(np.array([0, 1, 0], dtype=np.float32), (np.load(d).shape[0], 8, 1)))
    _bad_import(tmp_path, cache, "walk_front_directions_train.npy: directions are not all 'front'")
    d.unlink()
    (npy / "spellcard_right_frames_train.npy").unlink()
    _bad_import(tmp_path, cache, "spellcard_right_frames_train.npy: file missing")


def test_importer_refuses_a_missing_movement(tmp_path, cache):
    chars = _some_characters()[:2]
    npy = tmp_path / "npy"
    _write_original_npy(npy, chars)
    for kind in ("frames", "attributes"):
        p = npy / f"slash_right_{kind}_train.npy"
        np.save(p, np.load(p)[:1])
    (npy / "slash_right_directions_train.npy").unlink()
    with pytest.raises(DatasetError, match="lacks movement slash_right"):
        import_lpc_sprites(npy, tmp_path / "out", progress=False)


@pytest.mark.slow
def test_importer_of_the_complete_original_files_gives_the_registry_hash(tmp_path, cache):
    _write_original_npy(tmp_path / "npy", np.arange(sprites.N_CHARACTERS), buggy_directions=True)
    (out,) = import_lpc_sprites(tmp_path / "npy", tmp_path / "out", progress=False)
    assert open_h5(out).compute_content_hash() == get_spec("sprites").content_hashes["full"]


def test_sequence_hashes_keyed_by_labels(cache):
    """The check an independent rebuild runs: sha256 of each sequence keyed by its labels."""
    ds = open_dataset("sprites", size="small", progress=False)
    idx = ds.indices("val")[:18]
    x, y = ds.read(idx)
    want = {tuple(r): hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for r, v in zip(y.tolist(), sprites.render_labels(y), strict=True)}
    got = {tuple(r): hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
           for r, v in zip(y.tolist(), x, strict=True)}
    assert got == want and len(got) == 18
