"""Latent exploration: channel maps, unassigned channels, train/test protocol, GBT agreement."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from msd_bench.errors import MetricError
from msd_bench.metrics.exploration import (
    explore_channels,
    features_from_latents,
    hist_importance,
    naive_bayes_accuracy,
)


def _codes(n: int, seed: int):
    """Factor 0 (4 classes) in cols 0-1, factor 1 (3 classes) in col 2 (non-ordinal), cols 3-5 noise."""
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, 4, n), rng.integers(0, 3, n)], 1)
    emb = np.array([0.0, 2.0, -1.0])  # non-monotone class embedding
    c = rng.normal(size=(n, 6)) * 0.3
    c[:, 0] += f[:, 0]
    c[:, 1] += 0.5 * f[:, 0]
    c[:, 2] += emb[f[:, 1]]
    c[:, 3:] = rng.normal(size=(n, 3))
    return c, f


def test_hist_map_assigns_signal_and_leaves_noise_unassigned():
    c, f = _codes(1000, 0)
    ct, ft = _codes(500, 1)
    cmap = explore_channels(c, f, ct, ft, factor_names=["a", "b"], method="hist")
    assert cmap.channels("a") == [0, 1] and cmap.channels("b") == [2]
    assert cmap.unassigned == [3, 4, 5]  # MSD would silently give these to factor "a"
    assert np.allclose(cmap.importance.sum(axis=0), 1.0)
    assert cmap.assigned_accuracy["a"] > 0.9 and cmap.assigned_accuracy["b"] > 0.95
    assert cmap.n_train == 1000 and cmap.n_test == 500
    d = cmap.to_dict()
    assert d["factors"] == {"a": [0, 1], "b": [2]} and d["unassigned"] == [3, 4, 5]


def test_scores_come_from_the_test_split():
    c, f = _codes(1000, 0)
    ct, ft = _codes(500, 1)
    rng = np.random.default_rng(2)
    shuffled = ft[rng.permutation(500)]  # test labels unrelated to test codes
    for method in ("hist", "gbt"):
        cmap = explore_channels(c, f, ct, shuffled, factor_names=["a", "b"], method=method)
        assert cmap.channels("a")[:2] == [0, 1]  # the map is fit on train only
        for acc in (cmap.test_accuracy, cmap.assigned_accuracy, cmap.linear_probe_accuracy):
            assert abs(acc["a"] - 0.25) < 0.08 and abs(acc["b"] - 1 / 3) < 0.08
    (in_sample,) = naive_bayes_accuracy(c, f, [c], [f])
    assert in_sample[0] > 0.9


def test_factor_without_channels_has_zero_column():
    rng = np.random.default_rng(3)
    c = rng.normal(size=(800, 4))
    f = np.stack([(c[:, 0] > 0).astype(int), rng.integers(0, 3, 800)], 1)
    imp = hist_importance(c, f)
    assert imp[:, 1].sum() == 0.0 and imp[0, 0] == pytest.approx(1.0)


def test_groups_sum_feature_importances_per_channel():
    rng = np.random.default_rng(4)
    n, t = 600, 3
    f = np.stack([rng.integers(0, 3, n), rng.integers(0, 3, n)], 1)
    static = np.stack([f[:, 0] + 0.1 * rng.normal(size=n), rng.normal(size=n)], 1)
    dynamic = rng.normal(size=(n, t, 2))
    dynamic[:, :, 1] += f[:, 1:2]  # dynamic dim 1 carries factor 1 in every frame
    codes, groups = features_from_latents(static, dynamic)
    assert codes.shape == (n, 2 + t * 2)
    assert groups.tolist() == [0, 1, 2, 3, 2, 3, 2, 3]
    assert np.array_equal(codes[:, 2 + 2 * 1 + 1], dynamic[:, 1, 1])
    cmap = explore_channels(codes, f, groups=groups, method="hist")
    assert cmap.channels(0) == [0] and cmap.channels(1) == [3] and cmap.unassigned == [1, 2]
    g = explore_channels(codes, f, groups=groups)  # boosted trees give noise channels some importance
    assert 0 in g.channels(0) and 3 in g.channels(1)
    assert g.importance[0, 0] > 0.7 and g.importance[3, 1] > 0.7


def test_fast_map_agrees_with_gbt_on_clear_channels_small():
    c, f = _codes(600, 5)
    fast = explore_channels(c, f, method="hist")
    ref = explore_channels(c, f, method="gbt")
    clear = np.sort(ref.importance, 1)[:, -1] >= 2 * np.sort(ref.importance, 1)[:, -2]
    # the fast exact trees assign like scikit-learn's
    sk = explore_channels(c, f, method="sklearn")
    assert np.array_equal(sk.assignment, ref.assignment)
    assert np.abs(sk.importance - ref.importance).max() < 0.02
    signal = np.array([True, True, True, False, False, False])
    assert np.array_equal(fast.assignment[clear & signal], ref.assignment[clear & signal])
    assert (clear & signal).sum() >= 2


def test_bad_inputs():
    c, f = _codes(50, 0)
    with pytest.raises(MetricError, match="both test_codes and test_factors"):
        explore_channels(c, f, c)
    with pytest.raises(MetricError, match="unknown method"):
        explore_channels(c, f, method="rf")
    with pytest.raises(MetricError, match="groups must be 6"):
        explore_channels(c, f, groups=[0, 1])
    with pytest.raises(MetricError, match="factor names"):
        explore_channels(c, f, factor_names=["a"])
    with pytest.raises(MetricError, match="latents must be"):
        features_from_latents(np.zeros((3, 2)), np.zeros((4, 2, 2)))
    with pytest.raises(MetricError, match="single class"):
        explore_channels(c, np.stack([f[:, 0], np.zeros(50, int)], 1))
    with pytest.raises(MetricError, match="every code dimension is constant"):
        explore_channels(np.ones_like(c), f)
    bad = c.copy()
    bad[3, 1] = np.nan
    with pytest.raises(MetricError, match="NaN/Inf"):
        explore_channels(bad, f)


def test_gbt_map_msd_definition_fit_on_train_scored_on_test():
    c, f = _codes(800, 0)
    ct, ft = _codes(400, 1)
    cmap = explore_channels(c, f, ct, ft, factor_names=["a", "b"])
    assert cmap.method == "gbt"
    assert cmap.channels("a")[:2] == [0, 1] and 2 in cmap.channels("b")
    assert np.allclose(cmap.importance.sum(axis=0), 1.0)
    # same importances as the fits, normalised per factor, argmax per channel
    imp = np.stack([ft_.importances for ft_ in cmap.fits], 1)
    assert np.array_equal(cmap.assignment, np.argmax(imp / imp.sum(0), 1))
    assert cmap.test_accuracy["a"] == pytest.approx(np.mean(cmap.fits[0].test_pred == ft[:, 0]))
    assert cmap.test_accuracy["a"] > 0.85 and cmap.test_accuracy["b"] > 0.95
    assert cmap.assigned_accuracy["b"] > 0.95 and cmap.linear_probe_accuracy["a"] > 0.85
    assert set(cmap.to_dict()) >= {"linear_probe_accuracy", "assigned_accuracy", "test_accuracy"}
    again = explore_channels(c, f, ct, ft, factor_names=["a", "b"], fits=cmap.fits)
    assert np.array_equal(again.assignment, cmap.assignment) and again.test_accuracy == cmap.test_accuracy


def test_threads_give_the_same_map_and_accuracies():
    """n_jobs fits the factor columns, the refits and the probes side by side: nothing changes."""
    c, f = _codes(600, 2)
    ct, ft = _codes(300, 3)
    one = explore_channels(c, f, ct, ft, factor_names=["a", "b"])
    two = explore_channels(c, f, ct, ft, factor_names=["a", "b"], n_jobs=2)
    assert np.array_equal(one.assignment, two.assignment) and np.array_equal(one.importance, two.importance)
    assert one.test_accuracy == two.test_accuracy and one.assigned_accuracy == two.assigned_accuracy
    assert one.linear_probe_accuracy == two.linear_probe_accuracy


def test_constant_channel_is_unassigned_not_silently_given_away():
    c, f = _codes(400, 2)
    c[:, 4] = 1.5
    cmap = explore_channels(c, f, c, f)
    assert 4 in cmap.unassigned and cmap.importance[4].sum() == 0.0


def _bench_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_metrics.py"
    spec = importlib.util.spec_from_file_location("bench_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_fast_map_agrees_with_gbt_msd_sprites_setting():
    """1,750 x 288 codes, 5 factors: every clearly assigned feature is assigned like GBT (minutes)."""
    bench = _bench_module()
    c, f, _ = bench.sprites_like_codes(1750, 0)
    fast = explore_channels(c, f, method="hist")
    ref = explore_channels(c, f, method="gbt")
    clear = bench.clear_channels(ref.importance)
    assert clear.sum() > 50
    assert np.mean(fast.assignment[clear] == ref.assignment[clear]) >= 0.99
