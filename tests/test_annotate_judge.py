"""The VLM judge: the trained judges' call interface, answers from a fake server, and its use by the
evaluation runner on an annotated dataset that has no trained judge (recorded as a VLM in the result)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from msd_bench.annotate import PROMPT_SHA256, ImageConfig, VLMJudge, annotate
from msd_bench.annotate.testing import FakeVLMServer
from msd_bench.cli import app
from msd_bench.errors import JudgeError
from msd_bench.harness.example_model import TinyModel
from msd_bench.harness.runner import evaluate
from msd_bench.testing import tiny_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def server():
    with FakeVLMServer.from_dataset(tiny_dataset(), ImageConfig()) as s:
        yield s


def test_vlm_judge_has_the_judge_interface_and_reads_the_truth(server, tmp_path):
    ds = tiny_dataset()
    judge = VLMJudge(ds.factors, base_url=server.url, model="fake-vlm", cache_dir=tmp_path, backoff=0.0)
    x, y = ds.read(np.arange(12))
    out = judge(torch.from_numpy(x).float() / 255)
    assert set(out.sequence) == {"color", "motion"} and set(out.frame) == {"color"}
    assert out.sequence["color"].shape == (12, 3) and out.frame["color"].shape == (12, 4, 3)
    assert torch.equal(out.sequence["color"].argmax(1), torch.from_numpy(y[:, 0]))
    assert torch.equal(out.sequence["motion"].argmax(1), torch.from_numpy(y[:, 1]))
    assert torch.allclose(out.sequence["color"].exp().sum(1), torch.ones(12))
    rec = judge.record()
    assert rec["kind"] == "vlm" and rec["model"] == "fake-vlm" and rec["prompt_sha256"] == PROMPT_SHA256
    assert rec["base_url_host"] == server.url.split("/")[2] and judge.ceiling() == {}
    sent = server.requests
    judge(torch.from_numpy(x).float() / 255)
    assert server.requests == sent  # cached by content
    with pytest.raises(JudgeError, match="shape"):
        judge(torch.zeros(3, 16, 16))


def test_vlm_judge_failure_modes(tmp_path):
    ds = tiny_dataset()
    x = torch.from_numpy(ds.read(np.arange(4))[0]).float() / 255
    with FakeVLMServer.from_dataset(ds, ImageConfig(), malformed=1.0, faults=("refusal",)) as s:
        strict = VLMJudge(ds.factors, base_url=s.url, model="m", cache_dir=tmp_path, backoff=0.0, max_repairs=1)
        with pytest.raises(JudgeError, match="no valid answer .* after 2 attempts .*refused"):
            strict(x)
        lenient = VLMJudge(ds.factors, base_url=s.url, model="m", cache_dir=tmp_path, backoff=0.0, max_repairs=0,
                           on_failure="uniform")
        out = lenient(x)
        assert lenient.failures == 4 and torch.equal(out.sequence["color"], torch.zeros(4, 3))
    down = VLMJudge(ds.factors, base_url="http://127.0.0.1:9/v1", model="m", cache_dir=tmp_path, backoff=0.0,
                    max_retries=0)
    with pytest.raises(JudgeError, match="VLM judge: .*cannot connect"):
        down(x)


def test_evaluate_an_annotated_dataset_with_the_vlm_judge(server, tmp_path, monkeypatch, one_thread):
    """annotate → dataset without a trained judge → msd_bench.evaluate(..., judge=VLMJudge)."""
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    ds = tiny_dataset()
    src = tmp_path / "tiny.h5"
    from msd_bench.datasets import open_dataset, write_h5

    x, y = ds.read(np.arange(len(ds)))
    write_h5(src, x, y, {s: ds.indices(s) for s in ("train", "val", "test")}, ds.factors, {"name": "tiny"})
    res = annotate(src, base_url=server.url, model="fake-vlm", out=tmp_path / "ann", n_explore=6, backoff=0.0,
                   progress_bar=False)
    imported = tmp_path / "cache" / "datasets" / "imported"
    imported.mkdir(parents=True)
    shutil.copy(res.dataset_path, imported / "tiny-vlm.h5")
    annotated = open_dataset("tiny-vlm")
    judge = VLMJudge(annotated.factors, base_url=server.url, model="fake-vlm", backoff=0.0)
    model = TinyModel(frames=4, channels=3, height=16, width=16, pool=4)
    result = evaluate(model, "tiny-vlm", metrics=["reconstruction", "static_dynamic_swap"], device="cpu", batch_size=8,
                      judge=judge, out=tmp_path / "eval", pictures=False)
    assert result.status == "complete", result.errors
    assert result.dataset.name == "tiny-vlm" and result.dataset.content_hash == res.content_hash
    assert result.judge.backend == "vlm" and result.judge.providers == [f"vlm:fake-vlm@{judge.host}"]
    assert result.judge.sha256["prompt"] == PROMPT_SHA256 and result.judge.sha256["card.json"] == judge.sha256
    env = result.environment["judge"]
    assert env["kind"] == "vlm" and env["model"] == "fake-vlm" and env["base_url_host"].startswith("127.0.0.1:")
    assert env["prompt_sha256"] == PROMPT_SHA256
    # the VLM reads the real sequences right: the ceiling row equals 1 on this fake server
    assert result.scores["reconstruction.judge_ceiling.mean"].value == 1.0
    # generated sequences (swaps) were scored by the VLM too
    assert result.scores["static_dynamic_swap.static_accuracy"].status == "ok"


def test_evaluate_cli_vlm_judge_needs_model_and_url():
    r = runner.invoke(app, ["evaluate", "--dataset", "sprites", "--submission", "x", "--judge-backend", "vlm"])
    assert r.exit_code == 2 and "--judge-backend vlm needs --vlm-model" in r.output
