"""Representation metrics on codes vs ground-truth factors (disentanglement_lib definitions).

Inputs: ``codes`` float ``[N, D]`` (one row per sequence, e.g. static code and flattened dynamic
code) and ``factors`` int ``[N, K]`` (ground-truth class indices). The definitions and defaults are
those of disentanglement_lib (Locatello et al., 2019), re-implemented and vectorised:

- discretisation: each code dimension separately into 20 equal-width histogram bins,
  ``np.digitize(c, np.histogram(c, 20)[1][:-1])`` (bins 1..20);
- mutual information: plug-in estimate in nats (== ``sklearn.metrics.mutual_info_score``);
- SAP uses ``LinearSVC(C=0.01, class_weight="balanced")`` per code x factor; the same objective is
  solved exactly and batched over dimensions (``solver="liblinear"`` calls scikit-learn);
- explicitness uses ``LogisticRegression()`` defaults on standardised codes; macro ROC-AUC;
- DCI is ``GradientBoostingClassifier()`` with defaults, computed by the exact fast
  reimplementation :mod:`msd_bench.metrics.gbt` (``estimator="sklearn"`` calls scikit-learn);
  ``estimator="hist"`` is a fast proxy reported under its own names ``dci_hist.*`` (see :func:`dci`).

Every public function validates its inputs and raises :class:`~msd_bench.errors.MetricError` with a
one-line message on a bad shape, dtype, NaN/Inf or a degenerate factor.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch

from ..errors import MetricError
from .base import register

__all__ = [
    "NUM_BINS",
    "dci",
    "discrete_entropy",
    "discrete_mutual_info",
    "explicitness",
    "gaussian_total_correlation",
    "histogram_discretize",
    "im_score",
    "irs",
    "mig",
    "modularity",
    "sap",
]

NUM_BINS = 20

_G = "representation"
register("mig", "1", True, "Mutual information gap: mean over factors of (top-1 - top-2 code MI) / H(factor)",
         needs=("labels",), value_range="[0, 1]", group=_G)
register("modularity", "1", True, "Modularity (Ridgeway & Zemel 2018) on discretised MI",
         needs=("labels",), value_range="[0, 1]", group=_G)
register("irs", "1", True, "Interventional robustness score (Suter et al. 2019), 0.99 quantile",
         needs=("labels",), value_range="[0, 1] (can be < 0)", group=_G)
register("im_score", "1", True, "I_m: sum of code-factor MI (nats) over the Hungarian one-to-one matching",
         needs=("labels",), value_range="[0, sum_k H(factor_k)] nats", group=_G)
register("gaussian_total_correlation", "1", False,
         "Total correlation of a Gaussian fitted to the codes (nats); 0 = uncorrelated dimensions",
         value_range="[0, inf) nats", group=_G)
register("sap", "1", True, "Separated attribute predictability: mean top-1 minus top-2 LinearSVC accuracy",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("explicitness", "1", True, "Explicitness (Ridgeway & Zemel): macro ROC-AUC of logistic regression",
         needs=("labels", "test_split"), value_range="[0.5, 1] typical", group=_G)
register("dci.disentanglement", "2", True,
         "DCI disentanglement (Eastwood & Williams 2018), disentanglement_lib: GradientBoostingClassifier "
         "importances (exact fast reimplementation)",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci.completeness", "2", True,
         "DCI completeness (Eastwood & Williams 2018), disentanglement_lib: GradientBoostingClassifier importances",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci.informativeness_train", "2", True,
         "DCI informativeness: mean train accuracy of the per-factor GradientBoostingClassifier",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci.informativeness_test", "2", True,
         "DCI informativeness: mean test accuracy of the per-factor GradientBoostingClassifier",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci_hist.disentanglement", "1", True,
         "Fast DCI proxy (not disentanglement_lib's DCI): disentanglement of significance-corrected histogram MI",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci_hist.completeness", "1", True,
         "Fast DCI proxy (not disentanglement_lib's DCI): completeness of significance-corrected histogram MI",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci_hist.informativeness_train", "1", True,
         "Fast DCI proxy: train accuracy of naive Bayes on the 20-bin codes with non-zero importance",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)
register("dci_hist.informativeness_test", "1", True,
         "Fast DCI proxy: test accuracy of naive Bayes on the 20-bin codes with non-zero importance",
         needs=("labels", "test_split"), value_range="[0, 1]", group=_G)


# ----------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------


def _as_codes(codes, what: str = "codes") -> np.ndarray:
    try:
        a = np.asarray(codes.detach().cpu().numpy() if hasattr(codes, "detach") else codes)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise MetricError(f"{what}: cannot convert to an array ({type(codes).__name__})") from exc
    if a.ndim != 2:
        raise MetricError(f"{what} must be a 2-D float array [N, D], got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise MetricError(f"{what} must be a float array [N, D], got dtype {a.dtype}")
    if a.shape[0] < 2 or a.shape[1] < 1:
        raise MetricError(f"{what} must have at least 2 rows and 1 column, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise MetricError(f"{what} contains NaN/Inf (first at row {bad[0]}, column {bad[1]}); expected finite")
    return a


def _as_factors(factors, n: int, what: str = "factors") -> np.ndarray:
    a = np.asarray(factors.detach().cpu().numpy() if hasattr(factors, "detach") else factors)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise MetricError(f"{what} must be a 2-D int array [N, K], got shape {a.shape}")
    if a.shape[0] != n:
        raise MetricError(f"{what} has {a.shape[0]} rows but the codes have {n}; expected equal N")
    if a.shape[1] < 1:
        raise MetricError(f"{what} must have at least one factor column, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or not np.all(a == np.round(a)):
            raise MetricError(f"{what} must hold integer class indices, got non-integer floats")
    elif not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise MetricError(f"{what} must be an int array [N, K], got dtype {a.dtype}")
    return a.astype(np.int64)


def _pair(codes, factors, min_factors: int = 1, min_dims: int = 1, what: str = ""):
    c = _as_codes(codes, f"{what}codes")
    f = _as_factors(factors, c.shape[0], f"{what}factors")
    if f.shape[1] < min_factors:
        raise MetricError(f"{what}factors has {f.shape[1]} column(s); this metric needs at least {min_factors}")
    if c.shape[1] < min_dims:
        raise MetricError(f"{what}codes has {c.shape[1]} dimension(s); this metric needs at least {min_dims}")
    return c, f


def _train_test(codes, factors, test_codes, test_factors, min_factors: int = 1):
    c, f = _pair(codes, factors, min_factors)
    tc, tf = _pair(test_codes, test_factors, min_factors, what="test_")
    if tc.shape[1] != c.shape[1]:
        raise MetricError(f"test_codes has {tc.shape[1]} dimensions but codes has {c.shape[1]}; expected equal")
    if tf.shape[1] != f.shape[1]:
        raise MetricError(f"test_factors has {tf.shape[1]} columns but factors has {f.shape[1]}; expected equal")
    return c, f, tc, tf


def _check_not_constant(f: np.ndarray, metric: str) -> None:
    const = [k for k in range(f.shape[1]) if np.all(f[:, k] == f[0, k])]
    if const:
        raise MetricError(f"{metric}: factor column(s) {const} are constant (zero entropy); drop them first")


# ----------------------------------------------------------------------------------------------
# Discretisation and discrete mutual information
# ----------------------------------------------------------------------------------------------


def histogram_edges(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Per-dimension equal-width edges ``[num_bins + 1, D]`` exactly as ``np.histogram`` makes them."""
    lo = codes.min(axis=0)
    hi = codes.max(axis=0)
    same = lo == hi
    lo = np.where(same, lo - 0.5, lo)
    hi = np.where(same, hi + 0.5, hi)
    return np.linspace(lo, hi, num_bins + 1, endpoint=True)


