"""The training loop (determinism, resumable checkpoints), the export and the `msd-bench train` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.harness.loader import load_submission
from msd_bench.harness.validate import validate_submission
from msd_bench.methods import MethodError
from msd_bench.methods.export import export_submission
from msd_bench.methods.training import epoch_order, load_checkpoint, make_settings, train_model
from msd_bench.testing import tiny_dataset

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))


def _settings(method="dsvae", epochs=2, **kw):
    return make_settings(method, tiny_dataset(), epochs=epochs, batch_size=8, hidden=16, **kw)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_epoch_order_is_fixed_and_differs_per_epoch():
    idx = np.arange(20)
    assert np.array_equal(epoch_order(idx, 3, 0), epoch_order(idx, 3, 0))
    assert not np.array_equal(epoch_order(idx, 3, 0), epoch_order(idx, 3, 1))
    assert sorted(epoch_order(idx, 3, 1)) == list(idx)


def test_training_is_deterministic_and_changes_the_weights():
    ds = tiny_dataset()
    a = train_model(ds, _settings(), progress=False, threads=None)
    b = train_model(ds, _settings(), progress=False, threads=None)
    torch.manual_seed(0)
    c = train_model(ds, _settings(seed=1), progress=False, threads=None)
    assert _same(_state(a.model), _state(b.model))
    assert not _same(_state(a.model), _state(c.model))
    assert a.steps == 2 * (32 // 8) and [h["epoch"] for h in a.history] == [1, 2]
    assert a.history[-1]["loss"] < a.history[0]["loss"]


@pytest.mark.parametrize("method", ["c-dsvae", "skd"])
def test_resume_gives_identical_weights(tmp_path, method):
    ds = tiny_dataset()
    straight = train_model(ds, _settings(method, epochs=2), checkpoint=tmp_path / "a.safetensors",
                           progress=False, threads=None)
    ck = tmp_path / "b.safetensors"
    first = train_model(ds, _settings(method, epochs=1), checkpoint=ck, progress=False, threads=None)
    assert first.steps == 4
    torch.manual_seed(123)  # the checkpoint restores the RNG, whatever happened in between
    resumed = train_model(ds, _settings(method, epochs=2), checkpoint=ck, resume=True, progress=False, threads=None)
    assert resumed.resumed_from_epoch == 1 and resumed.steps == straight.steps
    assert _same(_state(straight.model), _state(resumed.model))
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    # the checkpoint is a safetensors file, never a pickle
    assert ck.read_bytes()[8:9] == b"{"


def test_resume_refuses_other_settings(tmp_path):
    ds = tiny_dataset()
    ck = tmp_path / "c.safetensors"
    train_model(ds, _settings(epochs=1), checkpoint=ck, progress=False, threads=None)
    with pytest.raises(MethodError, match=r"checkpoint has lr=0.001 but this run has lr=0.002"):
        train_model(ds, make_settings("dsvae", ds, epochs=2, batch_size=8, lr=2e-3, hidden=16), checkpoint=ck,
                    resume=True, progress=False, threads=None)
    with pytest.raises(MethodError, match="no checkpoint"):
        train_model(ds, _settings(), checkpoint=tmp_path / "none.safetensors", resume=True, progress=False)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MethodError, match="not a readable checkpoint"):
        load_checkpoint(bad, None, None, _settings())  # type: ignore[arg-type]


def test_bad_settings_are_one_line_errors():
    ds = tiny_dataset()
    with pytest.raises(MethodError, match="--epochs is 0"):
        make_settings("dsvae", ds, epochs=0)
    with pytest.raises(MethodError, match="--batch-size is 1"):
        make_settings("dsvae", ds, batch_size=1)
    with pytest.raises(MethodError, match="fewer than one batch of 64"):
        train_model(ds, make_settings("dsvae", ds, epochs=1, batch_size=64, hidden=16), progress=False)


@pytest.mark.parametrize("method", ["dsvae", "frame-vae", "skd"])
def test_export_validates_and_onnx_matches(tmp_path, method):
    ds = tiny_dataset()
    # res=8 < 16: the model pools its input inside (the path the sprites models take)
    res = train_model(ds, _settings(method, epochs=1, res=8), progress=False, threads=None)
    from msd_bench.methods.training import finalize_model

    finalize_model(res.model, ds, res.settings)
    x = torch.from_numpy(ds.read(ds.indices("test"))[0]).float() / 255.0
    out = tmp_path / "sub"
    export_submission(res.model, out, "tiny", {"epochs": 1, "seed": 0, "size": "small"}, sample=x)
    manifest = yaml.safe_load((out / "submission.yaml").read_text())
    assert manifest["name"] == method and manifest["format"] == "torch"
    assert manifest["authors"] == ["msd-bench reference"] and manifest["training_datasets"] == ["tiny"]
    entry = manifest["datasets"]["tiny"]
    assert entry["input_shape"] == list(ds.shape) and entry["config"]["method"] == method
    report = validate_submission(out, dataset="tiny", trust_code=True)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
    loaded = load_submission(out, dataset="tiny", trust_code=True)
    z = loaded.encode(x)
    with torch.no_grad():
        want = res.model.encode(x)
    assert torch.equal(z.static, want.static) and torch.equal(z.dynamic, want.dynamic)
    info = json.loads((out / "training.json").read_text())
    assert info["epochs"] == 1 and "model.safetensors" in info["files"]
    assert (out / "traversal.gif").is_file() == (method == "frame-vae")
    if method == "skd":  # the eigenbasis swap cannot be expressed by an ONNX submission
        assert not (out / "onnx").exists() and "swap" in info["onnx"]
        return
    assert yaml.safe_load((out / "onnx" / "submission.yaml").read_text())["version"] == "1.0.0-onnx"
    onnx_report = validate_submission(out / "onnx", dataset="tiny")
    assert onnx_report.passed, [(c.name, c.detail) for c in onnx_report.failures()]
    zo = load_submission(out / "onnx", dataset="tiny").encode(x)
    assert torch.allclose(zo.static, want.static, atol=1e-4) and torch.allclose(zo.dynamic, want.dynamic, atol=1e-4)
    assert "onnx" not in info  # exported cleanly
    assert not list(tmp_path.glob(".sub.*"))  # no staging folder left behind


def test_export_replaces_an_old_folder(tmp_path):
    ds = tiny_dataset()
    res = train_model(ds, _settings("frame-vae", epochs=1), progress=False, threads=None)
    out = tmp_path / "sub"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    export_submission(res.model, out, "tiny", {"epochs": 1}, onnx=False)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_train_writes_a_valid_submission(tmp_path, monkeypatch):
    import msd_bench.datasets as datasets

    monkeypatch.setattr(datasets, "open_dataset", lambda name, size="full": tiny_dataset())
    out = tmp_path / "subs" / "dsvae-tiny"
    r = runner.invoke(app, ["train", "dsvae", "--dataset", "tiny", "--epochs", "1", "--batch-size", "8",
                            "--out", str(out), "--threads", "1", "--checkpoint-dir", str(tmp_path / "ck")])
    assert r.exit_code == 0, r.output
    assert "trained dsvae on tiny" in r.output
    assert (tmp_path / "ck" / "dsvae-tiny-full-seed0.safetensors").is_file()
    assert validate_submission(out, dataset="tiny", trust_code=True).passed
    # --resume with more epochs continues from the checkpoint
    r = runner.invoke(app, ["train", "dsvae", "--dataset", "tiny", "--epochs", "2", "--batch-size", "8",
                            "--out", str(out), "--threads", "1", "--checkpoint-dir", str(tmp_path / "ck"),
                            "--resume", "--no-onnx"])
    assert r.exit_code == 0, r.output
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 8 and [h["epoch"] for h in info["history"]] == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vae9"], "unknown method 'vae9'"),
        (["train", "dsvae", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "dsvae", "--size", "huge"], "--size is 'huge'"),
        (["train", "dsvae", "--epochs", "0", "--dataset", "tiny"], "--epochs is 0"),
        (["train", "dsvae", "--dataset", "tiny", "--resume"], "--resume: no checkpoint"),
    ],
)
def test_cli_bad_input(tmp_path, monkeypatch, args, message):
    import msd_bench.datasets as datasets

    real = datasets.open_dataset
    monkeypatch.setattr(datasets, "open_dataset",
                        lambda name, size="full": tiny_dataset() if name == "tiny" else real(name, size))
    out = tmp_path / "out"
    r = runner.invoke(app, [*args, "--out", str(out), "--checkpoint-dir", str(tmp_path / "ck")])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert "error:" in text and message in text
    assert not out.exists() and not (tmp_path / "ck").exists()


def test_decoder_starts_at_the_data_mean():
    from msd_bench.methods import build_model
    from msd_bench.methods.training import data_logit

    ds = tiny_dataset()
    mean = ds.read(np.sort(ds.indices("train")))[0].mean() / 255.0
    assert data_logit(ds) == pytest.approx(np.log(mean / (1 - mean)), abs=1e-3)
    s = _settings("frame-vae")
    assert s.model["out_bias"] == data_logit(ds)
    model = build_model(**s.model)
    x_hat = model.decoder(torch.zeros(1, model.static_dim + model.dynamic_dim))
    # the last layer's bias alone sets the untrained output near the data mean (weights are small)
    assert float(model.decoder.deconv[-1].bias[0].detach()) == pytest.approx(data_logit(ds))
    assert x_hat.shape[1:] == (3, 16, 16)
