"""pytest-benchmark: the fast exact GradientBoostingClassifier's hot path (see bench_metrics.py).

``bench_metrics.py --gbt-compare`` runs the side-by-side comparison with scikit-learn (minutes);
here the fast fit alone is timed on the shapes the harness feeds it, and 10 boosting stages of
scikit-learn on one of them give the ratio.
"""

from __future__ import annotations

import time

import numpy as np
from bench_metrics import FACTORS, sprites_like_codes
from rich.table import Table

from msd_bench.metrics.gbt import fit_gbts


def _dsprites_like(n: int, seed: int):
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, c, n) for c in (9, 3, 6, 5, 6, 6)], 1)
    return np.concatenate([f + 0.5 * rng.normal(size=f.shape), rng.normal(size=(n, 18))], 1), f


def test_bench_gbt_exploration_fits(benchmark, show):
    """The exploration's fits: 1,755 x 288 sprites-like features, 5 factors, 10 of the 100 stages."""
    c, f, _ = sprites_like_codes(1755, 0)
    tc, _, _ = sprites_like_codes(1755, 1)
    fits = benchmark.pedantic(fit_gbts, args=(c, f, tc), kwargs={"n_estimators": 10}, rounds=1, warmup_rounds=0)
    assert len(fits) == len(FACTORS)
    from sklearn.ensemble import GradientBoostingClassifier

    t0 = time.perf_counter()
    GradientBoostingClassifier(n_estimators=10).fit(c, f[:, 0])
    t_sk_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    (one,) = fit_gbts(c, f[:, :1], n_estimators=10)
    t_ours_one = time.perf_counter() - t0
    assert one.importances.sum() > 0
    t = Table(title="fast GBT, 10 stages (pytest-benchmark)")
    for col in ("codes", "ours, 5 factors s", "sklearn, factor 0 s", "ours, factor 0 s", "ratio"):
        t.add_column(col, justify="right")
    t.add_row("1755 x 288", f"{benchmark.stats.stats.median:.2f}", f"{t_sk_one:.2f}", f"{t_ours_one:.2f}",
              f"{t_sk_one / t_ours_one:.1f}x")
    show(t)


def test_bench_gbt_dci_small_dims(benchmark):
    """DCI's fits on dsprites-like codes: 4,000 x 24, 6 factors (35 trees per stage), 20 stages."""
    c, f = _dsprites_like(4000, 0)
    tc, _ = _dsprites_like(2000, 1)
    fits = benchmark.pedantic(fit_gbts, args=(c, f, tc), kwargs={"n_estimators": 20}, rounds=1, warmup_rounds=0)
    assert len(fits) == 6
