"""MSD's and C-DSVAE's formulas on hand-made matrices, against literal transcriptions of their code."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from msd_bench.errors import MetricError
from msd_bench.metrics import msd as M


# --------------------------------------------------------------- literal transcriptions of the reference
def msd_calculate_score(acc: np.ndarray, expected: dict, factors: list, class_dims: dict, missing: set) -> float:
    """MSD ``InterventionEvaluator.calculate_score``, transcribed (pandas, same statements)."""
    _df = pd.DataFrame(acc, index=list(expected), columns=factors)
    random_floor_dict = {k: 1 / v for k, v in class_dims.items()}
    for k in missing:
        v = expected[k]
        _df.loc[k, v] = 0
        others = [c for c in _df.columns if c not in v]
        _df.loc[k, others] = 1 + np.array([random_floor_dict[_v] for _v in others])
    scores = _df
    scores_mask = pd.DataFrame(columns=scores.columns, index=scores.index, data=0.0)
    for k, v in expected.items():
        _v = [c for c in scores.columns if c not in v]
        scores_mask.loc[k, v] = 1
        scores_mask.loc[k, [c for c in scores_mask.columns if c not in v]] = [random_floor_dict[vv] for vv in _v]
    diff = (scores - scores_mask).abs()
    on, off = [], []
    for k, v in expected.items():
        on.append(diff.loc[k, v].values)
        off.append(diff.loc[k, [c for c in scores.columns if c not in v]].values)
    on = np.concatenate(on).mean()
    off = np.concatenate(off).mean()
    return 1 - (on + off) / 2


def msd_consistency_score(acc: np.ndarray, factors: list, missing: set) -> float:
    """MSD ``ConsistencyEvaluator.calculate_score`` (missing rows: NaN off the diagonal, as its eval leaves them)."""
    _df = pd.DataFrame(acc, index=factors, columns=factors)
    for k in missing:
        _df.loc[k, :] = np.nan
        _df.loc[k, [k]] = 0
    scores_mask = pd.DataFrame(columns=_df.columns, index=_df.index, data=1.0)
    diff = (_df - scores_mask).abs()
    return 1 - diff.mean().mean()


def msd_dci(importance: np.ndarray, mapping: dict, factors: list, latent_dim: int) -> tuple[float, float]:
    """MSD ``DCIEvaluator.modularity`` / ``compactness``, transcribed."""
    eps = 1e-7
    imp = pd.DataFrame(importance, columns=factors)
    modularity_score = 0
    total_weight = imp.values.sum()
    for _k, v in mapping.items():
        v = np.array(v)
        modularity_j = 1
        code_weight = imp.loc[v].values.sum()
        for f in factors:
            w = imp[f][v].sum()
            p = (w / code_weight) if w != 0 else eps
            modularity_j += p * (np.log(p) / np.log(len(factors)))
        modularity_score += code_weight / total_weight * modularity_j
    comp = []
    for f in factors:
        c = 1
        fw = imp[f].sum()
        for _k, v in mapping.items():
            w = imp[f][np.array(v)].sum()
            p = (w / fw) if w != 0 else eps
            c += p * (np.log(p) / np.log(latent_dim))
        comp.append(c)
    return modularity_score, float(np.mean(comp))


def cdsvae_is_hyx_hy(p: np.ndarray, eps: float = 1e-16) -> tuple[float, float, float]:
    """C-DSVAE ``inception_score``, ``entropy_Hyx``, ``entropy_Hy`` (test_sprite_cls.py)."""
    p_y = np.expand_dims(p.mean(axis=0), 0)
    is_ = np.exp(np.mean((p * (np.log(p + eps) - np.log(p_y + eps))).sum(axis=1)))
    hyx = np.mean((p * np.log(p + eps)).sum(axis=1)) * (-1)
    py = p.mean(axis=0)
    hy = (py * np.log(py + eps)).sum() * (-1)
    return float(is_), float(hyx), float(hy)


# ------------------------------------------------------------------------------------------ hand cases
def test_multi_factor_score_hand_case():
    # K = 2, n = (2, 4). on = (|0.9-1| + |0.8-1|)/2 = 0.15 ; off = (|0.6-1/4| + |0.3-1/2|)/2 = 0.275
    acc = np.array([[0.9, 0.6], [0.3, 0.8]])
    s = M.multi_factor_score(acc, [2, 4])
    assert s["on"] == pytest.approx(0.15)
    assert s["off"] == pytest.approx(0.275)
    assert s["score"] == pytest.approx(1 - (0.15 + 0.275) / 2)
    # the diagonal weighs 1/2 whatever K: a perfect diagonal with off-diagonal cells at 1 (nothing swapped)
    k = 5
    keep_all = np.ones((k, k))
    assert M.multi_factor_score(keep_all, [4] * k)["score"] == pytest.approx(1 - 0.75 / 2)
    # oracle: diagonal 1, off-diagonal at chance 1/n -> 1
    n = np.array([3, 4, 6])
    oracle = np.where(np.eye(3, dtype=bool), 1.0, 1 / n[None, :])
    assert M.multi_factor_score(oracle, n)["score"] == pytest.approx(1.0)


def test_multi_factor_score_equals_msd_code_on_random_matrices_with_missing_rows():
    rng = np.random.default_rng(0)
    for trial in range(20):
        k = int(rng.integers(2, 7))
        factors = [f"f{i}" for i in range(k)]
        dims = {f: int(rng.integers(2, 10)) for f in factors}
        acc = rng.random((k, k))
        missing = {factors[i] for i in range(k) if rng.random() < 0.25} if trial % 2 else set()
        ref = msd_calculate_score(acc.copy(), {f: [f] for f in factors}, factors, dims, missing)
        ours = M.multi_factor_score(acc, [dims[f] for f in factors], [factors.index(f) for f in missing])
        assert ours["score"] == pytest.approx(ref, abs=1e-12)


def test_missing_row_is_the_worst_case():
    acc = np.array([[1.0, 0.5], [0.5, 1.0]])  # perfect for n = 2
    assert M.multi_factor_score(acc, [2, 2])["score"] == pytest.approx(1.0)
    s = M.multi_factor_score(acc, [2, 2], missing=[1])
    assert s["on"] == pytest.approx(0.5) and s["off"] == pytest.approx(0.5)  # row 1: every cell error 1


def test_two_factor_score_hand_case_and_msd_code():
    # factors: s1, s2 static (n 2, 4), d dynamic (n 3); rows: static group, dynamic group
    acc = np.array([[1.0, 0.8, 0.5], [0.4, 0.25, 0.9]])
    s = M.two_factor_score(acc, ["static", "static", "dynamic"], [2, 4, 3])
    on = (0 + 0.2 + 0.1) / 3
    off = (abs(0.5 - 1 / 3) + abs(0.4 - 0.5) + abs(0.25 - 0.25)) / 3
    assert s["score"] == pytest.approx(1 - (on + off) / 2)
    factors = ["s1", "s2", "d"]
    expected = {"static": ["s1", "s2"], "dynamic": ["d"]}
    ref = msd_calculate_score(acc.copy(), expected, factors, {"s1": 2, "s2": 4, "d": 3}, set())
    assert s["score"] == pytest.approx(ref, abs=1e-12)
    with pytest.raises(MetricError, match=r"\[2, K\]"):
        M.two_factor_score(np.ones((3, 3)), ["static"] * 3, [2] * 3)


def test_consistency_score_hand_case_and_msd_code():
    acc = np.array([[0.9, 0.7], [0.6, 1.0]])
    assert M.consistency_score(acc) == pytest.approx(np.mean(acc))  # 1 - mean|C - 1| = mean C
    # a missing row: its diagonal counts as 0, its other cells are skipped by the column means
    got = M.consistency_score(acc, missing=[0])
    assert got == pytest.approx(1 - np.mean([np.mean([1.0, 0.4]), 0.0]))
    rng = np.random.default_rng(1)
    for _ in range(10):
        s = int(rng.integers(1, 6))
        fs = [f"s{i}" for i in range(s)]
        a = rng.random((s, s))
        miss = {fs[i] for i in range(s) if rng.random() < 0.3}
        ref = msd_consistency_score(a.copy(), fs, miss)
        assert M.consistency_score(a, [fs.index(m) for m in miss]) == pytest.approx(ref, abs=1e-12, nan_ok=True)


def test_group_dci_hand_cases_and_msd_code():
    # block diagonal: 6 channels, 3 factors, two channels each, one group per factor -> ~1 and ~1
    imp = np.zeros((6, 3))
    for f in range(3):
        imp[2 * f : 2 * f + 2, f] = [0.7, 0.3]
    mapping = {"a": [0, 1], "b": [2, 3], "c": [4, 5]}
    d = M.group_dci(imp, mapping)
    eps_term = 2 * 1e-7 * math.log(1e-7)
    assert d["modularity"] == pytest.approx(1 + eps_term / math.log(3), abs=1e-12)
    assert d["compactness"] == pytest.approx(1 + eps_term / math.log(6), abs=1e-12)
    # uniform importance, one group per factor: every group's share is uniform -> modularity 0
    uni = np.full((6, 3), 1 / 6)
    assert M.group_dci(uni, mapping)["modularity"] == pytest.approx(0.0, abs=1e-12)
    # compactness of uniform: q = 1/3 for 3 groups, base 6 -> 1 + log(1/3)/log 6
    assert M.group_dci(uni, mapping)["compactness"] == pytest.approx(1 + math.log(1 / 3) / math.log(6))
    rng = np.random.default_rng(2)
    for _ in range(10):
        c, k = int(rng.integers(3, 12)), int(rng.integers(2, 5))
        factors = [f"f{i}" for i in range(k)]
        r = rng.random((c, k)) * (rng.random((c, k)) < 0.6)
        r[0, :] += 0.1
        r = r / r.sum(axis=0, keepdims=True)
        assign = r.argmax(axis=1)
        mp = {factors[f]: np.flatnonzero(assign == f).tolist() for f in range(k) if (assign == f).any()}
        ref = msd_dci(r, mp, factors, c)
        ours = M.group_dci(r, mp)
        assert ours["modularity"] == pytest.approx(ref[0], abs=1e-12)
        assert ours["compactness"] == pytest.approx(ref[1], abs=1e-12)
    with pytest.raises(MetricError, match="every importance is zero"):
        M.group_dci(np.zeros((3, 2)), {"a": [0]})
    with pytest.raises(MetricError, match="no group"):  # never a silent compactness of 1
        M.group_dci(np.ones((3, 2)), {"a": [], "b": []})
    with pytest.raises(MetricError, match="K >= 2"):
        M.group_dci(np.ones((3, 1)), {"a": [0]})


def test_cdsvae_balanced_subset_and_scores():
    y = np.array([2, 0, 0, 1, 2, 0, 1, 2, 2])
    sub = M.cdsvae_balanced_subset(y)
    # min count 2 (class 1): first two of each class, class by class
    assert sub.tolist() == [1, 2, 3, 6, 0, 4]
    # IS / H(y|x) / H(y) from log_softmax equal C-DSVAE's eps formulas within 1e-12
    import torch

    from msd_bench.metrics import judged as J

    rng = np.random.default_rng(3)
    logits = torch.from_numpy(rng.normal(size=(40, 9)) * 4)
    p = torch.softmax(logits, 1).numpy()
    is_, hyx, hy = cdsvae_is_hyx_hy(p)
    assert J.inception_score(logits) == pytest.approx(is_, abs=1e-12)
    assert J.conditional_entropy(logits) == pytest.approx(hyx, abs=1e-12)
    assert J.marginal_entropy(logits) == pytest.approx(hy, abs=1e-12)


def test_names_follow_definitions_and_registry():
    from msd_bench.metrics.base import get_info

    for name in ("msd.multi_factor_swap", "msd.multi_factor_sample", "msd.two_factor_swap", "msd.two_factor_sample",
                 "msd.consistency_swap", "msd.global_sample_consistency", "msd.local_sample_consistency",
                 "msd.dci.modularity", "msd.dci.compactness", "cdsvae.accuracy", "cdsvae.inception_score",
                 "cdsvae.h_y_given_x", "cdsvae.h_y"):
        assert get_info(name).version == "1"
    assert "modal" in get_info("msd.global_sample_consistency").description
    assert "consecutive" in get_info("msd.local_sample_consistency").description
