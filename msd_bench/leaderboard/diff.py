"""What changed between two builds: entries added or removed, rank changes, key-score changes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import BOARD_SCHEMA, FILES, fmt_num
from .store import LeaderboardError


def load_board(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``leaderboard.json`` (or the build folder holding one); one-line errors otherwise."""
    p = Path(path)
    if p.is_dir():
        p = p / FILES["json"]
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeaderboardError(
            f"build {p} does not exist; expected a leaderboard.json or its folder (from `msd-bench leaderboard build`)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeaderboardError(f"{p}: not valid JSON ({exc.__class__.__name__}); expected a leaderboard.json") from None
    if not isinstance(data, dict) or data.get("schema") != BOARD_SCHEMA or not isinstance(data.get("datasets"), dict):
        raise LeaderboardError(f"{p}: not a msd-bench leaderboard (expected 'schema': {BOARD_SCHEMA!r})")
    return data


@dataclass
class BoardDiff:
    """Differences between two boards; ``entries`` keys are ``(dataset, submission@version)``."""

    old_protocol: str
    new_protocol: str
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    rank_changes: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)
    score_changes: list[tuple[str, str, str, float | None, float | None]] = field(default_factory=list)
    key_changes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.rank_changes or self.score_changes or self.key_changes)

    def lines(self) -> list[str]:
        """One line per change, stable order."""
        out = []
        if self.old_protocol != self.new_protocol:
            out.append(f"protocol: {self.old_protocol} -> {self.new_protocol} (boards of different protocols)")
        for ds, old, new in self.key_changes:
            out.append(f"{ds}: key scores {', '.join(old) or '-'} -> {', '.join(new) or '-'}")
        out += [f"{ds}: added {eid}" for ds, eid in self.added]
        out += [f"{ds}: removed {eid}" for ds, eid in self.removed]
        for ds, eid, a, b in self.rank_changes:
            out.append(f"{ds}: {eid} rank {'-' if a is None else a} -> {'-' if b is None else b}")
        for ds, eid, m, a, b in self.score_changes:
            delta = f" ({b - a:+.4g})" if a is not None and b is not None else ""
            out.append(f"{ds}: {eid} {m} {fmt_num(a) or '-'} -> {fmt_num(b) or '-'}{delta}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_protocol": self.old_protocol,
            "new_protocol": self.new_protocol,
            "added": [list(x) for x in self.added],
            "removed": [list(x) for x in self.removed],
            "rank_changes": [list(x) for x in self.rank_changes],
            "score_changes": [list(x) for x in self.score_changes],
            "key_changes": [list(x) for x in self.key_changes],
        }


def _value(row: dict[str, Any], metric: str) -> float | None:
    s = row["scores"].get(metric)
    return s["value"] if s and s.get("status") == "ok" else None


def diff_boards(old: dict[str, Any], new: dict[str, Any]) -> BoardDiff:
    """Compare two boards (``leaderboard.json`` contents) entry by entry.

    Score changes are reported for the key scores of either board; values compared exactly.
    """
    d = BoardDiff(old.get("protocol", "?"), new.get("protocol", "?"))
    for ds in sorted(set(old["datasets"]) | set(new["datasets"])):
        ot = old["datasets"].get(ds, {"entries": [], "key_scores": []})
        nt = new["datasets"].get(ds, {"entries": [], "key_scores": []})
        okeys = [k["name"] for k in ot["key_scores"]]
        nkeys = [k["name"] for k in nt["key_scores"]]
        if okeys != nkeys and ot["entries"] and nt["entries"]:
            d.key_changes.append((ds, okeys, nkeys))
        orows = {r["id"]: r for r in ot["entries"]}
        nrows = {r["id"]: r for r in nt["entries"]}
        d.added += [(ds, eid) for eid in sorted(set(nrows) - set(orows))]
        d.removed += [(ds, eid) for eid in sorted(set(orows) - set(nrows))]
        metrics = list(dict.fromkeys(okeys + nkeys))
        for eid in sorted(set(orows) & set(nrows)):
            a, b = orows[eid], nrows[eid]
            if a.get("rank") != b.get("rank"):
                d.rank_changes.append((ds, eid, a.get("rank"), b.get("rank")))
            for m in metrics:
                va, vb = _value(a, m), _value(b, m)
                if va != vb:
                    d.score_changes.append((ds, eid, m, va, vb))
    return d
