"""The prompts and the structured-output schemas (docs/annotate.md shows them in full).

:data:`PROMPT_SHA256` is the sha256 of every template below; results of the VLM judge and annotation
reports record it, so an answer can be traced to the exact wording that produced it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

SYSTEM = (
    "You are a careful annotator of short video sequences for a machine-learning benchmark. "
    "You answer with one JSON object and nothing else."
)

EXPLORE = """You see {what} from a dataset of similar sequences, {k} frames each, every sequence shown as {order}.
List the factors of variation of such a dataset: properties that differ from one sequence to another
(for example the colour, shape, identity or size of an object, the direction or speed of its motion, an action).
For every factor give
- "name": a short snake_case name,
- "type": "static" if it stays the same during a sequence,
  "dynamic" if it describes change over time (motion, action, growth),
- "values": the values the factor can take in such a dataset (short lower-case names, at least two),
- "shown": its value in each of the {m} sequences shown, in order (each one of "values").
{context}Answer with a JSON object {{"factors": [{{"name": ..., "type": ..., "values": [...], "shown": [...]}}, ...]}}.
"""

ANNOTATE = """You see {order}: {k} frames of one short video sequence.
Label the sequence with exactly one of the allowed values for every factor:
{factors}
{context}Answer with a JSON object with exactly these keys: {keys}."""

REPAIR = """Your previous answer could not be used: {reason}.
Answer again with only the JSON object described above."""

FACTOR_LINE = "- {name} ({kind}): {values}"
SEQUENCES = 'short video sequences (the images of sequence j follow the text "Sequence j:")'
PREFIX = "Sequence {j}:"
KINDS = {"static": "static, fixed during the sequence", "dynamic": "dynamic, describes change over time"}


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


#: sha256 of the prompt templates (system, exploration, annotation, repair, factor line).
PROMPT_SHA256 = _sha(SYSTEM, EXPLORE, ANNOTATE, REPAIR, FACTOR_LINE, json.dumps(KINDS, sort_keys=True), SEQUENCES,
                     PREFIX)


def context_text(context: str | None) -> str:
    return f"Context: {' '.join(context.split())}\n" if context and context.strip() else ""


def explore_text(order: str, k: int, m: int = 1, context: str | None = None) -> str:
    """Exploration prompt for ``m`` sequences of ``k`` frames each shown as ``order``."""
    what = "one short video sequence" if m == 1 else f"{m} {SEQUENCES}"
    return EXPLORE.format(what=what, order=order, k=k, m=m, context=context_text(context))


def annotate_text(order: str, k: int, factors: Sequence[tuple[str, str, Sequence[str]]],
                  context: str | None = None) -> str:
    """Annotation prompt for ``factors`` = ``[(name, type, values), ...]``."""
    lines = "\n".join(FACTOR_LINE.format(name=n, kind=KINDS.get(t, t), values=", ".join(v)) for n, t, v in factors)
    keys = ", ".join(json.dumps(n) for n, _, _ in factors)
    return ANNOTATE.format(order=order, k=k, factors=lines, keys=keys, context=context_text(context))


def repair_text(reason: str) -> str:
    return REPAIR.format(reason=" ".join(str(reason).split()))


EXPLORE_SCHEMA = {
    "type": "object",
    "properties": {
        "factors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string", "enum": ["static", "dynamic"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                    "shown": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "type", "values", "shown"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["factors"],
    "additionalProperties": False,
}


def labels_schema(factors: Sequence[tuple[str, str, Sequence[str]]]) -> dict:
    """Strict JSON Schema of an annotation answer: one enum-valued string per factor."""
    return {
        "type": "object",
        "properties": {n: {"type": "string", "enum": list(v)} for n, _, v in factors},
        "required": [n for n, _, _ in factors],
        "additionalProperties": False,
    }


def schema_sha256(factors: Sequence[tuple[str, str, Sequence[str]]]) -> str:
    """sha256 of a factor schema (names, types, value names in order)."""
    return _sha(json.dumps([[n, t, list(v)] for n, t, v in factors], ensure_ascii=False))
