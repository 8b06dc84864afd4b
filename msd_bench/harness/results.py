"""The result record of one evaluation (pydantic, ``extra="forbid"``, JSON Schema in ``docs/``).

One JSON file per (submission, version, dataset): every setting, version and hash needed to trace
and reproduce each number. Written atomically.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from .._io import atomic_write_text
from ..errors import MsdBenchError
from .manifest import NAME_RULE, Name

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Score(_Strict):
    """One metric's value with its uncertainty, or why it has none (numbers are finite: no NaN / Inf)."""

    value: FiniteFloat | None = None
    ci_low: FiniteFloat | None = Field(None, description="Lower end of the 95 % interval (bootstrap or repeats).")
    ci_high: FiniteFloat | None = None
    std: FiniteFloat | None = Field(None, description="Standard deviation over seeded repeats, when repeats > 1.")
    n: int | None = Field(None, description="Number of samples the value is computed on.")
    version: str = Field(..., description="Version of the metric's definition.")
    higher_is_better: bool | None = None
    status: Literal["ok", "not_applicable", "error"] = "ok"
    reason: str | None = Field(None, description="Why the metric is not applicable or failed.")
    details: dict[str, Any] = Field(default_factory=dict, description="Per-factor breakdowns, matrices.")


class DatasetRef(_Strict):
    name: Name
    version: str
    content_hash: str
    size: str
    split: str
    n: int


class JudgeRef(_Strict):
    backend: str
    sha256: dict[str, str]
    providers: list[str] = Field(default_factory=list)
    ceiling: dict[str, dict[str, FiniteFloat]] = Field(
        default_factory=dict, description="The judge's own test accuracy per factor (the oracle row)."
    )


class SubmissionRef(_Strict):
    name: Name
    version: Name
    format: str
    uri: str
    hub_commit: str | None = None
    sha256: dict[str, str]
    submission_hash: str = Field(..., description="sha256 over the manifest and the artefacts' hashes.")
    static_dim: int
    dynamic_dim: int
    parameters: int | None = None


class RunSettings(_Strict):
    seed: int
    batch_size: int
    device: str
    dtype: str = "float32"
    limit: int | None = None
    repeats: int = 1
    metrics: list[str]


class Timing(_Strict):
    phases_s: dict[str, FiniteFloat] = Field(default_factory=dict, description="Harness wall time per phase.")
    model_s: FiniteFloat | None = Field(None, description="Time inside the submission's encode / decode / priors.")
    judge_s: FiniteFloat | None = Field(None, description="Time inside the judge.")
    wall_s: FiniteFloat | None = None
    overhead: FiniteFloat | None = Field(None, description="wall_s / (model_s + judge_s).")


class Result(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    protocol: Name = Field(..., description=f"Benchmark protocol ({NAME_RULE}).")
    harness_version: str
    git_sha: str | None = None
    dataset: DatasetRef
    judge: JudgeRef | None = None
    submission: SubmissionRef
    settings: RunSettings
    environment: dict[str, Any]
    scores: dict[str, Score] = Field(default_factory=dict)
    timing: Timing = Field(default_factory=Timing)
    benchmark: dict[str, Any] | None = Field(None, description="`msd-bench bench` report, when measured.")
    status: Literal["complete", "partial", "failed"]
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Finished metric group -> the metrics it produced."
    )
    missing: list[str] = Field(default_factory=list, description="Metric groups not (yet) computed.")
    errors: dict[str, str] = Field(default_factory=dict, description="Metric group -> one-line error.")
    started_at: str
    finished_at: str | None = None

    def to_frame(self):
        """The scores as a pandas DataFrame: one row per metric (index ``metric``, sorted), with the
        key columns ``protocol, dataset, size, submission, version`` and the score's fields
        (:data:`FRAME_COLUMNS`; ``details`` left out). pandas is imported on first use.
        """
        import pandas as pd

        key = {"protocol": self.protocol, "dataset": self.dataset.name, "size": self.dataset.size,
               "submission": self.submission.name, "version": self.submission.version}
        rows = [{**key, "metric": name, **s.model_dump(include=set(FRAME_COLUMNS))}
                for name, s in sorted(self.scores.items())]
        frame = pd.DataFrame(rows, columns=[*key, "metric", *FRAME_COLUMNS])
        return frame.set_index("metric")


#: Columns of :meth:`Result.to_frame` after the key columns.
FRAME_COLUMNS = ["value", "ci_low", "ci_high", "std", "n", "version", "higher_is_better", "status", "reason"]


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_result(result: Result, path: str | Path) -> Path:
    """Write ``result`` as sorted, indented JSON, atomically."""
    path = Path(path)
    text = json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    atomic_write_text(path, text)
    return path


def read_result(path: str | Path) -> Result:
    """Read and validate a result JSON; one-line errors for a missing or malformed file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MsdBenchError(f"result file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MsdBenchError(f"{path}: malformed JSON ({exc.__class__.__name__}: {exc})") from None
    try:
        return Result.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        got = f" (got {err['input']!r})" if err["type"] in ("string_pattern_mismatch", "finite_number") else ""
        raise MsdBenchError(f"{path}: not a msd-bench result: {loc}: {err['msg']}{got}") from None


def result_schema_text() -> str:
    schema = Result.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "msd-bench evaluation result"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
