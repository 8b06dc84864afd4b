"""Importing an MSD audio file: the sample rate must be the expected one, else one line, exit 2, nothing written."""

from __future__ import annotations

import json

import h5py
import numpy as np
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import open_dataset
from msd_bench.datasets.importers import run_import

runner = CliRunner()


def _audio_file(path, sample_rate):
    data = np.random.default_rng(0).integers(-3000, 3000, size=(10, 3, 40)).astype(np.int16)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, chunks=(1, 3, 40), compression="gzip")
        f.create_dataset("labels", data=(np.arange(10) % 2)[:, None])
        f.create_dataset("train_indices", data=np.arange(6))
        f.create_dataset("val_indices", data=np.arange(6, 8))
        f.create_dataset("test_indices", data=np.arange(8, 10))
        f.attrs["classes"] = json.dumps({"instrument": {"index": 0, "type": "static", "n_classes": 2,
                                                        "values": {"a": 0, "b": 1}}})
        f.attrs["modality"] = "audio"
        f.attrs["sample_rate"] = sample_rate
    return data


def test_audio_at_16k_imports(tmp_path, cache):
    src = tmp_path / "melodies.h5"
    data = _audio_file(src, 16000)
    (p,) = run_import("msd", src, progress=False)
    ds = open_dataset("melodies")
    assert ds.modality == "audio" and ds.sample_rate == 16000
    np.testing.assert_array_equal(ds.read([4])[0][0], data[4])
    assert p.read_bytes() == src.read_bytes()


def test_audio_at_another_rate_refused(tmp_path, cache):
    src = tmp_path / "melodies22k.h5"
    _audio_file(src, 22050)
    res = runner.invoke(app, ["datasets", "import", "msd", "--from", str(src)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "sample_rate 22050 Hz; expected 16000 Hz" in lines[0] and str(src.name) in lines[0]
    imported = cache / "datasets" / "imported"
    assert not imported.exists() or not any(imported.iterdir())
    # its own rate, when asked for explicitly
    res = runner.invoke(app, ["datasets", "import", "msd", "--from", str(src), "--sample-rate", "22050"])
    assert res.exit_code == 0, res.output
    assert (imported / "melodies22k.h5").is_file()
    res = runner.invoke(app, ["datasets", "import", "mnist", "--from", str(src), "--sample-rate", "8000"])
    assert res.exit_code == 2 and "--sample-rate applies to the msd importer" in res.output


def test_info_and_preview_of_an_audio_dataset(cache, tmp_path):
    res = runner.invoke(app, ["datasets", "info", "dmelodies", "--size", "small"])
    assert res.exit_code == 0 and "T×F = 12×4000 (audio, 16000 Hz)" in res.output
    res = runner.invoke(app, ["datasets", "preview", "dmelodies", "--out", str(tmp_path / "p.png")])
    assert res.exit_code == 2 and "dmelodies is audio" in res.output and not (tmp_path / "p.png").exists()
    res = runner.invoke(app, ["datasets", "list"])
    assert res.exit_code == 0 and "audio" in res.output and "dmelodies" in res.output
