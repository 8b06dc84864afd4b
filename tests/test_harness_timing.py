"""Timing: percentile validity, FLOP counts against a hand count, the bench command, results I/O."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import MsdBenchError
from msd_bench.harness import load_submission
from msd_bench.harness.examples import build_example
from msd_bench.harness.results import read_result
from msd_bench.harness.timing import MIN_QUERIES_P90, MIN_QUERIES_P99, bench_model, count_flops, percentiles

runner = CliRunner()
SHAPE = (4, 3, 16, 16)


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    root = tmp_path_factory.mktemp("timing")
    for fmt in ("onnx", "torch"):
        build_example(root / fmt, fmt, dataset="toy", shape=SHAPE, input_shape_in_manifest=True)
    return root


def test_percentiles_need_enough_queries():
    few = percentiles([0.001] * (MIN_QUERIES_P90 - 1))
    assert few["p50_ms"] == pytest.approx(1.0) and few["p90_ms"] is None and few["p99_ms"] is None
    some = percentiles([0.001] * MIN_QUERIES_P90)
    assert some["p90_ms"] == pytest.approx(1.0) and some["p99_ms"] is None
    many = percentiles([i / 1000 for i in range(1, MIN_QUERIES_P99 + 1)])
    assert many["p99_ms"] == pytest.approx(655.39, abs=0.01)  # numpy's linear interpolation


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_flops_match_hand_count(subs, fmt):
    model = load_submission(subs / fmt, trust_code=True)
    t, c, h, w = SHAPE
    feat = c * (h // 8) * (w // 8)
    s, d = model.static_dim, model.dynamic_dim
    # static head on the frame mean, dynamic head per frame, decoder per frame (2 FLOPs per MAC)
    expected = 2 * feat * s + 2 * t * feat * d + 2 * t * (s + d) * feat
    flops, method = count_flops(model, SHAPE)
    assert flops == expected, method


def test_bench_report_and_verdict(subs):
    model = load_submission(subs / "onnx")
    report = bench_model(model, SHAPE, queries=MIN_QUERIES_P90, warmup=2, batch_size=8, repeats=2)
    assert report.verdict == "INVALID" and any("p99" in r for r in report.reasons)
    assert report.latency["p90_ms"] is not None and report.latency["p99_ms"] is None
    assert set(report.throughput) == {"encode_seq_per_s", "decode_seq_per_s", "swap_seq_per_s",
                                      "reconstruct_seq_per_s"}
    assert all(v > 0 for v in report.throughput.values())
    assert report.parameters == model.parameter_count() > 0
    assert report.peak_memory_bytes > 0 and len(report.fingerprint) == 16


def test_bench_cli_writes_json(subs, tmp_path):
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", str(subs / "onnx"), "--device", "cpu", "--queries", "662",
                                 "--batch-size", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["verdict"] == "VALID" and data["latency"]["p99_ms"] is not None
    assert data["providers"] == ["CPUExecutionProvider"]


def test_read_result_errors(tmp_path):
    with pytest.raises(MsdBenchError, match="does not exist"):
        read_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MsdBenchError, match="malformed JSON"):
        read_result(bad)
    bad.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(MsdBenchError, match="not a msd-bench result"):
        read_result(bad)
