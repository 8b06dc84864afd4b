"""On-disk format: writer, reader, validator, content hash, bad input."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import DatasetWriter, Factor, open_h5, verify_file, write_h5
from msd_bench.datasets._format import ContentHasher, classes_json
from msd_bench.errors import DatasetError

runner = CliRunner()

FACTORS = [
    Factor("colour", 0, "static", 3, {"red": 0, "green": 1, "blue": 2}),
    Factor("motion", 1, "dynamic", 2, {"up": 0, "down": 1}),
]


def _toy(n: int = 20, t: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, t, 3, 8, 8), dtype=np.uint8)
    labels = np.stack([np.arange(n) % 3, np.arange(n) % 2], axis=1).astype(np.int64)
    splits = {"train": np.arange(0, 14), "val": np.arange(14, 17), "test": np.arange(17, n)}
    return data, labels, splits


def _write(path, **kw):
    data, labels, splits = _toy()
    attrs = {"name": "toy", "version": "0.1", "seed": 0, "size": "small"}
    return write_h5(path, kw.get("data", data), kw.get("labels", labels), kw.get("splits", splits),
                    kw.get("factors", FACTORS), attrs)


def _write_raw(path, data, labels, splits, classes, **attrs):
    """Write a file directly with h5py (bypassing our writer's checks), like a foreign tool would."""
    with h5py.File(path, "w") as f:
        if data is not None:
            f.create_dataset("data", data=data)
        if labels is not None:
            f.create_dataset("labels", data=labels)
        for s, ind in splits.items():
            f.create_dataset(f"{s}_indices", data=ind)
        if classes is not None:
            f.attrs["classes"] = classes
        for k, v in attrs.items():
            f.attrs[k] = v


def test_roundtrip_layout_and_reads(tmp_path):
    data, labels, splits = _toy()
    path = tmp_path / "toy.h5"
    h = _write(path)
    with h5py.File(path) as f:
        assert f["data"].dtype == np.uint8 and f["data"].shape == (20, 4, 3, 8, 8)
        assert f["data"].chunks == (1, 4, 3, 8, 8)
        assert f["data"].compression == "gzip"
        assert json.loads(f.attrs["classes"])["motion"] == {
            "index": 1, "type": "dynamic", "n_classes": 2, "ignore": False, "values": {"up": 0, "down": 1}}
        assert f.attrs["content_hash"] == h
    ds = open_h5(path)
    assert ds.n == 20 and ds.shape == (4, 3, 8, 8) and ds.name == "toy" and ds.version == "0.1"
    assert [f.name for f in ds.factors] == ["colour", "motion"]
    assert ds.factors[0].value_names == ["red", "green", "blue"]
    np.testing.assert_array_equal(ds.indices("val"), [14, 15, 16])
    np.testing.assert_array_equal(ds.labels("test"), labels[17:])
    # arbitrary order, duplicates
    x, y = ds.read([5, 2, 2, 19])
    np.testing.assert_array_equal(x, data[[5, 2, 2, 19]])
    np.testing.assert_array_equal(y, labels[[5, 2, 2, 19]])
    # batches: float in [0, 1], index order, limit
    got = list(ds.batches("train", batch_size=4, limit=10))
    assert [b[0].shape[0] for b in got] == [4, 4, 2]
    xb = torch.cat([b[0] for b in got])
    assert xb.dtype == torch.float32 and xb.shape == (10, 4, 3, 8, 8)
    torch.testing.assert_close(xb, torch.from_numpy(data[:10]).float() / 255)
    assert torch.cat([b[1] for b in got]).dtype == torch.int64
    # torch dataset
    tds = ds.torch_dataset("test")
    assert len(tds) == 3
    x0, y0 = tds[1]
    torch.testing.assert_close(x0, torch.from_numpy(data[18]).float() / 255)
    assert y0.tolist() == labels[18].tolist()


def test_content_hash_is_over_decoded_content_not_file_bytes(tmp_path):
    data, labels, splits = _toy()
    h1 = _write(tmp_path / "a.h5")
    # same content, different compression -> different bytes, same content hash
    _write_raw(tmp_path / "b.h5", data, labels, splits, classes_json(FACTORS))
    assert (tmp_path / "a.h5").read_bytes() != (tmp_path / "b.h5").read_bytes()
    assert open_h5(tmp_path / "b.h5").content_hash == h1  # computed (no attribute)
    assert verify_file(tmp_path / "a.h5") == h1
    # known answer: the definition in _format.ContentHasher
    hh = ContentHasher(data.shape)
    hh.update_data(data)
    assert hh.finish(labels, splits, classes_json(FACTORS)) == h1
    # changing one pixel changes the hash
    data2 = data.copy()
    data2[3, 0, 0, 0, 0] ^= 1
    assert _write(tmp_path / "c.h5", data=data2) != h1


def test_msd_style_file_opens_as_is(tmp_path):
    """An MSD benchmark file: only data/labels/*_indices/classes, int32 labels, no msd-bench attrs."""
    data, labels, splits = _toy()
    classes = json.dumps({"motion": {"index": 1, "type": "dynamic", "n_classes": 2, "ignore": False,
                                     "values": {"up": 0, "down": 1}},
                          "colour": {"index": 0, "type": "static", "n_classes": 3, "ignore": True,
                                     "values": {"red": 0, "green": 1, "blue": 2}}})
    _write_raw(tmp_path / "msd.h5", data, labels.astype(np.int32),
               {k: v.astype(np.int32) for k, v in splits.items()}, classes)
    ds = open_h5(tmp_path / "msd.h5")
    assert [f.name for f in ds.factors] == ["colour", "motion"] and ds.factors[0].ignore
    assert ds.name == "msd" and ds.labels().dtype == np.int64
    x, y = next(ds.batches("val", batch_size=8))
    assert x.shape == (3, 4, 3, 8, 8) and y.tolist() == labels[14:17].tolist()


def test_reopens_after_fork(tmp_path):
    data, _, _ = _toy()
    path = tmp_path / "toy.h5"
    _write(path)
    ds = open_h5(path)
    ds.read([0])  # opens the handle in this process
    pid = os.fork()
    if pid == 0:  # child: must reopen its own handle and read correctly
        ok = np.array_equal(ds.read([7])[0][0], data[7])
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    np.testing.assert_array_equal(ds.read([8])[0][0], data[8])


# ------------------------------------------------------------------------------------------- bad input

def _bad_file_cli(path, msg):
    res = runner.invoke(app, ["datasets", "info", str(path)])
    assert res.exit_code == 2, res.output
    assert msg in res.output
    assert "Traceback" not in res.output
    return res


def test_truncated_and_corrupt_files(tmp_path):
    path = tmp_path / "toy.h5"
    _write(path)
    raw = path.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(raw[: len(raw) // 3])
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all" * 10)
    for name in ("trunc.h5", "junk.h5"):
        with pytest.raises(DatasetError, match="not a readable HDF5"):
            open_h5(tmp_path / name)
        _bad_file_cli(tmp_path / name, "truncated or corrupt")


def test_missing_key_and_attribute(tmp_path):
    data, labels, splits = _toy()
    _write_raw(tmp_path / "nolab.h5", data, None, splits, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "nolab.h5", "missing key(s) labels")
    _write_raw(tmp_path / "nocls.h5", data, labels, splits, None)
    _bad_file_cli(tmp_path / "nocls.h5", "missing attribute 'classes'")
    _write_raw(tmp_path / "badjson.h5", data, labels, splits, "{not json")
    _bad_file_cli(tmp_path / "badjson.h5", "'classes' is not valid JSON")


def test_wrong_dtype_and_rank(tmp_path):
    data, labels, splits = _toy()
    _write_raw(tmp_path / "f.h5", data.astype(np.float32), labels, splits, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "f.h5", "data has dtype float32; expected uint8")
    _write_raw(tmp_path / "r.h5", data[:, 0], labels, splits, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "r.h5", "expected rank 5 [N, T, C, H, W]")
    _write_raw(tmp_path / "l.h5", data, labels[:, :1], splits, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "l.h5", "labels has 1 columns but classes describes 2 factors")


def test_labels_outside_classes(tmp_path):
    data, labels, splits = _toy()
    bad = labels.copy()
    bad[4, 0] = 3
    _write_raw(tmp_path / "x.h5", data, bad, splits, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "x.h5", "labels[:, 0] (colour) contains 3; expected values in [0, 3)")
    # the writer refuses too, and leaves nothing behind
    with pytest.raises(DatasetError, match=r"contains 3; expected values in \[0, 3\)"):
        _write(tmp_path / "w.h5", labels=bad)
    assert list(tmp_path.glob("w.h5*")) == [] and list(tmp_path.glob(".w.h5*")) == []


def test_overlapping_splits(tmp_path):
    data, labels, splits = _toy()
    over = dict(splits, test=np.array([16, 17, 18, 19]))
    _write_raw(tmp_path / "o.h5", data, labels, over, classes_json(FACTORS))
    _bad_file_cli(tmp_path / "o.h5", "test_indices and val_indices overlap (e.g. index 16)")
    with pytest.raises(DatasetError, match="overlap"):
        _write(tmp_path / "w.h5", splits=over)
    assert not any(tmp_path.glob("*w.h5*"))


def test_content_hash_mismatch_detected(tmp_path):
    path = tmp_path / "toy.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        f["data"][2, 0, 0, 0, 0] = (int(f["data"][2, 0, 0, 0, 0]) + 1) % 256
    res = runner.invoke(app, ["datasets", "verify", str(path)])
    assert res.exit_code == 2 and "does not match the declared content_hash" in res.output
    _write(tmp_path / "ok.h5")
    with pytest.raises(DatasetError, match="does not match the registry"):
        verify_file(tmp_path / "ok.h5", expected="0" * 64)


def test_writer_interrupted_leaves_nothing(tmp_path):
    data, labels, splits = _toy()
    path = tmp_path / "x.h5"
    with pytest.raises(KeyboardInterrupt):
        with DatasetWriter(path, 20, (4, 3, 8, 8), FACTORS, {}) as w:
            w.write(data[:10])
            raise KeyboardInterrupt
    with pytest.raises(DatasetError, match="without finish"):
        with DatasetWriter(path, 20, (4, 3, 8, 8), FACTORS, {}) as w:
            w.write(data[:20])
    with pytest.raises(DatasetError, match="expected uint8"):
        with DatasetWriter(path, 20, (4, 3, 8, 8), FACTORS, {}) as w:
            w.write(data[:10].astype(np.int16))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layout", ["writer", "uncompressed_chunks", "other_chunks", "contiguous", "shuffled"])
def test_chunk_reads_equal_h5py_selections(tmp_path, layout):
    """The raw-chunk fast path of ``read`` (the writer's layout, or unfiltered per-sequence chunks) and
    h5py's selection path (every other layout) give the stored sequences, in the requested order."""
    data, labels, splits = _toy()
    path = tmp_path / "toy.h5"
    if layout == "writer":
        _write(path)
    else:
        opts = {"uncompressed_chunks": {"chunks": (1, *data.shape[1:])},
                "other_chunks": {"chunks": (2, *data.shape[1:]), "compression": "gzip"},
                "contiguous": {},
                "shuffled": {"chunks": (1, *data.shape[1:]), "compression": "gzip", "shuffle": True}}[layout]
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=data, **opts)
            f.create_dataset("labels", data=labels)
            for s, ind in splits.items():
                f.create_dataset(f"{s}_indices", data=ind)
            f.attrs["classes"] = classes_json(FACTORS)
    ds = open_h5(path)
    with h5py.File(path, "r") as f:
        fast = ds._read_chunks(f["data"], np.arange(3))
    assert (fast is not None) == (layout in ("writer", "uncompressed_chunks"))
    order = np.array([7, 2, 2, 19, 0, 11])
    got, lab = ds.read(order)
    assert got.dtype == np.uint8 and np.array_equal(got, data[order]) and np.array_equal(lab, labels[order])


def test_corrupt_chunk_is_a_one_line_error(tmp_path):
    path = tmp_path / "toy.h5"
    _write(path)
    with h5py.File(path, "r") as f:
        offset = f["data"].id.get_chunk_info(5).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset:offset + 64] = bytes(64)  # zero the start of sequence 5's deflate stream
    path.write_bytes(bytes(raw))
    ds = open_h5(path)
    with pytest.raises(DatasetError, match=r"cannot read data\[5\] \(truncated or corrupt file\?\)"):
        ds.read([4, 5])
