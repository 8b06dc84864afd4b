"""Representation metrics: known answers, invariances, and independent direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import mutual_info_score

from msd_bench.errors import MetricError
from msd_bench.metrics import representation as R


def _factors(n: int, k: int = 3, classes: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, size=(n, k))


def _perfect(f: np.ndarray, seed: int = 1, noise: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return f.astype(np.float64) + noise * rng.normal(size=f.shape)


@pytest.fixture(scope="module")
def split():
    ftr, fte = _factors(1500, seed=0), _factors(1500, seed=1)
    return ftr, fte


# --- direct (literal, loop-based) disentanglement_lib formulas for cross-checking -------------------


def _direct_discretize(codes: np.ndarray) -> np.ndarray:
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        out[:, d] = np.digitize(codes[:, d], np.histogram(codes[:, d], 20)[1][:-1])
    return out


def _direct_mi(codes: np.ndarray, f: np.ndarray) -> np.ndarray:
    disc = _direct_discretize(codes)
    return np.array([[mutual_info_score(f[:, k], disc[:, d]) for k in range(f.shape[1])]
                     for d in range(codes.shape[1])])


def test_histogram_discretize_matches_numpy():
    rng = np.random.default_rng(3)
    codes = np.concatenate([rng.normal(size=(57, 3)), np.full((57, 1), 2.0)], axis=1)
    codes[5, 0] = codes[:, 0].min() + (codes[:, 0].max() - codes[:, 0].min()) * 0.25  # exactly on an edge
    assert np.array_equal(R.histogram_discretize(codes), _direct_discretize(codes))


def test_mutual_info_and_entropy_match_sklearn():
    rng = np.random.default_rng(4)
    codes = rng.normal(size=(200, 4))
    f = rng.integers(0, 3, size=(200, 2))
    f[:, 1] = (codes[:, 2] > 0).astype(int) * 5  # labels need not be 0..n-1
    assert np.allclose(R._mi_matrix(codes, f), _direct_mi(codes, f), atol=1e-12)
    assert np.allclose(R.discrete_entropy(f), [mutual_info_score(f[:, k], f[:, k]) for k in range(2)])
    # hand case: two equiprobable classes -> log 2; four -> log 4
    assert R.discrete_entropy(np.array([[0, 0], [1, 1], [0, 2], [1, 3]])) == pytest.approx([np.log(2), np.log(4)])


def test_mig_and_modularity_direct_tiny_case():
    rng = np.random.default_rng(5)
    codes = rng.normal(size=(40, 3))
    f = np.stack([(codes[:, 0] > 0).astype(int), rng.integers(0, 3, 40)], axis=1)
    m = _direct_mi(codes, f)
    h = np.array([mutual_info_score(f[:, k], f[:, k]) for k in range(2)])
    mig_direct = np.mean([(np.sort(m[:, k])[-1] - np.sort(m[:, k])[-2]) / h[k] for k in range(2)])
    assert R.mig(codes, f) == pytest.approx(mig_direct, abs=1e-12)
    mod = []
    for d in range(3):
        sq = m[d] ** 2
        mod.append(0.0 if sq.max() == 0 else 1 - (sq.sum() - sq.max()) / (sq.max() * (2 - 1)))
    assert R.modularity(codes, f) == pytest.approx(np.mean(mod), abs=1e-12)


def test_im_score_direct_tiny_case():
    rng = np.random.default_rng(6)
    codes = rng.normal(size=(60, 3))
    f = np.stack([(codes[:, 2] > 0).astype(int), (codes[:, 0] > 0.5).astype(int)], axis=1)
    m = _direct_mi(codes, f)
    # brute force over injective maps factor -> code dim
    best = max(m[a, 0] + m[b, 1] for a in range(3) for b in range(3) if a != b)
    assert R.im_score(codes, f) == pytest.approx(best, abs=1e-12)


def test_gaussian_total_correlation_direct():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(500, 1))
    codes = np.concatenate([a, a + 0.5 * rng.normal(size=(500, 1)), rng.normal(size=(500, 1))], axis=1)
    cov = np.cov(codes.T)
    direct = 0.5 * (np.log(np.diag(cov)).sum() - np.log(np.linalg.det(cov)))
    assert R.gaussian_total_correlation(codes) == pytest.approx(direct, rel=1e-10)
    # two standard normals with correlation rho: TC = -0.5 log(1 - rho^2)
    z = rng.normal(size=(200000, 2))
    rho = 0.6
    corr = np.stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]], axis=1)
    assert R.gaussian_total_correlation(corr) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=5e-3)
    assert R.gaussian_total_correlation(rng.normal(size=(20000, 4))) < 2e-3


def test_irs_direct_tiny_case():
    rng = np.random.default_rng(8)
    f = rng.integers(0, 3, size=(90, 2))
    codes = np.concatenate([f[:, :1] + 0.3 * rng.normal(size=(90, 1)), rng.normal(size=(90, 2))], axis=1)
    fd = _direct_discretize(f.astype(float))
    max_dev = np.max(np.abs(codes - codes.mean(0)), axis=0)
    cum = np.zeros((3, 2))
    for i in range(2):
        vals = np.unique(fd[:, i])
        for v in vals:
            g = codes[fd[:, i] == v]
            cum[:, i] += np.quantile(np.abs(g - g.mean(0)), 0.99, axis=0)
        cum[:, i] /= len(vals)
    per_dim = (1 - cum / max_dev[:, None]).max(axis=1)
    assert R.irs(codes, f) == pytest.approx(np.average(per_dim, weights=max_dev), abs=1e-12)
    # constant dims are dropped; all-constant -> 0.0 (disentanglement_lib)
    assert R.irs(np.concatenate([codes, np.ones((90, 1))], 1), f) == pytest.approx(R.irs(codes, f))
    assert R.irs(np.ones((90, 2)), f) == 0.0


def test_dci_scores_direct():
    rng = np.random.default_rng(9)
    imp = rng.random((6, 3))
    d_direct = np.sum((1 - scipy.stats.entropy(imp.T + 1e-11, base=3)) * imp.sum(1) / imp.sum())
    c_direct = np.sum((1 - scipy.stats.entropy(imp + 1e-11, base=6)) * imp.sum(0) / imp.sum())
    d, c = R._dci_scores(imp)
    assert d == pytest.approx(d_direct, abs=1e-12) and c == pytest.approx(c_direct, abs=1e-12)
    d, c = R._dci_scores(np.eye(3))
    assert d == pytest.approx(1.0, abs=1e-8) and c == pytest.approx(1.0, abs=1e-8)


def test_sap_direct_tiny_case():
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(10)
    f, ft = rng.integers(0, 3, (80, 2)), rng.integers(0, 3, (60, 2))
    c = np.concatenate([f[:, :1] + 0.2 * rng.normal(size=(80, 1)), rng.normal(size=(80, 2))], 1)
    tc = np.concatenate([ft[:, :1] + 0.2 * rng.normal(size=(60, 1)), rng.normal(size=(60, 2))], 1)
    s = np.zeros((3, 2))
    for d in range(3):
        for k in range(2):
            clf = LinearSVC(C=0.01, class_weight="balanced").fit(c[:, [d]], f[:, k])
            s[d, k] = np.mean(clf.predict(tc[:, [d]]) == ft[:, k])
    s = np.sort(s, axis=0)
    assert R.sap(c, f, tc, ft) == pytest.approx(np.mean(s[-1] - s[-2]), abs=1e-12)


def test_explicitness_direct_tiny_case():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = np.random.default_rng(11)
    f, ft = rng.integers(0, 3, (150, 2)), rng.integers(0, 3, (150, 2))
    c = f + 0.8 * rng.normal(size=(150, 2))
    tc = ft + 0.8 * rng.normal(size=(150, 2))
    mean, std = c.mean(0), c.std(0)
    tr, te = [], []
    for k in range(2):
        clf = LogisticRegression().fit((c - mean) / std, f[:, k])
        mlb = MultiLabelBinarizer()
        tr.append(roc_auc_score(mlb.fit_transform(f[:, k : k + 1]), clf.predict_proba((c - mean) / std)))
        te.append(roc_auc_score(mlb.fit_transform(ft[:, k : k + 1]), clf.predict_proba((tc - mean) / std)))
    out = R.explicitness(c, f, tc, ft)
    assert out["train"] == pytest.approx(np.mean(tr), abs=1e-9)
    assert out["test"] == pytest.approx(np.mean(te), abs=1e-9)


# --- known answers -------------------------------------------------------------------------------


def test_perfect_codes_score_near_one(split):
    ftr, fte = split
    ctr, cte = _perfect(ftr, 2), _perfect(fte, 3)
    assert R.mig(ctr, ftr) > 0.95
    assert R.modularity(ctr, ftr) > 0.95
    assert R.irs(ctr, ftr) > 0.9
    # one-vs-rest linear SVMs on one dim cannot isolate middle classes of a 4-class factor: ~0.5
    assert R.sap(ctr, ftr, cte, fte) > 0.45
    assert R.im_score(ctr, ftr) == pytest.approx(R.discrete_entropy(ftr).sum(), rel=0.01)
    ex = R.explicitness(ctr, ftr, cte, fte)
    assert ex["train"] > 0.8 and ex["test"] > 0.8
    d = R.dci(ctr, ftr, cte, fte, estimator="hist")
    assert d["disentanglement"] > 0.95 and d["completeness"] > 0.95
    assert d["informativeness_test"] > 0.99


def test_perfect_codes_sap_binary_factors_reach_ceiling():
    # Discrete SAP's ceiling is 1 - (accuracy of an uninformative dim) = 1 - 1/2 for balanced binary
    # factors: the best dim is ~100 % accurate, the second best ~50 %.
    f, ft = _factors(800, 3, 2, 0), _factors(800, 3, 2, 1)
    s = R.sap(_perfect(f, 1, 0.1), f, _perfect(ft, 2, 0.1), ft)
    assert 0.45 < s <= 0.55
    m = R.sap_score_matrix(_perfect(f, 1, 0.1), f, _perfect(ft, 2, 0.1), ft)
    assert np.all(np.diag(m) > 0.99)


def test_independent_codes_score_near_zero(split):
    ftr, fte = split
    rng = np.random.default_rng(12)
    ctr, cte = rng.normal(size=(1500, 6)), rng.normal(size=(1500, 6))
    assert R.mig(ctr, ftr) < 0.02
    assert R.sap(ctr, ftr, cte, fte) < 0.05
    assert R.im_score(ctr, ftr) / R.discrete_entropy(ftr).sum() < 0.03  # plug-in MI bias only
    # IRS baseline of Gaussian noise is not 0: Q_0.99 of |z - mean| (~2.6 sd) vs the max deviation (~3.4 sd)
    assert R.irs(ctr, ftr) < 0.35
    assert abs(R.explicitness(ctr, ftr, cte, fte)["test"] - 0.5) < 0.05
    with pytest.raises(MetricError, match="every importance is 0"):  # nothing significant: no silent 0
        R.dci(ctr, ftr, cte, fte, estimator="hist")
    d = R.dci(ctr, ftr, cte, fte)  # boosted trees fit noise: spread importances, chance accuracy
    assert d["disentanglement"] < 0.1 and d["completeness"] < 0.1
    assert abs(d["informativeness_test"] - 0.25) < 0.05  # chance with 4 balanced classes


def test_permutation_invariance(split):
    ftr, fte = split
    rng = np.random.default_rng(13)
    ctr = np.concatenate([_perfect(ftr, 4, 0.5), rng.normal(size=(1500, 2))], 1)
    cte = np.concatenate([_perfect(fte, 5, 0.5), rng.normal(size=(1500, 2))], 1)
    perm = rng.permutation(5)
    for fn in (R.mig, R.modularity, R.irs, R.im_score):
        assert fn(ctr[:, perm], ftr) == pytest.approx(fn(ctr, ftr), abs=1e-12), fn.__name__
    assert R.gaussian_total_correlation(ctr[:, perm]) == pytest.approx(R.gaussian_total_correlation(ctr))
    assert R.sap(ctr[:, perm], ftr, cte[:, perm], fte) == pytest.approx(R.sap(ctr, ftr, cte, fte), abs=1e-12)
    a = R.dci(ctr[:, perm], ftr, cte[:, perm], fte, estimator="hist")
    b = R.dci(ctr, ftr, cte, fte, estimator="hist")
    assert a == pytest.approx(b, abs=1e-12)
    ea, eb = R.explicitness(ctr[:, perm], ftr, cte[:, perm], fte), R.explicitness(ctr, ftr, cte, fte)
    assert ea["test"] == pytest.approx(eb["test"], abs=1e-4)


def test_dci_gbt_reference_tiny():
    f, ft = _factors(200, 2, 3, 0), _factors(200, 2, 3, 1)
    rng = np.random.default_rng(14)
    c = np.concatenate([_perfect(f, 1, 0.05), rng.normal(size=(200, 1))], 1)
    tc = np.concatenate([_perfect(ft, 2, 0.05), rng.normal(size=(200, 1))], 1)
    d = R.dci(c, f, tc, ft, estimator="gbt")
    assert d["informativeness_train"] == 1.0 and d["informativeness_test"] > 0.97
    assert d["disentanglement"] > 0.8 and d["completeness"] > 0.8
    perm = [2, 0, 1]
    dp = R.dci(c[:, perm], f, tc[:, perm], ft, estimator="gbt")
    assert dp["disentanglement"] == pytest.approx(d["disentanglement"], abs=0.05)


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codes, factors, needle",
    [
        (np.zeros((5,)), np.zeros((5, 1), int), "2-D float array"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [0.5, 1.0]]), np.array([[0], [1], [0]]), "NaN/Inf"),
        (np.random.default_rng(0).normal(size=(4, 2)), np.array([[0], [1], [0]]), "3 rows but the codes have 4"),
        (np.random.default_rng(0).normal(size=(3, 2)), np.array([[0.5], [1], [0]]), "integer class indices"),
        (np.array([["a", "b"], ["c", "d"]]), np.array([[0], [1]]), "dtype"),
        (np.random.default_rng(0).normal(size=(3, 2)), np.array([[1], [1], [1]]), "constant"),
    ],
)
def test_bad_inputs_raise_one_line(codes, factors, needle):
    with pytest.raises(MetricError) as exc:
        R.mig(codes, factors)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_bad_train_test_inputs():
    rng = np.random.default_rng(0)
    c, f = rng.normal(size=(10, 3)), rng.integers(0, 2, (10, 2))
    with pytest.raises(MetricError, match="test_codes has 2 dimensions"):
        R.sap(c, f, c[:, :2], f)
    with pytest.raises(MetricError, match="unknown estimator"):
        R.dci(c, f, c, f, estimator="xgb")
    with pytest.raises(MetricError, match="at least 2"):
        R.modularity(c, f[:, :1])


@pytest.mark.parametrize("n_classes, unbalanced", [(2, False), (2, True), (3, False), (5, True), (8, False)])
def test_sap_exact_solver_matches_liblinear(n_classes, unbalanced):
    rng = np.random.default_rng(n_classes + 10 * unbalanced)
    n = 1200
    f, ft = rng.integers(0, n_classes, (n, 2)), rng.integers(0, n_classes, (n, 2))
    if unbalanced:
        f[: n // 2, 0], ft[: n // 2, 0] = 0, 0
    emb = rng.normal(size=n_classes)
    c = rng.normal(size=(n, 4))
    tc = rng.normal(size=(n, 4))
    c[:, 0] += 2 * emb[f[:, 0]]
    tc[:, 0] += 2 * emb[ft[:, 0]]
    c[:, 1] += f[:, 1]
    tc[:, 1] += ft[:, 1]
    c[:, 3] *= 50.0  # a badly scaled dimension
    tc[:, 3] *= 50.0
    a = R.sap_score_matrix(c, f, tc, ft, solver="liblinear")
    b = R.sap_score_matrix(c, f, tc, ft, solver="exact")
    assert np.abs(a - b).max() <= 2e-3  # liblinear stops at its tolerance; boundary points may flip
    assert R.sap(c, f, tc, ft) == pytest.approx(R.sap(c, f, tc, ft, solver="liblinear"), abs=2e-3)


# --- DCI: disentanglement_lib's definition (fast exact GBT) and bad input ---------------------------


def test_dci_default_is_the_gbt_definition_and_hist_is_a_different_estimator():
    # the case: 2 of 10 dims carry 2 of 3 factors; the hist proxy calls this D = C = 1
    rng = np.random.default_rng(21)
    f = rng.integers(0, 3, (700, 3))
    c = rng.normal(size=(700, 10))
    c[:, 0] += 2 * f[:, 0]
    c[:, 1] += 2 * f[:, 1]
    d = R.dci(c[:500], f[:500], c[500:], f[500:])
    h = R.dci(c[:500], f[:500], c[500:], f[500:], estimator="hist")
    assert d["disentanglement"] < 0.6 and h["disentanglement"] > 0.9
    assert d == R.dci(c[:500], f[:500], c[500:], f[500:], estimator="gbt")


@pytest.mark.parametrize(
    "codes, factors, needle",
    [
        (np.ones((40, 3)), np.arange(40)[:, None] % 2, "every code dimension is constant"),
        (np.random.default_rng(0).normal(size=(40, 3)), np.stack([np.arange(40) % 2, np.zeros(40, int)], 1),
         "single class"),
        (np.where(np.eye(40, 3) > 0, np.inf, 0.0), np.arange(40)[:, None] % 2, "NaN/Inf"),
    ],
)
@pytest.mark.parametrize("estimator", ["gbt", "hist"])
def test_dci_bad_input_one_line_error(codes, factors, needle, estimator):
    with pytest.raises(MetricError) as exc:
        R.dci(codes, factors, codes, factors, estimator=estimator)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_dci_constant_channels_get_no_importance_and_do_not_zero_the_score():
    rng = np.random.default_rng(22)
    f = rng.integers(0, 3, (400, 2))
    c = np.concatenate([f + 0.2 * rng.normal(size=(400, 2)), np.zeros((400, 2))], 1)
    imp, _, _ = R.gbt_importance(c[:300], f[:300], c[300:], f[300:])
    assert np.all(imp[2:] == 0.0)
    d = R.dci(c[:300], f[:300], c[300:], f[300:])
    assert d["disentanglement"] > 0.9 and d["informativeness_test"] > 0.95


def test_dci_all_zero_importance_is_an_error_not_zero():
    with pytest.raises(MetricError, match="every importance is 0"):
        R._dci_scores(np.zeros((3, 2)))
