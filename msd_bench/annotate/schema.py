"""Parsing answers and merging exploration answers into one factor schema.

The merge rule (docs/annotate.md, "Merging the answers")
--------------------------------------------------------
1. Names are compared by their *key*: lower-cased, only letters and digits kept (``"Pos X"``,
   ``"pos_x"`` and ``"posX"`` are one factor); the same for value names within a factor.
2. A factor's *support* is the number of valid exploration answers that name it (once per answer).
   It is kept when its support is at least ``ceil(min_support * answers)`` (default half the answers).
3. Its type is the majority of the answers' ``static`` / ``dynamic`` votes; a tie is ``dynamic``.
4. A value's support is the number of answers naming the factor that list the value (in ``values`` or
   among the ``shown`` values). It is kept when its support is at least ``ceil(min_value_support * factor support)``
   (default half). A factor left with fewer than two values is dropped (it does not vary).
5. The spelling of a name is its most frequent spelling (ties: the first seen); factors and values
   are ordered by first appearance (answers in the order of the explored sequences' indices).
6. ``max_factors`` (optional) keeps the best supported factors (ties: first seen).

Every dropped factor and value is listed with its support in :attr:`Schema.dropped`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AnnotateError, InvalidAnswer

_KEY = re.compile(r"[^0-9a-z]+")


def key(name: Any) -> str:
    """Comparison key of a factor or value name: lower-case letters and digits only."""
    return _KEY.sub("", str(name).casefold())


def extract_json(text: str | None) -> Any:
    """The JSON object in a model's answer: the whole text, a fenced block, or the outermost ``{...}``."""
    if text is None or not str(text).strip():
        raise InvalidAnswer("the answer was empty")
    s = str(text).strip()
    try:
        return json.loads(s)
    except ValueError:
        pass
    m = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if m:
        try:
            return json.loads(m.group(1))
        except ValueError:
            pass
    a, b = s.find("{"), s.rfind("}")
    if a >= 0 and b > a:
        try:
            return json.loads(s[a : b + 1])
        except ValueError as exc:
            raise InvalidAnswer(f"the answer is not valid JSON ({exc})") from None
    raise InvalidAnswer("the answer contains no JSON object")


@dataclass
class FactorSchema:
    """One merged factor: name, ``static`` / ``dynamic``, value names, and the evidence behind them."""

    name: str
    type: str
    values: list[str]
    support: int = 0
    type_votes: dict[str, int] = field(default_factory=dict)
    value_support: dict[str, int] = field(default_factory=dict)

    def as_tuple(self) -> tuple[str, str, list[str]]:
        return (self.name, self.type, list(self.values))


@dataclass
class Schema:
    """The factor schema the annotation asks for (label columns in this order)."""

    factors: list[FactorSchema]
    answers: int = 0
    rule: dict[str, Any] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def tuples(self) -> list[tuple[str, str, list[str]]]:
        return [f.as_tuple() for f in self.factors]

    def to_factors(self):
        """msd-bench :class:`~msd_bench.datasets.Factor` objects (label column = position)."""
        from ..datasets import Factor

        return [Factor(f.name, i, f.type, len(f.values), {v: j for j, v in enumerate(f.values)})
                for i, f in enumerate(self.factors)]

    def to_dict(self) -> dict:
        return {"factors": [{"name": f.name, "type": f.type, "values": list(f.values), "support": f.support,
                             "type_votes": dict(f.type_votes), "value_support": dict(f.value_support)}
                            for f in self.factors],
                "answers": self.answers, "rule": dict(self.rule), "dropped": list(self.dropped)}

    @classmethod
    def from_factors(cls, factors: Sequence[Any]) -> Schema:
        """From msd-bench factors (e.g. a dataset's), skipping ignored ones."""
        return cls([FactorSchema(f.name, f.type, list(f.value_names)) for f in factors if not f.ignore],
                   rule={"source": "given"})

    @classmethod
    def read(cls, path: str | Path) -> Schema:
        """A schema file: ``{"factors": [{"name", "type", "values"}, ...]}`` (what annotate writes)."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            items = obj["factors"]
            factors = [FactorSchema(str(f["name"]), str(f["type"]), [str(v) for v in f["values"]]) for f in items]
        except FileNotFoundError:
            raise AnnotateError(f"schema file {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AnnotateError(f"{path}: not a factor schema ({type(exc).__name__}: {exc}); expected "
                                '{"factors": [{"name": ..., "type": "static"|"dynamic", "values": [...]}]}') from None
        sch = cls(factors, rule={"source": str(path)})
        sch.check(str(path))
        return sch

    def check(self, where: str) -> None:
        if not self.factors:
            raise AnnotateError(f"{where}: the schema has no factors")
        seen = set()
        for f in self.factors:
            if f.type not in ("static", "dynamic"):
                raise AnnotateError(f"{where}: factor {f.name!r} has type {f.type!r}; expected static or dynamic")
            if len({key(v) for v in f.values}) != len(f.values) or len(f.values) < 2:
                raise AnnotateError(f"{where}: factor {f.name!r} needs at least two distinct values, got {f.values}")
            if key(f.name) in seen or not key(f.name):
                raise AnnotateError(f"{where}: factor name {f.name!r} is empty or repeated")
            seen.add(key(f.name))


def parse_exploration(obj: Any) -> list[dict[str, Any]]:
    """Validate an exploration answer: ``{"factors": [{"name", "type", "values", "shown"}, ...]}``
    (a single ``"value"`` string is accepted for ``"shown"``)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("factors"), list):
        raise InvalidAnswer('expected a JSON object with a "factors" list')
    out = []
    for i, f in enumerate(obj["factors"]):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not key(f["name"]):
            raise InvalidAnswer(f'factors[{i}] has no "name" string')
        t = str(f.get("type", "")).strip().lower()
        if t not in ("static", "dynamic"):
            raise InvalidAnswer(f'factors[{i}] ({f["name"]}) has type {f.get("type")!r}; '
                                'expected "static" or "dynamic"')
        values = f.get("values", [])
        if not isinstance(values, list):
            raise InvalidAnswer(f'factors[{i}] ({f["name"]}) "values" is not a list')
        vals = [str(v).strip() for v in values if isinstance(v, str | int | float) and key(v)]
        shown = f.get("shown", f.get("value", []))
        shown = shown if isinstance(shown, list) else [shown]
        out.append({"name": f["name"].strip(), "type": t, "values": vals,
                    "shown": [str(v).strip() for v in shown if isinstance(v, str | int | float) and key(v)]})
    if not out:
        raise InvalidAnswer("the answer lists no factors")
    return out


