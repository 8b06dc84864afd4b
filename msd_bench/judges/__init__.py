"""Frozen judges: one classifier of every ground-truth factor per built-in dataset.

Public API (see ``docs/architecture.md``)::

    from msd_bench.judges import load_judge, list_judges

    judge = load_judge("sprites", backend="onnx", device="cpu")
    out = judge(x)              # JudgeOutput(sequence={f: [B, n]}, frame={static f: [B, T, n]}) logits
    judge.ceiling()             # {f: {"sequence": acc, "frame": acc}} from the card (the oracle row)

Heavy libraries (torch, onnxruntime) are imported lazily by the functions that need them.
"""

from __future__ import annotations

from .card import TARGET_FRAME, TARGET_SEQUENCE, JudgeCard
from .judge import ARTIFACTS, Judge, JudgeOutput, judge_dir, list_judges, load_judge, read_card

__all__ = [
    "ARTIFACTS",
    "Judge",
    "JudgeCard",
    "JudgeOutput",
    "TARGET_FRAME",
    "TARGET_SEQUENCE",
    "judge_dir",
    "list_judges",
    "load_judge",
    "read_card",
]
