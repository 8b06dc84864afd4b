"""Latent exploration: which latent channels carry which ground-truth factor.

The MSD benchmark finds, for every factor, the latent channels that carry it (the channel map used by
the multi-factor swap and sample metrics): it fits one ``GradientBoostingClassifier()`` per factor on
all channels, normalises each factor's ``feature_importances_`` to sum 1 and gives each channel to the
factor for which its importance is largest. This module does the same (``method="gbt"``, default,
with the exact fast reimplementation of :mod:`msd_bench.metrics.gbt`), with two fixes:

- the classifiers are **fit on the train split** and their accuracies are **scored on the test
  split** (MSD fits and scores in-sample);
- a channel with no importance for any factor stays **unassigned** (``-1``; MSD silently gives it
  to the first factor).

Reported beside the map (all on the test split): the boosted trees' accuracy from every channel
(``test_accuracy``), a boosted-trees classifier refit on each factor's assigned channels only
(``assigned_accuracy``), and a linear probe on all channels (``linear_probe_accuracy``: multinomial
logistic regression on standardised codes), so that an estimator that caps the accuracy shows.
``method="sklearn"`` calls scikit-learn (reference); ``method="hist"`` is the old fast proxy
(significance-corrected histogram MI, naive Bayes accuracies; :func:`hist_importance`).

Codes are ``[N, F]`` feature columns; ``groups`` maps each feature column to a channel (for example
the dynamic dimension j of every frame to channel ``S + j``, see :func:`features_from_latents`), and a
channel's importance is the sum of its features' importances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import MetricError
from .base import register
from .representation import (
    NUM_BINS,
    _as_codes,
    _as_factors,
    _check_dci_input,
    _joint_counts,
    _mi_from_counts,
    _standardize,
    digitize_with_edges,
    histogram_edges,
)

__all__ = [
    "ChannelMap",
    "explore_channels",
    "features_from_latents",
    "hist_importance",
    "linear_probe_accuracy",
    "naive_bayes_accuracy",
]

register("exploration.test_accuracy", "2", True,
         "Latent exploration: test accuracy of the per-factor GradientBoostingClassifier (fit on train) "
         "on all channels",
         needs=("labels", "test_split"), value_range="[0, 1]", group="exploration")
register("exploration.assigned_accuracy", "2", True,
         "Latent exploration: test accuracy of a GradientBoostingClassifier refit on each factor's assigned "
         "channels only",
         needs=("labels", "test_split"), value_range="[0, 1]", group="exploration")
register("exploration.linear_probe_accuracy", "1", True,
         "Latent exploration: test accuracy of a linear probe (multinomial logistic regression on "
         "standardised codes) on all channels",
         needs=("labels", "test_split"), value_range="[0, 1]", group="exploration")


def _bins(codes: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index 0..NUM_BINS-1 of each value w.r.t. train ``edges`` (values outside are clipped)."""
    return np.clip(digitize_with_edges(codes, edges), 1, edges.shape[0] - 1) - 1


