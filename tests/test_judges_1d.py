"""1-D judges (audio, time series): architecture, no frame heads, ONNX export and loading, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msd_bench.datasets import Factor, open_h5, write_h5
from msd_bench.errors import JudgeError
from msd_bench.judges import load_judge
from msd_bench.judges.model import ArchConfig, HeadSpec, JudgeNet, StepEncoder1D
from msd_bench.judges.recipe import TrainConfig, export_onnx, onnx_parity, train_judge

AUDIO = ArchConfig(in_channels=1, image_size=4000, modality="audio", frame_heads=False, n_fft=1024, hop=512,
                   n_bins=128, mlp=(32,), feature_dim=16, hidden=16)
SERIES = ArchConfig(in_channels=1, image_size=13, modality="timeseries", frame_heads=False, mlp=(16,),
                    feature_dim=16, tconv=(8, 8), hidden=16)
HEADS = [HeadSpec("a", 3, False), HeadSpec("b", 2, False)]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    return None


def test_audio_spectrum_front_end():
    enc = StepEncoder1D(AUDIO)
    t = torch.arange(4000, dtype=torch.float32) / 16000
    tone = lambda hz: 0.5 * torch.sin(2 * torch.pi * hz * t)  # noqa: E731
    spec = enc.spectrum(torch.stack([tone(500.0), tone(1000.0), torch.zeros(4000)]))
    assert spec.shape == (3, 128)
    bin_hz = 16000 / 1024
    assert int(spec[0].argmax()) == round(500 / bin_hz) and int(spec[1].argmax()) == round(1000 / bin_hz)
    assert float(spec[2].abs().max()) == 0.0  # silence -> log1p(0)


@pytest.mark.parametrize("cfg, shape", [(AUDIO, (2, 5, 4000)), (SERIES, (3, 24, 13))])
def test_forward_no_frame_heads_and_onnx(tmp_path, cfg, shape):
    torch.manual_seed(0)
    net = JudgeNet(cfg, HEADS).eval()
    out = net(torch.randn(*shape).clamp(-1, 1))
    assert len(out) == 2 and out[0].shape == (shape[0], 3) and out[1].shape == (shape[0], 2)
    assert net.output_names == ["seq__a", "seq__b"]
    path = tmp_path / "j.onnx"
    export_onnx(net, path, torch.randn(*shape).clamp(-1, 1))
    other = torch.randn(shape[0] + 2, shape[1] + 3, shape[2]).clamp(-1, 1)  # other batch and length
    assert onnx_parity(path, net, other) < 1e-4
    import onnxruntime as ort

    assert ort.InferenceSession(str(path)).get_inputs()[0].name == ("audio" if cfg is AUDIO else "series")


def test_static_heads_need_frame_heads():
    with pytest.raises(ValueError, match="frame_heads is off"):
        JudgeNet(AUDIO, [HeadSpec("a", 3, True)])
    with pytest.raises(ValueError, match="unknown modality"):
        JudgeNet(ArchConfig(in_channels=1, image_size=8, modality="smell"), HEADS)
    assert ArchConfig.from_dict(SERIES.to_dict()) == SERIES


def _toy_series(path, n=120):
    rng = np.random.default_rng(0)
    a = np.arange(n) % 3
    b = (np.arange(n) // 3) % 2
    x = rng.normal(size=(n, 12, 4)).astype(np.float32) * 0.1
    x[:, :, 0] += a[:, None].astype(np.float32)  # a: the level of channel 0
    x[:, :, 1] += np.where(b[:, None] == 1, np.linspace(-1, 1, 12), np.linspace(1, -1, 12)).astype(np.float32)
    factors = [Factor("a", 0, "static", 3, {"x": 0, "y": 1, "z": 2}), Factor("b", 1, "dynamic", 2),
               Factor("c", 2, "static", 4, ignore=True)]
    labels = np.stack([a, b, np.arange(n) % 4], 1)
    splits = {"train": np.arange(0, 80), "val": np.arange(80, 100), "test": np.arange(100, n)}
    write_h5(path, x, labels, splits, factors, {"name": "toy-series", "size": "full"}, modality="timeseries")
    return open_h5(path)


def test_train_a_timeseries_judge_and_load_it(tmp_path):
    ds = _toy_series(tmp_path / "ts.h5")
    cfg = TrainConfig(epochs=12, batch_size=16, lr=1e-2, noise_max=0.0, blur_p=0.0,
                      arch={"modality": "timeseries", "frame_heads": False, "mlp": (16,), "feature_dim": 16,
                            "tconv": (8,), "hidden": 16})
    root = tmp_path / "judges"
    card = train_judge(ds, {}, root / "toy-series", cfg, progress=False)
    assert card.dataset.modality == "timeseries" and card.dataset.shape == [12, 4]
    assert card.test.factors["a"].sequence >= 0.9 and card.test.factors["b"].sequence >= 0.9  # it learns
    assert all(a.frame is None for a in card.test.factors.values())
    assert "c" in card.left_out and "c/sequence" not in card.below_target  # ignored: outside the target
    judge = load_judge("toy-series", root=root, verify_revision=False)
    x, y = next(ds.batches("test", batch_size=64))
    out = judge(x)
    assert set(out.sequence) == {"a", "b", "c"} and out.frame == {}
    assert judge.static_factors == [] and "c" in judge.left_out
    acc = (out.sequence["a"].argmax(-1) == y[:, 0]).double().mean().item()
    assert acc == pytest.approx(card.test.factors["a"].sequence, abs=1e-6)
    tj = load_judge("toy-series", root=root, backend="torch", verify_revision=False)
    assert (tj(x).sequence["b"] - out.sequence["b"]).abs().max() < 1e-4
    with pytest.raises(JudgeError, match=r"expected \[B, T, 4\]"):
        judge(torch.zeros(2, 12, 5))
    # the recipe's modality must be the dataset's
    with pytest.raises(JudgeError, match="is timeseries, but the recipe's architecture is for video"):
        train_judge(ds, {}, root / "x", TrainConfig(epochs=1), progress=False)


def test_flat_steps_path(tmp_path):
    cfg = ArchConfig(in_channels=1, image_size=13, modality="timeseries", frame_heads=False, mlp=(16,),
                     feature_dim=16, tconv=(8,), hidden=16, flat_steps=24, flat_dim=8)
    torch.manual_seed(0)
    net = JudgeNet(cfg, HEADS).eval()
    assert net.flat is not None and net.flat.in_features == 24 * (16 + 8)
    x = torch.randn(3, 24, 13)
    path = tmp_path / "f.onnx"
    export_onnx(net, path, x)
    assert onnx_parity(path, net, torch.randn(5, 24, 13)) < 1e-4
    with pytest.raises(RuntimeError):
        net(torch.randn(2, 20, 13))  # a fixed-length path: T must be flat_steps
