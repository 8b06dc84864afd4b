"""Building boards: Borda ranks on known cases, blanks and flags, protocols, fingerprints, determinism."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from msd_bench import PROTOCOL
from msd_bench.leaderboard import (
    BoardConfig,
    LeaderboardError,
    add_result,
    average_ranks,
    borda,
    build_leaderboard,
    choose_key_scores,
    diff_boards,
    load_board,
    load_config,
    pareto_front,
)
from msd_bench.leaderboard.build import board_markdown, fmt_num, fmt_score
from msd_bench.leaderboard.ranking import positions
from msd_bench.testing import example_revisions, make_result, make_score

LOWER = {"mse": False}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))


def build(root, **kw):
    """Build with injected revisions and, unless told otherwise, the generic key-score choice."""
    kw.setdefault("revisions", example_revisions(("sprites", "shapes")))
    kw.setdefault("config", BoardConfig(key_scores={}))
    return build_leaderboard(root, **kw)


def table(report, dataset="sprites", protocol=PROTOCOL):
    return report.boards[protocol]["datasets"][dataset]


def rows_by_id(t):
    return {r["id"]: r for r in t["entries"]}


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------------------ ranks
def test_average_ranks_share_ties_and_follow_direction():
    assert average_ranks([0.9, 0.9, 0.8, 0.7], True) == [1.5, 1.5, 3.0, 4.0]
    assert average_ranks([0.9, 0.9, 0.8, 0.7], False) == [3.5, 3.5, 2.0, 1.0]
    assert average_ranks([1.0, 1.0, 1.0], True) == [2.0, 2.0, 2.0]
    assert average_ranks([], True) == []


def test_borda_ranks_only_complete_entries_and_positions_share_ties():
    table_ = {"a": {"x": 1.0, "y": 3.0}, "b": {"x": 2.0, "y": 2.0}, "c": {"x": 3.0, "y": None}}
    mean, per = borda(table_, {"x": True, "y": False})
    # c lacks y: not ranked. x higher is better: b 1, a 2; y lower is better: b (2.0) 1, a (3.0) 2.
    assert mean == {"a": 2.0, "b": 1.0}
    assert per == {"a": {"x": 2.0, "y": 2.0}, "b": {"x": 1.0, "y": 1.0}}
    assert positions({"a": 1.0, "b": 2.0, "c": 2.0, "d": 4.0}) == {"a": 1, "b": 2, "c": 2, "d": 4}


def test_borda_with_ties_and_mixed_directions_on_a_built_board(tmp_path):
    # acc (higher better): a .9, b .9, c .8 -> ranks 1.5, 1.5, 3
    # mse (lower better):  a .1, b .2, c .05 -> ranks 2, 3, 1
    # mean: a 1.75, b 2.25, c 2.0 -> positions a 1, c 2, b 3
    root = tmp_path / "s"
    for name, acc, mse in (("a", 0.9, 0.1), ("b", 0.9, 0.2), ("c", 0.8, 0.05)):
        add_result(make_result(name, scores={"acc": acc, "mse": mse}, directions=LOWER), root)
    t = table(build(root))
    assert [r["id"] for r in t["entries"]] == ["a@1.0", "c@1.0", "b@1.0"]
    rows = rows_by_id(t)
    assert [rows[i]["rank"] for i in ("a@1.0", "c@1.0", "b@1.0")] == [1, 2, 3]
    assert rows["a@1.0"]["mean_rank"] == 1.75 and rows["b@1.0"]["mean_rank"] == 2.25
    assert rows["a@1.0"]["metric_ranks"] == {"acc": 1.5, "mse": 2.0}
    assert [k["name"] for k in t["key_scores"]] == ["acc", "mse"]
    assert [k["higher_is_better"] for k in t["key_scores"]] == [True, False]


def test_direction_comes_from_the_scores(tmp_path):
    root = tmp_path / "s"
    for name, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        add_result(make_result(name, scores={"err": v}, directions={"err": False}), root)
    assert [r["id"] for r in table(build(root))["entries"]] == ["a@1.0", "b@1.0", "c@1.0"]
    root2 = tmp_path / "s2"
    for name, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        add_result(make_result(name, scores={"err": v}, directions={"err": True}), root2)
    assert [r["id"] for r in table(build(root2))["entries"]] == ["c@1.0", "b@1.0", "a@1.0"]


def test_equal_entries_share_a_position(tmp_path):
    root = tmp_path / "s"
    for name, v in (("a", 0.5), ("b", 0.5), ("c", 0.1)):
        add_result(make_result(name, scores={"acc": v}), root)
    rows = rows_by_id(table(build(root)))
    assert (rows["a@1.0"]["rank"], rows["b@1.0"]["rank"], rows["c@1.0"]["rank"]) == (1, 1, 3)


def test_directionless_metrics_are_never_key_scores(tmp_path):
    root = tmp_path / "s"
    for name, v in (("a", 0.5), ("b", 0.7)):
        add_result(make_result(name, scores={"acc": v, "entropy": 1.0}, directions={"entropy": None}), root)
    t = table(build(root))
    assert [k["name"] for k in t["key_scores"]] == ["acc"]


def test_key_score_choice_configured_then_fallback():
    avail = {"a": 3, "b": 2, "c": 3, "d": 1}
    assert choose_key_scores(avail, ["d", "zzz", "a"]) == ["d", "a"]
    assert choose_key_scores(avail, ["zzz"]) == ["a", "c", "b", "d"]
    assert choose_key_scores(avail, None, max_keys=2) == ["a", "c"]


def test_config_file_picks_key_scores_per_dataset(tmp_path):
    root = tmp_path / "s"
    for name, acc, mse in (("a", 0.9, 0.3), ("b", 0.8, 0.1)):
        add_result(make_result(name, scores={"acc": acc, "mse": mse}, directions=LOWER), root)
        add_result(make_result(name, dataset="shapes", scores={"acc": acc, "mse": mse}, directions=LOWER), root)
    (root / "config.yaml").write_text("key_scores:\n  default: [acc]\n  shapes: [mse, not-a-metric]\n")
    report = build(root, config=None)
    assert [k["name"] for k in table(report)["key_scores"]] == ["acc"]
    assert [r["id"] for r in table(report)["entries"]] == ["a@1.0", "b@1.0"]
    assert [k["name"] for k in table(report, "shapes")["key_scores"]] == ["mse"]
    assert [r["id"] for r in table(report, "shapes")["entries"]] == ["b@1.0", "a@1.0"]


@pytest.mark.parametrize(
    "text,match",
    [("key_scores: [a]\n", "must map"), ("other: 1\n", "only 'key_scores'"), ("max_keys: 0\n", "positive"),
     ("key_scores: {a: [1\n", "not valid YAML")],
)
def test_bad_config_is_one_line_error(tmp_path, text, match):
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(LeaderboardError, match=match) as exc:
        load_config(tmp_path)
    assert "\n" not in str(exc.value)


def test_default_key_scores_without_config_and_generic_fallback(tmp_path):
    from msd_bench.leaderboard.build import DEFAULT_KEY_SCORES

    assert load_config(tmp_path / "none") == BoardConfig() == BoardConfig(dict(DEFAULT_KEY_SCORES))
    root = tmp_path / "s"
    rec, swap = "reconstruction.judge_accuracy.mean", "static_dynamic_swap.accuracy.mean"
    scores = {rec: 0.2, "mse": 0.1, swap: 0.9, "alpha": 0.5}
    add_result(make_result("a", scores=scores, directions=LOWER), root)
    add_result(make_result("b", scores={**scores, rec: 0.3}, directions=LOWER), root)
    report = build(root, config=None)  # no config.yaml: the headline scores present in the table, in order
    assert [k["name"] for k in table(report)["key_scores"]] == [swap, rec]
    assert table(report)["rank_rule"]["source"] == "headlines"
    assert table(report)["rank_rule"]["absent"] == ["msd.multi_factor_swap"]
    (root / "config.yaml").write_text("key_scores: {}\nmax_keys: 3\n")  # always the generic choice
    fallback = table(build(root, config=None))
    assert [k["name"] for k in fallback["key_scores"]] == ["alpha", "mse", rec]
    assert fallback["rank_rule"]["source"] == "fallback"


# ---------------------------------------------------------------------------------- incomplete entries
def test_incomplete_entries_show_blanks_and_flags_never_zeros(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("full", scores={"acc": 0.9, "mse": 0.1}, directions=LOWER), root)
    add_result(make_result("full2", scores={"acc": 0.8, "mse": 0.2}, directions=LOWER), root)
    add_result(make_result("no-mse", scores={"acc": 0.95}), root)
    add_result(make_result("na", scores={"acc": 0.99, "mse": None}, directions=LOWER), root)
    err = make_score(None, False, status="error")
    add_result(make_result("err", scores={"acc": 0.5, "mse": err}, status="partial", latency_ms=None,
                           throughput=None), root)
    report = build(root, formats=["all"])
    t = table(report)
    assert [r["id"] for r in t["entries"]] == ["full@1.0", "full2@1.0", "err@1.0", "na@1.0", "no-mse@1.0"]
    rows = rows_by_id(t)
    assert rows["no-mse@1.0"]["rank"] is None and "missing mse" in rows["no-mse@1.0"]["flags"]
    assert rows["na@1.0"]["rank"] is None and "n/a mse" in rows["na@1.0"]["flags"]
    assert "error in mse" in rows["err@1.0"]["flags"] and "partial run" in rows["err@1.0"]["flags"]
    assert "no timing" in rows["err@1.0"]["flags"]
    # The incomplete entries do not take part in the ranks of the complete ones.
    assert (rows["full@1.0"]["rank"], rows["full2@1.0"]["rank"]) == (1, 2)

    out = root / PROTOCOL
    md = (out / "LEADERBOARD.md").read_text()
    line = next(x for x in md.splitlines() if "| no-mse 1.0 |" in x)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "" and cells[1] == "" and cells[7] == "" and "missing mse" in cells[-1]
    assert "| n/a |" in next(x for x in md.splitlines() if "| na 1.0 |" in x)
    with open(out / "leaderboard.csv", newline="") as f:
        by = {r["submission"]: r for r in csv.DictReader(f)}
    assert by["no-mse"]["rank"] == "" and by["no-mse"]["mse"] == "" and by["na"]["mse"] == ""
    assert by["err"]["latency_p50_ms"] == "" and by["full"]["mse"] == "0.1"
    assert "0.0" not in {by[k]["mse"] for k in ("no-mse", "na", "err")}
    tex = (out / "leaderboard.tex").read_text()
    assert "-- & no-mse 1.0 & 0.950" in tex and "n/a" in tex


def test_metric_of_another_version_is_not_compared(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.9}), root)
    add_result(make_result("b", scores={"acc": 0.8}), root)
    add_result(make_result("c", scores={"acc": make_score(0.99, version="2")}), root)
    rows = rows_by_id(table(build(root)))
    assert rows["c@1.0"]["rank"] is None and "other metric version: acc" in rows["c@1.0"]["flags"]
    assert rows["a@1.0"]["rank"] == 1


def test_score_formatting_is_stable():
    assert fmt_num(0.91234) == "0.912" and fmt_num(12345.6) == "1.23e+04" and fmt_num(None) == ""
    assert fmt_num(0.0) == "0.000" and fmt_num(2e-5) == "2.00e-05"
    s = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "status": "ok"}
    assert fmt_score(s) == "0.500 [0.400, 0.600]"
    assert fmt_score({"status": "not_applicable"}) == "n/a" and fmt_score(None) == ""


def test_sizes_get_their_own_tables_and_subsets_are_flagged(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5}), root)
    add_result(make_result("b", scores={"acc": 0.99}, size="small"), root)
    r = make_result("c", scores={"acc": 0.7})
    r.settings.limit = 64
    add_result(r, root)
    report = build(root)
    assert list(report.boards[PROTOCOL]["datasets"]) == ["sprites", "sprites-small"]
    assert [e["id"] for e in table(report)["entries"]] == ["c@1.0", "a@1.0"]
    assert [e["id"] for e in table(report, "sprites-small")["entries"]] == ["b@1.0"]
    assert table(report, "sprites-small")["size"] == "small"
    assert "scored on a subset (limit 64)" in rows_by_id(table(report))["c@1.0"]["flags"]


# ----------------------------------------------------------------------------------------- protocols
def test_protocols_are_never_mixed(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("new-a", scores={"acc": 0.5}), root)
    add_result(make_result("new-b", scores={"acc": 0.6}), root)
    add_result(make_result("old-a", scores={"acc": 0.99}, protocol="msd-bench-0"), root)
    report = build(root)
    assert sorted(report.boards) == ["msd-bench-0", PROTOCOL]
    assert [r["id"] for r in table(report)["entries"]] == ["new-b@1.0", "new-a@1.0"]
    old = table(report, protocol="msd-bench-0")["entries"]
    assert [r["id"] for r in old] == ["old-a@1.0"] and "needs rerun (old protocol)" in old[0]["flags"]
    assert (root / "msd-bench-0" / "leaderboard.json").is_file() and (root / PROTOCOL / "index.html").is_file()
    tables_md = (root / PROTOCOL / "LEADERBOARD.md").read_text().split("## Store problems")[0]
    assert "new-a" in tables_md and "old-a" not in tables_md

    only = build(root, protocol=PROTOCOL, out=tmp_path / "only")
    assert list(only.boards) == [PROTOCOL] and not (tmp_path / "only" / "msd-bench-0").exists()
    with pytest.raises(LeaderboardError, match="no usable result of protocol 'msd-bench-9'"):
        build(root, protocol="msd-bench-9", out=tmp_path / "none")
    assert not (tmp_path / "none").exists()


# -------------------------------------------------------------------------------------- fingerprints
def test_timing_compares_only_the_most_common_machine(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.9}, latency_ms=5.0, fingerprint="m1"), root)
    add_result(make_result("b", scores={"acc": 0.8}, latency_ms=2.0, fingerprint="m1"), root)
    add_result(make_result("c", scores={"acc": 0.95}, latency_ms=0.5, fingerprint="m2"), root)
    add_result(make_result("d", scores={"acc": 0.7}, latency_ms=None, throughput=None), root)
    report = build(root)
    t = table(report)
    assert t["reference_fingerprint"] == "m1"
    rows = rows_by_id(t)
    assert rows["a@1.0"]["timing_comparable"] and rows["b@1.0"]["timing_comparable"]
    assert not rows["c@1.0"]["timing_comparable"] and "timed on another machine (m2)" in rows["c@1.0"]["flags"]
    assert not rows["d@1.0"]["timing_comparable"] and "no timing" in rows["d@1.0"]["flags"]
    # c (fastest, best) would dominate everyone, but its timing is from another machine.
    assert sorted(t["pareto"]["acc"]) == ["a@1.0", "b@1.0"]
    md_line = next(x for x in board_markdown(report.boards[PROTOCOL]).splitlines() if "| c 1.0 |" in x)
    assert "0.50" not in md_line.split("|")[9]
    # A tie in counts picks the smallest fingerprint (stable across builds).
    add_result(make_result("e", scores={"acc": 0.6}, latency_ms=1.0, fingerprint="m2"), root)
    assert table(build(root))["reference_fingerprint"] == "m1"
    add_result(make_result("f", scores={"acc": 0.6}, latency_ms=1.0, fingerprint="m0"), root)
    add_result(make_result("g", scores={"acc": 0.6}, latency_ms=1.0, fingerprint="m0"), root)
    assert table(build(root))["reference_fingerprint"] == "m0"


def test_pareto_front_known_case():
    pts = {"fast-bad": (1.0, 0.1), "mid": (2.0, 0.5), "slow-good": (10.0, 0.9), "dominated": (3.0, 0.4),
           "tie": (2.0, 0.5)}
    # Equal points do not dominate each other; "dominated" loses to mid (faster and better).
    assert pareto_front(pts, True) == ["fast-bad", "mid", "tie", "slow-good"]
    assert pareto_front({"a": (1.0, 0.1), "b": (2.0, 0.3)}, False) == ["a"]  # lower is better: a dominates
    assert pareto_front({"a": (1.0, 0.3), "b": (2.0, 0.1)}, False) == ["a", "b"]


# ------------------------------------------------------------------------------------- determinism
def test_rebuild_is_byte_identical_and_location_independent(tmp_path):
    root = tmp_path / "s"
    for i, (acc, lat) in enumerate([(0.5, 1.5), (0.7, 2.25), (1 / 3, 4.0)]):
        add_result(make_result(f"m{i}", scores={"acc": acc, "mse": acc / 7}, directions=LOWER, latency_ms=lat), root)
        add_result(make_result(f"m{i}", dataset="shapes", scores={"acc": acc}), root)
    pics = root / "results" / PROTOCOL / "m0" / "1.0" / "sprites"
    pics.mkdir()
    (pics / "swap.png").write_bytes(b"\x89PNG fake")
    (root / "results" / "bad.json").write_text("{")
    build(root, formats=["all"])
    first = digest(root / PROTOCOL)
    assert set(first) >= {"leaderboard.json", "leaderboard.csv", "LEADERBOARD.md", "index.html", "leaderboard.tex",
                          "model-index/m0__1.0.yaml"}
    build(root, formats=["all"])
    assert digest(root / PROTOCOL) == first
    # A copy of the store elsewhere builds the same bytes (links are relative, no absolute paths).
    copy = tmp_path / "elsewhere" / "store"
    shutil.copytree(root, copy, ignore=lambda d, names: [PROTOCOL] if Path(d) == root else [])  # the board only
    build(copy, formats=["all"])
    assert digest(copy / PROTOCOL) == first
    assert str(tmp_path) not in (root / PROTOCOL / "index.html").read_text()


def test_pictures_are_linked_relative_to_the_board(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5}), root)
    add_result(make_result("b", scores={"acc": 0.4}), root)
    pics = root / "results" / PROTOCOL / "a" / "1.0" / "sprites"
    (pics / "gifs").mkdir(parents=True)
    for name in ("swap.png", "gifs/walk.gif", "notes.txt"):
        (pics / name).write_bytes(b"x")
    out = tmp_path / "site"
    report = build(root, out=out)
    rows = rows_by_id(table(report))
    assert rows["a@1.0"]["pictures"] == [f"../../s/results/{PROTOCOL}/a/1.0/sprites/gifs/walk.gif",
                                         f"../../s/results/{PROTOCOL}/a/1.0/sprites/swap.png"]
    assert rows["b@1.0"]["pictures"] == []
    for rel in rows["a@1.0"]["pictures"] + [rows["a@1.0"]["result"]]:
        assert (out / PROTOCOL / rel).resolve().is_file()
    html = (out / PROTOCOL / "index.html").read_text()
    assert f'href="../../s/results/{PROTOCOL}/a/1.0/sprites/swap.png"' in html


def test_html_is_self_contained(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5}), root)
    add_result(make_result("b", scores={"acc": 0.6}, dataset="shapes"), root)
    build(root)
    html = (root / PROTOCOL / "index.html").read_text()
    assert "<script src" not in html and "<link" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<style>" in html and "<script>" in html and "<svg" in html
    assert html.count('role="tab"') == 2 and 'id="table-sprites"' in html and 'id="table-shapes"' in html


def test_stale_model_index_snippets_are_removed(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5}), root)
    b = add_result(make_result("b", scores={"acc": 0.6}), root)
    build(root, formats=["model-index"])
    folder = root / PROTOCOL / "model-index"
    assert sorted(p.name for p in folder.iterdir()) == ["a__1.0.yaml", "b__1.0.yaml"]
    b.unlink()
    build(root, formats=["model-index"])
    assert sorted(p.name for p in folder.iterdir()) == ["a__1.0.yaml"]
    doc = yaml.safe_load((folder / "a__1.0.yaml").read_text())
    (res,) = doc["model-index"][0]["results"]
    assert res["dataset"]["name"] == "sprites" and res["metrics"][0]["type"] == "acc"
    assert res["metrics"][0]["value"] == 0.5 and res["metrics"][0]["args"]["ci95"] == [0.49, 0.51]


def test_latex_escapes_and_bolds_the_best(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("my_model", scores={"acc_100%": 0.5}), root)
    add_result(make_result("other", scores={"acc_100%": 0.6}), root)
    build(root, formats=["latex"])
    tex = (root / PROTOCOL / "leaderboard.tex").read_text()
    assert r"my\_model 1.0" in tex and r"acc\_100\% $\uparrow$" in tex
    assert r"1 & other 1.0 & \textbf{0.600}" in tex and r"2 & my\_model 1.0 & 0.500" in tex


def test_unknown_format_is_refused_before_writing(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a"), root)
    with pytest.raises(LeaderboardError, match="unknown format 'pdf'"):
        build(root, formats=["md,pdf"])
    assert not (root / PROTOCOL).exists()


# ---------------------------------------------------------------------------------------------- diff
def test_diff_reports_added_removed_rank_and_score_changes(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.9}), root)
    add_result(make_result("b", scores={"acc": 0.8}), root)
    gone = add_result(make_result("c", scores={"acc": 0.7}), root)
    build(root, out=tmp_path / "old")
    gone.unlink()
    add_result(make_result("b", scores={"acc": 0.95}), root)
    add_result(make_result("d", scores={"acc": 0.1}), root)
    build(root, out=tmp_path / "new")
    new = load_board(tmp_path / "new" / PROTOCOL / "leaderboard.json")
    d = diff_boards(load_board(tmp_path / "old" / PROTOCOL), new)
    assert d.added == [("sprites", "d@1.0")] and d.removed == [("sprites", "c@1.0")]
    assert d.rank_changes == [("sprites", "a@1.0", 1, 2), ("sprites", "b@1.0", 2, 1)]
    assert d.score_changes == [("sprites", "b@1.0", "acc", 0.8, 0.95)]
    lines = d.lines()
    assert "sprites: b@1.0 acc 0.800 -> 0.950 (+0.15)" in lines and "sprites: added d@1.0" in lines
    same = diff_boards(load_board(tmp_path / "new" / PROTOCOL), load_board(tmp_path / "new" / PROTOCOL))
    assert same.empty and same.lines() == []
    assert json.loads(json.dumps(d.to_dict()))["added"] == [["sprites", "d@1.0"]]


def test_load_board_errors_are_one_line(tmp_path):
    with pytest.raises(LeaderboardError, match="does not exist"):
        load_board(tmp_path / "missing")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(LeaderboardError, match="not valid JSON"):
        load_board(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"protocol": "p"}))
    with pytest.raises(LeaderboardError, match="not a msd-bench leaderboard"):
        load_board(tmp_path / "y.json")


def test_board_csv_parses_back(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5, "mse": 0.2}, directions=LOWER), root)
    add_result(make_result("b", dataset="shapes", scores={"f1": 0.7}), root)
    build(root, formats=["csv"])
    rows = list(csv.DictReader(io.StringIO((root / PROTOCOL / "leaderboard.csv").read_text())))
    assert [(r["dataset"], r["submission"]) for r in rows] == [("shapes", "b"), ("sprites", "a")]
    assert rows[0]["f1"] == "0.7" and rows[0]["acc"] == "" and rows[1]["acc"] == "0.5"
    assert rows[1]["acc.ci_low"] == "0.49" and rows[1]["timing_comparable"] == "true"


def test_model_index_text_is_the_same_with_or_without_libyaml(tmp_path, monkeypatch):
    from msd_bench.leaderboard.export import model_index_files

    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.1 + 0.2, "tiny": 1e-9, "mse": 12345.678}, directions=LOWER), root)
    add_result(make_result("a", dataset="shapes", scores={"acc": 1 / 3}), root)
    board = build(root, formats=["json"]).boards[PROTOCOL]
    fast = model_index_files(board)
    monkeypatch.delattr(yaml, "CSafeDumper", raising=False)
    assert model_index_files(board) == fast
    doc = yaml.safe_load(fast["a__1.0.yaml"])
    assert [r["dataset"]["name"] for r in doc["model-index"][0]["results"]] == ["shapes", "sprites"]


def test_html_escapes_names_and_draws_degenerate_plots(tmp_path):
    from msd_bench.leaderboard.html import pareto_svg

    root = tmp_path / "s"
    add_result(make_result("a", scores={"<b>x</b>": 0.5}, latency_ms=2.0), root)
    add_result(make_result("b", scores={"<b>x</b>": 0.5}, latency_ms=2.0), root)  # identical point
    board = build(root).boards[PROTOCOL]
    html = (root / PROTOCOL / "index.html").read_text()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    t = board["datasets"]["sprites"]
    svg = pareto_svg(t, t["key_scores"][0], True)
    assert svg.count("<circle") == 2 and "nan" not in svg and "inf" not in svg
    single = {**t, "entries": t["entries"][:1]}
    assert pareto_svg(single, t["key_scores"][0], True).count("<circle") == 1
    empty = {**t, "entries": []}
    assert "no comparable timing" in pareto_svg(empty, t["key_scores"][0], True)


def test_diff_says_when_protocols_differ(tmp_path):
    root = tmp_path / "s"
    add_result(make_result("a", scores={"acc": 0.5}), root)
    add_result(make_result("b", scores={"acc": 0.5}, protocol="msd-bench-0"), root)
    report = build(root)
    d = diff_boards(report.boards["msd-bench-0"], report.boards[PROTOCOL])
    assert d.lines()[0] == f"protocol: msd-bench-0 -> {PROTOCOL} (boards of different protocols)"
    assert d.added == [("sprites", "a@1.0")] and d.removed == [("sprites", "b@1.0")]


def _terminal_board(tmp_path):
    root = tmp_path / "s"
    heads = {"static_dynamic_swap.accuracy.mean": 0.8, "msd.multi_factor_swap": 0.6,
             "reconstruction.judge_accuracy.mean": 0.9}
    for i, name in enumerate(("content-motion-vae", "dsvae", "lambda-beta-vae")):
        add_result(make_result(name, "2.0.0", scores={k: v - 0.1 * i for k, v in heads.items()}, fmt="torch",
                               parameters=785_571), root)
    add_result(make_result("dsvae", "2.0.0", dataset="a-first-by-name", scores=heads), root)
    report = build_leaderboard(root, revisions=example_revisions(("sprites", "a-first-by-name")), formats=["json"])
    return report.boards[PROTOCOL]  # the default key scores: the three headlines, ranked by the rank rule


@pytest.mark.parametrize("width", [80, 100, 120, 160, 400])
def test_terminal_board_fits_the_width_with_a_legend_and_the_rank_rule(tmp_path, width):
    from rich.console import Console

    from msd_bench.leaderboard.build import main_first, terminal_table

    board = _terminal_board(tmp_path)
    tables = main_first(board["datasets"])
    assert list(tables) == ["sprites", "a-first-by-name"]  # the protocol's main dataset first
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(terminal_table("sprites", tables["sprites"], PROTOCOL, width))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= width
    flat = " ".join(text.split())
    assert "Rank rule." in flat and "headline-mean-rank/1" in flat
    for name in ("content-motion-vae", "lambda-beta-vae", "0.800"):  # never cut mid-word
        assert name in text
    header = next(line for line in text.splitlines() if "rank" in line and "submission" in line)
    if "K1" in header:  # abbreviated: whole short names, and a legend naming the long ones
        assert "K1 ↑" in header and "K3 ↑" in header
        assert "K1 = static_dynamic_swap.accuracy.mean" in flat and "K3 = reconstruction.judge_accuracy.mean" in flat
    else:
        assert width >= 160 and "Columns:" not in flat
        assert "static_dynamic_swap.accuracy.mean ↑" in header and "parameters" in header
    if width <= 100:
        assert "Left out to fit" in flat and "date" in flat.split("Left out to fit", 1)[1]
    if width == 400:
        assert "[0.790, 0.810] (#1)" in text and "2026-11-01" in text
