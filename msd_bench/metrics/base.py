"""Shared pieces of the metric suite: the result type, the registry and seeded uncertainty.

Every metric result is a :class:`MetricValue`: the point value, a 95 % interval (bootstrap over the
scored samples, or mean ± std over seeded repeats), the number of scored items ``n``, the metric's
``version`` and its direction. A metric that does not apply to a model (e.g. generation metrics for a
model without a prior) is a *not applicable* value with a reason, never a 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import MetricError

__all__ = [
    "MetricInfo",
    "MetricValue",
    "REGISTRY",
    "bootstrap_ci",
    "from_repeats",
    "from_samples",
    "get_info",
    "list_metrics",
    "register",
]


@dataclass(frozen=True)
class MetricValue:
    """One score with its uncertainty.

    Field order follows docs/architecture.md: ``MetricValue(value, ci_low, ci_high, n, version,
    higher_is_better)``; the rest are keyword fields.

    Attributes
    ----------
    value : float or None
        The point estimate; ``None`` when not applicable.
    ci_low, ci_high : float or None
        Bounds of the 95 % interval (bootstrap percentile interval, or mean ± 1.96 std/√r for seeded
        repeats); ``None`` when no interval could be formed (n < 2) or not applicable.
    n : int
        Number of scored items (samples, sequences, pairs or repeats).
    version : str
        Version of the metric's definition; a change of definition bumps it.
    higher_is_better : bool or None
        Direction; ``None`` for a diagnostic without a direction.
    name : str
        Registry name of the metric (``"mig"``, ``"two_factor_swap.accuracy"``, ...).
    std : float or None
        Standard deviation over seeded repeats when the interval comes from repeats.
    applicable : bool
        False when the metric does not apply to the model; ``reason`` says why.
    reason : str or None
        Why the metric does not apply.
    extra : dict
        Metric-specific details (per-factor values, matrices) — JSON-serialisable.
    """

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    version: str = "1"
    higher_is_better: bool | None = True
    name: str = ""
    std: float | None = None
    applicable: bool = True
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def not_applicable(cls, name: str, reason: str, *, version: str | None = None) -> MetricValue:
        """A value that says the metric does not apply (reported as n/a, never as 0)."""
        info = REGISTRY.get(name)
        return cls(
            name=name,
            value=None,
            n=0,
            version=version or (info.version if info else "1"),
            higher_is_better=info.higher_is_better if info else None,
            applicable=False,
            reason=reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN/inf become ``None``)."""
        d = asdict(self)
        for key in ("value", "ci_low", "ci_high", "std"):
            v = d[key]
            if v is not None and not math.isfinite(v):
                d[key] = None
        return d

    def format(self, digits: int = 3) -> str:
        """Short human string: ``0.912 [0.900, 0.925]`` or ``n/a (reason)``."""
        if not self.applicable or self.value is None:
            return f"n/a ({self.reason})" if self.reason else "n/a"
        s = f"{self.value:.{digits}f}"
        if self.ci_low is not None and self.ci_high is not None:
            s += f" [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"
        return s


@dataclass(frozen=True)
class MetricInfo:
    """Registry entry of a metric.

    ``needs`` lists what the metric requires: ``"labels"`` (ground-truth factors), ``"test_split"``
    (a held-out split), ``"judge"``, ``"prior"`` (model priors), ``"decoder"``.
    """

    name: str
    version: str
    higher_is_better: bool | None
    description: str
    needs: tuple[str, ...] = ()
    value_range: str = ""
    group: str = ""


REGISTRY: dict[str, MetricInfo] = {}


def register(
    name: str,
    version: str,
    higher_is_better: bool | None,
    description: str,
    *,
    needs: Iterable[str] = (),
    value_range: str = "",
    group: str = "",
) -> MetricInfo:
    """Add (or replace with the identical entry) a metric in the registry."""
    info = MetricInfo(name, version, higher_is_better, description, tuple(needs), value_range, group)
    old = REGISTRY.get(name)
    if old is not None and old != info:
        raise MetricError(f"metric {name!r} registered twice with different definitions")
    REGISTRY[name] = info
    return info


def get_info(name: str) -> MetricInfo:
    """Registry entry of ``name``; unknown names raise :class:`MetricError` listing the known ones."""
    _load_all()
    if name not in REGISTRY:
        raise MetricError(f"unknown metric {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def list_metrics() -> list[MetricInfo]:
    """Every registered metric, sorted by group then name."""
    _load_all()
    return sorted(REGISTRY.values(), key=lambda i: (i.group, i.name))


def _load_all() -> None:
    # Importing the modules registers their metrics.
    from . import aggregates, exploration, interventions, judged, msd, reconstruction, representation  # noqa: F401


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of a statistic over the first axis of ``values``.

    Parameters
    ----------
    values : array ``[n, ...]``
        Per-item values (e.g. 0/1 correctness per sample).
    statistic : callable, optional
        Maps a batch of resamples ``[n_boot, n, ...]`` to ``[n_boot]``; default: the mean over axis 1
        of a 1-D ``values``.
    n_boot : int
        Number of resamples.
    seed : int
        Seed of the resampling (``numpy.random.default_rng``): same inputs + seed, same interval.
    alpha : float
        1 − confidence level.

    Returns
    -------
    (low, high) : tuple of float, or ``(None, None)`` when ``n < 2``.
    """
    values = np.asarray(values)
    n = values.shape[0]
    if n < 2 or n_boot < 1:
        return None, None
    rng = np.random.default_rng(seed)
    stats = []
    chunk = max(1, int(2e7 // max(1, values[0].size * n)))
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        sample = values[idx]
        stats.append(sample.mean(axis=1) if statistic is None else np.asarray(statistic(sample)))
    s = np.concatenate(stats).astype(np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None, None
    return float(np.quantile(s, alpha / 2)), float(np.quantile(s, 1 - alpha / 2))


def from_samples(
    name: str,
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> MetricValue:
    """MetricValue of the mean of per-item ``values`` with a seeded bootstrap 95 % interval."""
    info = get_info(name)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise MetricError(f"metric {name!r} got no samples to score; expected at least one")
    lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return MetricValue(
        name=name,
        value=float(values.mean()),
        ci_low=lo,
        ci_high=hi,
        n=int(values.size),
        version=info.version,
        higher_is_better=info.higher_is_better,
        extra=extra or {},
    )


def from_statistic(
    name: str,
    value: float,
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> MetricValue:
    """MetricValue of a non-mean statistic (``value``) with a bootstrap interval of ``statistic``."""
    info = get_info(name)
    lo, hi = bootstrap_ci(values, statistic, n_boot=n_boot, seed=seed)
    return MetricValue(
        name=name,
        value=float(value),
        ci_low=lo,
        ci_high=hi,
        n=int(np.asarray(values).shape[0]),
        version=info.version,
        higher_is_better=info.higher_is_better,
        extra=extra or {},
    )


def from_repeats(name: str, values: Iterable[float], *, extra: dict[str, Any] | None = None) -> MetricValue:
    """MetricValue of the mean over seeded repeats, with std and a normal 95 % interval of the mean."""
    info = get_info(name)
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise MetricError(f"metric {name!r} got no repeats to aggregate; expected at least one")
    mean = float(v.mean())
    if v.size < 2:
        return MetricValue(mean, None, None, 1, info.version, info.higher_is_better, name=name, extra=extra or {})
    std = float(v.std(ddof=1))
    half = 1.96 * std / math.sqrt(v.size)
    return MetricValue(
        mean, mean - half, mean + half, int(v.size), info.version, info.higher_is_better, name=name, std=std,
        extra=extra or {},
    )
