"""Importers: round trips on small files in the original formats that the tests write themselves."""

from __future__ import annotations

import gzip
import json
import struct

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import open_dataset, open_h5
from msd_bench.datasets.generators.dsprites import COLORS
from msd_bench.datasets.importers import run_import
from msd_bench.errors import DatasetError

runner = CliRunner()


def _no_tmp(folder):
    return not folder.exists() or not any(p.name.startswith(".") for p in folder.rglob("*"))


def _code_image(i: int, shape=(64, 64), value=1) -> np.ndarray:
    """A sparse image that encodes ``i`` in binary on its first row, plus a block (unique per i)."""
    img = np.zeros(shape, dtype=np.uint8)
    bits = [(i >> k) & 1 for k in range(16)]
    img[0, :16] = np.array(bits, dtype=np.uint8) * value
    img[20:30, 20:30] = value
    return img


def _decode(img: np.ndarray) -> int:
    bits = (img[0, :16] > 0).astype(int)
    return int(sum(b << k for k, b in enumerate(bits)))


# LPC sprites: tests/test_datasets_sprites.py (written from the generator in the original layout)


# ----------------------------------------------------------------------------------------- MSD
def test_msd_import_as_is_and_corrupt(tmp_path, cache):
    data = np.random.default_rng(0).integers(0, 256, size=(10, 3, 1, 8, 8), dtype=np.uint8)
    labels = (np.arange(10) % 2)[:, None]
    src = tmp_path / "msd_toy.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("data", data=data, chunks=(1, 3, 1, 8, 8), compression="gzip")
        f.create_dataset("labels", data=labels)
        f.create_dataset("train_indices", data=np.arange(6))
        f.create_dataset("val_indices", data=np.arange(6, 8))
        f.create_dataset("test_indices", data=np.arange(8, 10))
        f.attrs["classes"] = json.dumps({"motion": {"index": 0, "type": "dynamic", "n_classes": 2, "ignore": False,
                                                    "values": {"a": 0, "b": 1}}})
    (p,) = run_import("msd", src, progress=False)
    assert p.read_bytes() == src.read_bytes()
    ds = open_dataset("msd_toy")
    np.testing.assert_array_equal(ds.read([3])[0][0], data[3])
    # a damaged chunk is found before anything is written
    raw = bytearray(src.read_bytes())
    bad = tmp_path / "msd_bad.h5"
    with h5py.File(src) as f:
        off = f["data"].id.get_chunk_info(5).byte_offset
    raw[off:off + 16] = b"\x00" * 16
    bad.write_bytes(bytes(raw))
    res = runner.invoke(app, ["datasets", "import", "msd", "--from", str(bad)])
    assert res.exit_code == 2 and "cannot read data" in res.output
    assert not (cache / "datasets" / "imported" / "msd_bad.h5").exists() and _no_tmp(cache)


# ----------------------------------------------------------------------------------------- dSprites
def _reflect(start: int, step: int, top: int, t: int) -> list[int]:
    """Reference bouncing walk on 0..top, one frame at a time."""
    out, p, v = [], start, step
    for _ in range(t):
        out.append(p)
        for _ in range(abs(v)):
            if not 0 <= p + (1 if v > 0 else -1) <= top:
                v = -v
            p += 1 if v > 0 else -1
    return out


def _write_dsprites(path, sizes=(1, 2, 6, 3, 12, 12)):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, 6)
    imgs = np.stack([_code_image(i) for i in range(grid.shape[0])])
    np.savez_compressed(path, imgs=imgs, latents_classes=grid, latents_values=grid.astype(np.float64))
    return grid


