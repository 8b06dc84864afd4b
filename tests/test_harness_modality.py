"""Model interface version 2: modalities in the manifest, the loaders, validate and bench; version 1 unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import ManifestError, SubmissionError
from msd_bench.harness.examples import build_example
from msd_bench.harness.loader import hash_artefacts, load_submission, onnx_io, submission_hash
from msd_bench.harness.manifest import load_manifest, parse_manifest
from msd_bench.harness.modality import MODALITIES, input_name, shape_text
from msd_bench.harness.timing import bench_model
from msd_bench.harness.validate import dummy_batch, expected_shape, validate_submission

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

#: synthetic (not built-in) datasets of each 1-D modality: the manifest declares input_shape
AUDIO = ("toy-audio", (6, 40))
SERIES = ("toy-series", (24, 13))


def _manifest(**over) -> dict:
    base = {
        "name": "m", "version": "1.0.0", "authors": ["A"], "license": "MIT", "format": "onnx",
        "interface_version": 2, "modality": "audio",
        "datasets": {"toy-audio": {"static_dim": 4, "dynamic_dim": 2, "encoder": "e.onnx", "decoder": "d.onnx",
                                   "input_shape": [6, 40]}},
    }
    base.update(over)
    return base


# ----------------------------------------------------------------------------------------- manifest
def test_v2_manifest_declares_its_modality():
    m = parse_manifest(_manifest())
    assert m.interface_version == 2 and m.input_modality == "audio"
    assert '"modality":"audio"' in m.identity_json()


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"modality": None}, "modality is required for interface_version 2"),
        ({"interface_version": 1}, "modality 'audio' needs interface_version 2"),
        ({"modality": "speech"}, "modality"),
        ({"datasets": {"toy-audio": {"static_dim": 4, "dynamic_dim": 2, "encoder": "e.onnx", "decoder": "d.onnx",
                                     "input_shape": [6, 1, 8, 5]}}},
         "datasets.toy-audio.input_shape has 4 entries, expected 2: [T, F] for modality audio"),
    ],
)
def test_bad_v2_manifest_is_one_line(over, needle):
    with pytest.raises(ManifestError) as info:
        parse_manifest(_manifest(**over))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_v1_manifest_reads_as_video_and_keeps_its_hash():
    """Every version-1 reference keeps its submission hash (the store's results still match it)."""
    checked = 0
    for folder in sorted((REPO / "submissions").iterdir()):
        manifest = load_manifest(folder)
        if manifest.interface_version == 2:  # the audio / time-series references
            assert manifest.input_modality in ("audio", "timeseries")
            continue
        assert manifest.input_modality == "video"
        assert "modality" not in json.loads(manifest.identity_json())
        for ds in manifest.datasets:
            for proto in ("msd-bench-2", "msd-bench-1"):
                stored = REPO / "leaderboard" / "results" / proto / manifest.name / manifest.version / f"{ds}.json"
                if stored.is_file():
                    want = json.loads(stored.read_text())["submission"]["submission_hash"]
                    assert submission_hash(manifest, hash_artefacts(folder, manifest.datasets[ds])) == want, folder
                    checked += 1
                    break
    assert checked >= 15


# --------------------------------------------------------------------------------- names and shapes
def test_onnx_names_per_modality():
    assert onnx_io("encoder", "video") == (("video",), ("static", "dynamic"))
    assert onnx_io("encoder", "audio") == (("audio",), ("static", "dynamic"))
    assert onnx_io("decoder", "timeseries") == (("static", "dynamic"), ("series",))
    assert onnx_io("prior_dynamic", "audio") == (("noise",), ("dynamic",))
    assert [input_name(m) for m in MODALITIES] == ["video", "audio", "series"]
    assert shape_text("audio") == "[T, F]" and shape_text("video") == "[T, C, H, W]"


def test_dummy_batch_follows_the_modality_range():
    v = dummy_batch((2, 1, 8, 8), 3, torch.device("cpu"), "video")
    a = dummy_batch((2, 40), 3, torch.device("cpu"), "audio")
    s = dummy_batch((2, 13), 3, torch.device("cpu"), "timeseries")
    assert v.shape == (3, 2, 1, 8, 8) and 0 <= float(v.min()) and float(v.max()) <= 1
    assert a.shape == (3, 2, 40) and float(a.min()) < 0 < float(a.max()) and float(a.abs().max()) <= 1
    assert s.shape == (3, 2, 13) and float(s.abs().max()) > 1  # standard normal: unbounded
    assert torch.equal(v, dummy_batch((2, 1, 8, 8), 3, torch.device("cpu"), "video"))  # seeded


# ------------------------------------------------------------------------------ validate, for each
@pytest.mark.parametrize("fmt", ["onnx", "torch"])
@pytest.mark.parametrize(("modality", "dataset"), [("audio", AUDIO), ("timeseries", SERIES)])
def test_v2_submission_validates_and_benches(tmp_path, fmt, modality, dataset):
    name, shape = dataset
    folder = build_example(tmp_path / "sub", fmt, name, shape, modality=modality, input_shape_in_manifest=True)
    report = validate_submission(folder, trust_code=True)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
    assert report.modality == modality and report.shape == shape
    assert {c.name for c in report.checks} >= {"encode", "decode", "swap", "prior static", "prior dynamic"}
    model = load_submission(folder, trust_code=True)
    x = dummy_batch(shape, 2, model.device, modality)
    assert tuple(model.decode(model.encode(x)).shape) == (2, *shape)
    rep = bench_model(model, shape, queries=8, warmup=1, batch_size=4, repeats=1, modality=modality)
    assert rep.shape == list(shape) and rep.throughput["encode_seq_per_s"] > 0
    assert rep.flops_per_sequence is not None and rep.flops_per_sequence > 0


def test_validate_cli_names_the_modality(tmp_path):
    folder = build_example(tmp_path / "sub", "onnx", AUDIO[0], AUDIO[1], modality="audio",
                           input_shape_in_manifest=True)
    r = runner.invoke(app, ["validate", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)[0]
    assert out["modality"] == "audio" and out["shape"] == list(AUDIO[1]) and out["passed"]


def test_audio_decoder_out_of_range_fails_decode(tmp_path):
    """An audio decoder without its tanh puts samples outside [-1, 1]: the decode check names the range."""
    folder = build_example(tmp_path / "sub", "torch", AUDIO[0], AUDIO[1], modality="audio",
                           input_shape_in_manifest=True)
    data = yaml.safe_load((folder / "submission.yaml").read_text())
    data["datasets"][AUDIO[0]]["config"]["bounded"] = False
    (folder / "submission.yaml").write_text(yaml.safe_dump(data))
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    state["dec.bias"] = torch.full_like(state["dec.bias"], 5.0)
    save_file(state, str(folder / "model.safetensors"))
    report = validate_submission(folder, trust_code=True)
    failed = {c.name: c.detail for c in report.failures()}
    assert "decode" in failed and "expected [-1, 1] (audio)" in failed["decode"]


def test_onnx_graph_with_video_names_is_refused_for_audio(tmp_path):
    """An audio manifest over graphs whose tensor is named ``video``: the loader names the expected inputs."""
    folder = build_example(tmp_path / "sub", "onnx", AUDIO[0], AUDIO[1], modality="audio",
                           input_shape_in_manifest=True)
    video = build_example(tmp_path / "vid", "onnx", "toy-video", (2, 1, 8, 8), input_shape_in_manifest=True)
    (folder / "encoder.onnx").write_bytes((video / "encoder.onnx").read_bytes())
    with pytest.raises(SubmissionError, match=r"expected inputs \['audio'\]"):
        load_submission(folder)


def test_wrong_feature_shape_of_an_undeclared_dataset_is_refused(tmp_path):
    """input_shape of the wrong rank for the modality: a one-line manifest error through the CLI, exit 2."""
    folder = build_example(tmp_path / "sub", "onnx", AUDIO[0], AUDIO[1], modality="audio",
                           input_shape_in_manifest=True)
    data = yaml.safe_load((folder / "submission.yaml").read_text())
    data["datasets"][AUDIO[0]]["input_shape"] = [6, 1, 40]
    (folder / "submission.yaml").write_text(yaml.safe_dump(data))
    r = runner.invoke(app, ["validate", str(folder)])
    assert r.exit_code == 2
    assert "input_shape has 3 entries, expected 2: [T, F] for modality audio" in r.output
    assert "Traceback" not in r.output


def test_expected_shape_needs_input_shape_for_an_unknown_dataset():
    entry = parse_manifest(_manifest()).datasets["toy-audio"].model_copy(update={"input_shape": None})
    with pytest.raises(SubmissionError, match=r"declare datasets.toy-audio.input_shape \[T, F\]"):
        expected_shape("toy-audio", entry, "audio")
