"""The self-contained HTML board: inline CSS, inline JS, inline SVG; nothing is fetched from a network.

One tab per dataset, the protocol's main dataset (:data:`~msd_bench.leaderboard.build.MAIN_DATASET`)
first and open; each tab has a filter box, a table sortable by clicking a column header (blanks
always sort last), links to each entry's result JSON and pictures, and a score-vs-latency Pareto plot
per key score (the front highlighted) drawn as inline SVG at build time.

Layout: the key columns (rank, submission, key scores, judge ceiling, timing, pictures) fit a
1280 px window — a score cell holds the value with its interval and rank on a second, smaller line;
format and latent dims sit under the submission's name; pictures are small thumbnails that wrap.
Date and flags come last (scrolled to on a narrow screen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .build import MAIN_DATASET, fmt_int, fmt_num, fmt_rank, fmt_score

CSS = """
:root{--fg:#1d2330;--mute:#5b6475;--line:#d8dce4;--bg:#fff;--alt:#f5f7fa;--acc:#2f5fd0;--front:#e0661b}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0;padding:20px 28px}
h1{font-size:22px;margin:0 0 4px}
.sub{color:var(--mute);margin:0 0 16px}
.tabs{display:flex;gap:4px;border-bottom:1px solid var(--line);margin-bottom:14px}
.tab{border:1px solid var(--line);border-bottom:none;background:var(--alt);padding:6px 14px;cursor:pointer;
border-radius:6px 6px 0 0;font:inherit;color:var(--fg)}
.tab[aria-selected=true]{background:var(--bg);font-weight:600;position:relative;top:1px}
.panel[hidden]{display:none}
.meta{color:var(--mute);margin:0 0 10px}
.filter{padding:5px 8px;border:1px solid var(--line);border-radius:5px;min-width:260px;margin:0 0 10px;font:inherit}
.wrap{overflow-x:auto}
table.board{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.board th,table.board td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;
white-space:nowrap}
table.board .sub2{display:block;color:var(--mute);font-size:11px;line-height:1.3}
table.board td.flags{white-space:normal;color:#9a3b00;font-size:12px;min-width:180px}
table.board th{cursor:pointer;user-select:none;background:var(--alt);position:sticky;top:0;white-space:normal;
max-width:10em;vertical-align:bottom;font-size:13px}
table.board th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
table.board th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
table.board tbody tr:nth-child(even){background:var(--alt)}
table.board td.num{text-align:right}
a{color:var(--acc)}
table.board td.pics{white-space:normal;min-width:120px;max-width:210px}
.pics a{margin-right:3px;display:inline-block}
.pics img{height:24px;vertical-align:middle;image-rendering:pixelated;border:1px solid var(--line)}
figure.pareto{margin:18px 0 0}
figure.pareto figcaption{color:var(--mute);margin-bottom:6px}
svg .pt{fill:#8a94a8}
svg .pt.front{fill:var(--front)}
svg .frontline{fill:none;stroke:var(--front);stroke-width:1.5;stroke-dasharray:4 3}
svg text{font:11px system-ui,sans-serif;fill:var(--mute)}
svg .axis{stroke:#9aa3b5;stroke-width:1}
svg .grid{stroke:#eceff4;stroke-width:1}
.problems{margin-top:28px;color:var(--mute);font-size:12px}
.rule{margin:0 0 10px}
.rule ul{margin:4px 0 0;padding-left:20px;color:var(--mute)}
.mr{color:var(--mute);font-size:12px}
.empty{color:var(--mute);font-style:italic}
"""

JS = """
(function(){
  function val(td){ return td ? td.getAttribute('data-v') : ''; }
  function sortTable(table, col, dir){
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var th = table.tHead.rows[0].cells[col];
    var numeric = th.getAttribute('data-type') === 'num';
    rows.sort(function(a, b){
      var x = val(a.cells[col]), y = val(b.cells[col]);
      if (x === '' && y === '') return a.getAttribute('data-i') - b.getAttribute('data-i');
      if (x === '') return 1;
      if (y === '') return -1;
      var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      if (c === 0) return a.getAttribute('data-i') - b.getAttribute('data-i');
      return dir === 'ascending' ? c : -c;
    });
    rows.forEach(function(r){ tbody.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(h){ h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
  }
  document.querySelectorAll('table.board').forEach(function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, col){
      th.addEventListener('click', function(){
        var cur = th.getAttribute('aria-sort');
        var dir = cur === 'ascending' ? 'descending'
          : (cur === 'descending' ? 'ascending' : th.getAttribute('data-first'));
        sortTable(table, col, dir);
      });
    });
  });
  document.querySelectorAll('input.filter').forEach(function(input){
    input.addEventListener('input', function(){
      var q = input.value.toLowerCase();
      var table = document.getElementById(input.getAttribute('data-table'));
      Array.prototype.forEach.call(table.tBodies[0].rows, function(r){
        r.hidden = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
  var tabs = document.querySelectorAll('.tab');
  tabs.forEach(function(tab){
    tab.addEventListener('click', function(){
      tabs.forEach(function(t){
        var on = t === tab;
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
      });
    });
  });
  document.querySelectorAll('select.metric').forEach(function(sel){
    sel.addEventListener('change', function(){
      var fig = sel.closest('figure');
      fig.querySelectorAll('svg[data-metric]').forEach(function(s){
        s.style.display = s.getAttribute('data-metric') === sel.value ? '' : 'none';
      });
    });
  });
})();
"""

W, H = 640, 340
ML, MR, MT, MB = 64, 20, 16, 44
IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg")


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [10.0**k for k in range(a, b + 1) if lo <= 10.0**k <= hi] or [lo, hi]
    if hi == lo:
        return [lo]
    raw = (hi - lo) / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _tick_labels(ticks: list[float]) -> list[str]:
    """Labels with just enough decimals to tell neighbouring ticks apart."""
    if len(ticks) < 2:
        return [fmt_num(t, 3) for t in ticks]
    step = min(abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False)) or abs(ticks[0]) or 1.0
    if max(abs(t) for t in ticks) >= 1e4 or step < 1e-4:
        return [f"{t:.2e}" for t in ticks]
    decimals = max(0, math.ceil(round(-math.log10(step), 6)))
    if any(abs(round(t, decimals) - t) > step * 1e-6 for t in ticks):
        decimals += 1
    return [f"{t:.{decimals}f}" for t in ticks]


def pareto_svg(table: Mapping[str, Any], metric: Mapping[str, Any], visible: bool) -> str:
    """Inline SVG: score (y) against batch-1 latency p50 (x, log scale when it spans > 10x)."""
    name = metric["name"]
    front = set(table["pareto"].get(name, []))
    pts = []
    for row in table["entries"]:
        s = row["scores"].get(name)
        if not (row["timing_comparable"] and row["latency_p50_ms"] and s and s["status"] == "ok"):
            continue
        if s["value"] is None or row["latency_p50_ms"] <= 0:
            continue
        pts.append((row["latency_p50_ms"], s["value"], row["id"]))
    style = "" if visible else ' style="display:none"'
    head = (
        f'<svg data-metric="{escape(name)}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"'
        f' aria-label="{escape(name)} against latency"{style} xmlns="http://www.w3.org/2000/svg">'
    )
    if not pts:
        return head + f'<text x="{W // 2}" y="{H // 2}" text-anchor="middle">no comparable timing</text></svg>'
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x_lo, x_hi = min(xs), max(xs)
    log = x_hi / x_lo > 10
    if log:
        x_lo, x_hi = 10 ** math.floor(math.log10(x_lo)), 10 ** math.ceil(math.log10(x_hi))
    else:
        pad = (x_hi - x_lo) * 0.08 or x_lo * 0.1
        x_lo, x_hi = max(0.0, x_lo - pad), x_hi + pad
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.08 or abs(y_lo) * 0.1 or 0.1
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def px(x: float) -> float:
        f = (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) if log else (x - x_lo) / (
            x_hi - x_lo
        )
        return ML + f * (W - ML - MR)

    def py(y: float) -> float:
        return H - MB - (y - y_lo) / (y_hi - y_lo) * (H - MT - MB)

    parts = [head]
    xt = _ticks(x_lo, x_hi, log)
    for t, label in zip(xt, _tick_labels(xt), strict=True):
        x = px(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{H - MB}"/>')
        parts.append(f'<text x="{x:.1f}" y="{H - MB + 16}" text-anchor="middle">{escape(label)}</text>')
    yt = _ticks(y_lo, y_hi, False)
    for t, label in zip(yt, _tick_labels(yt), strict=True):
        y = py(t)
        parts.append(f'<line class="grid" x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    parts.append(f'<line class="axis" x1="{ML}" y1="{H - MB}" x2="{W - MR}" y2="{H - MB}"/>')
    parts.append(f'<line class="axis" x1="{ML}" y1="{MT}" x2="{ML}" y2="{H - MB}"/>')
    scale = " (log scale)" if log else ""
    parts.append(
        f'<text x="{(ML + W - MR) / 2:.1f}" y="{H - 8}" text-anchor="middle">latency p50, ms{scale}'
        " (batch 1, lower is better)</text>"
    )
    arrow = "higher" if metric["higher_is_better"] else "lower"
    parts.append(
        f'<text transform="translate(14 {(MT + H - MB) / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f"{escape(name)} ({arrow} is better)</text>"
    )
    fpts = sorted((p for p in pts if p[2] in front), key=lambda p: (p[0], p[2]))
    if len(fpts) > 1:
        d = " ".join(f"{px(p[0]):.1f},{py(p[1]):.1f}" for p in fpts)
        parts.append(f'<polyline class="frontline" points="{d}"/>')
    for lat, val, eid in sorted(pts, key=lambda p: (p[2] in front, p[2])):
        cls = "pt front" if eid in front else "pt"
        x, y = px(lat), py(val)
        parts.append(
            f'<circle class="{cls}" data-id="{escape(eid)}" cx="{x:.1f}" cy="{y:.1f}" r="5">'
            f"<title>{escape(eid)}: {escape(fmt_num(val))} at {escape(fmt_num(lat, 2))} ms</title></circle>"
        )
        if x > W * 0.6:  # labels of points on the right side go to their left, inside the plot
            parts.append(f'<text x="{x - 7:.1f}" y="{y - 6:.1f}" text-anchor="end">{escape(eid)}</text>')
        else:
            parts.append(f'<text x="{x + 7:.1f}" y="{y - 6:.1f}">{escape(eid)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _breakable(label: str) -> str:
    """Escaped header text that may wrap after '.' and '_' (long metric names)."""
    return escape(label).replace(".", ".<wbr>").replace("_", "_<wbr>")


def _td(text: str, sort_value: Any = None, cls: str = "") -> str:
    v = "" if sort_value is None else (repr(float(sort_value)) if isinstance(sort_value, (int, float)) else sort_value)
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-v="{escape(str(v))}">{text}</td>'


def _score_cell(score: Mapping[str, Any] | None, rank: float | None) -> str:
    """A key-score cell: the value, then its interval and the entry's rank on a second, smaller line."""
    text = fmt_score(score)
    if not text:
        return ""
    value, _, interval = text.partition(" ")
    parts = [escape(interval)] if interval else []
    if rank is not None:
        parts.append(f'<span class="mr">(#{escape(fmt_rank(rank))})</span>')
    return escape(value) + (f'<span class="sub2">{" ".join(parts)}</span>' if parts else "")


def _pictures(paths: Sequence[str]) -> str:
    links = []
    for p in paths:
        label = escape(p.rsplit("/", 1)[-1])
        href = escape(p)
        if p.lower().endswith(IMAGE_SUFFIXES):
            links.append(f'<a href="{href}" title="{label}"><img src="{href}" alt="{label}" loading="lazy"></a>')
        else:
            links.append(f'<a href="{href}">{label}</a>')
    return "".join(links)


def _table_html(ds: str, table: Mapping[str, Any]) -> str:
    tid = f"table-{ds}"
    keys = table["key_scores"]
    cols: list[tuple[str, str, str]] = [  # label, type, first sort direction
        ("rank", "num", "ascending"),
        ("mean rank", "num", "ascending"),
        ("submission", "text", "ascending"),
        ("parameters", "num", "ascending"),
    ]
    for k in keys:
        arrow = "↑" if k["higher_is_better"] else "↓"
        cols.append((f"{k['name']} {arrow}", "num", "descending" if k["higher_is_better"] else "ascending"))
    cols += [
        ("judge ceiling", "num", "descending"),
        ("latency p50 ms", "num", "ascending"),
        ("recon seq/s", "num", "descending"),
        ("pictures", "text", "ascending"),
        ("date", "text", "descending"),
        ("flags", "text", "ascending"),
    ]
    sorted_attr = ' aria-sort="ascending"'
    head = "".join(
        f'<th data-type="{t}" data-first="{first}" scope="col"{sorted_attr if i == 0 else ""}>{_breakable(label)}</th>'
        for i, (label, t, first) in enumerate(cols)
    )
    body = []
    for i, row in enumerate(table["entries"]):
        ok = row["timing_comparable"]
        cells = [
            _td("" if row["rank"] is None else str(row["rank"]), row["mean_rank"], "num"),
            _td(fmt_rank(row["mean_rank"]), row["mean_rank"], "num"),
            _td(
                f'<a href="{escape(row["result"])}">{escape(row["submission"])}</a> {escape(row["version"])}'
                f'<span class="sub2">{escape(row["format"])} · latent {row["static_dim"]} + {row["dynamic_dim"]}'
                "</span>",
                f"{row['submission']} {row['version']}",
            ),
            _td(fmt_int(row["parameters"]), row["parameters"], "num"),
        ]
        for k in keys:
            s = row["scores"].get(k["name"])
            v = s["value"] if s and s["status"] == "ok" else None
            r = (row.get("metric_ranks") or {}).get(k["name"])
            cells.append(_td(_score_cell(s, r), v, "num"))
        cells += [
            _td(fmt_num(row["judge_ceiling"]), row["judge_ceiling"], "num"),
            _td(fmt_num(row["latency_p50_ms"], 2) if ok else "", row["latency_p50_ms"] if ok else None, "num"),
            _td(
                fmt_num(row["throughput_seq_per_s"], 1) if ok else "",
                row["throughput_seq_per_s"] if ok else None,
                "num",
            ),
            _td(_pictures(row["pictures"]), str(len(row["pictures"])) if row["pictures"] else None, "pics"),
            _td(escape(row["date"]), row["date"]),
            _td(escape("; ".join(row["flags"])), "; ".join(row["flags"]) or None, "flags"),
        ]
        body.append(f'<tr data-i="{i}" data-id="{escape(row["id"])}">{"".join(cells)}</tr>')
    meta = []
    fp = table["reference_fingerprint"]
    meta.append(f"Timing machine <code>{escape(fp)}</code>." if fp else "No timing measured.")
    if table["judge_ceiling"]:
        parts = ", ".join(f"{escape(f)} {fmt_num(v.get('sequence'))}" for f, v in table["judge_ceiling"].items())
        meta.append(f"Judge ceiling (sequence heads): {parts}.")
    rule = table.get("rank_rule")
    rule_html = ""
    if rule:
        items = "".join(
            f"<li><code>{escape(str(m['name']))}</code> {'↑' if m['higher_is_better'] else '↓'}"
            + (f" — <b>{escape(str(m['idea']))}</b>: {escape(str(m['why']))}" if m.get("why") else "") + "</li>"
            for m in rule["metrics"]
        )
        rule_html = f'<div class="rule"><b>Rank rule.</b> {escape(str(rule["text"]))}<ul>{items}</ul></div>'
    figure = ""
    if keys:
        options = "".join(f'<option value="{escape(k["name"])}">{escape(k["name"])}</option>' for k in keys)
        svgs = "".join(pareto_svg(table, k, i == 0) for i, k in enumerate(keys))
        figure = (
            '<figure class="pareto"><figcaption>Score against latency; the Pareto front is highlighted. '
            f'Score: <select class="metric" aria-label="score">{options}</select></figcaption>{svgs}</figure>'
        )
    return (
        f'<p class="meta">{" ".join(meta)}</p>{rule_html}'
        f'<input class="filter" type="search" placeholder="Filter entries…" data-table="{tid}" aria-label="filter">'
        f'<div class="wrap"><table class="board" id="{tid}"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>{figure}'
    )


def board_html(board: Mapping[str, Any], main: str = MAIN_DATASET) -> str:
    """``index.html`` of a board: self-contained, deterministic; it opens on the ``main`` dataset's tab."""
    proto = escape(board["protocol"])
    names = list(board["datasets"])
    if main in names:  # the protocol's main dataset first, and the tab the board opens on
        names.remove(main)
        names.insert(0, main)
    n = sum(len(t["entries"]) for t in board["datasets"].values())
    tabs = "".join(
        f'<button class="tab" role="tab" id="tab-{escape(ds)}" aria-controls="panel-{escape(ds)}"'
        f' aria-selected="{"true" if i == 0 else "false"}">{escape(ds)}</button>'
        for i, ds in enumerate(names)
    )
    panels = "".join(
        f'<section class="panel" role="tabpanel" id="panel-{escape(ds)}" data-dataset="{escape(ds)}"'
        f'{"" if i == 0 else " hidden"}>{_table_html(ds, board["datasets"][ds])}</section>'
        for i, ds in enumerate(names)
    )
    if not names:
        panels = '<p class="empty">No results in this protocol.</p>'
    problems = ""
    if board["problems"]:
        items = "".join(f"<li>{escape(p)}</li>" for p in board["problems"])
        problems = f'<section class="problems"><h2>Store problems</h2><ul>{items}</ul></section>'
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>msd-bench leaderboard — {proto}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f"<h1>msd-bench leaderboard</h1>"
        f'<p class="sub">Protocol <b>{proto}</b> · {n} entries · {len(names)} datasets. Rank = mean of the per-metric'
        " ranks over each table's key scores (its rank rule is stated above it; (#r) = the entry's rank on a"
        " score; ties share the mean rank). Click a column to sort; blanks sort last.</p>"
        f'<nav class="tabs" role="tablist">{tabs}</nav>{panels}{problems}'
        f"<script>{JS}</script></body></html>\n"
    )
