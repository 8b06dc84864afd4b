"""The results store: atomic writes at the right place, and one-line reports of every bad-store case."""

from __future__ import annotations

import json
import shutil

import pytest
from pydantic import ValidationError

from msd_bench import PROTOCOL
from msd_bench.harness.results import read_result
from msd_bench.leaderboard import (
    DatasetRevision,
    LeaderboardError,
    Revisions,
    add_result,
    current_revisions,
    result_path,
    scan_store,
)
from msd_bench.testing import example_revisions, make_result


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def store(tmp_path):
    root = tmp_path / "store"
    add_result(make_result("model-a", scores={"acc": 0.9}), root)
    add_result(make_result("model-b", scores={"acc": 0.8}), root)
    return root


def scan(root, rev=None):
    return scan_store(root, rev or example_revisions())


def names(entries):
    return [e.result.submission.name for e in entries]


def only(problems, kind):
    found = [p for p in problems if p.kind == kind]
    assert len(found) == 1, [p.line() for p in problems]
    return found[0]


def test_add_result_writes_atomically_at_its_place(tmp_path):
    r = make_result("model-a", version="2.1", dataset="sprites")
    path = add_result(r, tmp_path / "lb")
    assert path == tmp_path / "lb" / "results" / PROTOCOL / "model-a" / "2.1" / "sprites.json"
    assert read_result(path) == r
    assert sorted(p.name for p in path.parent.iterdir()) == ["sprites.json"]  # no temporary file left
    # Replacing the result of the same key keeps one file.
    r2 = make_result("model-a", version="2.1", scores={"acc": 0.1})
    assert add_result(r2, tmp_path / "lb") == path
    assert read_result(path).scores["acc"].value == 0.1


@pytest.mark.parametrize("field,value", [("version", "1/2"), ("version", ".."), ("name", ".hidden"),
                                         ("version", "../../../../outside")])
def test_add_result_refuses_names_that_are_not_folder_names(tmp_path, field, value):
    # the schema refuses such a name (one rule: harness.manifest.NAME_PATTERN) ...
    with pytest.raises(ValidationError, match="should match pattern"):
        make_result(**{"submission" if field == "name" else field: value})
    # ... and add_result refuses a record built without validation
    r = make_result()
    r.submission = r.submission.model_copy(update={field: value})
    with pytest.raises(LeaderboardError, match="cannot be a folder name"):
        add_result(r, tmp_path / "lb")
    assert not (tmp_path / "lb").exists() or not any((tmp_path / "lb").rglob("*.json"))


def test_results_are_keyed_by_protocol_on_disk(tmp_path):
    root = tmp_path / "lb"
    one = add_result(make_result("model-a", protocol="msd-bench-1"), root)
    two = add_result(make_result("model-a", protocol="msd-bench-2"), root)
    assert one == root / "results" / "msd-bench-1" / "model-a" / "1.0" / "sprites.json"
    assert two == root / "results" / "msd-bench-2" / "model-a" / "1.0" / "sprites.json"
    entries, problems = scan_store(root, example_revisions(protocol="msd-bench-2"))
    assert sorted(e.key for e in entries) == [("msd-bench-1", "model-a", "1.0", "sprites"),
                                              ("msd-bench-2", "model-a", "1.0", "sprites")]
    assert [p.kind for p in problems] == ["needs_rerun"] and problems[0].path == one  # kept in its own table


def test_protocol_path_escape_is_malformed_and_never_written_outside(store, tmp_path):
    # issue 18, item 2: a stored result with "protocol": "../../../outside"
    path = result_path(store, "model-a", "1.0", "sprites")
    data = json.loads(path.read_text())
    data["protocol"] = "../../../outside"
    path.write_text(json.dumps(data))
    entries, problems = scan(store)
    assert names(entries) == ["model-b"]
    p = only(problems, "malformed")
    assert p.path == path and "protocol" in p.message and "../../../outside" in p.message and p.skipped
    from msd_bench.leaderboard import build_leaderboard

    before = {q for q in tmp_path.rglob("*")}
    report = build_leaderboard(store, revisions=example_revisions())
    after = {q for q in tmp_path.rglob("*")}
    assert all(q.is_relative_to(store) for q in after - before)
    assert all(q.is_relative_to(store) for q in report.written)
    assert not (tmp_path.parent / "outside").exists() and not (store.parent / "outside").exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_inf_score_is_malformed(store, value):
    path = result_path(store, "model-a", "1.0", "sprites")
    text = path.read_text().replace('"value": 0.9', f'"value": {value}')
    assert value in text
    path.write_text(text)
    entries, problems = scan(store)
    assert names(entries) == ["model-b"]
    p = only(problems, "malformed")
    assert "scores.acc.value" in p.message and "finite" in p.message


