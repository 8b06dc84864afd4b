"""Interface version 2 against the built-in audio and time-series datasets: bad input is refused with
one line, exit 2 and nothing written; the conversion to model inputs follows the modality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import get_spec, to_model_input
from msd_bench.harness.examples import build_example
from msd_bench.metrics.interventions import _batch

runner = CliRunner()


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("dataset", ["dmelodies", "air-quality"])
@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_video_submission_given_a_1d_dataset_is_refused(tmp_path, dataset, fmt):
    spec = get_spec(dataset)
    sub = build_example(tmp_path / "sub", fmt, dataset, (4, 3, 16, 16))  # interface version 1: video
    before = _files(tmp_path)
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2, r.output
    line = f"dataset '{dataset}' is {spec.modality}"
    assert line in r.output and "but the submission is a video submission [T, C, H, W]" in r.output
    assert f"modality {spec.modality})" in r.output and "Traceback" not in r.output
    out = tmp_path / "run" / "out"
    r = runner.invoke(app, ["evaluate", "--dataset", dataset, "--submission", str(sub), "--trust-code",
                            "--out", str(out), "--size", "small"])
    assert r.exit_code == 2, r.output
    assert line in r.output
    assert _files(tmp_path) == before  # nothing written: not even the --out folder
    r = runner.invoke(app, ["bench", str(sub), "--trust-code", "--queries", "8"])
    assert r.exit_code == 2 and line in r.output


@pytest.mark.parametrize("dataset", ["dmelodies", "air-quality"])
def test_wrong_feature_shape_is_refused(tmp_path, dataset):
    spec = get_spec(dataset)
    t, f = (int(v) for v in spec.shape)
    sub = build_example(tmp_path / "sub", "onnx", dataset, (t, f // 2), modality=spec.modality,
                        input_shape_in_manifest=True)
    before = _files(tmp_path)
    want = f"datasets.{dataset}.input_shape is [{t}, {f // 2}] but the built-in {dataset} has "
    r = runner.invoke(app, ["validate", str(sub)])
    assert r.exit_code == 2 and want in r.output and f"= [{t}, {f}]" in r.output, r.output
    out = tmp_path / "out"
    r = runner.invoke(app, ["evaluate", "--dataset", dataset, "--submission", str(sub), "--out", str(out),
                            "--size", "small"])
    assert r.exit_code == 2 and f"input_shape of example-onnx is [{t}, {f // 2}]" in r.output, r.output
    assert _files(tmp_path) == before


@pytest.mark.parametrize("dataset", ["dmelodies", "air-quality"])
def test_wrong_modality_v2_submission_is_refused(tmp_path, dataset):
    spec = get_spec(dataset)
    other = "timeseries" if spec.modality == "audio" else "audio"
    sub = build_example(tmp_path / "sub", "torch", dataset, tuple(int(v) for v in spec.shape), modality=other)
    data = yaml.safe_load((sub / "submission.yaml").read_text())
    assert data["modality"] == other
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2 and f"but the submission is a {other} submission" in r.output, r.output


def test_stored_blocks_become_model_inputs_by_modality():
    """``interventions._batch`` converts stored blocks like ``to_model_input``: uint8 video, int16 audio."""
    idx = torch.tensor([1, 0])
    video = torch.from_numpy(np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3))
    audio = torch.tensor([[[-32768, 0, 16384]], [[32767, -16384, 1]]], dtype=torch.int16)
    series = torch.randn(2, 3, 4)
    for block, modality in ((video, "video"), (audio, "audio"), (series, "timeseries")):
        got = _batch(block, idx, "cpu")
        want = to_model_input(block[idx], modality)
        assert got.dtype == torch.float32 and torch.equal(got, want)
    assert float(_batch(audio, idx, "cpu").min()) >= -1.0 and float(_batch(audio, idx, "cpu").max()) < 1.0


@pytest.mark.parametrize(("dataset", "files"), [
    ("dmelodies", {"reconstruction.png", "reconstruction.wav", "swap.png", "swap.wav", "samples.png", "samples.wav"}),
    ("air-quality", {"reconstruction.png", "swap.png", "samples.png"}),
])
@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_evaluate_a_v2_submission_end_to_end(tmp_path, dataset, files, fmt):
    """evaluate through the committed judge: modality-aware reconstruction scores and pictures."""
    import wave

    from msd_bench.testing import require_judge

    require_judge(dataset)
    spec = get_spec(dataset)
    sub = build_example(tmp_path / "sub", fmt, dataset, tuple(int(v) for v in spec.shape), modality=spec.modality)
    out = tmp_path / "out"
    r = runner.invoke(app, ["evaluate", "--dataset", dataset, "--submission", str(sub), "--trust-code", "--size",
                            "small", "--limit", "16", "--metrics", "reconstruction,static_dynamic_swap,generation",
                            "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    import json

    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "complete" and not result["errors"]
    scores = result["scores"]
    assert scores["ssim"]["status"] == "not_applicable" and "image measure" in scores["ssim"]["reason"]
    assert scores["mse"]["status"] == "ok"
    assert scores["psnr"]["status"] == ("ok" if spec.modality == "audio" else "not_applicable")
    assert scores["static_dynamic_swap.accuracy.mean"]["status"] == "ok"
    assert files <= {p.name for p in out.iterdir()}
    if spec.modality != "audio":
        assert not list(out.glob("*.wav")) and not list(out.glob("*.gif"))
        return
    with wave.open(str(out / "reconstruction.wav"), "rb") as w:
        assert w.getframerate() == 16000
        rows = 2 * 6  # up to 6 inputs, each with its reconstruction
        assert w.getnframes() == rows * spec.shape[0] * spec.shape[1] + (rows - 1) * 4000