def hist_importance(codes: np.ndarray, factors: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    r"""Fast importance matrix ``[F, K]``: significance-corrected histogram MI, normalised per factor.

    For feature f (20-bin histogram discretisation) and factor k, with plug-in MI :math:`\hat I`
    (nats), :math:`N` samples, :math:`B_f` occupied bins and :math:`n_k` classes, the independence
    test statistic :math:`G = 2N\hat I` is asymptotically :math:`\chi^2` with
    :math:`\nu = (B_f-1)(n_k-1)` degrees of freedom. The importance is the bias-corrected MI
    :math:`\hat I - \nu/(2N)` when :math:`G` exceeds the :math:`\chi^2_\nu` quantile at level
    :math:`\alpha/(FK)` (Bonferroni), else 0. Each column is then divided by its sum (like
    ``feature_importances_``, which sum to 1 per model); an all-zero column stays zero.

    Returns
    -------
    array [F, K] >= 0; column k sums to 1 unless no feature carries factor k.
    """
    from scipy.special import chdtri  # = scipy.stats.chi2.isf(q, df) with df first; a 3x lighter import

    c = np.asarray(codes, dtype=np.float64)
    f = np.asarray(factors)
    n, nf = c.shape
    xb = _bins(c, histogram_edges(c, NUM_BINS))
    occupied = np.array([np.unique(xb[:, j]).size for j in range(nf)])
    out = np.zeros((nf, f.shape[1]))
    level = alpha / max(1, nf * f.shape[1])
    for k in range(f.shape[1]):
        y = np.unique(f[:, k], return_inverse=True)[1].reshape(-1)
        ny = int(y.max()) + 1
        mi = _mi_from_counts(_joint_counts(xb, y, NUM_BINS, ny))
        dof = np.maximum((occupied - 1) * (ny - 1), 1)
        crit = chdtri(dof, level)
        imp = np.where(2 * n * mi > crit, np.maximum(mi - dof / (2 * n), 0.0), 0.0)
        s = imp.sum()
        out[:, k] = imp / s if s > 0 else 0.0
    return out


def naive_bayes_accuracy(
    codes: np.ndarray,
    factors: np.ndarray,
    eval_codes: Sequence[np.ndarray],
    eval_factors: Sequence[np.ndarray],
    features: np.ndarray | Sequence[np.ndarray] | None = None,
    smoothing: float = 1.0,
    return_correct: bool = False,
) -> tuple[np.ndarray, ...]:
    """Accuracy ``[K]`` of a categorical naive Bayes classifier on 20-bin discretised codes.

    Fit on ``codes``/``factors`` (bin edges from these codes, Laplace smoothing ``smoothing``),
    evaluated on each ``(eval_codes[i], eval_factors[i])``. ``features`` restricts the classifier to
    a subset of columns: one index array for every factor, or a list with one array per factor
    (with no feature the classifier predicts the train majority class). Returns one array per eval set
    (per-sample correctness ``[M, K]`` instead of accuracies with ``return_correct``).
    """
    c = np.asarray(codes, dtype=np.float64)
    f = np.asarray(factors)
    edges = histogram_edges(c, NUM_BINS)
    xb = _bins(c, edges)
    ev_bins = [_bins(np.asarray(e, dtype=np.float64), edges) for e in eval_codes]
    results = [np.zeros((np.asarray(e).shape[0], f.shape[1]), dtype=bool) for e in eval_codes]
    for k in range(f.shape[1]):
        if features is None:
            cols = np.arange(c.shape[1])
        elif isinstance(features, np.ndarray) and features.ndim == 1 and features.dtype != object:
            cols = features.astype(np.int64)
        else:
            cols = np.asarray(features[k], dtype=np.int64)
        classes, y = np.unique(f[:, k], return_inverse=True)
        y = y.reshape(-1)
        ny = len(classes)
        class_count = np.bincount(y, minlength=ny).astype(np.float64)
        log_prior = np.log(class_count / class_count.sum())
        if cols.size:
            counts = _joint_counts(xb[:, cols], y, NUM_BINS, ny)  # [F, bins, ny]
            logp = np.log(counts + smoothing) - np.log(class_count + smoothing * NUM_BINS)[None, None, :]
        for i, (eb, ef) in enumerate(zip(ev_bins, eval_factors, strict=True)):
            score = np.broadcast_to(log_prior, (eb.shape[0], ny)).copy()
            if cols.size:
                for start in range(0, eb.shape[0], 2048):
                    blk = eb[start : start + 2048][:, cols]
                    score[start : start + 2048] += logp[np.arange(cols.size)[None, :], blk].sum(axis=1)
            pred = classes[np.argmax(score, axis=1)]
            results[i][:, k] = pred == np.asarray(ef)[:, k]
    if return_correct:
        return tuple(results)
    return tuple(r.mean(axis=0) for r in results)


def informative_features(importance: np.ndarray) -> list[np.ndarray]:
    """Per factor, the feature columns with a non-zero importance (the naive Bayes inputs)."""
    return [np.flatnonzero(importance[:, k] > 0) for k in range(importance.shape[1])]


@dataclass
class ChannelMap:
    """Which channels carry which factor.

    Attributes
    ----------
    factor_names : list of str
    assignment : int array [C]
        Factor index of each channel, ``-1`` for an unassigned channel.
    importance : float array [C, K]
        Channel importances (each factor's column sums to 1 over features, summed per channel).
    method : str
        ``"gbt"``, ``"sklearn"`` or ``"hist"``.
    test_accuracy, assigned_accuracy, linear_probe_accuracy : dict factor -> float
        Test-split accuracy of predicting the factor from every feature (the method's classifier:
        the boosted trees for ``gbt`` / ``sklearn``, naive Bayes for ``hist``), from the factor's
        assigned channels only (boosted trees refit on them; naive Bayes for ``hist``), and of a
        linear probe on every feature; empty without a test split.
    n_train, n_test : int
    fits : list of GBTFit or None
        The per-factor boosted-tree fits on all features (``method="gbt"``), reusable by
        :func:`msd_bench.metrics.representation.dci` on the same codes; not serialised.
    """

    factor_names: list[str]
    assignment: np.ndarray
    importance: np.ndarray
    method: str
    test_accuracy: dict[str, float] = field(default_factory=dict)
    assigned_accuracy: dict[str, float] = field(default_factory=dict)
    linear_probe_accuracy: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    fits: Any = field(default=None, repr=False, compare=False)

    def channels(self, factor: str | int) -> list[int]:
        """Channels assigned to ``factor`` (name or index)."""
        k = self.factor_names.index(factor) if isinstance(factor, str) else int(factor)
        return np.flatnonzero(self.assignment == k).tolist()

    @property
    def unassigned(self) -> list[int]:
        return np.flatnonzero(self.assignment < 0).tolist()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "factors": {name: self.channels(k) for k, name in enumerate(self.factor_names)},
            "unassigned": self.unassigned,
            "test_accuracy": self.test_accuracy,
            "assigned_accuracy": self.assigned_accuracy,
            "linear_probe_accuracy": self.linear_probe_accuracy,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }


