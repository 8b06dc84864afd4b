"""pandas views of the results store and of built boards (for notebooks, analysis and tests).

::

    from msd_bench.leaderboard import scan_store
    from msd_bench.leaderboard.frames import board_frame, entries_frame, scores_frame

    entries, _ = scan_store("leaderboard")
    wide = entries_frame(entries)            # one row per result, one column per metric value
    long = scores_frame(entries)             # one row per (result, metric): value, interval, n, status ...
    board = board_frame("leaderboard/msd-bench-1", "sprites")   # a built board's table, ranked

pandas is imported on first call; nothing here changes how boards are built (``build.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .store import StoreEntry

#: Columns that identify a result, first in every frame of this module.
KEY_COLUMNS = ["protocol", "dataset", "size", "submission", "version"]
#: The fixed columns of :func:`entries_frame`, before the metrics.
ENTRY_COLUMNS = [*KEY_COLUMNS, "format", "parameters", "static_dim", "dynamic_dim", "status", "needs_rerun",
                 "latency_p50_ms", "started_at", "path"]


def _metric_columns(fixed: list[str], metrics: list[str]) -> list[str]:
    """Metric column names: the metric's own name, or ``score:<name>`` where it would clash."""
    return [f"score:{m}" if m in fixed else m for m in metrics]


def _entry_fields(e: StoreEntry) -> dict[str, Any]:
    r = e.result
    bench = r.benchmark or {}
    latency = (bench.get("latency") or {}).get("p50_ms") if isinstance(bench, dict) else None
    return {  # in the order of ENTRY_COLUMNS
        "protocol": r.protocol,
        "dataset": r.dataset.name,
        "size": r.dataset.size,
        "submission": r.submission.name,
        "version": r.submission.version,
        "format": r.submission.format,
        "parameters": r.submission.parameters,
        "static_dim": r.submission.static_dim,
        "dynamic_dim": r.submission.dynamic_dim,
        "status": r.status,
        "needs_rerun": e.needs_rerun,
        "latency_p50_ms": latency,
        "started_at": r.started_at,
        "path": e.path.as_posix(),
    }


def entries_frame(entries: Iterable[StoreEntry]):
    """Wide frame: one row per result (sorted by key), the identifying fields, then one column per
    metric holding its value (``NaN`` where a result lacks the metric or it is not applicable).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows, metrics = [], set()
    for e in sorted(entries, key=lambda e: e.key):
        row = _entry_fields(e)
        for name, s in e.result.scores.items():
            row[f"score:{name}"] = s.value if s.status == "ok" else None
            metrics.add(name)
        rows.append(row)
    names = sorted(metrics)
    frame = pd.DataFrame(rows, columns=ENTRY_COLUMNS + [f"score:{m}" for m in names])
    frame.columns = ENTRY_COLUMNS + _metric_columns(ENTRY_COLUMNS, names)
    return frame


def scores_frame(entries: Iterable[StoreEntry]):
    """Long frame: one row per (result, metric), the key columns plus the score's fields
    (``Result.to_frame()`` of each result, concatenated).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    parts = [e.result.to_frame().reset_index() for e in sorted(entries, key=lambda e: e.key)]
    if not parts:
        from ..harness.results import FRAME_COLUMNS

        return pd.DataFrame(columns=KEY_COLUMNS + ["metric", *FRAME_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def board_frame(board: str | os.PathLike | Mapping[str, Any], dataset: str):
    """One table of a built board as a frame: ``rank``, ``id``, ``submission``, ``version``, the
    scalar columns of the board's rows, then one column per metric value, in board order.

    Parameters
    ----------
    board : path or dict
        A ``leaderboard.json``, the folder holding it, or the board dict (``make_boards`` output).
    dataset : str
        The table's name (a dataset, or ``<dataset>-<size>`` for a non-full size).
    """
    import pandas as pd

    if not isinstance(board, Mapping):
        path = Path(board)
        if path.is_dir():
            path = path / "leaderboard.json"
        board = json.loads(path.read_text(encoding="utf-8"))
    tables = board.get("datasets", {})
    if dataset not in tables:
        from .store import LeaderboardError

        raise LeaderboardError(f"board has no table {dataset!r} (tables: {', '.join(sorted(tables)) or 'none'})")
    rows, metrics = [], []
    for entry in tables[dataset]["entries"]:
        row = {k: v for k, v in entry.items() if not isinstance(v, dict | list) and not k.startswith("_")}
        for name, s in (entry.get("scores") or {}).items():
            if name not in metrics:
                metrics.append(name)
            row[f"score:{name}"] = s.get("value") if isinstance(s, Mapping) else s
        rows.append(row)
    first = [c for c in ("rank", "id", "submission", "version") if any(c in r for r in rows)]
    rest = sorted({k for r in rows for k in r} - set(first) - {f"score:{m}" for m in metrics})
    frame = pd.DataFrame(rows, columns=first + rest + [f"score:{m}" for m in metrics])
    frame.columns = first + rest + _metric_columns(first + rest, metrics)
    return frame