def test_dsprites_roundtrip(tmp_path, cache):
    grid = _write_dsprites(tmp_path / "dsprites.npz")
    paths = run_import("dsprites", tmp_path / "dsprites.npz", seed=0, progress=False, limit=300)
    assert [p.name for p in paths] == ["dsprites-static-real.h5", "dsprites-dynamic-real.h5"]
    colours = np.array(list(COLORS.values()), dtype=np.uint8)
    # static-real: every frame is a source sprite with the sequence's shape/pos, tinted with its colour
    ds = open_h5(paths[0])
    assert ds.n == 300 and ds.shape == (16, 3, 64, 64)
    assert [f.n_classes for f in ds.factors] == [9, 2, 8, 8, 6, 3]
    assert ds.factor("posX").value_names == ["0", "1", "3", "4", "6", "7", "9", "11"]
    data, lab = ds.read(np.arange(ds.n))
    for s in ("train", "val", "test"):  # every value of every factor in every split
        for f in ds.factors:
            assert set(ds.labels(s)[:, f.index].tolist()) == set(range(f.n_classes))
    for i in range(0, ds.n, 7):
        src = [grid[_decode(data[i, t].max(0))] for t in range(16)]
        for t in range(16):
            mask = _code_image(_decode(data[i, t].max(0)))
            np.testing.assert_array_equal(data[i, t], mask[None] * colours[lab[i, 0]][:, None, None])
        src = np.array(src)
        px = [0, 1, 3, 4, 6, 7, 9, 11]  # 8 of the 12 positions, evenly spread
        assert (src[:, 1] == lab[i, 1]).all()
        assert (src[:, 4] == px[lab[i, 2]]).all() and (src[:, 5] == px[lab[i, 3]]).all()
        steps = np.mod(np.diff(src[:, 3]), 3)  # orientation step per frame: ccw +1, still 0, cw -1 (mod 3)
        assert set(steps.tolist()) == {[1, 0, 2][lab[i, 5]]}
        step = (1 if lab[i, 4] < 3 else -1) * (lab[i, 4] % 3 + 1)  # grow/shrink first at 1/2/3 steps
        assert src[:, 2].tolist() == _reflect(2, step, 5, 16)
    # dynamic-real: fixed scale/orientation, positions move with the labelled sign first
    ds = open_h5(paths[1])
    data, lab = ds.read(np.arange(ds.n))
    assert ds.shape == (12, 3, 64, 64) and [f.n_classes for f in ds.factors] == [9, 2, 6, 3, 6, 6]
    for i in range(0, ds.n, 7):
        src = np.array([grid[_decode(data[i, t].max(0))] for t in range(12)])
        assert (src[:, 2] == lab[i, 2]).all() and (src[:, 3] == lab[i, 3]).all()
        for col, k in ((4, 4), (5, 5)):
            step = (1 if lab[i, k] >= 3 else -1) * (lab[i, k] % 3 + 1)
            assert src[:, col].tolist() == _reflect(int(src[0, col]), step, 11, 12)


def test_dsprites_bad_inputs(tmp_path, cache):
    np.savez(tmp_path / "nokey.npz", imgs=np.zeros((2, 64, 64), np.uint8))
    res = runner.invoke(app, ["datasets", "import", "dsprites", "--from", str(tmp_path / "nokey.npz")])
    assert res.exit_code == 2 and "missing key imgs or latents_classes" in res.output
    np.savez(tmp_path / "rank.npz", imgs=np.zeros((2, 64), np.uint8), latents_classes=np.zeros((2, 6), int))
    res = runner.invoke(app, ["datasets", "import", "dsprites", "--from", str(tmp_path / "rank.npz")])
    assert res.exit_code == 2 and "imgs has shape (2, 64); expected [N, 64, 64]" in res.output
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "rank.npz").read_bytes()[:50])
    res = runner.invoke(app, ["datasets", "import", "dsprites", "--from", str(tmp_path / "trunc.npz")])
    assert res.exit_code == 2 and "not a readable npz file" in res.output
    assert not (cache / "datasets" / "imported").exists() or not any((cache / "datasets" / "imported").iterdir())
    _write_dsprites(tmp_path / "ok.npz")
    with pytest.raises(DatasetError, match="--limit 3 is too small"):
        run_import("dsprites", tmp_path / "ok.npz", limit=3, progress=False)


