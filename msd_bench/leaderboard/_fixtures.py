"""Hand-made result records for tests, the benchmark script and examples (no model is run).

:func:`make_result` builds a schema-valid :class:`~msd_bench.harness.results.Result` from a few
numbers, and :func:`example_revisions` the matching "current revisions", so that a store can be
written and checked without datasets or judges on disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .. import PROTOCOL
from ..harness.results import (
    DatasetRef,
    JudgeRef,
    Result,
    RunSettings,
    Score,
    SubmissionRef,
)
from .store import DatasetRevision, Revisions

DATASET_VERSION = "1.0"
JUDGE_SHA = "a" * 64
CARD_SHA = "c" * 64


def content_hash(dataset: str, size: str = "small") -> str:
    """A stable fake content hash of ``dataset`` at ``size``."""
    return hashlib.sha256(f"{dataset}/{size}".encode()).hexdigest()


def make_score(value: float | None, higher_is_better: bool | None = True, ci: float | None = 0.01,
               status: str = "ok", version: str = "1", n: int = 100) -> Score:
    """A Score: ``value`` with the interval ``value ± ci`` (no interval when ``ci`` is None)."""
    if status != "ok" or value is None:
        return Score(value=None, version=version, higher_is_better=higher_is_better, status=status,
                     reason="made-up reason", n=0)
    lo = None if ci is None else value - ci
    hi = None if ci is None else value + ci
    return Score(value=value, ci_low=lo, ci_high=hi, n=n, version=version, higher_is_better=higher_is_better)


def make_result(
    submission: str = "model-a",
    version: str = "1.0",
    dataset: str = "sprites",
    scores: Mapping[str, float | Score | None] | None = None,
    directions: Mapping[str, bool | None] | None = None,
    protocol: str = PROTOCOL,
    latency_ms: float | None = 5.0,
    throughput: float | None = 1000.0,
    fingerprint: str = "machine-1",
    status: str = "complete",
    judge_sha: tuple[str, ...] = (JUDGE_SHA, CARD_SHA),
    dataset_version: str = DATASET_VERSION,
    size: str = "full",
    started_at: str = "2026-11-01T10:00:00+00:00",
    parameters: int | None = 12345,
    fmt: str = "onnx",
    static_dim: int = 8,
    dynamic_dim: int = 4,
    submission_hash: str | None = None,
    ceiling: Mapping[str, float] | None = None,
) -> Result:
    """A schema-valid result with the given scores (``float`` -> ok score with a ±0.01 interval).

    ``directions`` gives ``higher_is_better`` per metric (default True). ``latency_ms=None`` and
    ``throughput=None`` together give a result without a benchmark report.
    """
    scores = {"acc": 0.5, "mse": 0.1} if scores is None else scores
    directions = directions or {}
    built = {}
    for name, v in scores.items():
        if isinstance(v, Score):
            built[name] = v
        elif v is None:
            built[name] = make_score(None, directions.get(name, True), status="not_applicable")
        else:
            built[name] = make_score(float(v), directions.get(name, True))
    bench: dict[str, Any] | None = None
    if latency_ms is not None or throughput is not None:
        bench = {
            "device": "cpu",
            "latency": {"p50_ms": latency_ms, "p90_ms": None, "p99_ms": None, "mean_ms": latency_ms},
            "throughput": {"reconstruct_seq_per_s": throughput},
            "fingerprint": fingerprint,
            "verdict": "VALID",
            "parameters": parameters,
        }
    ceiling = {"colour": 0.99, "action": 1.0} if ceiling is None else ceiling
    files = ["judge.onnx", "card.json", "judge.safetensors"]
    return Result(
        protocol=protocol,
        harness_version="0.1.0",
        dataset=DatasetRef(
            name=dataset, version=dataset_version, content_hash=content_hash(dataset, size), size=size,
            split="test", n=100,
        ),
        judge=JudgeRef(
            backend="onnx",
            sha256=dict(zip(files, judge_sha, strict=False)),
            ceiling={f: {"sequence": a, "frame": a} for f, a in ceiling.items()},
        ),
        submission=SubmissionRef(
            name=submission,
            version=version,
            format=fmt,
            uri=f"submissions/{submission}",
            sha256={"encoder.onnx": "0" * 64},
            submission_hash=submission_hash or hashlib.sha256(f"{submission}@{version}".encode()).hexdigest(),
            static_dim=static_dim,
            dynamic_dim=dynamic_dim,
            parameters=parameters,
        ),
        settings=RunSettings(seed=0, batch_size=64, device="cpu", metrics=sorted(built)),
        environment={"fingerprint": fingerprint, "python": "3.11"},
        scores=built,
        benchmark=bench,
        status=status,
        started_at=started_at,
        finished_at=started_at,
    )


def example_revisions(datasets: tuple[str, ...] = ("sprites",), protocol: str = PROTOCOL) -> Revisions:
    """Current revisions matching :func:`make_result`'s defaults for ``datasets``."""
    return Revisions(
        protocol=protocol,
        datasets={
            d: DatasetRevision(DATASET_VERSION, {"small": content_hash(d, "small"), "full": content_hash(d, "full")})
            for d in datasets
        },
        judges={d: {JUDGE_SHA, CARD_SHA, "b" * 64} for d in datasets},
    )
