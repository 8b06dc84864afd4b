"""Ranking: the rank rule (headline scores), per-metric ranks with averaged ties, Borda-style mean
rank, key-score choice, Pareto front.

All functions are pure and deterministic (no dependence on dict or set iteration order).

The rank rule (``headline-mean-rank/1``, printed on every board): an entry's rank is the mean of its
ranks on a declared set of *headline* scores, one per idea (:data:`HEADLINES`), each ranked in its
own direction. Only judge-based scores that every model gets (no prior needed) are headlines: a
static <-> dynamic swap, MSD's multi-factor swap and the judge's accuracy on reconstructions. Code
metrics (MIG, DCI, ...) and the pixel reconstruction errors (MSE, PSNR, SSIM: four views of one
idea) stay on the board but do not rank. A table where a headline is absent (e.g. results scored
before it existed) ranks on the headlines it has, and the board says which one is missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: How many key scores the fallback picks when no configured name is present.
DEFAULT_MAX_KEYS = 6


@dataclass(frozen=True)
class Headline:
    """One headline score of the rank rule: the score's name, the idea it stands for, and why."""

    name: str
    idea: str
    why: str


#: Identifier of the rank rule printed on the boards (bump it when :data:`HEADLINES` changes).
RANK_RULE_ID = "headline-mean-rank/1"

#: The headline scores, one per idea, in display order.
HEADLINES: tuple[Headline, ...] = (
    Headline(
        "static_dynamic_swap.accuracy.mean",
        "static vs dynamic",
        "judge accuracy after swapping the static and the dynamic code of two sequences: every factor must "
        "follow the sequence its part of the code came from (mean over factors)",
    ),
    Headline(
        "msd.multi_factor_swap",
        "one factor at a time",
        "MSD's multi-factor swap score 1 - (on + off)/2: keeping one factor's channels must keep that factor "
        "and nothing else; the diagonal and the off-diagonal weigh 1/2 each (the all-cell error "
        "multi_swap.cell_error weighs the diagonal 1/K and rewards a model that keeps nothing)",
    ),
    Headline(
        "reconstruction.judge_accuracy.mean",
        "fidelity",
        "judge accuracy on reconstructions: outputs the judge cannot read cannot be judged by the swaps; one "
        "reconstruction score instead of MSE, PSNR and SSIM, which measure the same idea three times",
    ),
)

#: Old score name -> (new name, version) of the same definition. A result scored before a rename is
#: read under the new name (``leaderboard.build``), so old results stay on the boards.
RENAMED: dict[str, tuple[str, str]] = {
    "two_factor_swap.static_accuracy": ("static_dynamic_swap.static_accuracy", "2"),
    "two_factor_swap.dynamic_accuracy": ("static_dynamic_swap.dynamic_accuracy", "2"),
    "two_factor_swap.accuracy.mean": ("static_dynamic_swap.accuracy.mean", "2"),
    "two_factor_swap.swap_consistency": ("static_dynamic_swap.static_frame_accuracy", "2"),
    "multi_swap.error": ("multi_swap.cell_error", "2"),
    "multi_sample.error": ("multi_sample.cell_error", "2"),
}


def rank_rule(keys: Sequence[Mapping[str, object]], source: str) -> dict[str, object]:
    """The rank rule of one table, as printed on the boards.

    Parameters
    ----------
    keys : sequence of mapping
        The table's key scores (``name``, ``higher_is_better``, ``version``), the ranked ones.
    source : str
        ``"headlines"`` (the default rule), ``"config"`` (``config.yaml`` key scores) or
        ``"fallback"`` (no configured name present: the most-covered directional scores).

    Returns
    -------
    dict with ``id``, ``source``, ``text`` (one sentence), ``metrics`` (name, idea, why, direction)
    and ``absent`` (headlines not in the table; only for the default rule).
    """
    by_name = {h.name: h for h in HEADLINES}
    metrics = []
    for k in keys:
        h = by_name.get(str(k["name"]))
        metrics.append({"name": k["name"], "higher_is_better": k["higher_is_better"],
                        "idea": h.idea if h else "", "why": h.why if h else ""})
    names = [str(k["name"]) for k in keys]
    absent = [h.name for h in HEADLINES if h.name not in names] if source == "headlines" else []
    if source == "headlines":
        text = (f"Rank = mean of the per-metric ranks over {len(names)} headline score(s), one per idea "
                f"(rule {RANK_RULE_ID}); each is ranked in its own direction, ties share the mean rank. "
                "Other scores are shown but do not rank.")
        if absent:
            text += f" Not in this table (its results predate them): {', '.join(absent)}."
    elif source == "config":
        text = (f"Rank = mean of the per-metric ranks over the {len(names)} key score(s) configured for this "
                "table in config.yaml; ties share the mean rank.")
    else:
        text = (f"Rank = mean of the per-metric ranks over the {len(names)} directional score(s) that cover the "
                "most entries (no headline score is in this table); ties share the mean rank.")
    return {"id": RANK_RULE_ID if source == "headlines" else f"{source}-mean-rank", "source": source,
            "text": text, "metrics": metrics, "absent": absent}


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