def test_clean_store_has_no_problem(store):
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    assert problems == []


def test_missing_store_is_one_line_error(tmp_path):
    with pytest.raises(LeaderboardError) as exc:
        scan_store(tmp_path / "nope", example_revisions())
    msg = str(exc.value)
    assert "\n" not in msg and "does not exist" in msg
    assert "results/<protocol>/<submission>/<version>/<dataset>.json" in msg


def test_store_without_results_folder_is_empty(tmp_path):
    assert scan_store(tmp_path, example_revisions()) == ([], [])


def test_malformed_json_is_reported_in_one_line_and_skipped(store):
    bad = store / "results" / PROTOCOL / "model-c" / "1.0" / "sprites.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"protocol": ')
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    p = only(problems, "malformed")
    assert p.path == bad and p.skipped
    line = p.line()
    assert "\n" not in line and str(bad) in line and "malformed JSON" in line and line.endswith("(skipped)")


def test_schema_invalid_result_names_the_field(store):
    path = result_path(store, "model-a", "1.0", "sprites")
    data = json.loads(path.read_text())
    del data["submission"]["static_dim"]
    path.write_text(json.dumps(data))
    entries, problems = scan(store)
    assert names(entries) == ["model-b"]
    p = only(problems, "malformed")
    assert "submission.static_dim" in p.line() and "not a msd-bench result" in p.line()


def test_non_utf8_and_non_object_files_are_malformed(store):
    d = store / "results" / PROTOCOL / "model-x" / "1.0"
    d.mkdir(parents=True)
    (d / "sprites.json").write_bytes(b"\xff\xfe\x00")
    (d / "shapes.json").write_text("[1, 2]")
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    assert sorted(p.path.name for p in problems if p.kind == "malformed") == ["shapes.json", "sprites.json"]


def test_stray_and_hidden_files(store):
    (store / "results" / "notes.json").write_text("{}")
    hidden = store / "results" / PROTOCOL / "model-a" / "1.0" / ".sprites.json.tmp.json"
    hidden.write_text("{")  # an atomic write in progress: ignored
    working = store / "results" / PROTOCOL / "model-a" / "1.0" / "sprites" / "result.json"
    working.parent.mkdir()
    working.write_text("{")  # an evaluation's resumable working copy next to the pictures: ignored
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    p = only(problems, "stray")
    assert p.path.name == "notes.json" and len(problems) == 1


def test_misplaced_result_is_reported_with_its_expected_path(store):
    src = result_path(store, "model-b", "1.0", "sprites")
    dst = store / "results" / PROTOCOL / "model-z" / "1.0" / "sprites.json"
    dst.parent.mkdir(parents=True)
    shutil.move(src, dst)
    entries, problems = scan(store)
    assert names(entries) == ["model-a"]
    p = only(problems, "misplaced")
    assert p.path == dst and str(src) in p.message


def test_copy_of_a_result_is_a_duplicate(store):
    src = result_path(store, "model-a", "1.0", "sprites")
    dst = store / "results" / PROTOCOL / "model-a" / "1.0-copy" / "sprites.json"
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    assert entries[0].path == src
    p = only(problems, "duplicate")
    assert p.path == dst and f"already at {src}" in p.message


def test_copied_result_with_the_same_hash_does_not_knock_the_real_entry_off(store):
    # issue 18, item 5: a copy of model-a's result, renamed to sit at another canonical path (same
    # submission hash, same start time) must not remove model-a from the board.
    src = result_path(store, "model-a", "1.0", "sprites")
    data = json.loads(src.read_text())
    data["submission"]["name"] = "aaa-copy"  # sorts before model-a
    dst = result_path(store, "aaa-copy", "1.0", "sprites")
    dst.parent.mkdir(parents=True)
    dst.write_text(json.dumps(data))
    entries, problems = scan(store)
    assert "model-a" in names(entries)
    dups = [p for p in problems if p.kind == "duplicate"]
    assert sorted(p.path for p in dups) == sorted([src, dst])
    assert all(not p.skipped and "a copied result?" in p.message for p in dups)