def parse_labels(obj: Any, factors: Sequence[tuple[str, str, Sequence[str]]]) -> list[int]:
    """Validate an annotation answer against the schema; the class index of every factor."""
    if not isinstance(obj, dict):
        raise InvalidAnswer("expected a JSON object mapping each factor to a value")
    by_key = {key(k): v for k, v in obj.items()}
    labels = []
    for name, _, values in factors:
        if key(name) not in by_key:
            raise InvalidAnswer(f'the key "{name}" is missing')
        got = by_key[key(name)]
        vk = [key(v) for v in values]
        if not isinstance(got, str | int | float) or key(got) not in vk:
            raise InvalidAnswer(f'"{name}" is {got!r}; expected one of {", ".join(values)}')
        labels.append(vk.index(key(got)))
    return labels


def _spelling(counts: dict[str, int]) -> str:
    best = max(counts.values())
    return next(s for s, c in counts.items() if c == best)  # dicts keep first-seen order


def merge(answers: Sequence[list[dict[str, Any]]], min_support: float = 0.5, min_value_support: float = 0.5,
          max_factors: int | None = None) -> Schema:
    """Merge parsed exploration answers into one :class:`Schema` by the rule in the module docstring."""
    if not 0 < min_support <= 1 or not 0 < min_value_support <= 1:
        raise AnnotateError(f"min_support={min_support}, min_value_support={min_value_support}: expected (0, 1]")
    n = len(answers)
    rule = {"min_support": min_support, "min_value_support": min_value_support, "max_factors": max_factors,
            "type_tie": "dynamic", "source": "merged exploration answers"}
    if n == 0:
        raise AnnotateError("no valid exploration answer to build a schema from; check the endpoint and model, "
                            "or pass a schema file")
    acc: dict[str, dict[str, Any]] = {}
    for ans in answers:
        seen_here: dict[str, set[str]] = {}
        for f in ans:
            k = key(f["name"])
            a = acc.setdefault(k, {"names": {}, "votes": {"static": 0, "dynamic": 0}, "values": {}, "support": 0})
            new = k not in seen_here
            if new:
                a["support"] += 1
                a["votes"][f["type"]] += 1
                a["names"][f["name"]] = a["names"].get(f["name"], 0) + 1
                seen_here[k] = set()
            for v in [*f["values"], *f.get("shown", [])]:
                vk = key(v)
                if not vk or vk in seen_here[k]:
                    continue
                seen_here[k].add(vk)
                slot = a["values"].setdefault(vk, {"names": {}, "support": 0})
                slot["support"] += 1
                slot["names"][v] = slot["names"].get(v, 0) + 1
    need = max(1, math.ceil(min_support * n - 1e-9))
    kept: list[FactorSchema] = []
    dropped: list[dict[str, Any]] = []
    for a in acc.values():
        name = _spelling(a["names"])
        if a["support"] < need:
            dropped.append({"factor": name, "support": a["support"], "reason": f"named by fewer than {need} answers"})
            continue
        vneed = max(1, math.ceil(min_value_support * a["support"] - 1e-9))
        values, vsupport = [], {}
        for slot in a["values"].values():
            vname = _spelling(slot["names"])
            if slot["support"] >= vneed:
                values.append(vname)
                vsupport[vname] = slot["support"]
            else:
                why = f"listed by fewer than {vneed} of the {a['support']} answers naming the factor"
                dropped.append({"factor": name, "value": vname, "support": slot["support"], "reason": why})
        if len(values) < 2:
            why = f"fewer than two kept values ({values})"
            dropped.append({"factor": name, "support": a["support"], "reason": why})
            continue
        votes = a["votes"]
        ftype = "static" if votes["static"] > votes["dynamic"] else "dynamic"
        kept.append(FactorSchema(name, ftype, values, a["support"], dict(votes), vsupport))
    if max_factors is not None and len(kept) > max_factors:
        order = sorted(range(len(kept)), key=lambda i: (-kept[i].support, i))[:max_factors]
        for i in sorted(set(range(len(kept))) - set(order)):
            dropped.append({"factor": kept[i].name, "support": kept[i].support, "reason": f"max_factors={max_factors}"})
        kept = [kept[i] for i in sorted(order)]
    sch = Schema(kept, n, rule, dropped)
    if not kept:
        raise AnnotateError(f"the {n} exploration answers agree on no factor with two or more values "
                            f"(min_support={min_support}); see the answers in the cache or pass a schema file")
    return sch