# ----------------------------------------------------------------------------------------- 3dshapes
def test_3dshapes_roundtrip(tmp_path, cache):
    sizes = (2, 2, 2, 3, 2, 3)  # floor, wall, object, scale, shape, orientation (the 3dshapes order)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, 6)
    values = grid.astype(np.float64) * np.array([0.5, 0.5, 0.5, 0.25, 1.0, 30.0])
    images = np.stack([np.repeat(_code_image(i, value=200)[..., None], 3, -1) for i in range(grid.shape[0])])
    with h5py.File(tmp_path / "3dshapes.h5", "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=values)
    res = runner.invoke(app, ["datasets", "import", "3dshapes", "--from", str(tmp_path / "3dshapes.h5")])
    assert res.exit_code == 0, res.output
    ds = open_dataset("3dshapes-dynamic-real")
    assert ds.shape == (10, 3, 64, 64) and [f.n_classes for f in ds.factors] == [2, 2, 2, 2, 6, 3]
    assert ds.n == 2 * 6 * 3 * 4 * 2
    assert ds.factor("wall_hue").value_names == ["0", "0.5"]
    data, lab = ds.read(np.arange(ds.n))
    for i in range(ds.n):
        src = np.array([grid[_decode(data[i, t, 0])] for t in range(10)])
        np.testing.assert_array_equal(src[:, [0, 1, 2, 4]], np.broadcast_to(lab[i, :4], (10, 4)))
        np.testing.assert_array_equal(data[i, 0].transpose(1, 2, 0), images[_decode(data[i, 0, 0])])
        ori = src[:, 5]
        expect = {0: ori[0] == 0 and ori[1] == 1, 1: (ori == 1).all(), 2: ori[0] == 2 and ori[1] == 1}
        assert expect[int(lab[i, 5])]


# ----------------------------------------------------------------------------------------- MNIST
def _idx(path, arr):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _mnist(n):
    rng = np.random.default_rng(n)
    return rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["idx", "npz"])
def test_mnist_roundtrip(tmp_path, cache, fmt):
    (xtr, ytr), (xte, yte) = _mnist(30), _mnist(10)
    if fmt == "idx":
        src = tmp_path / "mnist"
        src.mkdir()
        _idx(src / "train-images-idx3-ubyte.gz", xtr)
        _idx(src / "train-labels-idx1-ubyte.gz", ytr)
        _idx(src / "t10k-images-idx3-ubyte.gz", xte)
        _idx(src / "t10k-labels-idx1-ubyte.gz", yte)
    else:
        src = tmp_path / "mnist.npz"
        np.savez(src, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    (p,) = run_import("mnist", src, progress=False)
    ds = open_h5(p)
    assert ds.shape == (16, 1, 64, 64) and ds.n == 40
    assert [(f.name, f.n_classes) for f in ds.factors] == [("digit", 10), ("direction", 8), ("speed", 3)]
    data, lab = ds.read(np.arange(40))
    src_imgs = np.concatenate([xtr, xte])
    np.testing.assert_array_equal(lab[:, 0], np.concatenate([ytr, yte]))
    assert set(ds.indices("test").tolist()) == set(range(30, 40))
    dirs = [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)]
    for i in range(40):
        pos = []
        for t in range(16):
            ys, xs = np.nonzero(data[i, t, 0])
            y0, x0 = ys.min(), xs.min()
            np.testing.assert_array_equal(data[i, t, 0, y0:y0 + 28, x0:x0 + 28], src_imgs[i])
            pos.append((x0, y0))
        vx, vy = pos[1][0] - pos[0][0], pos[1][1] - pos[0][1]
        speed = [1, 2, 4][lab[i, 2]]
        assert (vx, vy) == (dirs[lab[i, 1]][0] * speed, dirs[lab[i, 1]][1] * speed)


def test_mnist_bad_header(tmp_path, cache):
    src = tmp_path / "mnist"
    src.mkdir()
    (src / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 28, 28) + b"\x00" * 10)
    res = runner.invoke(app, ["datasets", "import", "mnist", "--from", str(src)])
    assert res.exit_code == 2 and "holds 10 bytes of data; expected 3920" in res.output
    res = runner.invoke(app, ["datasets", "import", "imagenet", "--from", str(src)])
    assert res.exit_code == 2 and "unknown import kind 'imagenet'" in res.output