def test_same_artefacts_under_a_new_version_keep_the_earliest(store):
    first = make_result("model-a", "1.0", scores={"acc": 0.9})
    again = make_result(
        "model-a", "1.1", scores={"acc": 0.9}, submission_hash=first.submission.submission_hash,
        started_at="2026-11-05T00:00:00+00:00",
    )
    path = add_result(again, store)
    entries, problems = scan(store)
    assert [(e.result.submission.name, e.result.submission.version) for e in entries] == [
        ("model-a", "1.0"), ("model-b", "1.0")
    ]
    p = only(problems, "duplicate")
    assert p.path == path and "same submission hash" in p.message


def test_old_protocol_needs_rerun_but_keeps_its_own_table(store):
    old = add_result(make_result("model-old", protocol="msd-bench-0"), store)
    entries, problems = scan(store)
    assert "model-old" in names(entries)
    e = next(e for e in entries if e.result.submission.name == "model-old")
    assert e.needs_rerun
    p = only(problems, "needs_rerun")
    assert p.path == old and not p.skipped
    assert "msd-bench-0" in p.message and PROTOCOL in p.message
    assert "`msd-bench submit submissions/model-old`" in p.message


@pytest.mark.parametrize(
    "change,expect",
    [
        ({"dataset_version": "0.9"}, "version 0.9, current 1.0"),
        ({"size": "tiny"}, "not a current size"),
        ({"judge_sha": ("d" * 64,)}, "do not match the current sprites judge"),
    ],
)
def test_changed_dataset_or_judge_needs_rerun_and_is_skipped(store, change, expect):
    stale = add_result(make_result("model-c", **change), store)
    entries, problems = scan(store)
    assert names(entries) == ["model-a", "model-b"]
    p = only(problems, "needs_rerun")
    assert p.path == stale and p.skipped and expect in p.message
    assert p.message.endswith("rerun: `msd-bench submit submissions/model-c`")


def test_changed_content_hash_needs_rerun(store):
    rev = example_revisions()
    rev.datasets["sprites"] = DatasetRevision("1.0", {"full": "f" * 64})
    entries, problems = scan(store, rev)
    assert entries == []
    assert [p.kind for p in problems] == ["needs_rerun", "needs_rerun"]
    assert all("content hash" in p.message for p in problems)


def test_hub_submission_rerun_pins_the_commit(store):
    r = make_result("model-h", judge_sha=("d" * 64,))
    r.submission.uri = "hf://org/model-h"
    r.submission.hub_commit = "0123abc"
    add_result(r, store)
    _, problems = scan(store)
    assert only(problems, "needs_rerun").message.endswith("`msd-bench submit hf://org/model-h@0123abc`")


def test_unknown_judge_is_reported_but_kept(store):
    rev = Revisions(
        protocol=PROTOCOL,
        datasets=example_revisions().datasets,
        judges={},
        missing={"sprites": "judge unknown (no judge for dataset 'sprites')"},
    )
    entries, problems = scan(store, rev)
    assert names(entries) == ["model-a", "model-b"]
    assert [p.kind for p in problems] == ["unchecked", "unchecked"]
    assert not any(p.skipped for p in problems)
    assert "judge unknown" in problems[0].line()


def test_current_revisions_tolerates_missing_judges_and_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_JUDGES", str(tmp_path / "no-judges"))
    rev = current_revisions(["sprites", "no-such-dataset"])
    assert rev.protocol == PROTOCOL
    assert "judge unknown" in rev.missing["sprites"]
    assert "dataset revision unknown" in rev.missing["no-such-dataset"]
    from msd_bench.datasets import get_spec

    spec = get_spec("sprites")
    assert rev.datasets["sprites"] == DatasetRevision(str(spec.version), dict(spec.content_hashes))
    assert "no-such-dataset" not in rev.datasets and rev.judges == {}


def test_problems_are_sorted_and_each_one_line(store):
    for i, text in enumerate(["{", "[]", "null"]):
        d = store / "results" / f"bad-{i}" / "1.0"
        d.mkdir(parents=True)
        (d / "sprites.json").write_text(text)
    _, problems = scan(store)
    assert [p.path.parent.parent.name for p in problems] == ["bad-0", "bad-1", "bad-2"]
    assert all("\n" not in p.line() for p in problems)
