"""Score any codes against ground-truth factors: every representation metric with uncertainty.

Used by ``msd-bench metrics score-codes`` and by the harness. Intervals:

- metrics of the train split alone (MIG, modularity, IRS, I_m, Gaussian TC; the ``dci_hist``
  proxy's disentanglement and completeness) — a subsampling interval: the metric is recomputed
  on ``n_boot_refit`` seeded half-samples without replacement and the interval is
  ``value ± 1.96 · sd · sqrt(1/2)`` (see :func:`_refit_ci`; with-replacement resampling duplicates
  rows and biases histogram mutual information);
- test-split scores of fitted models (SAP, explicitness, DCI informativeness) — the models are fit
  once, and the test rows are bootstrapped (``n_boot`` seeded resamples): the interval covers the
  test-sample noise, not the refit noise;
- DCI disentanglement / completeness (``estimator="gbt"``, disentanglement_lib's definition, or
  ``"sklearn"``, scikit-learn itself) carry no interval (no refits); ``n`` is still reported. The
  ``"hist"`` estimator is a different, fast proxy and is reported as ``dci_hist.*``, never as ``dci.*``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import MetricError
from . import representation as R
from .base import MetricValue, bootstrap_ci, get_info

__all__ = ["ALL_CODE_METRICS", "score_codes", "split_rows"]

ALL_CODE_METRICS = (
    "mig", "modularity", "irs", "im_score", "gaussian_total_correlation", "sap", "explicitness", "dci",
)


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random train / test row split (test gets ``round(n * test_fraction)`` rows, at least 2)."""
    if not 0.0 < test_fraction < 1.0:
        raise MetricError(f"--split-fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(n * test_fraction))
    if n_test < 2 or n - n_test < 2:
        raise MetricError(f"cannot split {n} rows with fraction {test_fraction}: each side needs >= 2 rows")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _value(name: str, value: float, lo, hi, n: int, extra=None) -> MetricValue:
    info = get_info(name)
    return MetricValue(float(value), lo, hi, n, info.version, info.higher_is_better, name=name, extra=extra or {})


def _refit_ci(fn: Callable[[np.ndarray, np.ndarray], float], c, f, n_rep: int, seed: int):
    """Subsampling interval of a refit metric: ``value ± 1.96 · sd_m · sqrt(m / n)``.

    The metric is recomputed on ``n_rep`` seeded half-samples drawn *without* replacement
    (m = n/2): with-replacement bootstrap duplicates rows, which biases histogram mutual information
    and its significance tests. The spread of the half-sample values, rescaled by sqrt(m/n) (the
    sqrt(n) rate; Politis & Romano 1994), gives a standard error for the full sample; the interval is
    centred on the full-sample value. Returns ``(None, None)`` when fewer than 2 repeats succeed.
    """
    rng = np.random.default_rng(seed)
    n = c.shape[0]
    m = n // 2
    vals = []
    for _ in range(n_rep):
        idx = rng.choice(n, m, replace=False)
        try:
            vals.append(fn(c[idx], f[idx]))
        except MetricError:
            continue  # a half-sample that lost a class: skip it
    vals = np.asarray([v for v in vals if np.isfinite(v)])
    if vals.size < 2:
        return None
    return float(vals.std(ddof=1) * np.sqrt(m / n))


def _centred(value: float, se) -> tuple[float | None, float | None]:
    if se is None or not np.isfinite(value):
        return None, None
    return value - 1.96 * se, value + 1.96 * se


def score_codes(
    codes,
    factors,
    test_codes,
    test_factors,
    *,
    metrics: Sequence[str] = ALL_CODE_METRICS,
    estimator: str = "gbt",
    n_boot: int = 200,
    n_boot_refit: int = 20,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, MetricValue]:
    """Every requested representation metric as a :class:`MetricValue` with a 95 % interval.

    Parameters
    ----------
    codes, factors : train split, float [N, D] and int [N, K]
    test_codes, test_factors : test split
    metrics : names among :data:`ALL_CODE_METRICS`
    estimator : DCI estimator: ``"gbt"`` (default; disentanglement_lib's GradientBoostingClassifier,
        exact fast reimplementation), ``"sklearn"`` (scikit-learn itself) or ``"hist"`` (fast proxy,
        reported as ``dci_hist.*``)
    n_boot : bootstrap resamples of test rows; n_boot_refit : resamples of train rows (refits)
    seed : seed of every resampling

    Returns
    -------
    dict name -> MetricValue; ``explicitness`` gives ``explicitness.train`` / ``explicitness.test``
    and ``dci`` gives ``dci.disentanglement``, ``dci.completeness``, ``dci.informativeness_train``,
    ``dci.informativeness_test``.
    """
    unknown = [m for m in metrics if m not in ALL_CODE_METRICS]
    if unknown:
        raise MetricError(f"unknown code metric(s) {unknown}; known: {', '.join(ALL_CODE_METRICS)}")
    if estimator not in ("hist", "gbt", "sklearn"):
        raise MetricError(f"unknown DCI estimator {estimator!r}; expected 'gbt', 'sklearn' or 'hist'")
    c, f, tc, tf = R._train_test(codes, factors, test_codes, test_factors)
    n, nt = c.shape[0], tc.shape[0]
    out: dict[str, MetricValue] = {}
    say = progress or (lambda name: None)

    simple = {
        "mig": R.mig,
        "modularity": R.modularity,
        "irs": R.irs,
        "im_score": R.im_score,
        "gaussian_total_correlation": lambda a, b: R.gaussian_total_correlation(a),
    }
    for name, fn in simple.items():
        if name in metrics:
            say(name)
            try:
                value = fn(c, f)
            except MetricError as exc:  # degenerate for this metric (e.g. one factor): n/a, not a crash
                out[name] = MetricValue.not_applicable(name, str(exc))
                continue
            out[name] = _value(name, value, *_centred(value, _refit_ci(fn, c, f, n_boot_refit, seed)), n)

    if "sap" in metrics and c.shape[1] < 2:
        out["sap"] = MetricValue.not_applicable("sap", f"sap needs at least 2 code dimensions, got {c.shape[1]}")
    elif "sap" in metrics:
        say("sap")
        corr = R.sap_correct(c, f, tc, tf)
        lo, hi = bootstrap_ci(corr.astype(np.float32),
                              lambda s: np.array([R.sap_from_matrix(m) for m in s.mean(axis=1)]),
                              n_boot=n_boot, seed=seed)
        out["sap"] = _value("sap", R.sap_from_matrix(corr.mean(axis=0, dtype=np.float64)), lo, hi, nt)

    if "explicitness" in metrics:
        say("explicitness")
        fits = R.explicitness_fits(c, f, tc, tf)
        rng = np.random.default_rng(seed)
        for split, ys, col in (("train", f, 1), ("test", tf, 2)):
            m = ys.shape[0]

            def auc(rows: np.ndarray, ys=ys, col=col) -> float:
                return float(np.nanmean([R.macro_roc_auc(ys[rows, k], fit[col][rows], fit[0])
                                         for k, fit in enumerate(fits)]))

            boots = [auc(rng.integers(0, m, m)) for _ in range(min(n_boot, 50))]
            lo, hi = float(np.nanquantile(boots, 0.025)), float(np.nanquantile(boots, 0.975))
            out[f"explicitness.{split}"] = _value("explicitness", auc(np.arange(m)), lo, hi, m, {"split": split})

    if "dci" in metrics:
        say(f"dci ({estimator})")
        extra = {"estimator": estimator}
        prefix = "dci_hist" if estimator == "hist" else "dci"
        keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
        try:
            R._check_dci_input(c, f, prefix)
            if estimator == "gbt":
                imp, ctr, cte = R.gbt_importance(c, f, tc, tf, return_correct=True)
            elif estimator == "sklearn":
                imp, ctr, cte = R.sklearn_gbt_importance(c, f, tc, tf, return_correct=True)
            else:
                from .exploration import hist_importance

                imp = hist_importance(c, f)
            R._dci_scores(imp)
        except MetricError as exc:  # degenerate input: n/a with the reason, never a silent 0 or 1
            for key in keys:
                out[f"{prefix}.{key}"] = MetricValue.not_applicable(f"{prefix}.{key}", str(exc))
            return out
        if estimator != "hist":
            dis, comp = R._dci_scores(imp)
            d_ci = c_ci = (None, None)
        else:
            from .exploration import hist_importance, informative_features, naive_bayes_accuracy

            ctr, cte = naive_bayes_accuracy(c, f, [c, tc], [f, tf], features=informative_features(imp),
                                            return_correct=True)
            dis, comp = R._dci_scores(imp)
            d_ci = _centred(dis, _refit_ci(lambda a, b: R._dci_scores(hist_importance(a, b))[0], c, f,
                                           n_boot_refit, seed))
            c_ci = _centred(comp, _refit_ci(lambda a, b: R._dci_scores(hist_importance(a, b))[1], c, f,
                                            n_boot_refit, seed))
        for key, value, ci in (("disentanglement", dis, d_ci), ("completeness", comp, c_ci)):
            name = f"{prefix}.{key}"
            out[name] = (_value(name, value, *ci, n, extra) if np.isfinite(value) else MetricValue.not_applicable(
                name, f"{key} needs at least 2 {'factors' if key == 'disentanglement' else 'code dimensions'}"))
        for split, corr, m in (("train", ctr, n), ("test", cte, nt)):
            lo, hi = bootstrap_ci(corr.mean(axis=1).astype(np.float64), n_boot=n_boot, seed=seed)
            out[f"{prefix}.informativeness_{split}"] = _value(
                f"{prefix}.informativeness_{split}", float(corr.mean()), lo, hi, m, extra
            )
    return out
