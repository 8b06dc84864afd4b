"""`msd-bench leaderboard card`: a result's scores as a model card's model-index, read back with huggingface_hub."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.harness.results import write_result
from msd_bench.leaderboard.card import CardError, card_for, eval_results
from msd_bench.testing import make_result, make_score

runner = CliRunner()
SCORES = {
    "static_dynamic_swap.accuracy.mean": 0.81,
    "msd.multi_factor_swap": 0.62,
    "reconstruction.judge_accuracy.mean": 0.97,
    "mse": make_score(0.004, higher_is_better=False, ci=None, n=64),
    "generation.sample_static.accuracy": make_score(None, status="not_applicable"),
}


@pytest.fixture
def result_file(tmp_path) -> Path:
    return write_result(make_result("my-model", "1.2.0", scores=SCORES), tmp_path / "result.json")


def _no_token_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # no stored login either
    env["HF_TOKEN_PATH"] = str(tmp_path / "hf-home" / "token")
    return env


def _scored(result) -> dict[str, float]:
    return {k: s.value for k, s in result.scores.items() if s.status == "ok" and s.value is not None}


def test_card_written_and_read_back_with_huggingface_hub(result_file, tmp_path):
    out = tmp_path / "README.md"
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "my-lab/my-model", "--out", str(out)])
    assert r.exit_code == 0, r.output
    card = ModelCard.load(out)
    got = card.data.eval_results
    assert all(isinstance(e, EvalResult) for e in got)
    assert {e.metric_type: e.metric_value for e in got} == _scored(make_result("my-model", "1.2.0", scores=SCORES))
    assert "generation.sample_static.accuracy" not in {e.metric_type for e in got}  # n/a: no number on a card
    e = next(e for e in got if e.metric_type == "msd.multi_factor_swap")
    assert (e.task_type, e.dataset_type, e.dataset_name, e.dataset_config, e.dataset_split) == (
        "sequential-disentanglement", "msd-bench/sprites", "sprites", "full", "test")
    assert e.metric_args["ci95"] == pytest.approx([0.61, 0.63]) and e.metric_args["n"] == 100
    assert e.metric_args["protocol"] == make_result().protocol
    assert "ci95" not in next(x for x in got if x.metric_type == "mse").metric_args
    assert card.data.model_name == "my-model-1.2.0" and "msd-bench" in card.data.tags
    assert "msd.multi_factor_swap" in card.text and "hf://my-lab/my-model" in card.text
    # the raw YAML header is a model-index huggingface_hub parses (ModelCard.validate would ask the Hub: offline here)
    import yaml
    from huggingface_hub.repocard_data import model_index_to_eval_results

    header = yaml.safe_load(out.read_text().split("---\n")[1])
    name, parsed = model_index_to_eval_results(header["model-index"])
    assert name == "my-model-1.2.0" and parsed == got


def test_existing_card_keeps_its_text_and_other_results(result_file, tmp_path):
    old = [
        EvalResult(task_type="sequential-disentanglement", dataset_type="msd-bench/sprites", dataset_name="sprites",
                   dataset_config="full", dataset_split="test", metric_type="mse", metric_name="mse", metric_value=0.5),
        EvalResult(task_type="image-classification", dataset_type="cifar10", dataset_name="CIFAR-10",
                   metric_type="accuracy", metric_value=0.9),
    ]
    data = ModelCardData(model_name="mine", license="mit", eval_results=old)
    out = tmp_path / "README.md"
    out.write_text(f"---\n{data.to_yaml()}\n---\n\n# My model\n\nHand-written text.\n")
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "my-lab/m", "--out", str(out)])
    assert r.exit_code == 0, r.output
    card = ModelCard.load(out)
    assert "Hand-written text." in card.text and card.data.license == "mit" and card.data.model_name == "mine"
    mse = [e for e in card.data.eval_results if e.metric_type == "mse"]
    assert len(mse) == 1 and mse[0].metric_value == 0.004  # replaced, not duplicated
    assert any(e.dataset_type == "cifar10" and e.metric_value == 0.9 for e in card.data.eval_results)  # kept


def test_without_out_the_card_is_printed(result_file):
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "my-lab/m"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("---\n") and "model-index:" in r.output


def test_card_for_matches_eval_results():
    result = make_result(scores=SCORES)
    card = card_for(result, "org/name")
    assert [e.metric_type for e in card.data.eval_results] == [e.metric_type for e in eval_results(result)]
    with pytest.raises(CardError, match="no scored metric"):
        card_for(make_result(scores={"x": make_score(None, status="error")}), "org/name")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--repo-id", "no-slash"], "is not of the form ORG/NAME"),
        (["--repo-id", "a/b/c"], "is not of the form ORG/NAME"),
        (["--repo-id", "bad id/x"], "is not a valid Hub repo id"),
    ],
)
def test_bad_repo_id_is_one_line_exit_2(result_file, tmp_path, args, needle):
    out = tmp_path / "card.md"
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), *args, "--out", str(out)])
    assert r.exit_code == 2 and needle in r.output and r.output.strip().count("\n") == 0
    assert not out.exists()


def test_bad_result_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for path, needle in ((tmp_path / "missing.json", "does not exist"), (tmp_path / "bad.json", "malformed JSON")):
        r = runner.invoke(app, ["leaderboard", "card", str(path), "--repo-id", "a/b"])
        assert r.exit_code == 2 and needle in r.output and r.output.strip().count("\n") == 0


def test_push_without_a_token_fails_in_one_line_and_writes_nothing(result_file, tmp_path, monkeypatch):
    for k, v in _no_token_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    out = tmp_path / "README.md"
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "a/b", "--push", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "--push needs a Hugging Face token" in r.output and r.output.strip().count("\n") == 0
    assert not out.exists()


def test_push_offline_fails_in_one_line(result_file, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "a/b", "--push", "--token", "hf_x"])
    assert r.exit_code == 2 and "HF_HUB_OFFLINE is set" in r.output and r.output.strip().count("\n") == 0


def test_push_without_network_fails_in_one_line_and_never_hangs(result_file, tmp_path):
    """A token but no Hub (a closed local port): huggingface_hub retries with back-off; --timeout bounds it."""
    env = _no_token_env(tmp_path)
    env.update(HF_TOKEN="hf_not_a_real_token", HF_ENDPOINT="http://127.0.0.1:9")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "msd_bench", "leaderboard", "card", str(result_file), "--repo-id", "a/b", "--push",
         "--timeout", "2"], env=env, capture_output=True, text=True, timeout=60,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: pushing the card to a/b"), proc.stderr
    assert wall < 30


def test_push_merges_into_the_hub_card(result_file, monkeypatch):
    """The push path with the Hub replaced by a stand-in: the repo's card is loaded, merged, pushed."""
    hub_text = "---\nlicense: apache-2.0\n---\n\n# On the Hub\n"
    pushed = {}

    def fake_load(cls, repo_id_or_path, **kw):
        assert repo_id_or_path == "org/name" and kw["token"] == "hf_x"
        return cls(hub_text)

    def fake_push(self, repo_id, **kw):
        pushed.update(repo_id=repo_id, text=str(self), message=kw["commit_message"])
        return "https://huggingface.co/org/name/commit/abc"

    monkeypatch.setattr(ModelCard, "load", classmethod(fake_load))
    monkeypatch.setattr(ModelCard, "push_to_hub", fake_push)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    r = runner.invoke(app, ["leaderboard", "card", str(result_file), "--repo-id", "org/name", "--push", "--token",
                            "hf_x"])
    assert r.exit_code == 0, r.output
    assert "pushed to org/name: https://huggingface.co/org/name/commit/abc" in r.output
    card = ModelCard(pushed["text"])
    assert card.data.license == "apache-2.0" and "# On the Hub" in card.text
    assert {e.metric_type for e in card.data.eval_results} == set(_scored(make_result(scores=SCORES)))
    assert pushed["message"] == "msd-bench: my-model-1.2.0 on sprites"
