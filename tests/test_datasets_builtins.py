"""Every built-in dataset: registry hashes, sizes, split coverage, factors visible in every frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from msd_bench.datasets import get_spec, list_datasets, open_dataset, open_h5, prepare
from msd_bench.datasets.generators import digits, dsprites, shapes3d

NAMES = ["sprites", "dsprites-static", "dsprites-dynamic", "3dshapes-dynamic", "moving-digits"]
ALL = [*NAMES, "dmelodies", "air-quality"]


def test_registry_lists_the_five_builtins():
    assert [s.name for s in list_datasets()] == ALL
    expected = {
        "sprites": ((8, 3, 64, 64), [("body", 6), ("bottom", 6), ("top", 6), ("hair", 6), ("movement", 9)]),
        "dsprites-static": ((16, 3, 64, 64), [("color", 9), ("shape", 3), ("posX", 8), ("posY", 8),
                                              ("scale_dynamic", 6), ("orientation_dynamic", 3)]),
        "dsprites-dynamic": ((12, 3, 64, 64), [("color", 9), ("shape", 3), ("scale", 6), ("orientation", 5),
                                               ("posX_dynamic", 6), ("posY_dynamic", 6)]),
        "3dshapes-dynamic": ((10, 3, 64, 64), [("floor_hue", 10), ("wall_hue", 10), ("object_hue", 10),
                                               ("shape", 4), ("scale_dynamic", 6), ("orientation_dynamic", 3)]),
        "moving-digits": ((16, 1, 64, 64), [("digit", 10), ("style", 3), ("direction", 8), ("speed", 3)]),
    }
    for name, (shape, facs) in expected.items():
        spec = get_spec(name)
        assert spec.shape == shape
        assert [(f.name, f.n_classes) for f in spec.factors] == facs
        assert all(len(h) == 64 for h in (spec.content_hashes["small"], spec.content_hashes["full"]))
        assert all(f.type == ("dynamic" if f.name in ("movement", "direction", "speed") or f.name.endswith(
            "_dynamic") else "static") for f in spec.factors)


@pytest.mark.parametrize("name", NAMES)
def test_small_prepare_matches_registry_hash(cache, name):
    spec = get_spec(name)
    ds = open_dataset(name, size="small", progress=False)
    assert ds.compute_content_hash() == spec.content_hashes["small"]  # fresh, decoded content
    assert ds.n == spec.sizes["small"] and ds.shape == spec.shape and ds.version == spec.version
    allidx = np.concatenate([ds.indices(s) for s in ("train", "val", "test")])
    assert np.array_equal(np.sort(allidx), np.arange(ds.n))  # disjoint and complete
    for s in ("train", "val", "test"):
        lab = ds.labels(s)
        for f in ds.factors:
            assert set(lab[:, f.index].tolist()) == set(range(f.n_classes)), (s, f.name)
    assert 0.6 < ds.indices("train").size / ds.n < 0.8


def test_two_prepares_identical(cache):
    a = prepare("moving-digits", "small", progress=False, path=cache / "a.h5")
    b = prepare("moving-digits", "small", progress=False, path=cache / "b.h5")
    da, db = open_h5(a), open_h5(b)
    np.testing.assert_array_equal(da.read(np.arange(da.n))[0], db.read(np.arange(db.n))[0])
    assert da.compute_content_hash() == db.compute_content_hash() == get_spec("moving-digits").content_hashes["small"]


@pytest.mark.parametrize("name", NAMES)
def test_full_design(name):
    spec = get_spec(name)
    plan = spec.plan("full")
    assert plan.n == spec.sizes["full"]
    ns = [f.n_classes for f in spec.factors]
    combos = {tuple(r) for r in plan.labels.tolist()}
    if name in ("sprites", "dsprites-static", "dsprites-dynamic"):
        assert len(combos) == plan.n == int(np.prod(ns))  # the whole grid, once
    elif name == "moving-digits":
        assert len(combos) == int(np.prod(ns)) and plan.n == 20 * len(combos)
    else:  # 3dshapes: balanced design covering every pair of factor values
        assert len(combos) == plan.n
        for i, j in itertools.combinations(range(len(ns)), 2):
            pairs = {(a, b) for a, b in plan.labels[:, [i, j]].tolist()}
            assert len(pairs) == ns[i] * ns[j], (i, j)
        counts = np.unique(plan.labels[:, 2], return_counts=True)[1]
        assert (counts == plan.n // 10).all()  # object hues balanced


def test_dsprites_sprite_fully_visible_every_frame():
    colours = np.array(list(dsprites.COLORS.values()))
    for plan_fn, rows in ((dsprites.plan_static, [0, 5000, 17000, 31103]), (dsprites.plan_dynamic, [0, 9999, 29159])):
        plan = plan_fn("full", 0)
        for r in rows:
            x = plan.render(r, r + 1)[0].astype(np.int64)  # [T, 3, H, W]
            colour = colours[plan.labels[r, 0]]
            on = x.sum(1) > 0
            assert on.sum(axis=(1, 2)).min() >= 60  # a clearly visible sprite in every frame
            # the colour is exact where the sprite covers the pixel fully
            full = (x == colour[None, :, None, None]).all(1)
            assert full.sum(axis=(1, 2)).min() >= 30

    # nothing is ever cut at the borders: every mask of the banks fits at the extreme centres
    half = dsprites.WIN // 2
    for bank, lo, hi in ((dsprites.MaskBank(dsprites.RADII8, dsprites.STATIC_ANGLES), min(dsprites.POS),
                          max(dsprites.POS)),
                         (dsprites.MaskBank(dsprites.DYN_RADII8, dsprites.ORIENTATIONS), 15, 49)):
        on = bank.masks.reshape(-1, dsprites.WIN, dsprites.WIN) > 0
        cols = np.flatnonzero(on.any(axis=(0, 1)))
        rows = np.flatnonzero(on.any(axis=(0, 2)))
        for idx in (cols, rows):
            assert lo + idx.min() - half >= 0 and hi + idx.max() - half <= 63


def test_dsprites_static_position_is_fixed_and_scale_bounces():
    plan = dsprites.plan_static("full", 0)
    r = int(np.flatnonzero((plan.labels[:, 4] == 2) & (plan.labels[:, 5] == 1))[0])  # grow_fast, still
    frames = plan.render(r, r + 1)[0].astype(np.int64).sum(1)  # [T, H, W]
    x = frames > 0
    area = frames.sum(axis=(1, 2))  # summed intensity (coverage) per frame
    levels = [5, 8, 9, 6, 3, 0, 3, 6, 9, 8, 5, 2, 1, 4, 7, 10]  # +3 per frame from the middle, bouncing on 0..10
    for i in range(16):
        for j in range(16):
            if levels[i] < levels[j]:
                assert area[i] < area[j]
    ys, xs = np.nonzero(x[0])
    cx = dsprites.POS[plan.labels[r, 2]]
    assert abs(xs.mean() - cx) < 2.0


def test_moving_digits_glyph_never_clipped_and_moves():
    plan = digits.plan("small", 0)
    x = plan.render(0, plan.n)[:, :, 0].astype(np.int64)  # [N, T, H, W]
    sums = x.sum(axis=(2, 3))
    assert (sums == sums[:, :1]).all()  # the whole glyph is inside in every frame
    ys = (x.sum(axis=3) > 0).argmax(axis=2)  # top row per frame
    xs = (x.sum(axis=2) > 0).argmax(axis=2)
    speed = np.array([1, 2, 4])[plan.labels[:, 3]]
    dirs = np.array(list(digits.DIRECTIONS.values()))[plan.labels[:, 2]]
    np.testing.assert_array_equal(xs[:, 1] - xs[:, 0], dirs[:, 0] * speed)
    np.testing.assert_array_equal(ys[:, 1] - ys[:, 0], dirs[:, 1] * speed)


def test_3dshapes_colours_by_hue():
    plan = shapes3d.plan("small", 0)
    x = plan.render(0, 8)
    for i in range(8):
        f, w, o = plan.labels[i, :3]
        # top-left pixel is wall, bottom-left pixel is floor: their colour is a shade of the hue
        for (py, px), hue in (((1, 1), w), ((62, 1), f)):
            rgb = x[i, 0, :, py, px].astype(np.int64)
            ref = np.array(shapes3d.hue_rgb(int(hue)), dtype=np.int64)
            k = ref.argmax()
            np.testing.assert_allclose(rgb / max(rgb[k], 1), ref / ref[k], atol=0.03)
    assert len({shapes3d.hue_rgb(i) for i in range(10)}) == 10


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_prepare_matches_registry_hash(cache, name):
    ds = open_dataset(name, size="full", progress=False)
    assert ds.compute_content_hash() == get_spec(name).content_hashes["full"]


def test_dsprites_classes_unambiguous():
    """Scale classes never overlap in area; orientations and shapes differ by many pixels."""
    m = dsprites.MaskBank(dsprites.DYN_RADII8, dsprites.ORIENTATIONS).masks.astype(np.int64)
    area = m.sum(axis=(3, 4))  # [shape, scale, orientation], in 1/16 pixel
    for s in range(3):
        for k in range(5):
            assert area[s, k].max() * 1.2 < area[s, k + 1].min()  # > 20 % more area per scale step
        for k in range(6):
            for i, j in itertools.combinations(range(5), 2):
                assert np.abs(m[s, k, i] - m[s, k, j]).sum() / 16 >= 12  # pixels that differ
    for k in range(6):
        for a, b in itertools.product(range(5), repeat=2):
            for i, j in itertools.permutations(range(3), 2):
                assert np.abs(m[i, k, a] - m[j, k, b]).sum() / 16 >= 20


def test_digit_glyphs_unambiguous():
    g = np.array([[digits.glyph(d, r) for r in digits.STYLES.values()] for d in range(10)], dtype=np.int64)
    for s in range(3):
        for a, b in itertools.combinations(range(10), 2):
            assert np.abs(g[a, s] - g[b, s]).sum() / 16 >= 20, (a, b, s)
    ink = g.sum(axis=(2, 3))  # [digit, style]
    assert (ink[:, 1] > 1.5 * ink[:, 0]).all() and (ink[:, 2] > 1.4 * ink[:, 1]).all()
