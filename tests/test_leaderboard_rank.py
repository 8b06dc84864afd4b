"""The rank rule: an oracle ranks first and a shuffled-latent model last on the board built from their results.

The results come from real metric computations in the synthetic world of ``test_metrics_interventions``
(an exact judge; an oracle whose latents are the factors and whose decoder renders them; a model whose
static code also carries the motion, so its swaps move the wrong factor; a model whose decoder drops the
colour; and the shuffled model, whose latents belong to another sequence). The old default key scores
(MIG, MSE, the all-cell multi-swap error, ...) are written too, to show they no longer decide the rank.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_metrics_interventions as W  # the synthetic world (tests/ is on sys.path under pytest)
import torch

from msd_bench.harness.interface import Latents
from msd_bench.leaderboard import add_result, build_leaderboard
from msd_bench.leaderboard.build import board_markdown, rule_lines
from msd_bench.leaderboard.ranking import HEADLINES, RANK_RULE_ID
from msd_bench.metrics import interventions as I
from msd_bench.metrics import msd as M
from msd_bench.testing import example_revisions, make_result, make_score


class Entangled(W.Oracle):
    """Static channel 1 holds shape and motion (4 * motion + shape); the dynamic code is constant."""

    def encode(self, x: torch.Tensor) -> Latents:
        z = super().encode(x)
        shape_motion = z.static[:, 1] + 4 * z.dynamic[:, 0, 0]
        return Latents(torch.stack([z.static[:, 0], shape_motion], 1), torch.zeros_like(z.dynamic))

    def decode(self, z: Latents) -> torch.Tensor:
        code = z.static[:, 1].round().clamp(0, 11).long()
        color = z.static[:, 0].round().clamp(0, 2).long()
        motion = (code // 4)[:, None].expand(-1, W.T)
        return W.render(color, code % 4, motion)


class Colourless(W.Oracle):
    """Disentangled, but its decoder always draws colour 0."""

    def decode(self, z: Latents) -> torch.Tensor:
        return super().decode(Latents(torch.cat([torch.zeros_like(z.static[:, :1]), z.static[:, 1:]], 1), z.dynamic))


def _scores(model, x, y) -> dict:
    judge = W.ExactJudge()
    tfs = I.two_factor_swap(model, judge, x, y, W.FACTORS, n=600, seed=1)
    msd = M.msd_interventions(model, judge, x, y, W.FACTORS, W.CHANNELS, mode="swap", n=600, seed=1)
    mfs = I.multi_factor_swap(model, judge, x, y, W.FACTORS, W.CHANNELS, mode="swap", n=600, seed=1)
    with torch.no_grad():
        xh = model.decode(model.encode(x))
    out = judge(xh)
    rec = np.mean([(out.sequence[f.name].argmax(1) == y[:, f.index]).double().mean().item() for f in W.FACTORS])
    return {
        "static_dynamic_swap.accuracy.mean": make_score(np.mean([tfs[f.name]["accuracy"].value for f in W.FACTORS]),
                                                        version="2"),
        "msd.multi_factor_swap": make_score(msd["multi_factor"].value),
        "reconstruction.judge_accuracy.mean": make_score(float(rec)),
        # scores that used to rank (and put an entangled model first on sprites); now shown only
        "multi_swap.cell_error": make_score(mfs["cell_error"].value, higher_is_better=False, version="2"),
        "mse": make_score(float(((xh - x) ** 2).mean()), higher_is_better=False),
    }


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    x, y = W.make_world(600, 0)
    root = tmp_path_factory.mktemp("store")
    models = {"oracle": W.Oracle(), "entangled": Entangled(), "colourless": Colourless(), "shuffled": W.Shuffled()}
    for name, model in models.items():
        add_result(make_result(name, scores=_scores(model, x, y)), root)
    report = build_leaderboard(root, revisions=example_revisions(), formats=["all"])
    return report, root


def test_oracle_first_shuffled_last_on_the_built_board(board):
    report, _ = board
    t = next(iter(report.boards.values()))["datasets"]["sprites"]
    order = [row["submission"] for row in t["entries"]]
    assert order[0] == "oracle" and order[-1] == "shuffled", order
    rows = {row["submission"]: row for row in t["entries"]}
    assert rows["oracle"]["rank"] == 1 and rows["shuffled"]["rank"] == 4
    # the ranked scores are exactly the headline scores, one per idea, and every per-metric rank is shown
    assert [k["name"] for k in t["key_scores"]] == [h.name for h in HEADLINES]
    assert set(rows["oracle"]["metric_ranks"]) == {h.name for h in HEADLINES}
    assert all(r == 4 for r in rows["shuffled"]["metric_ranks"].values())


def test_rule_is_printed_on_every_board(board):
    report, root = board
    proto = next(iter(report.boards))
    t = report.boards[proto]["datasets"]["sprites"]
    rule = t["rank_rule"]
    assert rule["id"] == RANK_RULE_ID and rule["source"] == "headlines" and not rule["absent"]
    assert [m["name"] for m in rule["metrics"]] == [h.name for h in HEADLINES]
    md = (root / proto / "LEADERBOARD.md").read_text()
    html = (root / proto / "index.html").read_text()
    for h in HEADLINES:
        assert f"`{h.name}`" in md and h.idea in md and h.idea in html
    assert "**Rank rule.**" in md and RANK_RULE_ID in md and "Rank rule." in html
    assert "(#1)" in md and '<span class="mr">(#1)</span>' in html  # per-metric ranks in the cells
    assert rule_lines(t)[0] == rule["text"]
    assert f"% sprites: {rule['text']}" in (root / proto / "leaderboard.tex").read_text()
    csv_text = (root / proto / "leaderboard.csv").read_text()
    assert "msd.multi_factor_swap.rank" in csv_text.splitlines()[0]
    assert board_markdown(report.boards[proto]) == md


def test_show_prints_the_rule(board, monkeypatch):
    from typer.testing import CliRunner

    from msd_bench.cli import app
    from msd_bench.leaderboard import store as store_mod

    _, root = board
    monkeypatch.setattr(store_mod, "current_revisions", lambda names: example_revisions())
    res = CliRunner().invoke(app, ["leaderboard", "show", "--store", str(root), "--dataset", "sprites"],
                             env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Rank rule." in res.output and RANK_RULE_ID in res.output
    for h in HEADLINES:
        assert h.name in res.output


def test_old_results_are_read_under_their_new_names(tmp_path):
    old = make_result("old", scores={"two_factor_swap.accuracy.mean": 0.8, "reconstruction.judge_accuracy.mean": 0.9,
                                     "multi_swap.error": make_score(0.1, higher_is_better=False)})
    new = make_result("new", scores={"static_dynamic_swap.accuracy.mean": make_score(0.7, version="2"),
                                     "reconstruction.judge_accuracy.mean": 0.95})
    add_result(old, tmp_path)
    add_result(new, tmp_path)
    report = build_leaderboard(tmp_path, revisions=example_revisions(), formats=["json"])
    t = next(iter(report.boards.values()))["datasets"]["sprites"]
    rows = {row["submission"]: row for row in t["entries"]}
    s = rows["old"]["scores"]["static_dynamic_swap.accuracy.mean"]
    assert s["value"] == 0.8 and s["renamed_from"] == "two_factor_swap.accuracy.mean" and s["version"] == "2"
    assert rows["old"]["scores"]["multi_swap.cell_error"]["renamed_from"] == "multi_swap.error"
    assert rows["old"]["rank"] is not None and rows["new"]["rank"] is not None  # both ranked, one table
    assert t["rank_rule"]["absent"] == ["msd.multi_factor_swap"]
