"""Building leaderboards from the store: one board per protocol, one table per dataset.

:func:`make_boards` turns store entries into JSON-ready boards (plain dicts, the content of
``leaderboard.json``); :func:`build_leaderboard` scans a store, makes the boards and writes every
requested format into ``<out>/<protocol>/``. Everything is deterministic: the same store gives
byte-identical files (no build timestamps, sorted keys, fixed float formatting).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._io import atomic_write_text
from .ranking import (
    DEFAULT_MAX_KEYS,
    HEADLINES,
    RENAMED,
    borda,
    choose_key_scores,
    most_common,
    pareto_front,
    positions,
    rank_rule,
)
from .store import DEFAULT_ROOT, LeaderboardError, Problem, Revisions, StoreEntry, scan_store

BOARD_SCHEMA = "msd-bench-leaderboard/1"
#: Key scores used when the store has no ``config.yaml``: the rank rule's headline scores
#: (:data:`msd_bench.leaderboard.ranking.HEADLINES`, one per idea, why in docs/leaderboard.md). Names
#: absent from a table are skipped (the board says so), and a table with none of them falls back to
#: the generic choice.
DEFAULT_KEY_SCORES: dict[str, list[str]] = {"default": [h.name for h in HEADLINES]}
CONFIG_FILE = "config.yaml"
#: Formats written by default, and every format `build` knows.
DEFAULT_FORMATS = ("json", "csv", "md", "html")
ALL_FORMATS = ("json", "csv", "md", "html", "latex", "model-index")
FILES = {
    "json": "leaderboard.json",
    "csv": "leaderboard.csv",
    "md": "LEADERBOARD.md",
    "html": "index.html",
    "latex": "leaderboard.tex",
    "model-index": "model-index",
}
LATENCY_KEY = ("latency", "p50_ms")
THROUGHPUT_KEY = ("throughput", "reconstruct_seq_per_s")


# ------------------------------------------------------------------------------------------ config
#: the protocol's main dataset: the HTML board shows its tab first and opens on it, and
#: :func:`main_first` puts its table first for the terminal
MAIN_DATASET = "sprites"


@dataclass
class BoardConfig:
    """Which scores are key scores, per dataset.

    Attributes
    ----------
    key_scores : dict
        ``table or dataset -> [metric, ...]``; ``"default"`` applies to the others. Default:
        :data:`DEFAULT_KEY_SCORES`.
        Names absent from a table are ignored; when none is present the fallback picks the
        ``max_keys`` directional metrics that cover the most entries.
    max_keys : int
        Size of the fallback choice.
    """

    key_scores: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_KEY_SCORES.items()}
    )
    max_keys: int = DEFAULT_MAX_KEYS

    def for_dataset(self, name: str, table: str | None = None) -> list[str] | None:
        """Configured key scores of a table (its own name first, then the dataset's, then ``default``)."""
        return (self.key_scores.get(table or name) or self.key_scores.get(name)
                or self.key_scores.get("default"))


def table_name(dataset: str, size: str) -> str:
    """Tables are per dataset *and size*: ``sprites`` for the full size, ``sprites-small`` otherwise."""
    return dataset if size == "full" else f"{dataset}-{size}"


def load_config(root: str | os.PathLike) -> BoardConfig:
    """Read ``<root>/config.yaml``: ``key_scores: {table|dataset|default: [names]}``, ``max_keys``.

    Without the file: :data:`DEFAULT_KEY_SCORES`. An empty ``key_scores: {}`` means "always the fallback".
    """
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        return BoardConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LeaderboardError(
            f"{path}: not valid YAML ({exc.__class__.__name__}); expected key_scores/max_keys"
        ) from None
    if not isinstance(data, dict) or set(data) - {"key_scores", "max_keys"}:
        raise LeaderboardError(f"{path}: expected a mapping with only 'key_scores' and 'max_keys'")
    keys = data.get("key_scores", DEFAULT_KEY_SCORES) or {}
    if not isinstance(keys, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in keys.values()
    ):
        raise LeaderboardError(f"{path}: 'key_scores' must map a dataset name (or 'default') to a list of metric names")
    max_keys = data.get("max_keys", DEFAULT_MAX_KEYS)
    if not isinstance(max_keys, int) or max_keys < 1:
        raise LeaderboardError(f"{path}: 'max_keys' must be a positive integer, got {max_keys!r}")
    return BoardConfig({str(k): list(v) for k, v in keys.items()}, max_keys)


# ------------------------------------------------------------------------------------------ format
def fmt_num(value: float | None, digits: int = 3) -> str:
    """Stable short text of a number: fixed decimals in [1e-3, 1e4), else scientific; '' for None."""
    if value is None:
        return ""
    v = float(value)
    if v != v:  # NaN
        return ""
    if v == 0 or 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}f}"
    return f"{v:.{digits - 1}e}"