def linear_probe_accuracy(codes: np.ndarray, factors: np.ndarray, test_codes: np.ndarray,
                          test_factors: np.ndarray, max_iter: int = 200, n_jobs: int = 1) -> np.ndarray:
    r"""Test accuracy ``[K]`` of a linear probe per factor.

    Codes are standardised with the train mean and std (constant columns left at 0); per factor a
    multinomial logistic regression (scikit-learn ``LogisticRegression(max_iter=200)``, L2, C = 1,
    lbfgs) is fit on the train split and scored on the test split:
    :math:`\mathrm{acc}_k = \frac1M \sum_i 1[\arg\max_c (W_k z_i + b_k)_c = y_{ik}]`.
    ``n_jobs`` threads fit the factors side by side (BLAS single-threaded in each; the same models).
    """
    import warnings

    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    xn, txn = _standardize(codes, test_codes)

    def probe(k: int) -> float:
        clf = LogisticRegression(max_iter=max_iter).fit(xn, factors[:, k])
        return float(np.mean(clf.predict(txn) == test_factors[:, k]))

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a probe, not a tuned model
        if n_jobs > 1 and factors.shape[1] > 1:
            with ThreadPoolExecutor(max_workers=min(n_jobs, factors.shape[1])) as pool:
                return np.asarray(list(pool.map(probe, range(factors.shape[1]))), dtype=np.float64)
        return np.asarray([probe(k) for k in range(factors.shape[1])], dtype=np.float64)


