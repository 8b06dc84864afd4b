"""`msd-bench leaderboard build | show | diff | check`: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from msd_bench import PROTOCOL
from msd_bench.cli import app
from msd_bench.leaderboard import add_result
from msd_bench.leaderboard import store as store_mod
from msd_bench.testing import example_revisions, make_result

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(store_mod, "current_revisions", lambda names: example_revisions(("sprites", "shapes")))


@pytest.fixture()
def store(tmp_path):
    root = tmp_path / "store"
    add_result(make_result("model-a", scores={"acc": 0.9}), root)
    add_result(make_result("model-b", scores={"acc": 0.8}), root)
    add_result(make_result("model-a", dataset="shapes", scores={"acc": 0.4}), root)
    return root


def one_error_line(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_build_writes_the_four_files(store):
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store)])
    assert r.exit_code == 0, r.output
    out = store / PROTOCOL
    assert sorted(p.name for p in out.iterdir()) == ["LEADERBOARD.md", "index.html", "leaderboard.csv",
                                                     "leaderboard.json"]
    board = json.loads((out / "leaderboard.json").read_text())
    assert [e["id"] for e in board["datasets"]["sprites"]["entries"]] == ["model-a@1.0", "model-b@1.0"]
    assert "sprites" in r.stdout and "shapes" in r.stdout


def test_build_with_out_and_all_formats(store, tmp_path):
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store), "--out", str(tmp_path / "site"),
                            "--format", "all"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "site" / PROTOCOL
    assert (out / "leaderboard.tex").is_file() and (out / "model-index" / "model-a__1.0.yaml").is_file()
    assert not (store / PROTOCOL).exists()


def test_build_only_latex(store):
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store), "-f", "latex"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (store / PROTOCOL).iterdir()) == ["leaderboard.tex"]


def test_missing_store_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nowhere"
    for cmd in (["build"], ["show"], ["check"]):
        r = runner.invoke(app, ["leaderboard", *cmd, "--store", str(missing)])
        assert r.exit_code == 2, (cmd, r.output)
        line = one_error_line(r)
        assert f"leaderboard store {missing} does not exist" in line
    assert not missing.exists()


def test_bad_file_is_reported_and_skipped_build_still_succeeds(store):
    bad = store / "results" / PROTOCOL / "model-c" / "1.0" / "sprites.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{")
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert f"malformed: {bad}: malformed JSON" in r.stderr
    board = json.loads((store / PROTOCOL / "leaderboard.json").read_text())
    assert len(board["datasets"]["sprites"]["entries"]) == 2
    assert board["problems"][0].startswith(f"malformed: results/{PROTOCOL}/model-c/1.0/sprites.json: malformed JSON")
    strict = runner.invoke(app, ["leaderboard", "build", "--store", str(store), "--strict"])
    assert strict.exit_code == 1


def test_unknown_format_and_protocol_exit_2_without_writing(store):
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store), "--format", "pdf"])
    assert r.exit_code == 2 and "unknown format 'pdf'" in one_error_line(r)
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(store), "--protocol", "msd-bench-9"])
    assert r.exit_code == 2
    assert f"protocols present: {PROTOCOL}" in one_error_line(r)
    assert not (store / PROTOCOL).exists() and not (store / "msd-bench-9").exists()


def test_empty_store_builds_nothing(tmp_path):
    r = runner.invoke(app, ["leaderboard", "build", "--store", str(tmp_path)])
    assert r.exit_code == 0 and "nothing written" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_show_prints_the_rich_table(store):
    r = runner.invoke(app, ["leaderboard", "show", "--store", str(store), "--dataset", "sprites"])
    assert r.exit_code == 0, r.output
    assert "model-a 1.0" in r.stdout and "model-b 1.0" in r.stdout and "0.900 [0.890, 0.910]" in r.stdout
    assert "shapes" not in r.stdout
    assert not (store / PROTOCOL).exists()  # show writes nothing
    both = runner.invoke(app, ["leaderboard", "show", "--store", str(store)])
    assert "sprites" in both.stdout and "shapes" in both.stdout
    as_json = runner.invoke(app, ["leaderboard", "show", "--store", str(store), "--json", "-d", "shapes"])
    assert list(json.loads(as_json.stdout)["datasets"]) == ["shapes"]


def test_show_unknown_dataset_or_protocol_exit_2(store):
    r = runner.invoke(app, ["leaderboard", "show", "--store", str(store), "--dataset", "mnist"])
    assert r.exit_code == 2 and "no results for dataset 'mnist'" in one_error_line(r)
    r = runner.invoke(app, ["leaderboard", "show", "--store", str(store), "--protocol", "msd-bench-0"])
    assert r.exit_code == 2 and "pass --protocol" in one_error_line(r)


def test_diff_between_two_builds(store, tmp_path):
    build = ["leaderboard", "build", "--store", str(store), "--out"]
    assert runner.invoke(app, [*build, str(tmp_path / "a")]).exit_code == 0
    add_result(make_result("model-b", scores={"acc": 0.99}), store)
    add_result(make_result("model-n", scores={"acc": 0.1}), store)
    assert runner.invoke(app, [*build, str(tmp_path / "b")]).exit_code == 0
    old, new = tmp_path / "a" / PROTOCOL, tmp_path / "b" / PROTOCOL
    r = runner.invoke(app, ["leaderboard", "diff", str(old), str(new)])
    assert r.exit_code == 0, r.output
    for text in ("sprites: added model-n@1.0", "sprites: model-a@1.0 rank 1 -> 2", "model-b@1.0 acc 0.800 -> 0.990"):
        assert text in r.stdout
    r = runner.invoke(app, ["leaderboard", "diff", str(old), str(old / "leaderboard.json")])
    assert r.exit_code == 0 and "no changes" in r.stdout
    r = runner.invoke(app, ["leaderboard", "diff", "--json", str(old), str(new)])
    assert json.loads(r.stdout)["added"] == [["sprites", "model-n@1.0"]]


def test_diff_bad_inputs_exit_2(tmp_path):
    r = runner.invoke(app, ["leaderboard", "diff", str(tmp_path / "x"), str(tmp_path / "y")])
    assert r.exit_code == 2 and "does not exist" in one_error_line(r)
    (tmp_path / "bad.json").write_text("[]")
    r = runner.invoke(app, ["leaderboard", "diff", str(tmp_path / "bad.json"), str(tmp_path / "bad.json")])
    assert r.exit_code == 2 and "not a msd-bench leaderboard" in one_error_line(r)


def test_check_lists_problems_and_exits_1(store):
    r = runner.invoke(app, ["leaderboard", "check", "--store", str(store)])
    assert r.exit_code == 0 and "3 usable results, 0 problems" in r.stdout
    add_result(make_result("model-old", protocol="msd-bench-0"), store)
    (store / "results" / "stray.json").write_text("{}")
    r = runner.invoke(app, ["leaderboard", "check", "--store", str(store)])
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("needs_rerun: ") and lines[0].endswith("rerun: `msd-bench submit submissions/model-old`")
    assert lines[1].startswith("stray: ") and lines[2] == "4 usable results, 2 problems"


def test_help_teaches(store):
    r = runner.invoke(app, ["leaderboard", "build", "--help"])
    assert r.exit_code == 0 and "Example" in r.stdout and "byte-identical" in r.stdout
