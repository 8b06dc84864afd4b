"""On-disk format v2: modalities (video, audio, timeseries), to_model_input, unchanged video hashes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from msd_bench.datasets import (
    DatasetWriter,
    Factor,
    get_spec,
    open_h5,
    prepare,
    to_model_input,
    verify_file,
    write_h5,
)
from msd_bench.datasets._format import ContentHasher
from msd_bench.errors import DatasetError

FACTORS = [Factor("a", 0, "static", 3, {"x": 0, "y": 1, "z": 2}), Factor("b", 1, "dynamic", 2)]


def _labels_splits(n: int):
    labels = np.stack([np.arange(n) % 3, np.arange(n) % 2], axis=1).astype(np.int64)
    splits = {"train": np.arange(0, n - 6), "val": np.arange(n - 6, n - 3), "test": np.arange(n - 3, n)}
    return labels, splits


def test_video_hash_header_is_format_v1():
    """The v1 hash of a fixed toy (computed with the format-v1 ContentHasher before v2 existed)."""
    rng = np.random.default_rng(0)
    d = rng.integers(0, 256, size=(6, 4, 3, 8, 8), dtype=np.uint8)
    lab = np.stack([np.arange(6) % 3, np.arange(6) % 2], 1)
    sp = {"train": np.arange(4), "val": np.array([4]), "test": np.array([5])}
    h = ContentHasher(d.shape)
    h.update_data(d)
    assert h.finish(lab, sp, "{}") == "27bfc2b5076923ab393b1ce2ce5da3ef5caad2bb2a8bc16d8db929ce1101b1ca"


def test_registry_video_hash_unchanged(cache):
    """moving-digits small, prepared with the v2 writer, has the hash committed before format v2."""
    path = prepare("moving-digits", "small", progress=False)
    ds = open_h5(path)
    assert ds.modality == "video" and ds.feature_shape == (1, 64, 64) and ds.sample_rate is None
    assert ds.compute_content_hash() == "43b97cb10ddcf73402f1ce2de6f8cf3849cbddc18c3371a314c9081a21224d05"
    assert get_spec("moving-digits").content_hashes["small"] == ds.compute_content_hash()
    assert get_spec("sprites").content_hashes == {
        "small": "92a3bde4a29a9e3ec72d33fd5a78b71e10c70565ef445c14ec30a1f1d6144432",
        "full": "7cacb08e2aa2d10171595596fa1ec07ecbeb356489a9279b289e7a46a082655d"}
    assert get_spec("dsprites-dynamic").content_hashes == {
        "small": "ef44ba59c8ef66b9ca4d271e9c10773ee9cc1a2a0ec2a8f987761f1b031d6735",
        "full": "425b120b478f0a91eb11eb6f420d0f8824ec9a6cfc3583dc253c091de16bccfb"}


def test_file_without_modality_attribute_opens_as_video(tmp_path):
    """MSD's files carry no `modality`: they open as video."""
    n = 10
    labels, splits = _labels_splits(n)
    path = tmp_path / "v.h5"
    write_h5(path, np.zeros((n, 2, 1, 4, 4), np.uint8), labels, splits, FACTORS, {"name": "v"})
    with h5py.File(path, "a") as f:
        del f.attrs["modality"]
    ds = open_h5(path)
    assert ds.modality == "video" and ds.shape == (2, 1, 4, 4)
    x, _ = next(ds.batches("train"))
    assert x.dtype == torch.float32 and x.shape == (4, 2, 1, 4, 4)


def test_audio_roundtrip(tmp_path):
    n, t, f = 12, 3, 50
    rng = np.random.default_rng(1)
    data = rng.integers(-32768, 32768, size=(n, t, f)).astype(np.int16)
    labels, splits = _labels_splits(n)
    path = tmp_path / "a.h5"
    h = write_h5(path, data, labels, splits, FACTORS, {"name": "a", "modality": "audio", "sample_rate": 8000})
    ds = open_h5(path)
    assert (ds.modality, ds.shape, ds.feature_shape, ds.sample_rate) == ("audio", (t, f), (f,), 8000)
    got, lab = ds.read([3, 1, 3])
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, data[[3, 1, 3]])
    assert verify_file(path) == h
    x, _ = next(ds.batches("test"))
    np.testing.assert_array_equal(x.numpy(), data[splits["test"]].astype(np.float32) / 32768.0)
    item, _ = ds.torch_dataset("val")[0]
    assert item.dtype == torch.float32 and item.shape == (t, f)
    assert float(item.abs().max()) < 1.0 + 1e-9