def features_from_latents(static, dynamic) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence feature columns of latents and their channel of the ``S + D`` channel space.

    Parameters
    ----------
    static : array [N, S]
    dynamic : array [N, T, D]

    Returns
    -------
    codes : float64 [N, S + T*D]  (static dims, then frame-major dynamic dims)
    groups : int64 [S + T*D]      (static dim c -> c; dynamic dim j of any frame -> S + j)
    """
    s = np.asarray(static.detach().cpu().numpy() if hasattr(static, "detach") else static, dtype=np.float64)
    d = np.asarray(dynamic.detach().cpu().numpy() if hasattr(dynamic, "detach") else dynamic, dtype=np.float64)
    if s.ndim != 2 or d.ndim != 3 or s.shape[0] != d.shape[0]:
        raise MetricError(f"latents must be static [N, S] and dynamic [N, T, D], got {s.shape} and {d.shape}")
    n, t, dd = d.shape
    codes = np.concatenate([s, d.reshape(n, t * dd)], axis=1)
    groups = np.concatenate([np.arange(s.shape[1]), s.shape[1] + np.tile(np.arange(dd), t)])
    return codes, groups


def explore_channels(
    codes,
    factors,
    test_codes=None,
    test_factors=None,
    *,
    method: Literal["gbt", "sklearn", "hist"] = "gbt",
    groups=None,
    factor_names: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    fits=None,
    device=None,
    linear_probe: bool = True,
    n_jobs: int = 1,
) -> ChannelMap:
    r"""Map latent channels to factors: fit on the train split, score on the test split.

    MSD's latent exploration with a held-out split: for every factor k a
    ``GradientBoostingClassifier()`` is fit on all feature columns of the train split; its
    ``feature_importances_`` :math:`r_{fk}` are normalised per factor,
    :math:`\hat r_{fk} = r_{fk} / \sum_{f'} r_{f'k}`, summed per channel,
    :math:`R_{ck} = \sum_{f \in c} \hat r_{fk}`, and channel c goes to
    :math:`\arg\max_k R_{ck}` (unassigned, ``-1``, when :math:`R_{c\cdot} = 0`, e.g. a constant
    channel).

    Parameters
    ----------
    codes : float [N, F]
        Train codes (feature columns); see :func:`features_from_latents`.
    factors : int [N, K]
        Train factors (each with >= 2 classes).
    test_codes, test_factors : optional
        Test split used to score the map (accuracies); never used to fit it.
    method : {"gbt", "sklearn", "hist"}
        ``"gbt"`` (default): the exact fast reimplementation of ``GradientBoostingClassifier()``
        (:mod:`msd_bench.metrics.gbt`); ``"sklearn"``: scikit-learn itself (reference, slow);
        ``"hist"``: the fast proxy (:func:`hist_importance`, naive Bayes accuracies).
    groups : int [F], optional
        Channel of each feature column (default: column f is channel f).
    factor_names : list of str, optional
    fits : list of GBTFit, optional
        Precomputed ``method="gbt"`` fits on these codes (e.g. shared with DCI).
    device : torch device of the boosted trees (default CPU).
    linear_probe : bool
        Also score the linear probe (:func:`linear_probe_accuracy`).
    n_jobs : int
        ``"gbt"`` on CPU: threads for the fits (factor columns of the channel-map fit, then the
        per-factor refits side by side); the same map and accuracies for every value.

    Returns
    -------
    ChannelMap
        With ``test_accuracy`` (all channels), ``assigned_accuracy`` (assigned channels only; a
        factor with no channel gets the accuracy of predicting the train majority class) and
        ``linear_probe_accuracy`` on the test split.

    Raises
    ------
    MetricError
        Bad shapes, NaN/Inf, a factor with a single class, every column constant.

    References
    ----------
    MSD benchmark, ``msd/evaluations/latent_exploration/explorers/predictor_latent_explorer.py``.
    """
    c = _as_codes(codes)
    f = _as_factors(factors, c.shape[0])
    tc = tf = None
    if (test_codes is None) != (test_factors is None):
        raise MetricError("explore_channels: give both test_codes and test_factors, or neither")
    if test_codes is not None:
        tc = _as_codes(test_codes, "test_codes")
        tf = _as_factors(test_factors, tc.shape[0], "test_factors")
        if tc.shape[1] != c.shape[1] or tf.shape[1] != f.shape[1]:
            raise MetricError(
                f"test split has shapes {tc.shape}/{tf.shape}, expected [*, {c.shape[1]}]/[*, {f.shape[1]}]"
            )
    names = list(factor_names) if factor_names is not None else [f"factor_{k}" for k in range(f.shape[1])]
    if len(names) != f.shape[1]:
        raise MetricError(f"explore_channels: {len(names)} factor names for {f.shape[1]} factor columns")
    g = np.arange(c.shape[1]) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    if g.shape[0] != c.shape[1] or (g.size and g.min() < 0):
        raise MetricError(f"groups must be {c.shape[1]} non-negative channel indices, got shape {g.shape}")
    if method not in ("gbt", "sklearn", "hist"):
        raise MetricError(f"explore_channels: unknown method {method!r}; expected 'gbt', 'sklearn' or 'hist'")
    _check_dci_input(c, f, "explore_channels")
    n_channels = int(g.max()) + 1 if g.size else 0

    test_acc: dict[str, float] = {}
    out_fits = None
    if method == "hist":
        feat_imp = hist_importance(c, f)
        if tc is not None:
            (acc,) = naive_bayes_accuracy(c, f, [tc], [tf], features=informative_features(feat_imp))
            test_acc = {names[k]: float(acc[k]) for k in range(f.shape[1])}
    elif method == "gbt":
        from .gbt import fit_gbts

        if fits is None:
            fits = fit_gbts(c, f, tc, device=device, n_jobs=n_jobs,
                            progress=None if progress is None else (lambda s, total: progress(s)))
        if len(fits) != f.shape[1]:
            raise MetricError(f"explore_channels: {len(fits)} fits for {f.shape[1]} factor columns")
        out_fits = fits
        feat_imp = np.stack([np.abs(ft.importances) for ft in fits], axis=1)
        if tc is not None:
            if any(ft.test_pred is None or ft.test_pred.shape[0] != tc.shape[0] for ft in fits):
                raise MetricError("explore_channels: the given fits have no predictions on these test codes")
            test_acc = {names[k]: float(np.mean(fits[k].test_pred == tf[:, k])) for k in range(f.shape[1])}
    else:
        from .representation import sklearn_gbt_importance

        feat_imp, _, te = sklearn_gbt_importance(c, f, c if tc is None else tc, f if tf is None else tf)
        if tc is not None:
            test_acc = {names[k]: float(te[k]) for k in range(f.shape[1])}
    sums = feat_imp.sum(axis=0, keepdims=True)
    feat_imp = np.divide(feat_imp, sums, out=np.zeros_like(feat_imp), where=sums > 0)

    imp = np.zeros((n_channels, f.shape[1]))
    np.add.at(imp, g, feat_imp)
    assignment = np.where(imp.max(axis=1) > 0, imp.argmax(axis=1), -1)

    assigned_acc: dict[str, float] = {}
    probe_acc: dict[str, float] = {}
    if tc is not None:
        def refit(k: int) -> float:
            return _assigned_accuracy(method, c, f[:, k], tc, tf[:, k], np.flatnonzero(assignment[g] == k), device)

        from . import gbt as _gbt

        # independent fits side by side in threads (the compiled CPU kernel releases the GIL; the torch
        # path changes torch's global thread count, so it stays sequential)
        threaded = (method == "gbt" and n_jobs > 1 and len(names) > 1 and _gbt._boost_nb is not None
                    and (device is None or str(device).startswith("cpu")))
        if threaded:
            with ThreadPoolExecutor(max_workers=min(n_jobs, len(names))) as pool:
                accs = list(pool.map(refit, range(len(names))))
        else:
            accs = [refit(k) for k in range(len(names))]
        assigned_acc = dict(zip(names, accs, strict=True))
        if linear_probe:
            acc = linear_probe_accuracy(c, f, tc, tf, n_jobs=n_jobs)
            probe_acc = {names[k]: float(acc[k]) for k in range(f.shape[1])}
    return ChannelMap(
        factor_names=names,
        assignment=assignment,
        importance=imp,
        method=method,
        test_accuracy=test_acc,
        assigned_accuracy=assigned_acc,
        linear_probe_accuracy=probe_acc,
        n_train=int(c.shape[0]),
        n_test=0 if tc is None else int(tc.shape[0]),
        fits=out_fits,
    )


def _assigned_accuracy(method: str, c, y, tc, ty, feats: np.ndarray, device) -> float:
    """Test accuracy of the method's classifier refit on the columns ``feats`` only."""
    if feats.size == 0 or np.all(c[:, feats].max(axis=0) == c[:, feats].min(axis=0)):
        classes, counts = np.unique(y, return_counts=True)
        return float(np.mean(ty == classes[np.argmax(counts)]))
    if method == "hist":
        (acc,) = naive_bayes_accuracy(c, y[:, None], [tc], [ty[:, None]], features=feats)
        return float(acc[0])
    if method == "gbt":
        from .gbt import fit_gbts

        (fit,) = fit_gbts(c[:, feats], y[:, None], tc[:, feats], device=device)
        return float(np.mean(fit.test_pred == ty))
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier().fit(c[:, feats], y)
    return float(np.mean(model.predict(tc[:, feats]) == ty))
