"""The judge card: everything needed to trust, trace and reproduce a frozen judge.

A card (``card.json``, next to ``judge.onnx`` and ``judge.safetensors``) records the benchmark protocol,
the dataset revision the judge was trained on (name, version, content hashes), the sha256 of every
artefact, the per-factor test accuracy of the sequence heads and of the frame heads, the confusion
matrices of the sequence heads on the test split, the full training recipe, the training time and the
versions of the libraries that produced it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._io import atomic_path
from ..errors import JudgeError

CARD_VERSION = 1

#: Quality targets of every built-in judge (sequence heads, frame heads of static factors).
TARGET_SEQUENCE = 0.99
TARGET_FRAME = 0.98

ONNX_FILE = "judge.onnx"
WEIGHTS_FILE = "judge.safetensors"
CARD_FILE = "card.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardFactor(_Strict):
    """A classified factor, as the dataset declares it (label column ``index``)."""

    name: str
    index: int
    type: Literal["static", "dynamic"]
    n_classes: int = Field(ge=1)
    values: dict[str, int] = Field(default_factory=dict)
    ignore: bool = False


class DatasetRevision(_Strict):
    """The dataset revision a judge belongs to."""

    name: str
    version: str
    size: str = Field(description="the size ('full' or 'small') the judge was trained on")
    content_hash: str = Field(description="content hash of the file the judge was trained on")
    content_hashes: dict[str, str] = Field(description="registry content hash of every size")
    shape: list[int] = Field(description="one sequence: (T, C, H, W) for video, (T, F) for audio / timeseries")
    modality: Literal["video", "audio", "timeseries"] = "video"


class Artefact(_Strict):
    sha256: str
    bytes: int


class FactorAccuracy(_Strict):
    """Accuracy of one factor: sequence head, and frame head (static factors only; else None)."""

    sequence: float
    frame: float | None = None


class SplitScore(_Strict):
    """Accuracies on one split of one dataset size."""

    split: str
    size: str
    n: int
    factors: dict[str, FactorAccuracy]


class JudgeCard(_Strict):
    """Pydantic model of ``card.json``."""

    card_version: int = CARD_VERSION
    protocol: str
    dataset: DatasetRevision
    factors: list[CardFactor]
    left_out: dict[str, str] = Field(
        default_factory=dict,
        description="factors the judge does not score (marked ignore by the dataset, so no metric uses them), "
                    "with the evidence why: their heads are untrained and outside the quality target",
    )
    artefacts: dict[str, Artefact]
    test: SplitScore = Field(description="test accuracy on the size the judge was trained on")
    val: SplitScore
    extra_tests: list[SplitScore] = Field(
        default_factory=list, description="test accuracy on the other sizes of the dataset (e.g. small)"
    )
    confusion: dict[str, list[list[int]]] = Field(
        description="test confusion matrix of every sequence head: rows = true class, cols = predicted"
    )
    frame_confusion: dict[str, list[list[int]]] = Field(
        default_factory=dict, description="test confusion matrix of every frame head (all frames)"
    )
    targets: dict[str, float] = Field(default_factory=lambda: {"sequence": TARGET_SEQUENCE, "frame": TARGET_FRAME})
    quality_met: bool
    below_target: list[str] = Field(default_factory=list, description="'factor/sequence' or 'factor/frame'")
    onnx_max_abs_diff: float = Field(description="max |ONNX - torch| logit difference on a test batch")
    recipe: dict
    best_epoch: int
    train_sequences: int | None = Field(default=None, description="sequences in the train split")
    train_steps: int | None = Field(default=None, description="optimiser steps (batches) in total")
    history: list[dict] = Field(default_factory=list, description="per-epoch train loss and val accuracy")
    training_seconds: float
    parameters: int
    versions: dict[str, str]

    # ------------------------------------------------------------------ helpers
    def ceiling(self) -> dict[str, dict[str, float | None]]:
        """``{factor: {"sequence": acc, "frame": acc or None}}`` on the test split (the oracle row)."""
        return {
            name: {"sequence": acc.sequence, "frame": acc.frame} for name, acc in self.test.factors.items()
        }

    def score_for(self, size: str) -> SplitScore | None:
        """The recorded test score for dataset ``size`` (None when the card has none)."""
        for s in [self.test, *self.extra_tests]:
            if s.size == size:
                return s
        return None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def write(self, path: str | Path) -> None:
        """Write the card atomically."""
        with atomic_path(path, suffix=".json") as tmp:
            tmp.write_text(self.to_json(), encoding="utf-8")
            os.chmod(tmp, 0o644)

    @classmethod
    def read(cls, path: str | Path) -> JudgeCard:
        """Read and validate ``card.json``; raises :class:`JudgeError` on a missing or invalid card."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JudgeError(f"judge card {path} not found") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise JudgeError(f"judge card {path} is not valid JSON: {exc}") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            raise JudgeError(f"judge card {path}: field '{loc}': {err['msg']}") from None
