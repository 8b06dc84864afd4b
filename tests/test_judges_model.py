"""Judge architecture, ONNX export parity, augmentation and the training recipe (synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msd_bench.judges.model import ArchConfig, HeadSpec, JudgeNet, count_parameters, split_outputs
from msd_bench.judges.recipe import (
    TrainConfig,
    augment,
    export_onnx,
    onnx_parity,
    recipe_for,
    train_judge,
)
from msd_bench.testing import SyntheticDataset

HEADS = [HeadSpec("hair", 6, True), HeadSpec("action", 9, False), HeadSpec("skin", 4, True)]


def _net(seed: int = 0, channels: int = 3, size: int = 64) -> JudgeNet:
    torch.manual_seed(seed)
    return JudgeNet(ArchConfig(in_channels=channels, image_size=size), HEADS).eval()


def test_output_shapes_and_order():
    net = _net()
    x = torch.rand(5, 8, 3, 64, 64)
    outs = net(x)
    assert net.output_names == ["seq__hair", "seq__action", "seq__skin", "frame__hair", "frame__skin"]
    assert [tuple(o.shape) for o in outs] == [(5, 6), (5, 9), (5, 4), (5, 8, 6), (5, 8, 4)]
    seq, frame = net.split_outputs(outs)
    assert list(seq) == ["hair", "action", "skin"] and list(frame) == ["hair", "skin"]
    # other sequence lengths and grayscale inputs work too
    g = JudgeNet(ArchConfig(in_channels=1, image_size=64), HEADS).eval()
    assert tuple(g(torch.rand(2, 3, 1, 64, 64))[3].shape) == (2, 3, 6)
    with pytest.raises(ValueError, match="expected 5 judge outputs"):
        split_outputs(HEADS, outs[:4])


def test_model_is_small():
    assert count_parameters(_net()) < 1_000_000  # a few MB of float32 at most


#: the options of the dsprites judges (global average pooling + motion stream), small for speed
MOTION = {"pool": 1, "widths": (8, 16, 16, 16), "strides": (2, 2, 2, 2), "keypoints": 4, "gap": True,
          "motion": (8, 16)}


@pytest.mark.parametrize("opts", [{}, MOTION], ids=["plain", "gap+motion"])
def test_frame_heads_see_only_their_own_frame(opts):
    torch.manual_seed(0)
    net = JudgeNet(ArchConfig(in_channels=3, image_size=64, **opts), HEADS).eval()
    x = torch.rand(2, 6, 3, 64, 64)
    y = x.clone()
    y[:, 2] = torch.rand(2, 3, 64, 64)  # change frame 2 only
    with torch.no_grad():
        a, b = net(x), net(y)
    for fa, fb in zip(a[3:], b[3:], strict=True):
        keep = [0, 1, 3, 4, 5]
        assert torch.equal(fa[:, keep], fb[:, keep])
        assert not torch.allclose(fa[:, 2], fb[:, 2])
    # the sequence heads do look at every frame
    assert not torch.allclose(a[0], b[0])


def test_keypoints_are_expected_coordinates():
    from msd_bench.judges.model import SpatialSoftmax

    sm = SpatialSoftmax(1, 1, 5, 5)
    with torch.no_grad():
        sm.proj.weight.fill_(100.0)
        sm.proj.bias.zero_()
    h = torch.zeros(2, 1, 5, 5)
    h[0, 0, 1, 4] = 1.0  # row 1 (y = -0.5), column 4 (x = 1)
    h[1, 0, 2, 2] = 1.0  # the centre
    out = sm(h)
    assert torch.allclose(out, torch.tensor([[1.0, -0.5], [0.0, 0.0]]), atol=1e-4)
    # keypoints enlarge the frame feature and feed the frame heads as well
    net = JudgeNet(ArchConfig(in_channels=3, image_size=64, keypoints=4), HEADS)
    assert net.encoder.out_dim == 128 + 8 and net.frame_heads[0].in_features == 136


def test_gap_and_motion_stream_shapes():
    net = JudgeNet(ArchConfig(in_channels=3, image_size=64, **MOTION), HEADS).eval()
    # frame feature = fc + 2 x keypoints + the last conv width (averaged map); the GRU also reads motion
    assert net.encoder.out_dim == 128 + 8 + 16 and net.frame_heads[0].in_features == 152
    assert net.gru.input_size == 152 + 16
    x = torch.rand(2, 5, 3, 64, 64)
    with torch.no_grad():
        m = net.motion(x)
    assert tuple(m.shape) == (2, 5, 16) and torch.equal(m[:, -1], torch.zeros(2, 16))  # last frame: no successor
    with torch.no_grad():
        still = net.motion(x[:, :1].expand(2, 5, 3, 64, 64).contiguous())
    assert torch.allclose(still[:, 0], still[:, 1])  # a still video has the same motion feature everywhere
    assert tuple(net(torch.rand(1, 1, 3, 64, 64))[0].shape) == (1, 6)  # a single frame still works


def test_arch_config_round_trip():
    cfg = ArchConfig(in_channels=1, image_size=64, pool=1, widths=(8, 16), strides=(2, 2), keypoints=4)
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["keypoints"], old["keypoint_block"]  # cards written before keypoints existed
    assert ArchConfig.from_dict(old).keypoints == 0
    full = ArchConfig(in_channels=3, image_size=64, **MOTION)
    assert ArchConfig.from_dict(full.to_dict()) == full
    older = full.to_dict()
    del older["gap"], older["motion"]  # cards written before gap / motion existed
    assert ArchConfig.from_dict(older).motion == () and not ArchConfig.from_dict(older).gap
    with pytest.raises(ValueError, match="same length"):
        JudgeNet(ArchConfig(in_channels=1, image_size=64, widths=(8, 16), strides=(2,)), HEADS)


@pytest.mark.parametrize("opts", [{"keypoints": 0}, {"keypoints": 8}, MOTION], ids=["plain", "keypoints", "gap+motion"])
def test_onnx_export_parity_dynamic_batch_and_time(tmp_path, opts):
    import onnxruntime as ort

    torch.manual_seed(3)
    net = JudgeNet(ArchConfig(in_channels=3, image_size=64, **opts), HEADS).eval()
    path = tmp_path / "j.onnx"
    export_onnx(net, path, torch.rand(4, 8, 3, 64, 64))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["video"]
    assert [o.name for o in sess.get_outputs()] == net.output_names
    gen = torch.Generator().manual_seed(0)
    for b, t in [(1, 8), (3, 8), (17, 8), (2, 5)]:
        x = torch.rand(b, t, 3, 64, 64, generator=gen)
        got = sess.run(None, {"video": x.numpy()})
        with torch.no_grad():
            ref = net(x)
        for g, r in zip(got, ref, strict=True):
            assert g.shape == tuple(r.shape)
            assert np.abs(g - r.numpy()).max() <= 1e-4
    assert onnx_parity(path, net, torch.rand(2, 8, 3, 64, 64)) <= 1e-4


def test_augment_identity_and_range():
    x = torch.rand(4, 3, 3, 16, 16)
    gen = torch.Generator().manual_seed(0)
    same = augment(x.clone(), TrainConfig(noise_max=0.0, blur_p=0.0), gen)
    assert torch.equal(same, x)
    out = augment(x.clone(), TrainConfig(noise_max=0.1, blur_p=1.0, blur_sigma_max=1.0), gen)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    # blur preserves the mean of a constant image (kernel sums to one, replicate padding)
    c = torch.full((2, 2, 1, 8, 8), 0.5)
    blurred = augment(c, TrainConfig(noise_max=0.0, blur_p=1.0, blur_sigma_max=1.0), gen)
    assert torch.allclose(blurred, c, atol=1e-6)


def test_recipe_overrides():
    cfg = recipe_for("sprites", epochs=2, seed=None)
    assert cfg.epochs == 2 and cfg.seed == 0
    assert recipe_for("unknown-dataset") == TrainConfig()


def test_training_learns_and_is_deterministic(tmp_path):
    ds = SyntheticDataset(n=300, seed=1)
    cfg = recipe_for("synthetic", epochs=5, batch_size=16, seed=7)
    a = train_judge(ds, ds.content_hashes, tmp_path / "a", cfg, progress=False)
    b = train_judge(ds, ds.content_hashes, tmp_path / "b", cfg, progress=False)
    # known answer: colour and direction of motion are trivially visible
    assert a.test.factors["color"].sequence >= 0.95
    assert a.test.factors["color"].frame >= 0.95
    assert a.test.factors["motion"].sequence >= 0.9
    assert a.test.factors["motion"].frame is None  # dynamic factors have no frame head
    # deterministic: same seed, same weights and same exported graph
    # (compare tensors, not file bytes: safetensors may order its JSON header differently between saves)
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "a" / "judge.safetensors"))
    wb = load_file(str(tmp_path / "b" / "judge.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.artefacts["judge.onnx"] == b.artefacts["judge.onnx"]
    assert a.recipe["seed"] == 7 and a.recipe["arch"]["in_channels"] == 3
    assert a.test.n == len(ds.indices("test")) and a.val.n == len(ds.indices("val"))
    assert a.onnx_max_abs_diff <= 1e-4
    conf = np.asarray(a.confusion["color"])
    assert conf.shape == (3, 3) and conf.sum() == a.test.n
    assert np.trace(conf) / conf.sum() == pytest.approx(a.test.factors["color"].sequence, abs=1e-6)