def digitize_with_edges(codes: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.digitize(codes[:, d], edges[:-1, d])`` for every dimension d (int64 ``[N, D]``, 0..bins)."""
    out = np.empty(codes.shape, dtype=np.int64)
    inner = edges[:-1]
    for d in range(codes.shape[1]):
        out[:, d] = np.searchsorted(inner[:, d], codes[:, d], side="right")
    return out


def histogram_discretize(codes, num_bins: int = NUM_BINS) -> np.ndarray:
    """Discretise each code dimension into ``num_bins`` equal-width bins (disentanglement_lib).

    ``out[:, d] = np.digitize(codes[:, d], np.histogram(codes[:, d], num_bins)[1][:-1])``, values in
    ``1..num_bins``.
    """
    c = _as_codes(codes)
    return digitize_with_edges(c, histogram_edges(c, num_bins))


def _encode_labels(y: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inv = np.unique(y, return_inverse=True)
    return inv.reshape(-1), len(uniq)


def _joint_counts(xd: np.ndarray, y: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """Contingency tables ``[D, nx, ny]`` of every column of ``xd`` (values 0..nx-1) with ``y``."""
    n, d = xd.shape
    flat = (np.arange(d)[None, :] * nx + xd) * ny + y[:, None]
    return np.bincount(flat.ravel(), minlength=d * nx * ny).reshape(d, nx, ny).astype(np.float64)


def _mi_from_counts(counts: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) of contingency tables ``[..., nx, ny]``."""
    n = counts.sum(axis=(-2, -1), keepdims=True)
    px = counts.sum(axis=-1, keepdims=True)
    py = counts.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = counts / n * (np.log(counts * n) - np.log(px) - np.log(py))
    return np.where(counts > 0, term, 0.0).sum(axis=(-2, -1))


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """MI matrix ``[D, K]`` (nats) between discrete codes ``[N, D]`` and factors ``[N, K]``."""
    xd = np.asarray(discrete_codes)
    f = np.asarray(factors)
    xi = np.empty_like(xd, dtype=np.int64)
    nx = 0
    for d in range(xd.shape[1]):
        xi[:, d], m = _encode_labels(xd[:, d])
        nx = max(nx, m)
    out = np.empty((xd.shape[1], f.shape[1]))
    for k in range(f.shape[1]):
        y, ny = _encode_labels(f[:, k])
        out[:, k] = _mi_from_counts(_joint_counts(xi, y, nx, ny))
    return np.maximum(out, 0.0)


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each factor column ``[K]`` (== ``mutual_info_score(y, y)``)."""
    f = np.asarray(factors)
    out = np.empty(f.shape[1])
    for k in range(f.shape[1]):
        _, counts = np.unique(f[:, k], return_counts=True)
        p = counts / counts.sum()
        out[k] = float(-(p * np.log(p)).sum())
    return out


def _mi_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    return discrete_mutual_info(digitize_with_edges(codes, histogram_edges(codes)), factors)


# ----------------------------------------------------------------------------------------------
# Unsupervised-split metrics (one set of codes)
# ----------------------------------------------------------------------------------------------


def mig(codes, factors) -> float:
    r"""Mutual information gap (Chen et al., 2018).

    .. math:: \mathrm{MIG} = \frac{1}{K}\sum_k \frac{I(z_{j^{(1)}_k}; v_k) - I(z_{j^{(2)}_k}; v_k)}{H(v_k)}

    where :math:`j^{(1)}_k, j^{(2)}_k` are the code dimensions with the largest and second largest
    mutual information with factor :math:`v_k`; MI on 20-bin histogram-discretised codes, nats.

    Parameters
    ----------
    codes : float array [N, D], D >= 2
    factors : int array [N, K], no constant column

    Returns
    -------
    float in [0, 1]; higher is better.

    References
    ----------
    Chen, Li, Grosse, Duvenaud. Isolating Sources of Disentanglement in VAEs. NeurIPS 2018.
    disentanglement_lib ``mig.py``.
    """
    c, f = _pair(codes, factors, min_dims=2)
    _check_not_constant(f, "mig")
    m = _mi_matrix(c, f)
    h = discrete_entropy(f)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


def modularity(codes, factors) -> float:
    r"""Modularity (Ridgeway & Zemel, 2018) on discretised mutual information.

    For each code dimension :math:`i` with MI row :math:`m_{ik}`:
    :math:`\delta_i = \frac{\sum_k m_{ik}^2 - \max_k m_{ik}^2}{\max_k m_{ik}^2 (K-1)}`, score
    :math:`1-\delta_i` (0 for a dimension with zero MI); the metric is the mean over dimensions.

    Parameters
    ----------
    codes : float array [N, D]
    factors : int array [N, K], K >= 2

    Returns
    -------
    float in [0, 1]; higher is better.

    References
    ----------
    Ridgeway & Zemel. Learning Deep Disentangled Embeddings with the F-Statistic Loss. NeurIPS 2018.
    disentanglement_lib ``modularity_explicitness.py``.
    """
    c, f = _pair(codes, factors, min_factors=2)
    m2 = np.square(_mi_matrix(c, f))
    mx = m2.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (m2.sum(axis=1) - mx) / (mx * (f.shape[1] - 1))
    score = np.where(mx == 0.0, 0.0, 1.0 - delta)
    return float(np.mean(score))


def irs(codes, factors, diff_quantile: float = 0.99) -> float:
    r"""Interventional robustness score (Suter et al., 2019), disentanglement_lib's variant.

    Factors are histogram-discretised (20 bins) like codes; constant code dimensions are dropped.
    For dimension :math:`j` and factor :math:`i`:
    :math:`\mathrm{EMPIDA}_{ji} = \frac{1}{|V_i|}\sum_{v} Q_{0.99}(|z_j - E[z_j \mid v_i = v]| \mid v_i = v)`,
    :math:`\mathrm{IRS}_{ji} = 1 - \mathrm{EMPIDA}_{ji} / \max_n |z_j - \bar z_j|`; per-dimension score
    :math:`\max_i \mathrm{IRS}_{ji}`, averaged with weights :math:`\max_n |z_j - \bar z_j|`.

    Parameters
    ----------
    codes : float array [N, D]
    factors : int array [N, K]
    diff_quantile : float
        Quantile of the within-group deviations (0.99; 1.0 is the paper's max).

    Returns
    -------
    float, at most 1 (typically in [0, 1]); higher is better. 0.0 when every dimension is constant.

    References
    ----------
    Suter, Miladinović, Schölkopf, Bauer. Robustly Disentangled Causal Mechanisms: Validating Deep
    Representations for Interventional Robustness. ICML 2019. disentanglement_lib ``irs.py``.
    """
    c, f = _pair(codes, factors)
    if not 0.0 < diff_quantile <= 1.0:
        raise MetricError(f"irs: diff_quantile must be in (0, 1], got {diff_quantile}")
    fd = digitize_with_edges(f.astype(np.float64), histogram_edges(f.astype(np.float64)))
    active = c[:, c.var(axis=0) > 0.0]
    if active.shape[1] == 0:
        return 0.0
    max_dev = np.max(np.abs(active - active.mean(axis=0)), axis=0)
    cum = np.zeros((active.shape[1], fd.shape[1]))
    for i in range(fd.shape[1]):
        values = np.unique(fd[:, i])
        for v in values:
            group = active[fd[:, i] == v]
            diffs = np.abs(group - group.mean(axis=0))
            cum[:, i] += np.quantile(diffs, diff_quantile, axis=0)
        cum[:, i] /= len(values)
    irs_matrix = 1.0 - cum / max_dev[:, None]
    per_dim = irs_matrix.max(axis=1)
    if max_dev.sum() > 0.0:
        return float(np.average(per_dim, weights=max_dev))
    return float(np.mean(per_dim))  # pragma: no cover - unreachable with active dims


def im_score(codes, factors) -> float:
    r"""I_m: mutual information captured by a one-to-one matching of code dimensions to factors.

    .. math:: I_m = \max_{\pi} \sum_k I(z_{\pi(k)}; v_k)

    over injective maps :math:`\pi` from factors to code dimensions (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``), MI on 20-bin discretised codes in nats. With
    ``D < K`` only ``D`` factors are matched.

    Parameters
    ----------
    codes : float array [N, D]
    factors : int array [N, K]

    Returns
    -------
    float in [0, sum_k H(v_k)] nats; higher is better. Divide by ``discrete_entropy(factors).sum()``
    for a [0, 1] normalised value.
    """
    from scipy.optimize import linear_sum_assignment

    c, f = _pair(codes, factors)
    m = _mi_matrix(c, f)
    rows, cols = linear_sum_assignment(m, maximize=True)
    return float(m[rows, cols].sum())


def gaussian_total_correlation(codes) -> float:
    r"""Total correlation of a Gaussian with the codes' covariance (nats).

    .. math:: TC = \tfrac12\left(\sum_j \log \Sigma_{jj} - \log\det\Sigma\right),\quad
              \Sigma = \mathrm{cov}(z) \text{ (ddof = 1)}

    Parameters
    ----------
    codes : float array [N, D], no constant dimension

    Returns
    -------
    float >= 0 (nats); lower is better (0 = uncorrelated dimensions).

    References
    ----------
    Watanabe (1960); Locatello et al. 2019, disentanglement_lib ``unsupervised_metrics.py``.
    """
    c = _as_codes(codes)
    cov = np.atleast_2d(np.cov(c, rowvar=False))
    diag = np.diag(cov)
    if np.any(diag <= 0):
        raise MetricError(
            f"gaussian_total_correlation: code dimension(s) {np.flatnonzero(diag <= 0).tolist()} are constant"
        )
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(diag)) - logdet))


# ----------------------------------------------------------------------------------------------
# Train/test metrics
# ----------------------------------------------------------------------------------------------


def _n_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def sap_correct_liblinear(c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray) -> np.ndarray:
    """Per-test-sample correctness ``[N_test, D, K]`` of scikit-learn's
    ``LinearSVC(C=0.01, class_weight="balanced")`` trained on each code dimension alone (reference).

    The D x K fits run on a small thread pool (liblinear releases the GIL), one BLAS thread each.
    """
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    def one(job: tuple[int, int]) -> np.ndarray:
        d, k = job
        if np.all(f[:, k] == f[0, k]):
            return tf[:, k] == f[0, k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LinearSVC(C=0.01, class_weight="balanced").fit(c[:, d : d + 1], f[:, k])
        return clf.predict(tc[:, d : d + 1]) == tf[:, k]

    jobs = [(d, k) for d in range(c.shape[1]) for k in range(f.shape[1])]
    with threadpool_limits(limits=1), ThreadPoolExecutor(_n_workers()) as pool:
        values = list(pool.map(one, jobs))
    return np.stack(values, axis=1).reshape(tc.shape[0], c.shape[1], f.shape[1])


def _svc_1d_newton(xs: torch.Tensor, pw: list, aw: list, cp: float, cn: float) -> tuple:
    """Solve ``min 0.5 (w^2 + b^2) + sum_i C_i max(0, 1 - s_i (w x_i + b))^2`` for every column.

    ``xs`` [D, N] sorted values; ``pw[m]`` / ``aw[m]`` [D, N+1] prefix sums of ``x^m`` over the
    positives / over all samples in sorted order; positives weigh ``cp``, negatives ``cn``. The
    objective is piecewise quadratic in (w, b): the active samples are a prefix or suffix of the sorted
    column, so objective, gradient and Hessian come from prefix sums in O(log N); damped Newton.
    Returns ``(w [D], b [D])``.
    """
    d = xs.shape[0]
    tot_p = [cp * p[:, -1] for p in pw]
    tot_q = [cn * (a[:, -1] - p[:, -1]) for a, p in zip(aw, pw, strict=True)]

    def pos_prefix(m: int, idx: torch.Tensor) -> torch.Tensor:
        return cp * pw[m].gather(1, idx).squeeze(1)

    def neg_prefix(m: int, idx: torch.Tensor) -> torch.Tensor:
        return cn * (aw[m].gather(1, idx) - pw[m].gather(1, idx)).squeeze(1)

    def sums(w: torch.Tensor, b: torch.Tensor):
        safe = torch.where(w == 0, torch.ones_like(w), w)
        tp = ((1 - b) / safe).unsqueeze(1)
        tq = ((-1 - b) / safe).unsqueeze(1)
        lp, rp = torch.searchsorted(xs, tp), torch.searchsorted(xs, tp, right=True)
        lq, rq = torch.searchsorted(xs, tq), torch.searchsorted(xs, tq, right=True)
        S, T = [], []
        for m in range(3):
            # positives active where w x < 1 - b: x < tp (w > 0, prefix) or x > tp (w < 0, suffix)
            sp = torch.where(w > 0, pos_prefix(m, lp), tot_p[m] - pos_prefix(m, rp))
            sp = torch.where(w == 0, torch.where(b < 1, tot_p[m], torch.zeros_like(b)), sp)
            # negatives active where w x > -1 - b: x > tq (w > 0, suffix) or x < tq (w < 0, prefix)
            sq = torch.where(w > 0, tot_q[m] - neg_prefix(m, rq), neg_prefix(m, lq))
            sq = torch.where(w == 0, torch.where(b > -1, tot_q[m], torch.zeros_like(b)), sq)
            S.append(sp)
            T.append(sq)
        return S, T

    def fgh(w: torch.Tensor, b: torch.Tensor):
        S, T = sums(w, b)
        fval = (0.5 * (w * w + b * b) + (1 - b) ** 2 * S[0] - 2 * (1 - b) * w * S[1] + w * w * S[2]
                + (1 + b) ** 2 * T[0] + 2 * (1 + b) * w * T[1] + w * w * T[2])
        gw = w - 2 * (1 - b) * S[1] + 2 * w * S[2] + 2 * (1 + b) * T[1] + 2 * w * T[2]
        gb = b - 2 * (1 - b) * S[0] + 2 * w * S[1] + 2 * (1 + b) * T[0] + 2 * w * T[1]
        return fval, gw, gb, 1 + 2 * S[2] + 2 * T[2], 2 * S[1] + 2 * T[1], 1 + 2 * S[0] + 2 * T[0]

    w = torch.zeros(d, dtype=torch.float64)
    b = torch.zeros(d, dtype=torch.float64)
    for _ in range(100):
        f0, gw, gb, hww, hwb, hbb = fgh(w, b)
        det = hww * hbb - hwb * hwb
        dw = -(hbb * gw - hwb * gb) / det
        db = -(-hwb * gw + hww * gb) / det
        decrease = gw * dw + gb * db
        active = -decrease > 1e-13 * (1 + f0.abs())
        if not bool(active.any()):
            break
        dw = torch.where(active, dw, torch.zeros_like(dw))
        db = torch.where(active, db, torch.zeros_like(db))
        step = torch.ones(d, dtype=torch.float64)
        for _ls in range(40):
            ok = fgh(w + step * dw, b + step * db)[0] <= f0 + 1e-4 * step * decrease + 1e-13 * f0.abs()
            if bool(ok.all()):
                break
            step = torch.where(ok, step, step / 2)
        w = w + step * dw
        b = b + step * db
    return w, b


def sap_correct(c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray, c_reg: float = 0.01) -> np.ndarray:
    """Per-test-sample correctness ``[N_test, D, K]`` of ``LinearSVC(C=0.01, class_weight="balanced")``
    trained on each code dimension alone for each factor — solved exactly, batched over dimensions.

    The model is liblinear's (scikit-learn ``LinearSVC`` defaults: squared hinge loss, L2 penalty,
    ``intercept_scaling=1`` so the intercept is penalised like a weight): for more than two classes
    one-vs-rest with the positives weighted ``C * n / (n_classes * count_c)`` and the rest ``C``
    (liblinear's ``train_one(..., weighted_C[i], C)``), for two classes class 1 positive weighted by
    its balanced weight and class 0 by its own; prediction = argmax of the decision values (sign for
    two classes). Each 1-D problem is solved to optimality by :func:`_svc_1d_newton` — the same
    optimum liblinear approaches to its tolerance (tests: accuracy matrices agree to 1e-3).
    """
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny kernels: threads only add contention on busy machines
    try:
        ct = torch.as_tensor(c, dtype=torch.float64)
        tct = torch.as_tensor(tc, dtype=torch.float64)
        n, d = ct.shape
        xs, order = torch.sort(ct.T.contiguous(), dim=1)
        powers = [None, xs, xs * xs]

        bufs = [torch.zeros(d, n + 1, dtype=torch.float64) for _ in range(3)]

        def prefix(weights: torch.Tensor | None, m: int) -> torch.Tensor:
            buf = torch.zeros(d, n + 1, dtype=torch.float64) if weights is None else bufs[m]
            term = powers[m] if weights is None else (weights if m == 0 else weights * powers[m])
            if term is None:
                buf[:, 1:] = torch.arange(1, n + 1, dtype=torch.float64)
            else:
                torch.cumsum(term, dim=1, out=buf[:, 1:])
            return buf

        aw = [prefix(None, m) for m in range(3)]
        out = np.zeros((tct.shape[0], d, f.shape[1]), dtype=bool)
        for k in range(f.shape[1]):
            classes, y = np.unique(f[:, k], return_inverse=True)
            ny = len(classes)
            if ny == 1:
                out[:, :, k] = (tf[:, k] == classes[0])[:, None]
                continue
            y = torch.as_tensor(y.reshape(-1))
            cw = n / (ny * torch.bincount(y, minlength=ny).double())
            ys = y[order]
            if ny == 2:
                problems = [(1, c_reg * float(cw[1]), c_reg * float(cw[0]))]
            else:
                problems = [(j, c_reg * float(cw[j]), c_reg) for j in range(ny)]
            best = idx = None
            for j, cp, cn in problems:
                pos = (ys == j).double()
                w, b = _svc_1d_newton(xs, [prefix(pos, m) for m in range(3)], aw, cp, cn)
                dec = w[None, :] * tct + b[None, :]
                if ny == 2:
                    idx = (dec > 0).long()
                elif best is None:
                    best, idx = dec, torch.zeros(dec.shape, dtype=torch.long)
                else:
                    better = dec > best  # first maximum wins, like argmax
                    best = torch.where(better, dec, best)
                    idx = torch.where(better, torch.full_like(idx, j), idx)
            pred = torch.as_tensor(classes)[idx]
            out[:, :, k] = (pred == torch.as_tensor(tf[:, k])[:, None]).numpy()
        return out
    finally:
        torch.set_num_threads(prev)


def sap_score_matrix(
    c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray, solver: str = "exact"
) -> np.ndarray:
    """Test accuracy ``[D, K]`` of ``LinearSVC(C=0.01, class_weight="balanced")`` on each code alone."""
    if solver == "exact":
        return sap_correct(c, f, tc, tf).mean(axis=0)
    if solver == "liblinear":
        return sap_correct_liblinear(c, f, tc, tf).mean(axis=0)
    raise MetricError(f"sap: unknown solver {solver!r}; expected 'exact' or 'liblinear'")


def sap_from_matrix(score: np.ndarray) -> float:
    """Mean over factors of the top-1 minus top-2 entry of each column of ``score [D, K]``."""
    s = np.sort(score, axis=0)
    return float(np.mean(s[-1] - s[-2]))


def sap(codes, factors, test_codes, test_factors, solver: Literal["exact", "liblinear"] = "exact") -> float:
    r"""Separated attribute predictability (Kumar et al., 2018), discrete-factor variant.

    :math:`S_{jk}` = test accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` trained on code
    dimension :math:`j` alone to predict factor :math:`k`;
    :math:`\mathrm{SAP} = \frac1K\sum_k (S_{(1)k} - S_{(2)k})`, the mean gap between the best and the
    second best dimension.

    Parameters
    ----------
    codes, factors : train split, float [N, D] (D >= 2) and int [N, K]
    test_codes, test_factors : test split, same widths
    solver : {"exact", "liblinear"}
        ``"exact"`` (default) solves the LinearSVC objective to optimality in batch
        (:func:`sap_correct`, ~20x faster); ``"liblinear"`` calls scikit-learn's ``LinearSVC``
        (the reference; stops at its tolerance, so a few test points near a boundary may differ).

    Returns
    -------
    float in [0, 1]; higher is better. With discrete factors the ceiling is 1 minus the accuracy of an
    uninformative dimension (e.g. ~0.5 for balanced binary factors), and one-vs-rest linear SVMs on a
    single dimension cannot isolate the middle classes of an ordinal factor.

    References
    ----------
    Kumar, Sattigeri, Balakrishnan. Variational Inference of Disentangled Latent Concepts from
    Unlabeled Observations. ICLR 2018. disentanglement_lib ``sap_score.py``.
    """
    c, f, tc, tf = _train_test(codes, factors, test_codes, test_factors)
    if c.shape[1] < 2:
        raise MetricError(f"sap needs at least 2 code dimensions, got {c.shape[1]}")
    return sap_from_matrix(sap_score_matrix(c, f, tc, tf, solver))


def _standardize(c: np.ndarray, tc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = c.mean(axis=0)
    std = c.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (c - mean) / std, (tc - mean) / std


def logistic_regression_proba(
    x: np.ndarray, y: np.ndarray, x_eval: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Fit scikit-learn's default ``LogisticRegression()`` and return class probabilities.

    Returns
    -------
    classes : array [n_classes]
    probas : list of arrays [M, n_classes], one per entry of ``x_eval``
    """
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the default max_iter, as in the reference
        clf = LogisticRegression().fit(x, y)
    return clf.classes_, [clf.predict_proba(xe) for xe in x_eval]


def macro_roc_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro ROC-AUC of one-vs-rest columns (classes absent from ``y`` or present alone are skipped)."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for j, cl in enumerate(classes):
        pos = y == cl
        if pos.all() or not pos.any():
            continue
        aucs.append(roc_auc_score(pos, proba[:, j]))
    return float(np.mean(aucs)) if aucs else float("nan")


def explicitness(codes, factors, test_codes, test_factors) -> dict[str, float]:
    r"""Explicitness (Ridgeway & Zemel, 2018).

    Codes are standardised with the train mean and std; per factor a logistic regression
    (scikit-learn ``LogisticRegression()`` defaults) is fit on all code dimensions, and the score is
    the macro one-vs-rest ROC-AUC of its class probabilities; the metric is the mean over factors, on
    the train and on the test split.

    Parameters
    ----------
    codes, factors : train split, float [N, D] and int [N, K]
    test_codes, test_factors : test split

    Returns
    -------
    dict ``{"train": float, "test": float}``, each in [0, 1] (0.5 = chance); higher is better.

    References
    ----------
    Ridgeway & Zemel. Learning Deep Disentangled Embeddings with the F-Statistic Loss. NeurIPS 2018.
    disentanglement_lib ``modularity_explicitness.py``.
    """
    c, f, tc, tf = _train_test(codes, factors, test_codes, test_factors)
    fits = explicitness_fits(c, f, tc, tf)
    train = [macro_roc_auc(f[:, k], p_tr, classes) for k, (classes, p_tr, _) in enumerate(fits)]
    test = [macro_roc_auc(tf[:, k], p_te, classes) for k, (classes, _, p_te) in enumerate(fits)]
    return {"train": float(np.mean(train)), "test": float(np.nanmean(test))}


def explicitness_fits(
    c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per factor ``(classes, train probabilities, test probabilities)`` of the explicitness models."""
    from threadpoolctl import threadpool_limits

    xn, txn = _standardize(c, tc)
    for k in range(f.shape[1]):
        if np.all(f[:, k] == f[0, k]):
            raise MetricError(f"explicitness: factor column {k} is constant in the train split")
    out = []
    # One BLAS/OpenMP thread: on few cores the default thread pools oversubscribe and run 10-30x slower.
    with threadpool_limits(limits=1):
        for k in range(f.shape[1]):
            classes, (p_tr, p_te) = logistic_regression_proba(xn, f[:, k], [xn, txn])
            out.append((classes, p_tr, p_te))
    return out


def _dci_scores(importance: np.ndarray) -> tuple[float, float]:
    """Disentanglement and completeness of an importance matrix ``[D, K]`` (disentanglement_lib).

    Raises :class:`MetricError` when every importance is 0 (disentanglement_lib then replaces the matrix
    by ones and reports D = C = 0, a silent 0 that says nothing about the codes).
    """
    imp = np.abs(np.asarray(importance, dtype=np.float64))
    d_codes, k_factors = imp.shape
    if not imp.sum() > 0.0:
        raise MetricError("dci: every importance is 0 (no code dimension predicts any factor: constant codes?); "
                          "D and C are undefined")

    def ent(p: np.ndarray, axis: int, base: int) -> np.ndarray:
        p = p + 1e-11
        p = p / p.sum(axis=axis, keepdims=True)
        return -(p * np.log(p)).sum(axis=axis) / np.log(base)

    if k_factors > 1:
        per_code = 1.0 - ent(imp, 1, k_factors)
        dis = float(np.sum(per_code * imp.sum(axis=1) / imp.sum()))
    else:
        dis = float("nan")
    if d_codes > 1:
        per_factor = 1.0 - ent(imp, 0, d_codes)
        comp = float(np.sum(per_factor * imp.sum(axis=0) / imp.sum()))
    else:
        comp = float("nan")
    return dis, comp


def _check_dci_input(c: np.ndarray, f: np.ndarray, what: str = "dci") -> None:
    """One-line errors for inputs on which a classifier per factor is meaningless."""
    single = [k for k in range(f.shape[1]) if np.all(f[:, k] == f[0, k])]
    if single:
        raise MetricError(f"{what}: factor column(s) {single} have a single class in the train split; "
                          "a classifier needs at least 2 (drop the column)")
    if np.all(c.max(axis=0) == c.min(axis=0)):
        raise MetricError(f"{what}: every code dimension is constant in the train split; no factor can be predicted")


def gbt_fits(c: np.ndarray, f: np.ndarray, tc: np.ndarray | None = None, *, device=None, progress=None,
             n_jobs: int = 1):
    """One ``GradientBoostingClassifier()`` per factor column (exact fast reimplementation).

    Returns a list of :class:`msd_bench.metrics.gbt.GBTFit` (importances, train / test predictions);
    the same fits serve :func:`dci` and :func:`msd_bench.metrics.exploration.explore_channels`
    (pass them as ``fits=``) when both look at the same codes. ``n_jobs`` threads fit factor columns
    side by side (the same models for every value).
    """
    from .gbt import fit_gbts

    _check_dci_input(c, f)
    return fit_gbts(c, f, tc, device=device, n_jobs=n_jobs,
                    progress=None if progress is None else (lambda s, total: progress(s)))


def gbt_importance(
    c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray, progress=None, return_correct: bool = False,
    fits=None, device=None, n_jobs: int = 1,
):
    """Importance matrix and accuracies of one ``GradientBoostingClassifier()`` per factor.

    Computed by the exact fast reimplementation (:mod:`msd_bench.metrics.gbt`), or taken from
    ``fits`` (from :func:`gbt_fits` on the same codes). Returns ``(importance [D, K], train_accuracy [K],
    test_accuracy [K])``; column k is ``|feature_importances_|`` of factor k's model. With
    ``return_correct`` the accuracies are replaced by per-sample correctness arrays ``[N, K]`` and
    ``[N_test, K]``.
    """
    if fits is None:
        fits = gbt_fits(c, f, tc, device=device, progress=progress, n_jobs=n_jobs)
    if len(fits) != f.shape[1] or any(ft.test_pred is None or ft.test_pred.shape[0] != tc.shape[0] for ft in fits):
        raise MetricError(f"dci: fits must be {f.shape[1]} GBT fits with predictions on the {tc.shape[0]} test rows")
    imp = np.stack([np.abs(ft.importances) for ft in fits], axis=1)
    ctr = np.stack([ft.train_pred == f[:, k] for k, ft in enumerate(fits)], axis=1)
    cte = np.stack([ft.test_pred == tf[:, k] for k, ft in enumerate(fits)], axis=1)
    if return_correct:
        return imp, ctr, cte
    return imp, ctr.mean(axis=0), cte.mean(axis=0)


def sklearn_gbt_importance(
    c: np.ndarray, f: np.ndarray, tc: np.ndarray, tf: np.ndarray, progress=None, return_correct: bool = False,
    random_state=None,
):
    """Reference: scikit-learn's ``GradientBoostingClassifier()`` per factor (slow; tests, benchmarks).

    Same return values as :func:`gbt_importance`.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    _check_dci_input(c, f)
    imp = np.zeros((c.shape[1], f.shape[1]))
    ctr = np.zeros(f.shape, dtype=bool)
    cte = np.zeros(tf.shape, dtype=bool)
    for k in range(f.shape[1]):
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(c, f[:, k])
        imp[:, k] = np.abs(model.feature_importances_)
        ctr[:, k] = model.predict(c) == f[:, k]
        cte[:, k] = model.predict(tc) == tf[:, k]
        if progress is not None:
            progress(k)
    if return_correct:
        return imp, ctr, cte
    return imp, ctr.mean(axis=0), cte.mean(axis=0)


def dci(
    codes,
    factors,
    test_codes,
    test_factors,
    estimator: Literal["gbt", "sklearn", "hist"] = "gbt",
    *,
    fits=None,
    device=None,
    n_jobs: int = 1,
) -> dict[str, float]:
    r"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams, 2018).

    disentanglement_lib's definition: per factor k a ``GradientBoostingClassifier()`` (scikit-learn
    defaults: log loss, 100 stages, learning rate 0.1, depth 3) is fit on the train codes;
    :math:`R_{jk}` = ``|feature_importances_|_j`` of that model (code j, factor k), then
    :math:`P_{jk} = R_{jk}/\sum_k R_{jk}`,

    .. math::

        D = \sum_j \rho_j \bigl(1 - H_K(P_{j\cdot})\bigr), \quad
        \rho_j = \frac{\sum_k R_{jk}}{\sum_{jk} R_{jk}}, \qquad
        C = \sum_k \tilde\rho_k \bigl(1 - H_D(\tilde P_{\cdot k})\bigr), \quad
        \tilde P_{jk} = \frac{R_{jk}}{\sum_j R_{jk}}, \ \tilde\rho_k = \frac{\sum_j R_{jk}}{\sum_{jk} R_{jk}}

    (entropies in bases K and D, ``1e-11`` added to every entry as in disentanglement_lib);
    informativeness = mean over factors of the same models' ``predict`` accuracy on the train and on
    the test split.

    Estimators:

    - ``"gbt"`` (default): the models are computed by :mod:`msd_bench.metrics.gbt`, an exact
      vectorised reimplementation of scikit-learn's (same trees; ties between equally good features
      are resolved deterministically, see that module) — D, C, I within 0.01 of scikit-learn's on
      the reference submissions' codes and on synthetic cases (tests, ``benchmarks/bench_metrics.py``);
    - ``"sklearn"``: scikit-learn itself (the reference; minutes on thousands of rows x hundreds of dims);
    - ``"hist"``: a fast proxy that is *not* this definition (importances = significance-corrected
      histogram MI, accuracies of naive Bayes on 20-bin codes, see
      :func:`msd_bench.metrics.exploration.hist_importance`); reported as ``dci_hist.*``, never as ``dci``.

    Parameters
    ----------
    codes, factors : train split, float [N, D] and int [N, K] (every factor with >= 2 classes)
    test_codes, test_factors : test split
    estimator : {"gbt", "sklearn", "hist"}
    fits : list of GBTFit, optional
        Precomputed fits of :func:`gbt_fits` on these codes (shared with the latent exploration).
    device : torch device for ``"gbt"`` (default CPU).
    n_jobs : int
        ``"gbt"`` on CPU: threads fitting factor columns side by side (same result for every value).

    Returns
    -------
    dict with ``disentanglement``, ``completeness`` (in [0, 1]; NaN when K = 1, resp. D = 1),
    ``informativeness_train``, ``informativeness_test`` (accuracies in [0, 1]); higher is better.

    Raises
    ------
    MetricError
        NaN/Inf in the codes, a factor with a single class, all-constant codes, or all importances 0.

    References
    ----------
    Eastwood & Williams. A Framework for the Quantitative Evaluation of Disentangled
    Representations. ICLR 2018. disentanglement_lib ``evaluation/metrics/dci.py``.
    """
    c, f, tc, tf = _train_test(codes, factors, test_codes, test_factors)
    if estimator == "gbt":
        imp, tr, te = gbt_importance(c, f, tc, tf, fits=fits, device=device, n_jobs=n_jobs)
    elif estimator == "sklearn":
        imp, tr, te = sklearn_gbt_importance(c, f, tc, tf)
    elif estimator == "hist":
        from .exploration import hist_importance, informative_features, naive_bayes_accuracy

        _check_dci_input(c, f, "dci_hist")
        imp = hist_importance(c, f)
        tr, te = naive_bayes_accuracy(c, f, [c, tc], [f, tf], features=informative_features(imp))
    else:
        raise MetricError(f"dci: unknown estimator {estimator!r}; expected 'gbt', 'sklearn' or 'hist'")
    dis, comp = _dci_scores(imp)
    return {
        "disentanglement": dis,
        "completeness": comp,
        "informativeness_train": float(np.mean(tr)),
        "informativeness_test": float(np.mean(te)),
    }
