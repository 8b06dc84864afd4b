"""Ranking: per-metric ranks with averaged ties, Borda-style mean rank, key-score choice, Pareto front.

All functions are pure and deterministic (no dependence on dict or set iteration order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

#: How many key scores the fallback picks when no configured name is present.
DEFAULT_MAX_KEYS = 6


def average_ranks(values: Sequence[float], higher_is_better: bool) -> list[float]:
    """Ranks 1..n of ``values`` (1 = best); tied values share the mean of the ranks they span.

    Parameters
    ----------
    values : sequence of float
        One value per entry (no missing values: rank only the entries that have one).
    higher_is_better : bool
        Direction of the metric.

    Examples
    --------
    >>> average_ranks([0.9, 0.5, 0.9], higher_is_better=True)
    [1.5, 3.0, 1.5]
    >>> average_ranks([3.0, 1.0, 2.0], higher_is_better=False)
    [3.0, 1.0, 2.0]
    """
    n = len(values)
    order = sorted(range(n), key=lambda i: (-values[i] if higher_is_better else values[i], i))
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + 1 + j + 1) / 2.0
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    return ranks


def borda(
    table: Mapping[str, Mapping[str, float | None]], directions: Mapping[str, bool]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean of per-metric ranks over the entries that have every metric (Borda style).

    Parameters
    ----------
    table : mapping
        ``entry id -> {metric: value or None}``.
    directions : mapping
        ``metric -> higher_is_better`` for the metrics to rank on.

    Returns
    -------
    mean_rank : dict
        ``entry id -> mean rank`` for complete entries only (incomplete entries are not ranked).
    per_metric : dict
        ``entry id -> {metric: rank}`` for the same entries.
    """
    metrics = sorted(directions)
    complete = sorted(
        eid for eid, vals in table.items() if metrics and all(vals.get(m) is not None for m in metrics)
    )
    per_metric: dict[str, dict[str, float]] = {eid: {} for eid in complete}
    for m in metrics:
        ranks = average_ranks([float(table[eid][m]) for eid in complete], directions[m])  # type: ignore[arg-type]
        for eid, r in zip(complete, ranks, strict=True):
            per_metric[eid][m] = r
    mean_rank = {eid: sum(per_metric[eid].values()) / len(metrics) for eid in complete}
    return mean_rank, per_metric


def positions(mean_rank: Mapping[str, float], ndigits: int = 9) -> dict[str, int]:
    """Competition positions ("1224") from mean ranks; equal mean ranks share a position."""
    rounded = {eid: round(v, ndigits) for eid, v in mean_rank.items()}
    ordered = sorted(rounded.values())
    first: dict[float, int] = {}
    for i, v in enumerate(ordered):
        first.setdefault(v, i + 1)
    return {eid: first[v] for eid, v in rounded.items()}


def choose_key_scores(
    available: Mapping[str, int],
    configured: Sequence[str] | None,
    max_keys: int = DEFAULT_MAX_KEYS,
) -> list[str]:
    """Pick the key scores of a table.

    Parameters
    ----------
    available : mapping
        ``metric -> number of entries with an ok value`` (directional metrics only).
    configured : sequence of str, optional
        Names wanted, in display order; those present in ``available`` are used.
    max_keys : int
        How many the fallback picks.

    Returns
    -------
    list of str
        The configured names present in the table; if none is, the ``max_keys`` metrics covering the
        most entries (ties broken by name).
    """
    if configured:
        chosen = [m for m in dict.fromkeys(configured) if available.get(m, 0) > 0]
        if chosen:
            return chosen
    ranked = sorted((m for m, c in available.items() if c > 0), key=lambda m: (-available[m], m))
    return ranked[:max_keys]


def pareto_front(points: Mapping[str, tuple[float, float]], higher_is_better: bool) -> list[str]:
    """Ids of the points not dominated in (latency lower is better, score in its direction).

    A point is dominated when another one is at least as good on both axes and strictly better on
    one. Returns the front sorted by latency.
    """
    sign = 1.0 if higher_is_better else -1.0
    items = sorted(points.items(), key=lambda kv: (kv[1][0], -sign * kv[1][1], kv[0]))
    front = []
    for eid, (lat, score) in items:
        dominated = False
        for oid, (olat, oscore) in points.items():
            if oid == eid:
                continue
            s, os_ = sign * score, sign * oscore
            if olat <= lat and os_ >= s and (olat < lat or os_ > s):
                dominated = True
                break
        if not dominated:
            front.append(eid)
    return front


def most_common(values: Sequence[str]) -> str | None:
    """The most frequent value (ties: the smallest); None for an empty sequence."""
    if not values:
        return None
    counts = Counter(values)
    return sorted(counts, key=lambda v: (-counts[v], v))[0]
