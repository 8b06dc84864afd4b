"""air-quality: traced back to the CSV rows, gap filling, derived factors, splits by date, bad archives."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tarfile

import numpy as np
import pytest
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.datasets import get_spec, open_dataset
from msd_bench.datasets.generators import air_quality as aq
from msd_bench.errors import DatasetError

runner = CliRunner()
COMPASS_DEG = {p: 22.5 * i for i, p in enumerate(
    ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"])}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    import os

    old = os.environ.get("MSD_BENCH_CACHE")
    os.environ["MSD_BENCH_CACHE"] = str(tmp_path_factory.mktemp("aq-cache"))
    try:
        yield open_dataset("air-quality", size="small", progress=False)
    finally:
        if old is None:
            del os.environ["MSD_BENCH_CACHE"]
        else:
            os.environ["MSD_BENCH_CACHE"] = old


def _csv_rows(station: str) -> list[dict]:
    """The station's CSV rows, read independently of the generator (tarfile + csv)."""
    with tarfile.open(aq.DATA_DIR / aq.ARCHIVE_NAME, "r:xz") as tar:
        for m in tar:
            if m.name.endswith(f"PRSA_Data_{station}_20130301-20170228.csv"):
                text = tar.extractfile(m).read().decode()
                return list(csv.DictReader(io.StringIO(text)))
    raise AssertionError(station)


def test_spec_factors_and_values():
    spec = get_spec("air-quality")
    assert spec.modality == "timeseries" and spec.shape == (24, 13) and spec.feature_shape == (13,)
    assert [(f.name, f.type, f.n_classes, f.ignore) for f in spec.factors] == [
        ("station", "static", 12, True), ("year", "static", 5, True), ("month", "static", 12, True),
        ("season", "static", 4, True), ("day", "static", 31, True), ("pm25_level", "static", 4, False),
        ("pm25_peak", "dynamic", 4, False), ("pm25_trend", "dynamic", 2, False)]
    assert spec.factor("station").value_names == ["Aotizhongxin", "Changping", "Dingling", "Dongsi", "Guanyuan",
                                                  "Gucheng", "Huairou", "Nongzhanguan", "Shunyi", "Tiantan",
                                                  "Wanliu", "Wanshouxigong"]
    assert spec.factor("year").value_names == ["2013", "2014", "2015", "2016", "2017"]
    assert spec.factor("month").value_names == [str(m) for m in range(1, 13)]
    assert spec.sizes == {"small": 1584, "full": 17532}


def test_sequences_trace_back_to_the_csv_rows(small):
    stats = json.loads(small.attrs["feature_stats"])
    assert stats["features"] == ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN",
                                 "wd_sin", "wd_cos", "WSPM"]
    mean, std = np.array(stats["mean"]), np.array(stats["std"])
    names = {f.name: f.value_names for f in small.factors}
    lab = small.labels()
    checked = 0
    for station in ("Dongsi", "Huairou"):
        rows = _csv_rows(station)
        by_day = {}
        for r in rows:
            by_day.setdefault((r["year"], r["month"], r["day"]), []).append(r)
        for n in np.nonzero(lab[:, 0] == names["station"].index(station))[0][:40]:
            y, m, d = names["year"][lab[n, 1]], names["month"][lab[n, 2]], names["day"][lab[n, 4]]
            day = by_day[(y, m, d)]
            assert [int(r["hour"]) for r in day] == list(range(24))
            if any("NA" in r.values() for r in day):
                continue  # gap-filled days: test_gap_filling
            raw = []
            for r in day:
                vals = [float(r[c]) for c in ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP",
                                              "RAIN")]
                vals = [math.log1p(v) if i in (0, 1, 2, 3, 4, 5, 9) else v for i, v in enumerate(vals)]
                a = math.radians(COMPASS_DEG[r["wd"]])
                raw.append(vals + [math.sin(a), math.cos(a), float(r["WSPM"])])
            want = (np.array(raw) - mean) / std
            got = small.read([n])[0][0]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
            assert names["season"][lab[n, 3]] == {"12": "winter", "1": "winter", "2": "winter", "3": "spring",
                                                  "4": "spring", "5": "spring", "6": "summer", "7": "summer",
                                                  "8": "summer"}.get(m, "autumn")
            checked += 1
    assert checked >= 20