def fmt_score(score: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``0.912 [0.900, 0.925]``, ``n/a`` for not applicable, ``error``, or '' when missing."""
    if not score:
        return ""
    if score.get("status") == "not_applicable":
        return "n/a"
    if score.get("status") == "error":
        return "error"
    text = fmt_num(score.get("value"), digits)
    if text and score.get("ci_low") is not None and score.get("ci_high") is not None:
        text += f" [{fmt_num(score['ci_low'], digits)}, {fmt_num(score['ci_high'], digits)}]"
    return text


def fmt_int(value: int | None) -> str:
    """``12,345`` or ''."""
    return "" if value is None else f"{int(value):,}"


def _r(value: float | None, ndigits: int = 6) -> float | None:
    """Round a derived number so that JSON text is stable across platforms."""
    return None if value is None else round(float(value), ndigits)


def _get(d: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _relpath(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


# ------------------------------------------------------------------------------------------- board
def _entry_row(e: StoreEntry, board_dir: Path | None) -> dict[str, Any]:
    r = e.result
    bench = r.benchmark or {}
    ceiling = r.judge.ceiling if r.judge else {}
    seq = [v.get("sequence") for v in ceiling.values() if _num(v.get("sequence")) is not None]
    params = r.submission.parameters
    if params is None:
        params = bench.get("parameters") if isinstance(bench.get("parameters"), int) else None
    fingerprint = bench.get("fingerprint") if bench else None
    if fingerprint is None and bench:
        fingerprint = r.environment.get("fingerprint")
    date = (r.finished_at or r.started_at or "")[:10]
    scores = {}
    for name, s in sorted(r.scores.items()):
        scores[name] = {
            "value": _num(s.value),
            "ci_low": _num(s.ci_low),
            "ci_high": _num(s.ci_high),
            "n": s.n,
            "status": s.status,
            "version": s.version,
            "higher_is_better": s.higher_is_better,
        }
    for old, (new, version) in sorted(RENAMED.items()):  # a result scored before a rename: its new name
        if old in scores and new not in scores and scores[old]["version"] == "1":
            scores[new] = {**scores[old], "version": version, "renamed_from": old}
    return {
        "id": f"{r.submission.name}@{r.submission.version}",
        "submission": r.submission.name,
        "version": r.submission.version,
        "format": r.submission.format,
        "uri": r.submission.uri,
        "hub_commit": r.submission.hub_commit,
        "submission_hash": r.submission.submission_hash,
        "parameters": params,
        "static_dim": r.submission.static_dim,
        "dynamic_dim": r.submission.dynamic_dim,
        "scores": scores,
        "judge_ceiling": _r(sum(seq) / len(seq)) if seq else None,
        "latency_p50_ms": _num(_get(bench, LATENCY_KEY)),
        "throughput_seq_per_s": _num(_get(bench, THROUGHPUT_KEY)),
        "timing_verdict": bench.get("verdict") if bench else None,
        "fingerprint": fingerprint,
        "date": date,
        "status": r.status,
        "limit": r.settings.limit,
        "needs_rerun": e.needs_rerun,
        "result": _relpath(e.path, board_dir) if board_dir is not None else e.path.as_posix(),
        "pictures": [_relpath(p, board_dir) if board_dir is not None else p.as_posix() for p in e.pictures()],
        "_ceiling": ceiling,
    }


def _table(name: str, entries: list[StoreEntry], config: BoardConfig, board_dir: Path | None) -> dict[str, Any]:
    dataset, size = entries[0].result.dataset.name, entries[0].result.dataset.size
    rows = [_entry_row(e, board_dir) for e in entries]

    # Metric directions and versions: the most common among the entries; others are not comparable.
    directions: dict[str, bool] = {}
    versions: dict[str, str] = {}
    coverage: Counter[str] = Counter()
    names = sorted({m for row in rows for m in row["scores"]})
    for m in names:
        ok = [row["scores"][m] for row in rows if m in row["scores"] and row["scores"][m]["status"] == "ok"]
        dirs = [s["higher_is_better"] for s in ok if s["higher_is_better"] is not None]
        if not dirs:
            continue
        directions[m] = most_common(["1" if d else "0" for d in dirs]) == "1"
        versions[m] = most_common([s["version"] for s in ok])  # type: ignore[assignment]
        coverage[m] = sum(1 for s in ok if s["value"] is not None and s["version"] == versions[m])
    configured = config.for_dataset(dataset, name)
    keys = choose_key_scores(coverage, configured, config.max_keys)
    if configured and set(keys) <= set(configured):
        source = "headlines" if list(configured) == DEFAULT_KEY_SCORES["default"] else "config"
    else:
        source = "fallback"

    # Values used for ranking, and the flags of incomplete entries.
    table: dict[str, dict[str, float | None]] = {}
    for row in rows:
        flags: list[str] = []
        vals: dict[str, float | None] = {}
        missing, na, err, other_version = [], [], [], []
        for m in keys:
            s = row["scores"].get(m)
            if s is None:
                missing.append(m)
            elif s["status"] == "not_applicable":
                na.append(m)
            elif s["status"] == "error" or s["value"] is None:
                err.append(m)
            elif s["version"] != versions[m] or s["higher_is_better"] != directions[m]:
                other_version.append(m)
            else:
                vals[m] = s["value"]
                continue
            vals[m] = None
        if missing:
            flags.append("missing " + ", ".join(missing))
        if na:
            flags.append("n/a " + ", ".join(na))
        if err:
            flags.append("error in " + ", ".join(err))
        if other_version:
            flags.append("other metric version: " + ", ".join(other_version))
        if row["status"] != "complete":
            flags.append(f"{row['status']} run")
        if row["limit"]:
            flags.append(f"scored on a subset (limit {row['limit']})")
        if row["needs_rerun"]:
            flags.append("needs rerun (old protocol)")
        row["flags"] = flags
        row["complete"] = not (missing or na or err or other_version)
        table[row["id"]] = vals

    mean_rank, per_metric = borda(table, {m: directions[m] for m in keys})
    pos = positions(mean_rank)

    # Timing: comparable only on the table's most common machine fingerprint.
    timed = [row for row in rows if row["latency_p50_ms"] is not None or row["throughput_seq_per_s"] is not None]
    reference = most_common([row["fingerprint"] or "unknown" for row in timed])
    timed_ids = {row["id"] for row in timed}
    for row in rows:
        row["rank"] = pos.get(row["id"])
        row["mean_rank"] = _r(mean_rank.get(row["id"]))
        row["metric_ranks"] = {m: _r(v) for m, v in sorted(per_metric.get(row["id"], {}).items())}
        if row["id"] in timed_ids:
            comparable = (row["fingerprint"] or "unknown") == reference
            row["timing_comparable"] = comparable
            if not comparable:
                row["flags"].append(f"timed on another machine ({row['fingerprint'] or 'unknown'})")
            if row["timing_verdict"] not in (None, "VALID"):
                row["flags"].append(f"timing {row['timing_verdict']}")
        else:
            row["timing_comparable"] = False
            row["flags"].append("no timing")

    rows.sort(
        key=lambda row: (
            row["rank"] is None,
            row["rank"] if row["rank"] is not None else 0,
            row["mean_rank"] if row["mean_rank"] is not None else 0.0,
            row["submission"],
            row["version"],
        )
    )

    # Pareto fronts: score vs latency, per key score, over comparable timings.
    pareto: dict[str, list[str]] = {}
    for m in keys:
        points = {
            row["id"]: (row["latency_p50_ms"], table[row["id"]][m])
            for row in rows
            if row["timing_comparable"] and row["latency_p50_ms"] is not None and table[row["id"]][m] is not None
        }
        pareto[m] = pareto_front(points, directions[m]) if points else []  # type: ignore[arg-type]

    ceilings = [row.pop("_ceiling") for row in rows]
    ceiling = {}
    texts = [repr(sorted(c.items())) for c in ceilings if c]
    if texts:
        ref = most_common(texts)
        ceiling = next(c for c in ceilings if c and repr(sorted(c.items())) == ref)
    for row in rows:
        del row["timing_verdict"]
    key_scores = [{"name": m, "higher_is_better": directions[m], "version": versions[m]} for m in keys]
    return {
        "dataset": dataset,
        "size": size,
        "key_scores": key_scores,
        "rank_rule": rank_rule(key_scores, source),
        "judge_ceiling": {f: {k: _num(v) for k, v in sorted(d.items())} for f, d in sorted(ceiling.items())},
        "reference_fingerprint": reference,
        "pareto": pareto,
        "entries": rows,
    }


def make_boards(
    entries: Iterable[StoreEntry],
    config: BoardConfig | None = None,
    problems: Sequence[Problem] = (),
    root: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    protocol: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Boards (JSON-ready dicts), one per protocol, each with one table per dataset.

    Parameters
    ----------
    entries : iterable of StoreEntry
        Results from :func:`scan_store`.
    config : BoardConfig, optional
        Key scores per dataset (default: the fallback choice).
    problems : sequence of Problem
        Store problems, listed in each board (paths relative to ``root``).
    root, out : path, optional
        Store root and output root; links (results, pictures) are made relative to ``<out>/<protocol>``.
    protocol : str, optional
        Only this protocol.
    """
    config = config or BoardConfig()
    groups: dict[str, dict[str, list[StoreEntry]]] = defaultdict(lambda: defaultdict(list))
    for e in entries:
        if protocol is None or e.result.protocol == protocol:
            d = e.result.dataset
            groups[e.result.protocol][table_name(d.name, d.size)].append(e)
    boards = {}
    for proto in sorted(groups):
        board_dir = Path(out) / proto if out is not None else None
        tables = {
            ds: _table(ds, sorted(es, key=lambda e: e.key), config, board_dir)
            for ds, es in sorted(groups[proto].items())
        }
        lines = []
        for p in problems:
            path = _relpath(p.path, Path(root)) if root is not None else p.path.as_posix()
            lines.append(Problem(p.kind, Path(path), p.message, p.skipped).line())
        boards[proto] = {
            "schema": BOARD_SCHEMA,
            "protocol": proto,
            "datasets": tables,
            "problems": sorted(lines),
        }
    return boards


# --------------------------------------------------------------------------------------- renderers
def board_json(board: Mapping[str, Any]) -> str:
    import json

    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def board_csv(board: Mapping[str, Any]) -> str:
    """One row per (dataset, entry); key-score columns (value, interval, the entry's rank on it) are the
    union over datasets, in table order."""
    metrics: list[str] = []
    for t in board["datasets"].values():
        for k in t["key_scores"]:
            if k["name"] not in metrics:
                metrics.append(k["name"])
    head = ["dataset", "rank", "mean_rank", "submission", "version", "format", "parameters", "static_dim",
            "dynamic_dim"]
    for m in metrics:
        head += [m, f"{m}.ci_low", f"{m}.ci_high", f"{m}.rank"]
    head += ["judge_ceiling", "latency_p50_ms", "throughput_seq_per_s", "fingerprint", "timing_comparable", "date",
             "status", "flags"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return repr(v)
        return str(v)

    for ds, t in board["datasets"].items():
        keys = {k["name"] for k in t["key_scores"]}
        for row in t["entries"]:
            line = [ds, row["rank"], row["mean_rank"], row["submission"], row["version"], row["format"],
                    row["parameters"], row["static_dim"], row["dynamic_dim"]]
            for m in metrics:
                s = row["scores"].get(m) if m in keys else None
                ok = s is not None and s["status"] == "ok"
                line += [s["value"] if ok else None, s["ci_low"] if ok else None, s["ci_high"] if ok else None,
                         row["metric_ranks"].get(m) if m in keys else None]
            timing_ok = row["timing_comparable"]
            line += [row["judge_ceiling"], row["latency_p50_ms"] if timing_ok else None,
                     row["throughput_seq_per_s"] if timing_ok else None, row["fingerprint"], timing_ok, row["date"],
                     row["status"], "; ".join(row["flags"])]
            w.writerow([cell(v) for v in line])
    return buf.getvalue()


def _arrow(k: Mapping[str, Any]) -> str:
    return "↑" if k["higher_is_better"] else "↓"


def fmt_rank(value: float | None) -> str:
    """A per-metric or mean rank: ``3``, ``1.5``, ``2.67``; '' for None."""
    if value is None:
        return ""
    v = round(float(value), 2)
    return str(int(v)) if v == int(v) else f"{v:g}"


def score_with_rank(row: Mapping[str, Any], name: str) -> str:
    """A key-score cell: ``0.912 [0.900, 0.925] (#2)`` — the value and the entry's rank on it."""
    text = fmt_score(row["scores"].get(name))
    r = (row.get("metric_ranks") or {}).get(name)
    return f"{text} (#{fmt_rank(r)})" if text and r is not None else text


def rule_lines(table: Mapping[str, Any]) -> list[str]:
    """The rank rule of a table as plain lines: the sentence, then one line per ranked score and why."""
    rule = table.get("rank_rule")
    if not rule:
        return []
    out = [str(rule["text"])]
    for m in rule["metrics"]:
        arrow = "↑" if m["higher_is_better"] else "↓"
        why = f" — {m['idea']}: {m['why']}" if m.get("why") else ""
        out.append(f"{m['name']} {arrow}{why}")
    return out


def table_rows(table: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of a dataset table (shared by markdown and ``show``).

    Key-score cells carry the entry's rank on that score (``(#2)``); ``mean rank`` is the rank rule's
    number, ``rank`` the position it gives.
    """
    keys = table["key_scores"]
    head = ["rank", "mean rank", "submission", "format", "parameters", "latent dims"]
    head += [f"{k['name']} {_arrow(k)}" for k in keys]
    head += ["judge ceiling", "latency p50 ms", "recon seq/s", "date", "flags"]
    rows = []
    for row in table["entries"]:
        cells = [
            "" if row["rank"] is None else str(row["rank"]),
            fmt_rank(row["mean_rank"]),
            f"{row['submission']} {row['version']}",
            row["format"],
            fmt_int(row["parameters"]),
            f"{row['static_dim']} + {row['dynamic_dim']}",
        ]
        cells += [score_with_rank(row, k["name"]) for k in keys]
        timing_ok = row["timing_comparable"]
        cells += [
            fmt_num(row["judge_ceiling"]),
            fmt_num(row["latency_p50_ms"], 2) if timing_ok else "",
            fmt_num(row["throughput_seq_per_s"], 1) if timing_ok else "",
            row["date"],
            "; ".join(row["flags"]),
        ]
        rows.append(cells)
    return head, rows


#: short headers of the terminal board when the full ones do not fit (the legend names the long ones)
SHORT_HEADERS = {"mean rank": "mean", "parameters": "params", "latent dims": "dims", "judge ceiling": "ceiling",
                 "latency p50 ms": "p50 ms", "recon seq/s": "seq/s"}
#: columns the terminal board leaves out, in this order, while it is still too wide (the caption says which)
OPTIONAL_COLUMNS = ("date", "format", "latent dims", "parameters", "flags", "judge ceiling", "recon seq/s",
                    "mean rank")


def main_first(tables: Mapping[str, Any], main: str = MAIN_DATASET) -> dict[str, Any]:
    """The tables of a board with the main dataset's first (the order a reader looks for)."""
    return {k: tables[k] for k in sorted(tables, key=lambda k: k != main)}


def _width(head: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Width of a rich table with these cells (one space of padding each side, one border per column)."""
    cols = [max(len(line) for c in [h, *(r[i] for r in rows)] for line in c.split("\n")) for i, h in enumerate(head)]
    return sum(cols) + 3 * len(cols) + 1


def _two_line(cell: str) -> str:
    """``0.912 [0.900, 0.925] (#2)`` → ``0.912 (#2)`` over ``[0.900, 0.925]``."""
    value, _, rest = cell.partition(" [")
    if not rest:
        return cell
    interval, _, rank = rest.partition("]")
    return f"{value}{rank}\n[{interval}]"


def _no_interval(cell: str) -> str:
    """``0.912 (#2)`` over ``[0.900, 0.925]`` → ``0.912 #2``."""
    return cell.split("\n", 1)[0].replace("(#", "#").replace(")", "")


def terminal_table(dataset: str, table: Mapping[str, Any], protocol: str, width: int):
    """The rich table of ``leaderboard show`` for a terminal ``width`` columns wide.

    Tried in order until the table fits: the full headers; short headers (``K1``... for the key
    scores, ``params`` for parameters, ...) named in a legend under the table; score cells on two
    lines (value and rank, then the interval) and the submission's version under its name; the
    columns of :data:`OPTIONAL_COLUMNS` left out one by one; finally the intervals left out. Headers
    are never cut mid-word; the caption says what was shortened or left out, states the rank rule
    (what ranks, and why) and names the timing machine.
    """
    from rich.markup import escape
    from rich.table import Table

    head, rows = table_rows(table)
    keys = table["key_scores"]
    full = {f"{k['name']} {_arrow(k)}": (f"K{i + 1} {_arrow(k)}", k["name"]) for i, k in enumerate(keys)}
    full.update({k: (v, k) for k, v in SHORT_HEADERS.items()})
    notes: list[str] = []
    if _width(head, rows) > width:
        head = [full[h][0] if h in full else h for h in head]
    key_idx = [i for i, h in enumerate(head) if h[:1] == "K" and h[1:2].isdigit()]
    if _width(head, rows) > width:
        sub = head.index("submission")
        rows = [[_two_line(c) if i in key_idx else c.replace(" ", "\n", 1) if i == sub else c
                 for i, c in enumerate(r)] for r in rows]
    dropped: list[str] = []
    for col in OPTIONAL_COLUMNS:
        if _width(head, rows) <= width:
            break
        name = SHORT_HEADERS.get(col, col)
        if name in head:
            i = head.index(name)
            dropped.append(col)
            head, rows = head[:i] + head[i + 1:], [r[:i] + r[i + 1:] for r in rows]
            key_idx = [k - 1 if k > i else k for k in key_idx]
    if _width(head, rows) > width:
        rows = [[_no_interval(c) if i in key_idx else c for i, c in enumerate(r)] for r in rows]
        dropped.append("the 95 % intervals")
    legend = [f"{short.removesuffix(' ↑').removesuffix(' ↓')} = {long}" for short, long in full.values()
              if short in head]
    if legend:
        notes.append("Columns: " + "; ".join(legend) + ".")
    if dropped:
        notes.append(f"Left out to fit {width} columns: {', '.join(dropped)} (a wider terminal, LEADERBOARD.md or "
                     "--json show them).")
    fp = table["reference_fingerprint"]
    caption = []
    rule = rule_lines(table)  # the rank rule: which scores rank, and why; (#r) in a cell = rank on that score
    if rule:
        caption += [f"Rank rule. {rule[0]}"] + [f"  {line}" for line in rule[1:]]
    caption.append(f"timing machine {fp}" if fp else "no timing measured")
    t = Table(title=f"{dataset} — protocol {protocol}", caption=escape("\n".join(caption + notes)),
              caption_justify="left")
    numeric = {"rank", "mean rank", "mean", "parameters", "params", "latency p50 ms", "p50 ms", "recon seq/s",
               "seq/s", "judge ceiling", "ceiling"}
    for h in head:
        t.add_column(escape(h), justify="right" if h in numeric else "left", overflow="fold", no_wrap=h != "flags")
    for cells in rows:
        t.add_row(*map(escape, cells))
    return t


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def board_markdown(board: Mapping[str, Any]) -> str:
    """``LEADERBOARD.md``: one section per dataset, a table, the judge ceiling and the store problems."""
    out = [f"# msd-bench leaderboard — protocol {board['protocol']}", ""]
    out.append(
        "Each table states its rank rule: the mean of the entry's ranks over the table's key scores, one per idea;"
        " `(#r)` after a score is the entry's rank on it (↑ higher is better, ↓ lower is better). Entries missing a"
        " key score are not ranked and say why in *flags*. Timing columns compare only entries measured on the"
        " table's reference machine. Generated by `msd-bench leaderboard build`; do not edit."
    )
    out.append("")
    for ds, t in board["datasets"].items():
        out += [f"## {ds}", ""]
        fp = t["reference_fingerprint"]
        out.append(f"Timing machine: `{fp}`." if fp else "No timing measured.")
        if t["judge_ceiling"]:
            parts = [f"{f} {fmt_num(v.get('sequence'))}" for f, v in t["judge_ceiling"].items()]
            out.append(f"Judge ceiling (test accuracy of the judge, sequence heads): {', '.join(parts)}.")
        out.append("")
        lines = rule_lines(t)
        if lines:
            out.append(f"**Rank rule.** {_md_cell(lines[0])}")
            out.append("")
            out += [f"- `{_md_cell(line.split(' ', 1)[0])}` {_md_cell(line.split(' ', 1)[1])}" for line in lines[1:]]
            out.append("")
        head, rows = table_rows(t)
        out.append("| " + " | ".join(_md_cell(h) for h in head) + " |")
        out.append("|" + "|".join("---:" if h in ("rank", "mean rank", "parameters") else "---" for h in head) + "|")
        for cells in rows:
            out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        out.append("")
    if board["problems"]:
        out += ["## Store problems", ""]
        out += [f"- {_md_cell(p)}" for p in board["problems"]]
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------- build
@dataclass
class BuildReport:
    """What :func:`build_leaderboard` did."""

    boards: dict[str, dict[str, Any]]
    problems: list[Problem]
    written: list[Path]
    n_results: int


def _write_board(board: Mapping[str, Any], folder: Path, formats: Sequence[str]) -> list[Path]:
    from .export import board_latex, model_index_files
    from .html import board_html

    written = []
    text_renderers = {
        "json": board_json,
        "csv": board_csv,
        "md": board_markdown,
        "html": board_html,
        "latex": board_latex,
    }
    for fmt in formats:
        if fmt == "model-index":
            d = folder / FILES[fmt]
            files = model_index_files(board)
            for name, text in files.items():
                atomic_write_text(d / name, text)
                written.append(d / name)
            if d.is_dir():  # entries that left the board leave their snippet behind otherwise
                for old in sorted(d.glob("*.yaml")):
                    if old.name not in files:
                        old.unlink()
            continue
        path = folder / FILES[fmt]
        atomic_write_text(path, text_renderers[fmt](board))
        written.append(path)
    return written


def check_formats(formats: Iterable[str]) -> list[str]:
    """Expand ``all`` and check names; raises LeaderboardError on an unknown one."""
    out: list[str] = []
    for f in formats:
        for part in str(f).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "all":
                out += list(ALL_FORMATS)
            elif part in ALL_FORMATS:
                out.append(part)
            else:
                raise LeaderboardError(f"unknown format {part!r}; expected one of {', '.join(ALL_FORMATS)} or all")
    return list(dict.fromkeys(out)) or list(DEFAULT_FORMATS)


def build_leaderboard(
    root: str | os.PathLike = DEFAULT_ROOT,
    out: str | os.PathLike | None = None,
    protocol: str | None = None,
    formats: Iterable[str] = DEFAULT_FORMATS,
    revisions: Revisions | None = None,
    config: BoardConfig | None = None,
) -> BuildReport:
    """Scan the store at ``root`` and write the boards into ``<out>/<protocol>/``.

    Parameters
    ----------
    root : path
        Store root (``<root>/results/...``).
    out : path, optional
        Output root (default: ``root``).
    protocol : str, optional
        Build only this protocol (default: every protocol in the store).
    formats : iterable of str
        Among ``json, csv, md, html, latex, model-index`` (``all`` for every one).
    revisions : Revisions, optional
        Current revisions to check results against (default: looked up from the registries).
    config : BoardConfig, optional
        Key scores (default: ``<root>/config.yaml`` if present, else the fallback).

    Returns
    -------
    BuildReport

    Raises
    ------
    LeaderboardError
        Missing store, unknown format, or ``protocol`` absent from the store.
    """
    formats = check_formats(formats)
    root = Path(root)
    out = Path(out) if out is not None else root
    entries, problems = scan_store(root, revisions)
    config = config if config is not None else load_config(root)
    if protocol is not None and not any(e.result.protocol == protocol for e in entries):
        present = sorted({e.result.protocol for e in entries})
        raise LeaderboardError(
            f"store {root} has no usable result of protocol {protocol!r}; protocols present:"
            f" {', '.join(present) or 'none'}"
        )
    boards = make_boards(entries, config, problems, root=root, out=out, protocol=protocol)
    written = []
    for proto, board in boards.items():
        written += _write_board(board, out / proto, formats)
    return BuildReport(boards, problems, written, len(entries))
