"""``msd_bench.annotate.annotate``: exploration → merged schema → annotation → dataset file + report.

1. **Exploration**: ``n_explore`` seeded sequences are shown to the model with the exploration
   prompt, ``explore_per_query`` per query; the valid answers are merged into one factor schema
   (:func:`msd_bench.annotate.schema.merge`). A schema file (``schema=``) skips this step.
2. **Annotation**: each of ``n_annotate`` seeded sequences (all by default) is labelled ``repeats``
   times through a strict JSON Schema with one enum per factor; ``agreement_sample`` of them get at
   least two queries so the report can state the agreement between repeated queries. Query ``r`` of
   a sequence uses request seed ``seed + r`` and, for ``r >= 1``, ``repeat_temperature``. The label is
   the majority of the valid answers (ties: the earliest answer).
3. **Output** in ``out``: ``<name>.h5`` (an msd-bench dataset: the labelled sequences in input order,
   ``classes`` from the schema, a seeded 70/15/15 split), ``schema.json`` and ``report.json``
   (exploration and merge evidence, agreement, label counts, tokens, cost, retries, and the accuracy
   against the input's own labels when an msd-bench file with labels was annotated).

Every request is cached by content (:mod:`msd_bench.annotate.cache`): a rerun sends nothing and writes
the same dataset file; an interrupted or failed run keeps its answers and a rerun resumes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import atomic_write_json
from .cache import default_cache_dir
from .client import VLMClient
from .errors import AnnotateError, BackendError
from .images import ImageConfig, frame_indices, image_parts
from .prompts import (
    EXPLORE_SCHEMA,
    PREFIX,
    PROMPT_SHA256,
    annotate_text,
    explore_text,
    labels_schema,
    schema_sha256,
)
from .query import ask, progress, run_all
from .schema import Schema, key, merge, parse_exploration, parse_labels
from .sources import open_source

REPORT_FILE = "report.json"
SCHEMA_FILE = "schema.json"


@dataclass
class AnnotationResult:
    """What :func:`annotate` wrote: the dataset file, the schema and the report (also as dicts)."""

    dataset_path: Path
    report_path: Path
    schema_path: Path
    schema: Schema
    report: dict
    content_hash: str


def _name(value: str) -> str:
    from ..harness.manifest import slugify

    return slugify(value, default="annotated")


def _sample(n: int, k: int | None, seed: int, stream: int) -> np.ndarray:
    if k is None or k >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def _cost(tokens: dict, price_in: float | None, price_out: float | None) -> float | None:
    if price_in is None and price_out is None:
        return None
    return round((tokens["prompt"] * (price_in or 0.0) + tokens["completion"] * (price_out or 0.0)) / 1e6, 6)


def annotate(
    input: str | Path,
    *,
    base_url: str,
    model: str,
    out: str | Path,
    api_key_env: str | None = None,
    n_explore: int = 16,
    explore_per_query: int = 2,
    n_annotate: int | None = None,
    schema: str | Path | Schema | None = None,
    name: str | None = None,
    seed: int = 0,
    frames_per_query: int = 4,
    layout: str = "grid",
    min_side: int = 128,
    frames: int | None = None,
    size: tuple[int, int] | None = None,
    repeats: int = 1,
    agreement_sample: int = 16,
    temperature: float = 0.0,
    repeat_temperature: float = 0.7,
    max_tokens: int = 1024,
    response_format: str = "json_schema",
    timeout: float = 60.0,
    max_retries: int = 4,
    backoff: float = 1.0,
    max_repairs: int = 2,
    concurrency: int = 4,
    min_support: float = 0.5,
    min_value_support: float = 0.5,
    max_factors: int | None = None,
    context: str | None = None,
    cache_dir: str | Path | None = None,
    no_cache: bool = False,
    price_in: float | None = None,
    price_out: float | None = None,
    skip_failed: bool = False,
    progress_bar: bool | Callable[[str, int, int], None] = True,
) -> AnnotationResult:
    """Annotate ``input`` with a vision-language model and write an msd-bench dataset.

    Parameters
    ----------
    input : path
        An msd-bench ``.h5`` file or a folder of videos / frame folders (:mod:`msd_bench.annotate.sources`).
    base_url, model, api_key_env
        The OpenAI-compatible endpoint, the model name, the environment variable with the API key.
    out : path
        Output folder (``<name>.h5``, ``schema.json``, ``report.json``).
    n_explore : int
        Sequences shown for factor discovery (0 needs ``schema``).
    explore_per_query : int
        Sequences shown together in one exploration query (each after a "Sequence j:" line), so the
        model sees what differs between sequences; one exploration answer per query.
    n_annotate : int, optional
        Sequences to label (a seeded subset; default all).
    schema : path or Schema, optional
        A factor schema to use instead of exploration (``schema.json`` of an earlier run works).
    name : str, optional
        Dataset name (default: the input's name + ``-vlm``).
    seed : int
        Seed of every random choice (samples, split) and of the requests.
    frames_per_query, layout, min_side
        What each query shows (:class:`~msd_bench.annotate.images.ImageConfig`).
    frames, size
        Folder input only: frames per sequence and ``(H, W)`` of the output.
    repeats, agreement_sample, temperature, repeat_temperature
        Queries per sequence, sequences queried at least twice for the agreement report, sampling
        temperature of the first and of the repeated queries.
    max_tokens, response_format, timeout, max_retries, backoff, max_repairs, concurrency
        Request settings (:class:`~msd_bench.annotate.client.VLMClient`), repair requests per question,
        parallel requests.
    min_support, min_value_support, max_factors
        The merge rule's thresholds (:func:`~msd_bench.annotate.schema.merge`).
    context : str, optional
        A sentence about the data added to every prompt (e.g. "videos of hand gestures").
    cache_dir, no_cache
        Response cache (default ``$MSD_BENCH_CACHE/vlm``); ``no_cache`` sends every request.
    price_in, price_out : float, optional
        USD per million prompt / completion tokens, for the report's cost.
    skip_failed : bool
        Leave out sequences without a valid label instead of failing.
    progress_bar : bool or callable
        Progress on stderr (a bar on a terminal, lines otherwise), or ``callback(phase, done, total)``.

    Returns
    -------
    AnnotationResult

    Raises
    ------
    AnnotateError
        Bad input or settings; sequences without a valid label (unless ``skip_failed``).
    BackendError
        The endpoint failed after the bounded retries (answers so far are kept in the cache).
    """
    t0 = time.perf_counter()
    checks = (("n_explore", n_explore, 0), ("explore_per_query", explore_per_query, 1), ("repeats", repeats, 1),
              ("agreement_sample", agreement_sample, 0),
              ("max_repairs", max_repairs, 0), ("concurrency", concurrency, 1))
    for label, v, lo in checks:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise AnnotateError(f"--{label.replace('_', '-')} must be an integer >= {lo}, got {v!r}")
    if n_annotate is not None and (not isinstance(n_annotate, int) or n_annotate < 1):
        raise AnnotateError(f"--n-annotate must be an integer >= 1, got {n_annotate!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AnnotateError(f"--seed must be an integer >= 0, got {seed!r}")
    if n_explore == 0 and schema is None:
        raise AnnotateError("--n-explore 0 needs --schema (a factor schema to label with)")
    cfg = ImageConfig(frames=frames_per_query, layout=layout, min_side=min_side)
    src = open_source(input, frames=frames, size=size)
    read_lock = threading.Lock()

    def sequence(i: int) -> np.ndarray:
        with read_lock:  # one reader at a time (h5py handles, Pillow files); images are encoded in parallel
            return src.read([i])[0]
    cache = None if no_cache else Path(cache_dir) if cache_dir is not None else default_cache_dir()
    client = VLMClient(base_url, model, api_key_env=api_key_env, cache_dir=cache, timeout=timeout,
                       max_retries=max_retries, backoff=backoff, temperature=temperature, max_tokens=max_tokens,
                       response_format=response_format)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnnotateError(f"--out {out} cannot be created ({exc.strerror or exc})") from None
    ds_name = _name(name or (f"{src.path.stem}-vlm"))
    k = len(frame_indices(src.shape[0], cfg.frames))
    order = cfg.order_text(k)

    def fail_backend(exc: BackendError, phase: str) -> AnnotateError:
        if cache is None:
            return BackendError(f"{exc} during {phase}; caching was off (--no-cache), so a rerun starts over")
        return BackendError(f"{exc} during {phase}; {client.cache.count()} answers cached in {cache}; "
                            "rerun the same command to resume")

    # ------------------------------------------------------------------ 1. exploration
    explore_idx = _sample(src.n, n_explore, seed, 1) if schema is None else np.zeros(0, np.int64)
    groups = [explore_idx[s : s + explore_per_query] for s in range(0, len(explore_idx), explore_per_query)]
    explore_report: dict[str, Any] = {"sequences": int(len(explore_idx)), "queries": len(groups)}
    if isinstance(schema, Schema):
        sch = schema
        sch.check("schema")
    elif schema is not None:
        sch = Schema.read(schema)
    else:
        def explore_job(group: np.ndarray) -> Callable:
            def job() -> Any:
                parts: list[dict] = []
                for j, i in enumerate(group):
                    if len(group) > 1:
                        parts.append({"type": "text", "text": PREFIX.format(j=j + 1)})
                    parts.extend(image_parts(sequence(int(i)), cfg))
                return ask(client, explore_text(order, k, len(group), context), parts, EXPLORE_SCHEMA, "factors",
                           parse_exploration, seed, max_repairs=max_repairs)

            return job

        try:
            with progress("exploring factors", len(groups), progress_bar) as tick:
                outs = run_all([explore_job(g) for g in groups], concurrency, tick)
        except BackendError as exc:
            raise fail_backend(exc, "exploration") from None
        valid = [o.value for o in outs if o.ok]
        shown = [[src.items[int(i)] for i in g] for g in groups]
        explore_report.update({
            "valid": len(valid), "repaired": sum(1 for o in outs if o.ok and o.attempts > 1),
            "failed": [{"items": s, "reasons": o.reasons} for s, o in zip(shown, outs, strict=True) if not o.ok],
            "answers": [{"items": s, "factors": o.value} for s, o in zip(shown, outs, strict=True) if o.ok],
        })
        sch = merge(valid, min_support=min_support, min_value_support=min_value_support, max_factors=max_factors)
    factors = sch.tuples()
    atomic_write_json(out / SCHEMA_FILE, sch.to_dict())

    # ------------------------------------------------------------------ 2. annotation
    ann_idx = _sample(src.n, n_annotate, seed, 2)
    agree = set(_sample(len(ann_idx), agreement_sample, seed, 3).tolist()) if agreement_sample else set()
    text = annotate_text(order, k, factors, context)
    lschema = labels_schema(factors)
    jobs, owners = [], []
    for j, i in enumerate(ann_idx):
        reps = max(repeats, 2) if j in agree else repeats
        for r in range(reps):
            def job(i: int = int(i), r: int = r) -> Any:
                return ask(client, text, image_parts(sequence(i), cfg), lschema, "labels",
                           lambda obj: parse_labels(obj, factors), seed + r,
                           temperature=None if r == 0 else repeat_temperature, max_repairs=max_repairs)

            jobs.append(job)
            owners.append((j, r))
    try:
        with progress("annotating", len(jobs), progress_bar) as tick:
            outs = run_all(jobs, concurrency, tick)
    except BackendError as exc:
        raise fail_backend(exc, "annotation") from None
    answers: list[list[list[int]]] = [[] for _ in ann_idx]
    reasons: list[list[str]] = [[] for _ in ann_idx]
    repaired = 0
    for (j, _r), o in zip(owners, outs, strict=True):
        if o.ok:
            answers[j].append(o.value)
            repaired += o.attempts > 1
        else:
            reasons[j].extend(o.reasons)
    failed = [j for j in range(len(ann_idx)) if not answers[j]]
    if failed and not skip_failed:
        j = failed[0]
        raise AnnotateError(
            f"{len(failed)} of {len(ann_idx)} sequences got no valid label after {max_repairs + 1} attempts each "
            f"(first: item {src.items[int(ann_idx[j])]}: {reasons[j][-1] if reasons[j] else 'no answer'}); "
            "pass --skip-failed to leave them out, or change --model / --max-repairs and rerun")
    keep = [j for j in range(len(ann_idx)) if answers[j]]
    if not keep:
        raise AnnotateError("no sequence got a valid label; nothing to write")
    labels = np.array([_vote(answers[j]) for j in keep], dtype=np.int64).reshape(len(keep), len(factors))
    rows = ann_idx[keep]

    # ------------------------------------------------------------------ 3. dataset file
    from ..datasets import DatasetWriter

    m = len(rows)
    perm = np.random.default_rng([seed, 4]).permutation(m)
    a, b = int(round(0.7 * m)), int(round(0.85 * m))
    splits = {"train": np.sort(perm[:a]), "val": np.sort(perm[a:b]), "test": np.sort(perm[b:])}
    provenance = {"model": model, "base_url_host": client.host, "prompt_sha256": PROMPT_SHA256,
                  "schema_sha256": schema_sha256(factors), "source": src.path.name, "seed": seed,
                  "images": cfg.to_dict()}
    attrs = {"name": ds_name, "version": "1", "seed": seed, "size": "full", "modality": "video",
             "msd_bench_version": __version__, "annotation": json.dumps(provenance, sort_keys=True)}
    ds_path = out / f"{ds_name}.h5"
    with DatasetWriter(ds_path, m, src.shape, sch.to_factors(), attrs) as w:
        for s in range(0, m, 64):
            w.write(src.read(rows[s : s + 64]))
        content_hash = w.finish(labels, splits)

    # ------------------------------------------------------------------ 4. report
    stats = client.stats.to_dict()
    report = {
        "dataset": {"path": str(ds_path), "name": ds_name, "n": m, "shape": list(src.shape),
                    "content_hash": content_hash},
        "input": {"path": str(src.path), "kind": src.kind, "n": src.n, "content_hash": src.content_hash},
        "backend": {"model": model, "base_url_host": client.host, "response_format": response_format,
                    "prompt_sha256": PROMPT_SHA256, "schema_sha256": schema_sha256(factors)},
        "settings": {"seed": seed, "n_explore": n_explore, "explore_per_query": explore_per_query,
                     "n_annotate": n_annotate, "repeats": repeats,
                     "agreement_sample": agreement_sample, "temperature": temperature,
                     "repeat_temperature": repeat_temperature, "images": cfg.to_dict(), "max_repairs": max_repairs,
                     "max_retries": max_retries, "context": context},
        "schema": sch.to_dict(),
        "exploration": explore_report,
        "annotation": {
            "sequences": int(len(ann_idx)), "labelled": m, "queries": len(jobs), "repaired": int(repaired),
            "failed": [{"item": src.items[int(ann_idx[j])], "reasons": reasons[j]} for j in failed],
            "label_counts": {f[0]: {v: int((labels[:, c] == vi).sum()) for vi, v in enumerate(f[2])}
                             for c, f in enumerate(factors)},
            "items": [src.items[int(i)] for i in rows],
        },
        "agreement": _agreement(answers, factors),
        "requests": stats,
        "cost_usd": {"total": _cost(stats["tokens"], price_in, price_out),
                     "this_run": _cost(stats["tokens_this_run"], price_in, price_out),
                     "price_per_million": {"prompt": price_in, "completion": price_out}},
        "cache": str(cache) if cache else None,
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    if src.truth_factors is not None and src.truth_labels is not None:
        report["truth"] = _truth(sch, labels, src.truth_factors, src.truth_labels[rows])
    report_path = out / REPORT_FILE
    atomic_write_json(report_path, report)
    return AnnotationResult(ds_path, report_path, out / SCHEMA_FILE, sch, report, content_hash)


def _vote(answers: list[list[int]]) -> list[int]:
    """Per factor, the most frequent class among the answers (ties: the earliest answer's)."""
    out = []
    for c in range(len(answers[0])):
        col = [a[c] for a in answers]
        counts = {v: col.count(v) for v in col}
        best = max(counts.values())
        out.append(next(v for v in col if counts[v] == best))
    return out


def _agreement(answers: list[list[list[int]]], factors: list) -> dict:
    """Pairwise agreement between repeated queries of the same sequence, per factor and for all."""
    multi = [a for a in answers if len(a) >= 2]
    if not multi:
        return {"sequences": 0, "per_factor": {}, "all_factors": None}
    per = {}
    for c, f in enumerate(factors):
        vals = [np.mean([x[c] == y[c] for x, y in combinations(a, 2)]) for a in multi]
        per[f[0]] = round(float(np.mean(vals)), 6)
    allf = [np.mean([x == y for x, y in combinations(a, 2)]) for a in multi]
    return {"sequences": len(multi), "per_factor": per, "all_factors": round(float(np.mean(allf)), 6)}


def _truth(sch: Schema, labels: np.ndarray, truth_factors: list, truth: np.ndarray) -> dict:
    """Accuracy of the labels against the input's own labels, matching factors and values by name key."""
    by_key = {key(f.name): f for f in truth_factors if not f.ignore}
    per, matched = {}, set()
    for c, f in enumerate(sch.factors):
        tf = by_key.get(key(f.name))
        if tf is None:
            continue
        matched.add(tf.name)
        pred = np.array([key(f.values[v]) for v in labels[:, c]])
        true = np.array([key(tf.value_names[v]) for v in truth[:, tf.index]])
        per[f.name] = {"truth_factor": tf.name, "accuracy": round(float((pred == true).mean()), 6),
                       "n": int(len(true)), "type_matches": f.type == tf.type,
                       "values_missing": sorted(set(map(key, tf.value_names)) - set(map(key, f.values)))}
    return {"per_factor": per,
            "mean_accuracy": round(float(np.mean([v["accuracy"] for v in per.values()])), 6) if per else None,
            "missing_factors": [f.name for f in truth_factors if not f.ignore and f.name not in matched],
            "extra_factors": [f.name for f in sch.factors if f.name not in per],
            "rule": "factors and values matched by name key (lower-case letters and digits)"}
