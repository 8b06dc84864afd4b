"""``msd-bench submit``: validate → evaluate on every declared dataset (+ bench) → store → rebuild."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MsdBenchError
from .loader import load_submission, resolve_source
from .manifest import load_manifest
from .results import Result
from .runner import RESULT_FILE, evaluate
from .timing import bench_model
from .validate import expected_shape, validate_submission


def submit(
    spec: str,
    store: str | Path = "leaderboard",
    *,
    datasets: list[str] | None = None,
    device: str = "auto",
    trust_code: bool = False,
    size: str = "full",
    limit: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    bench_queries: int = 700,
    rebuild: bool = True,
    metrics: str | list[str] = "all",
    log: Callable[[str], None] = lambda s: None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Result]:
    """Validate, evaluate and time a submission on every dataset it declares, store the results.

    The results go to ``<store>/results/<protocol>/<name>/<version>/<dataset>.json`` with the pictures in the
    folder beside it; the leaderboard is rebuilt unless ``rebuild`` is False. A submission from the
    Hub is pinned to the resolved commit, which its results record. ``metrics`` selects metric groups
    (default all, the leaderboard's); ``msd_bench.harness.executors`` fans the same work out over Ray or SLURM.
    """
    from ..leaderboard import build_leaderboard

    source = resolve_source(spec)
    manifest = load_manifest(source.path)
    names = datasets or list(manifest.datasets)
    undeclared = [d for d in names if d not in manifest.datasets]
    if undeclared:
        raise MsdBenchError(
            f"{manifest.name} does not declare dataset(s) {', '.join(undeclared)} "
            f"(it declares: {', '.join(manifest.datasets)})"
        )
    uri = spec
    if source.hub_commit and "@" not in spec:
        uri = f"{spec}@{source.hub_commit}"
    results = []
    for ds in names:
        results.append(submit_one(source.path, manifest, ds, store, uri=uri, hub_commit=source.hub_commit,
                                  device=device, trust_code=trust_code, size=size, limit=limit,
                                  batch_size=batch_size, seed=seed, bench_queries=bench_queries, metrics=metrics,
                                  log=log, progress=progress))
    if rebuild:
        report = build_leaderboard(store)
        log(f"leaderboard rebuilt: {', '.join(str(p) for p in getattr(report, 'written', []))}")
    return results


def submit_one(
    root: Path,
    manifest: Any,
    ds: str,
    store: str | Path,
    *,
    uri: str,
    hub_commit: str | None = None,
    device: str = "auto",
    trust_code: bool = False,
    size: str = "full",
    limit: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    bench_queries: int = 700,
    metrics: str | list[str] = "all",
    log: Callable[[str], None] = lambda s: None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Result:
    """One unit of :func:`submit`: validate, evaluate, time and store one submission on one dataset.

    Parameters
    ----------
    root : Path
        The submission folder (already resolved; a Hub submission's snapshot).
    manifest : Manifest
        Its loaded ``submission.yaml``.
    ds : str
        A dataset the manifest declares.
    store : path
        The results store; the result is written atomically (the same key is replaced, so a repeated
        call is idempotent) and evaluate's resumable working copy in the pictures folder is removed.
    uri, hub_commit : str
        What the result records as the submission's source.

    Returns
    -------
    Result
        The stored result.
    """
    from ..leaderboard import add_result, pictures_dir

    log(f"validating {manifest.name} {manifest.version} on {ds}")
    report = validate_submission(root, dataset=ds, device="cpu", trust_code=trust_code)
    if not report.passed:
        c = report.failures()[0]
        raise MsdBenchError(f"{manifest.name} fails validation on {ds}: {c.name}: {c.detail}")
    model = load_submission(root, dataset=ds, device=device, trust_code=trust_code)
    model.source.uri = uri
    model.source.hub_commit = hub_commit
    out = pictures_dir(store, manifest.name, manifest.version, ds)
    log(f"evaluating on {ds}")
    result = evaluate(model, ds, size=size, limit=limit, batch_size=batch_size, seed=seed, out=out,
                      progress=progress, metrics=metrics)
    log(f"timing on {ds}")
    shape = expected_shape(ds, model.entry, model.modality)
    result.benchmark = {**bench_model(model, shape, queries=bench_queries, modality=model.modality).to_dict(),
                        "providers": list(model.providers)}
    path = add_result(result, store)
    with contextlib.suppress(FileNotFoundError):
        (out / RESULT_FILE).unlink()  # the resumable working copy; the store holds the result now
    log(f"stored {path} ({result.status})")
    return result