def test_timeseries_roundtrip_and_hash_depends_on_dtype(tmp_path):
    n, t, v = 12, 24, 13
    data = np.random.default_rng(2).normal(size=(n, t, v)).astype(np.float32)
    labels, splits = _labels_splits(n)
    path = tmp_path / "ts.h5"
    h = write_h5(path, data, labels, splits, FACTORS, {"name": "ts"}, modality="timeseries")
    ds = open_h5(path)
    assert (ds.modality, ds.feature_shape, ds.sample_rate) == ("timeseries", (v,), None)
    x, _ = next(ds.batches("train", batch_size=3))
    np.testing.assert_array_equal(x.numpy(), data[:3])
    assert verify_file(path) == h
    # the same bytes declared as another dtype hash differently
    h2 = ContentHasher(data.shape, np.int16)
    h2.update_data(data.view(np.int16))
    h3 = ContentHasher(data.shape, np.float32)
    h3.update_data(data)
    assert h2.finish(labels, splits, "{}") != h3.finish(labels, splits, "{}")


def test_to_model_input():
    v = np.array([[0, 255, 51]], dtype=np.uint8)
    assert torch.allclose(to_model_input(v, "video"), torch.tensor([[0.0, 1.0, 0.2]]))
    a = torch.tensor([-32768, 0, 16384], dtype=torch.int16)
    assert to_model_input(a, "audio").tolist() == [-1.0, 0.0, 0.5]
    ts = np.array([1.5, -2.0], dtype=np.float64)
    out = to_model_input(ts, "timeseries")
    assert out.dtype == torch.float32 and out.tolist() == [1.5, -2.0]
    src = torch.zeros(2, dtype=torch.uint8, device="meta")
    assert to_model_input(src, "video").device.type == "meta"  # keeps the input's device
    with pytest.raises(DatasetError, match="audio block has dtype torch.uint8; expected the stored int16"):
        to_model_input(v, "audio")
    with pytest.raises(DatasetError, match="timeseries block has dtype"):
        to_model_input(v, "timeseries")
    with pytest.raises(DatasetError, match="modality 'image'; expected one of video, audio, timeseries"):
        to_model_input(v, "image")


def test_bad_v2_files_refused(tmp_path):
    n = 10
    labels, splits = _labels_splits(n)
    # audio without sample_rate: the writer refuses, nothing written
    path = tmp_path / "nosr.h5"
    with pytest.raises(DatasetError, match="needs the attribute sample_rate"):
        write_h5(path, np.zeros((n, 2, 8), np.int16), labels, splits, FACTORS, {"modality": "audio"})
    assert not path.exists() and not list(tmp_path.iterdir())
    # a wrong dtype for the modality
    with pytest.raises(DatasetError, match="expected int16"):
        with DatasetWriter(tmp_path / "x.h5", n, (2, 8), FACTORS, {"sample_rate": 10}, modality="audio") as w:
            w.write(np.zeros((n, 2, 8), np.float32))
    assert not list(tmp_path.iterdir())
    # wrong rank for the modality
    with pytest.raises(DatasetError, match=r"expected rank 3 \[N, T, V\] for timeseries"):
        write_h5(tmp_path / "r.h5", np.zeros((n, 2, 1, 8), np.float32), labels, splits, FACTORS,
                 modality="timeseries")
    # foreign files: audio without sample_rate, wrong dtype, unknown modality
    for name, data, attrs, msg in [
        ("a.h5", np.zeros((n, 2, 8), np.int16), {"modality": "audio"}, "needs an integer attribute sample_rate"),
        ("b.h5", np.zeros((n, 2, 8), np.float64), {"modality": "timeseries"}, "dtype float64; expected float32"),
        ("c.h5", np.zeros((n, 2, 8), np.uint8), {"modality": "smell"}, "modality 'smell'; expected one of"),
        ("d.h5", np.zeros((n, 2, 8), np.int16), {}, r"expected rank 5 \[N, T, C, H, W\] for modality video"),
    ]:
        p = tmp_path / name
        with h5py.File(p, "w") as f:
            f.create_dataset("data", data=data)
            f.create_dataset("labels", data=labels)
            for s, ind in splits.items():
                f.create_dataset(f"{s}_indices", data=ind)
            f.attrs["classes"] = '{"a":{"index":0,"type":"static","n_classes":3},' \
                                 '"b":{"index":1,"type":"dynamic","n_classes":2}}'
            for k, v in attrs.items():
                f.attrs[k] = v
        with pytest.raises(DatasetError, match=msg):
            open_h5(p)
