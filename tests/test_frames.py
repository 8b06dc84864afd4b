"""pandas frames: Result.to_frame() and the store / board frames of msd_bench.leaderboard.frames."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from msd_bench.leaderboard import add_result, build_leaderboard, scan_store
from msd_bench.leaderboard.frames import ENTRY_COLUMNS, board_frame, entries_frame, scores_frame
from msd_bench.testing import example_revisions, make_result

REPO = Path(__file__).resolve().parents[1]


def test_result_to_frame():
    r = make_result("model-a", scores={"acc": 0.9, "mse": 0.1, "na": None})
    f = r.to_frame()
    assert list(f.index) == ["acc", "mse", "na"] and f.index.name == "metric"
    assert f.loc["acc", "value"] == 0.9 and f.loc["acc", "ci_low"] == pytest.approx(0.89)
    assert f.loc["na", "status"] == "not_applicable" and math.isnan(f.loc["na", "value"])
    assert set(f["submission"]) == {"model-a"} and set(f["dataset"]) == {"sprites"}


def test_store_frames(tmp_path):
    add_result(make_result("model-a", scores={"acc": 0.9, "status": 0.5}), tmp_path)
    add_result(make_result("model-b", scores={"acc": 0.8, "mse": 0.2}), tmp_path)
    entries, problems = scan_store(tmp_path, example_revisions())
    assert not problems
    wide = entries_frame(entries)
    assert list(wide.columns[: len(ENTRY_COLUMNS)]) == ENTRY_COLUMNS
    assert list(wide["submission"]) == ["model-a", "model-b"] and list(wide["acc"]) == [0.9, 0.8]
    assert "score:status" in wide.columns  # a metric named like a fixed column keeps a prefix
    assert math.isnan(wide.loc[0, "mse"])
    long = scores_frame(entries)
    assert len(long) == 4 and set(long["metric"]) == {"acc", "status", "mse"}
    assert scores_frame([]).empty


def test_board_frame_of_a_built_board(tmp_path):
    for name, acc in (("a", 0.5), ("b", 0.9)):
        add_result(make_result(name, scores={"acc": acc}), tmp_path)
    report = build_leaderboard(tmp_path, revisions=example_revisions(), formats=["json"])
    (board,) = report.boards.values()
    f = board_frame(board, "sprites")
    assert list(f.columns[:4]) == ["rank", "id", "submission", "version"] and list(f["submission"]) == ["b", "a"]
    assert list(f["acc"]) == [0.9, 0.5]
    with pytest.raises(Exception, match="no table 'nope'"):
        board_frame(board, "nope")


def test_board_frame_of_the_committed_board():
    f = board_frame(REPO / "leaderboard" / "msd-bench-1", "dsprites-dynamic")
    assert len(f) == 7 and list(f["rank"]) == sorted(f["rank"]) and "two_factor_swap.accuracy.mean" in f.columns