def test_gap_filling():
    x = np.full((3, 24, 2), np.nan)
    x[0, :, 0] = np.arange(24.0)
    x[0, 5:9, 0] = np.nan  # interior gap -> linear
    x[0, :3, 1] = np.nan  # leading gap -> held at the first valid value
    x[0, 3:, 1] = 7.0
    x[1, :, :] = 2.0
    x[2, :, 1] = 4.0  # day 2, feature 0: all missing -> climatology of (month, hour)
    months = np.array([1, 1, 1])
    out, counts = aq.fill_gaps(x, months)
    np.testing.assert_array_equal(out[0, :, 0], np.arange(24.0))
    np.testing.assert_array_equal(out[0, :, 1], np.full(24, 7.0))
    expected_clim = (np.arange(24.0) + 2.0) / 2  # mean of day 0's valid raw values and day 1's
    expected_clim[5:9] = 2.0  # day 0 had no raw value there: only day 1 contributes
    np.testing.assert_allclose(out[2, :, 0], expected_clim)
    assert counts == {"interpolated": 7, "climatology": 24}
    assert not np.isnan(out).any()


def test_derived_factors_recomputed_from_the_stored_series(small):
    x, lab = small.read(np.arange(small.n))
    stats = json.loads(small.attrs["feature_stats"])
    pm = x[:, :, 0].astype(np.float64)
    blocks = np.stack([pm[:, 6 * b:6 * b + 6].mean(1) for b in range(4)], axis=1)
    assert np.array_equal(lab[:, 6], np.argmax(blocks, axis=1))
    assert np.array_equal(lab[:, 7], (pm[:, 18:].mean(1) > pm[:, :6].mean(1)).astype(int))
    ug = np.expm1(pm.mean(1) * stats["std"][0] + stats["mean"][0])
    assert np.array_equal(lab[:, 5], (ug >= 35).astype(int) + (ug >= 75) + (ug >= 150))
    assert x.dtype == np.float32 and np.isfinite(x).all()


def test_splits_by_date_cover_every_value(small):
    lab = small.labels()
    dates = {s: {tuple(r) for r in small.labels(s)[:, [1, 2, 4]].tolist()} for s in ("train", "val", "test")}
    assert not (dates["train"] & dates["test"]) and not (dates["train"] & dates["val"])
    for s in ("train", "val", "test"):
        ls = small.labels(s)
        for j, n in ((0, 12), (1, 5), (2, 12), (3, 4)):
            assert set(ls[:, j].tolist()) == set(range(n)), (s, j)
        # every station of a date is in the split
        assert ls.shape[0] == 12 * len(dates[s])
    assert lab.shape[0] == 1584


def _bad_data_dir(tmp_path, what: str):
    d = tmp_path / "aqdata"
    shutil.copytree(aq.DATA_DIR, d)
    if what == "archive":
        raw = bytearray((d / aq.ARCHIVE_NAME).read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (d / aq.ARCHIVE_NAME).write_bytes(bytes(raw))
    elif what == "sums":
        text = (d / "SHA256SUMS").read_text().replace(aq.CSV_SHA256["Dongsi"], "0" * 64)
        (d / "SHA256SUMS").write_text(text)
    elif what == "missing":
        (d / aq.ARCHIVE_NAME).unlink()
    return d


@pytest.mark.parametrize("what, message", [
    ("archive", f"sha256 is [0-9a-f]{{64}}; expected {aq.ARCHIVE_SHA256}"),
    ("sums", f"lists 0{{64}} for PRSA_Data_Dongsi_20130301-20170228.csv; expected sha256 {aq.CSV_SHA256['Dongsi']}"),
    ("missing", f"missing; expected the Beijing air-quality archive \\(sha256 {aq.ARCHIVE_SHA256}\\)"),
])
def test_bad_archive_refused_and_nothing_written(tmp_path, cache, monkeypatch, what, message):
    d = _bad_data_dir(tmp_path, what)
    monkeypatch.setattr(aq, "DATA_DIR", d)
    with pytest.raises(DatasetError, match=message):
        aq.build(0)
    res = runner.invoke(app, ["datasets", "prepare", "air-quality", "--size", "small"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert not (cache / "datasets").exists() or not any((cache / "datasets").iterdir())


def test_csv_with_a_bad_row_refused():
    good = _csv_text("Tiantan")
    bad = good.replace('"NNW"', '"XYZ"', 1)
    with pytest.raises(DatasetError, match="wd 16.0|wd -1.0|expected one of N, NNE"):
        aq.parse_csv("Tiantan", bad.encode())
    short = "\n".join(good.split("\n")[:100])
    with pytest.raises(DatasetError, match="expected 35064 rows"):
        aq.parse_csv("Tiantan", short.encode())


def _csv_text(station: str) -> str:
    with tarfile.open(aq.DATA_DIR / aq.ARCHIVE_NAME, "r:xz") as tar:
        for m in tar:
            if m.name.endswith(f"PRSA_Data_{station}_20130301-20170228.csv"):
                return tar.extractfile(m).read().decode()
    raise AssertionError(station)


@pytest.mark.slow
def test_full_prepare_matches_registry(cache):
    ds = open_dataset("air-quality", size="full", progress=False)
    assert ds.n == 17532 and ds.compute_content_hash() == get_spec("air-quality").content_hashes["full"]
