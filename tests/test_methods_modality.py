"""Reference methods on 1-D steps (audio frames, time series): shapes, losses, export, validation."""

from __future__ import annotations

import pytest
import torch
import yaml

from msd_bench.harness.validate import validate_submission
from msd_bench.methods import METHODS, MethodError, build_model, default_config
from msd_bench.methods.export import export_submission

CASES = [("audio", (4, 64)), ("timeseries", (6, 13))]
ONE_D = [m for m in METHODS if m != "c-dsvae"]


def _model(method, modality, shape, **over):
    torch.manual_seed(0)
    cfg = default_config(method, shape, modality=modality, hidden=32, **over)
    return build_model(**cfg), cfg


def _batch(modality, shape, b=3):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(b, *shape, generator=g)
    return x * 1.6 - 0.8 if modality == "audio" else torch.randn(b, *shape, generator=g)


@pytest.mark.parametrize("method", ONE_D)
@pytest.mark.parametrize(("modality", "shape"), CASES)
def test_one_d_model_shapes_loss_and_range(method, modality, shape):
    model, cfg = _model(method, modality, shape)
    assert cfg["modality"] == modality and cfg["features"] == shape[1] and "height" not in cfg
    assert cfg.get("likelihood", "gaussian") == "gaussian"  # Bernoulli does not apply to 1-D steps
    x = _batch(modality, shape)
    z = model.encode(x)
    assert z.static.shape == (3, model.static_dim) and z.dynamic.shape == (3, shape[0], model.dynamic_dim)
    xh = model.decode(z)
    assert xh.shape == x.shape
    if modality == "audio":
        assert float(xh.detach().abs().max()) <= 1.0
    loss, logs = model.training_loss(x)
    loss.backward()
    assert torch.isfinite(loss) and logs
    rebuilt = build_model(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt.decode(rebuilt.encode(x)), model.decode(model.encode(x)))


def test_wrong_step_size_is_named():
    model, _ = _model("dsvae", "audio", (4, 64))
    with pytest.raises(ValueError, match=r"expected \[B, T, 64\] \(audio\)"):
        model.encode(torch.zeros(2, 4, 32))


def test_c_dsvae_is_video_only():
    with pytest.raises(MethodError, match="video only"):
        default_config("c-dsvae", (4, 64), modality="audio")


def test_video_configs_are_unchanged():
    """A video config has no modality / features keys: every version-1 reference rebuilds as before."""
    cfg = default_config("dsvae", (8, 3, 64, 64))
    assert "modality" not in cfg and "features" not in cfg
    assert "modality" not in build_model(**cfg).config()


@pytest.mark.parametrize(("method", "modality", "shape"),
                         [("dsvae", "audio", (4, 64)), ("beta-vae", "timeseries", (6, 13)),
                          ("skd", "audio", (4, 64))])
def test_exported_one_d_reference_validates(tmp_path, method, modality, shape):
    model, _ = _model(method, modality, shape)
    if callable(getattr(model, "finalize", None)):
        model.finalize([_batch(modality, shape, 8)])
    model.eval()
    out = export_submission(model, tmp_path / "sub", f"toy-{modality}", {"epochs": 1, "seed": 0, "size": "small"})
    manifest = yaml.safe_load((out / "submission.yaml").read_text())
    assert manifest["interface_version"] == 2 and manifest["modality"] == modality
    assert manifest["datasets"][f"toy-{modality}"]["input_shape"] == list(shape)
    report = validate_submission(out, trust_code=True)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
    if method != "skd":  # SKD overrides swap (eigenbasis): no ONNX copy
        onnx = yaml.safe_load((out / "onnx" / "submission.yaml").read_text())
        assert onnx["modality"] == modality and onnx["format"] == "onnx"
        report = validate_submission(out / "onnx")
        assert report.passed, [(c.name, c.detail) for c in report.failures()]


@pytest.mark.parametrize(("method", "modality", "shape"),
                         [("beta-vae", "timeseries", (6, 13)), ("frame-vae", "audio", (4, 64)),
                          ("frame-vae", "video", (2, 3, 32, 32))])
def test_frame_vae_trains_on_what_it_decodes(method, modality, shape):
    """The training loss scores the decoder's own output map (tanh / identity / sigmoid), not a sigmoid."""
    if modality == "video":  # 32x32 frames at res 32: the training target is the frame itself
        torch.manual_seed(0)
        model = build_model(**default_config(method, shape, hidden=32))
        x = torch.rand(3, *shape)
    else:
        model, _ = _model(method, modality, shape)
        x = _batch(modality, shape)
    with torch.no_grad():  # a (near-)deterministic posterior: the sampled code is the mean
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.fill_(-40.0)
    _, logs = model.training_loss(x)
    with torch.no_grad():
        mu, _ = model.posterior(x)
        want = (model.decode_frames(mu) - x).pow(2).flatten(1).sum(1).mean()
    assert logs["mse"] == pytest.approx(float(want), rel=1e-4)
