"""Loaders and `msd-bench validate` on the example submissions and each broken variant."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import DeviceError, SubmissionError
from msd_bench.harness import Latents, load_submission, swap_channels
from msd_bench.harness.examples import build_example
from msd_bench.harness.validate import validate_submission

runner = CliRunner()
SHAPE = (4, 3, 16, 16)  # a small non-built-in dataset declared through input_shape


def make(root: Path, fmt: str, defect: str | None = None, **kw) -> Path:
    name = f"{fmt}-{defect or 'ok'}"
    return build_example(root / name, fmt, dataset="toy", shape=SHAPE, defect=defect,
                         input_shape_in_manifest=True, **kw)


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    make(root, "onnx")
    make(root, "torch")
    return root


def edit_manifest(folder: Path, fn) -> None:
    path = folder / "submission.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(("fmt", "flags"), [("onnx", []), ("torch", ["--trust-code"])])
def test_examples_pass_every_check(examples, fmt, flags):
    result = runner.invoke(app, ["validate", str(examples / f"{fmt}-ok"), *flags])
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output
    assert "FAIL" not in result.output


def test_report_contents_and_hashes(examples):
    report = validate_submission(examples / "onnx-ok")
    assert report.passed
    names = [c.name for c in report.checks]
    for expected in ("encode", "decode", "finite", "deterministic", "batch-invariant", "prior static",
                     "prior dynamic", "swap"):
        assert expected in names
    assert set(report.hashes) == {"encoder.onnx", "decoder.onnx", "prior_static.onnx", "prior_dynamic.onnx"}
    assert all(len(h) == 64 for h in report.hashes.values())
    assert report.providers == ["CPUExecutionProvider"]


def test_onnx_and_torch_adapters_agree(examples):
    """Both examples come from the same seeded network, so their outputs must match."""
    a = load_submission(examples / "onnx-ok")
    b = load_submission(examples / "torch-ok", trust_code=True)
    x = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(1))
    za, zb = a.encode(x), b.encode(x)
    assert torch.allclose(za.static, zb.static, atol=1e-5)
    assert torch.allclose(za.dynamic, zb.dynamic, atol=1e-5)
    assert torch.allclose(a.decode(za), b.decode(zb), atol=1e-5)
    assert a.parameter_count() >= b.parameter_count() > 0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.allclose(a.sample_static(5, g1), b.sample_static(5, g2))


def test_swap_channels_semantics():
    za = Latents(torch.zeros(2, 3), torch.zeros(2, 4, 2))
    zb = Latents(torch.ones(2, 3), torch.ones(2, 4, 2))
    mask = torch.tensor([True, False, False, False, True])  # static dim 0 and dynamic dim 1
    out = swap_channels(za, zb, mask)
    assert out.static.tolist() == [[1, 0, 0]] * 2
    assert out.dynamic[:, :, 0].eq(0).all() and out.dynamic[:, :, 1].eq(1).all()


@pytest.mark.parametrize(
    ("defect", "needle"),
    [
        ("wrong_names", "expected inputs ['video']"),
        ("custom_op", "custom-op domain 'com.example.custom'"),
        ("external_escape", "lies outside the submission folder"),
    ],
)
def test_onnx_load_faults_one_line(tmp_path, defect, needle):
    folder = make(tmp_path, "onnx", defect)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output
    with pytest.raises(SubmissionError):
        load_submission(folder)


@pytest.mark.parametrize(
    ("defect", "needle"),
    [
        ("encoder_rank", "first: encode"),
        ("decoder_shape", "output shape [4, 4, 3, 8, 8], expected the input's [4, 4, 3, 16, 16]"),
        ("nan", "NaN or Inf in decoded video"),
    ],
)
def test_onnx_behaviour_faults_fail_checks(tmp_path, defect, needle):
    folder = make(tmp_path, "onnx", defect)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "FAIL" in result.output
    assert needle in " ".join(result.output.split())
    report = validate_submission(folder)
    assert not report.passed


def test_missing_artefact(examples, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(examples / "onnx-ok", folder)
    (folder / "decoder.onnx").unlink()
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "decoder file 'decoder.onnx' is missing" in result.output


def test_artefact_escaping_folder(examples, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(examples / "onnx-ok", folder)
    shutil.copy(folder / "encoder.onnx", tmp_path / "x.onnx")
    edit_manifest(folder, lambda d: d["datasets"]["toy"].update(encoder="../x.onnx"))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "escapes the submission folder" in result.output


def test_latent_dims_must_match_manifest(examples, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(examples / "onnx-ok", folder)
    edit_manifest(folder, lambda d: d["datasets"]["toy"].update(static_dim=7))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "declared static_dim=7" in " ".join(result.output.split())


def test_torch_needs_trust_code(examples):
    result = runner.invoke(app, ["validate", str(examples / "torch-ok")])
    assert result.exit_code == 2 and "pass --trust-code" in result.output


def test_torch_pickle_refused(tmp_path):
    folder = make(tmp_path, "torch", "pickle")
    result = runner.invoke(app, ["validate", str(folder), "--trust-code"])
    assert result.exit_code == 2
    assert "pickle checkpoint" in result.output and "safetensors" in result.output


def test_torch_import_error_in_one_line(tmp_path):
    folder = make(tmp_path, "torch", "import_error")
    result = runner.invoke(app, ["validate", str(folder), "--trust-code"])
    assert result.exit_code == 2
    assert "import failed: RuntimeError: example import failure" in result.output
    assert "Traceback" not in result.output


def test_torch_weights_mismatch(examples, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(examples / "torch-ok", folder)
    edit_manifest(folder, lambda d: d["datasets"]["toy"]["config"].update(static_dim=5))
    result = runner.invoke(app, ["validate", str(folder), "--trust-code"])
    assert result.exit_code == 2 and "state dict does not match" in result.output


def test_unknown_dataset_for_submission(examples):
    result = runner.invoke(app, ["validate", str(examples / "onnx-ok"), "--dataset", "mnist"])
    assert result.exit_code == 2 and "does not declare dataset 'mnist'" in result.output


def test_cuda_without_gpu_is_an_error(examples):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError):
        load_submission(examples / "onnx-ok", device="cuda")
    result = runner.invoke(app, ["validate", str(examples / "onnx-ok"), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA GPU" in result.output


def test_hub_submission_from_offline_cache(examples, tmp_path, monkeypatch):
    """hf://org/repo@rev resolves from a real Hub cache layout with HF_HUB_OFFLINE=1."""
    cache = tmp_path / "hub"
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / "models--org--tiny"
    snap = repo_dir / "snapshots" / sha
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in (examples / "onnx-ok").iterdir():
        blob = blobs / f"blob-{f.name}"
        shutil.copy(f, blob)
        (snap / f.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    model = load_submission("hf://org/tiny@main")
    assert model.source.hub_commit == sha and model.source.hub_repo == "org/tiny"
    assert model.encode(torch.rand(1, *SHAPE)).static.shape == (1, 4)
    result = runner.invoke(app, ["validate", "hf://org/missing"])
    assert result.exit_code == 2 and "not found in the local Hub cache" in result.output
