"""The evaluation runner: ``msd_bench.evaluate(model, dataset=...)`` and ``msd-bench evaluate``.

dataset (HDF5, cached) → batches on the device → ``encode`` → latents → interventions → ``decode``
→ judge → metric → :class:`~msd_bench.harness.results.Result` (JSON, written atomically).

The suite is split into *groups* (:data:`msd_bench.harness.suite.GROUPS`); each group computes a
few metrics from a shared :class:`~msd_bench.harness.suite.EvalContext` that caches the encodings.
A group that fails becomes an error entry and the others still run; after every group the partial
result is written, so an interrupted run (Ctrl-C, a crash) keeps what finished and rerunning the
same settings computes only what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import PROTOCOL, __version__
from .._memory import small_pages
from ..errors import MsdBenchError, SubmissionError
from .device import resolve_device
from .environment import environment, git_sha
from .loader import LoadedSubmission, load_submission, submission_hash
from .manifest import slugify
from .modality import dataset_feature_shape, dataset_modality, shape_text
from .results import (
    DatasetRef,
    JudgeRef,
    Result,
    RunSettings,
    Score,
    SubmissionRef,
    Timing,
    now_iso,
    read_result,
    write_result,
)
from .timing import PhaseTimer
from .wrap import TimedJudge, TimedModel, model_device

RESULT_FILE = "result.json"


def _submission_ref(model: Any, static_dim: int, dynamic_dim: int) -> SubmissionRef:
    if isinstance(model, LoadedSubmission):
        digest = submission_hash(model.manifest, model.artefact_hashes)
        return SubmissionRef(
            name=model.manifest.name,
            version=model.manifest.version,
            format=model.format,
            uri=model.source.uri,
            hub_commit=model.source.hub_commit,
            sha256=dict(model.artefact_hashes),
            submission_hash=digest,
            static_dim=static_dim,
            dynamic_dim=dynamic_dim,
            parameters=model.parameter_count(),
        )
    # A Python object (e.g. a model in the middle of training): hash its parameters when it has any.
    h = hashlib.sha256()
    params = None
    if isinstance(model, torch.nn.Module):
        params = 0
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
            params += t.numel() if name in dict(model.named_parameters()) else 0
    name = getattr(model, "name", None) or type(model).__name__.lower()
    return SubmissionRef(
        name=slugify(name),  # names become folder names in a store: one rule (manifest.NAME_PATTERN)
        version=slugify(getattr(model, "version", "0"), default="0"),
        format="python",
        uri=f"python:{type(model).__module__}.{type(model).__qualname__}",
        sha256={},
        submission_hash=h.hexdigest(),
        static_dim=static_dim,
        dynamic_dim=dynamic_dim,
        parameters=params,
    )


def _check_dims(model: Any) -> tuple[int, int]:
    try:
        return int(model.static_dim), int(model.dynamic_dim)
    except (AttributeError, TypeError, ValueError):
        raise SubmissionError(
            f"{type(model).__name__} lacks integer static_dim / dynamic_dim attributes (the model interface needs them)"
        ) from None


def _finite(v: Any) -> bool:
    return v is None or math.isfinite(float(v))


def _score(mv) -> Score:
    """MetricValue → Score (the result schema's form; a NaN / Inf number becomes an ``error`` score)."""
    d = mv.to_dict()  # (turns NaN / Inf into None)
    status = "ok" if d.get("applicable", True) else "not_applicable"
    bad = [k for k in ("value", "ci_low", "ci_high", "std") if not _finite(getattr(mv, k, None))]
    if bad and status == "ok":
        return Score(
            value=None, n=d.get("n"), version=str(d.get("version", "1")), higher_is_better=d.get("higher_is_better"),
            status="error", reason=f"non-finite {', '.join(f'{k}={getattr(mv, k)}' for k in bad)}",
            details=d.get("extra") or {},
        )
    return Score(
        value=d["value"],
        ci_low=d["ci_low"],
        ci_high=d["ci_high"],
        std=d.get("std"),
        n=d.get("n"),
        version=str(d.get("version", "1")),
        higher_is_better=d.get("higher_is_better"),
        status=status,
        reason=d.get("reason"),
        details=d.get("extra") or {},
    )


def _settings_key(result: Result) -> str:
    """What must be equal for a previous (partial) result to be resumed."""
    key = {
        "protocol": result.protocol,
        "dataset": result.dataset.model_dump(),
        "judge": result.judge.sha256 if result.judge else None,
        "submission": result.submission.submission_hash,
        "settings": result.settings.model_dump(exclude={"metrics", "device"}),
    }
    return json.dumps(key, sort_keys=True)


@dataclass
class Session:
    """What one or many evaluations of different models share: the dataset, its judge, the device, and
    the model-independent inputs (subsets, labels, float videos on the device; ``inputs``).

    A cold :func:`evaluate` opens one and drops it; :class:`msd_bench.Evaluator` keeps one open across
    calls. Both run the same :func:`run_session`, so the scores are the same.
    """

    dataset: str
    spec: Any
    size: str
    ds: Any
    judge: Any
    judge_backend: str
    device: torch.device
    inputs: dict[str, Any] | None = None
    env_cache: dict[tuple[str, ...], dict] = field(default_factory=dict)
    git_sha: str | None = None

    def environment(self, providers: list[str]) -> dict:
        key = tuple(providers)
        if key not in self.env_cache:
            self.env_cache[key] = environment(self.device, providers)
        return dict(self.env_cache[key])


def check_settings(*, batch_size: int, limit: int | None, repeats: int, seed: Any) -> None:
    """One-line errors for bad run settings (shared by :func:`evaluate` and :class:`msd_bench.Evaluator`)."""
    if batch_size < 1:
        raise MsdBenchError(f"--batch-size must be >= 1, got {batch_size}")
    if limit is not None and limit < 2:
        raise MsdBenchError(f"--limit must be >= 2 sequences, got {limit}")
    if repeats < 1:
        raise MsdBenchError(f"--repeats must be >= 1, got {repeats}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MsdBenchError(f"--seed must be an integer >= 0, got {seed!r}")


def open_session(dataset: str, *, size: str, device: torch.device, judge_backend: str = "onnx", judge: Any = None,
                 spec: Any = None, keep_inputs: bool = False) -> Session:
    """Open ``dataset`` and its judge on ``device`` (``keep_inputs``: keep the inputs across runs)."""
    from ..datasets import get_spec, open_dataset
    from ..judges import load_judge

    if spec is None:
        spec = get_spec(dataset) if judge is None else _spec_or_imported(dataset)
    ds = open_dataset(dataset, size=size)
    if judge is None:
        judge = load_judge(dataset, backend=judge_backend, device=device)
    return Session(dataset=dataset, spec=spec, size=size, ds=ds, judge=judge, judge_backend=judge_backend,
                   device=device, inputs={} if keep_inputs else None, git_sha=git_sha())


def evaluate(
    model: Any,
    dataset: str = "sprites",
    *,
    size: str = "full",
    split: str = "test",
    metrics: str | list[str] = "all",
    device: str | torch.device = "auto",
    batch_size: int = 128,
    limit: int | None = None,
    seed: int = 0,
    repeats: int = 1,
    judge_backend: str = "onnx",
    out: str | Path | None = None,
    trust_code: bool = False,
    pictures: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    judge: Any = None,
    batch_progress: Callable[[str, int, int | None], None] | None = None,
) -> Result:
    """Score ``model`` on ``dataset`` with the frozen judge and the metric suite.

    Each call opens the dataset and the judge and reads the inputs again; to score a model many times
    (e.g. every few epochs of a training run) keep them open with :class:`msd_bench.Evaluator`, which
    gives the same scores.

    Parameters
    ----------
    model : path, ``hf://`` reference, or object
        A submission folder (loaded with :func:`~msd_bench.harness.load_submission`) or any object that
        implements the model interface (``static_dim``, ``dynamic_dim``, ``encode``, ``decode``,
        optional priors) — e.g. a model in the middle of training.
    dataset : str
        Built-in dataset name.
    size : {"full", "small"}
        Dataset size (``small`` for quick checks; results record it).
    split : {"test", "val", "train"}
    metrics : "all" or list of group or metric names
        Groups of :data:`msd_bench.harness.suite.GROUPS`; a metric name (``mig``, ``msd.dci``) runs
        the group that computes it (:func:`msd_bench.harness.suite.resolve_groups`).
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
    batch_size, limit, seed, repeats
        Batch size of every forward pass; a seeded random subset of ``limit`` sequences of the split
        (a ``limit`` above the split's size is clamped to it, and the result records the number
        actually scored, in ``settings.limit`` and ``dataset.n``); the seed of every random choice (``>= 0``); seeded
        repeats of the randomised metrics (their spread becomes the interval).
    judge_backend : {"onnx", "torch"}
    out : path, optional
        Folder for ``result.json`` and the pictures; an existing partial result with the same
        settings is resumed.
    trust_code : bool
        Allow a torch submission's entry point to run.
    pictures : bool
        Save reconstruction / swap / sample grids (PNG) and GIFs next to the result.
    progress : callable(group, done, total), optional
        Called when a metric group starts (``done`` groups of ``total`` finished).
    judge : object, optional
        A judge to use instead of the dataset's frozen one, e.g. a
        :class:`msd_bench.annotate.VLMJudge` for a dataset without a trained judge (then ``dataset``
        may also name an imported dataset). The result records it (``judge.backend``, and
        ``environment.judge`` from its ``record()``).
    batch_progress : callable(group, done, total), optional
        Called after every forward pass of the model or the judge inside a group: ``done`` passes so
        far in that group, ``total`` the passes it will make when known (else ``None``).

    Returns
    -------
    Result
    """
    from .suite import resolve_groups

    started = now_iso()
    t_start = time.perf_counter()
    dev = resolve_device(device)
    timer = PhaseTimer(dev)
    groups = resolve_groups(metrics)
    spec = get_spec_checked(dataset, judge)  # unknown -> one-line DatasetError
    check_settings(batch_size=batch_size, limit=limit, repeats=repeats, seed=seed)
    out_dir = Path(out) if out is not None else None
    created: list[Path] = _check_writable(out_dir) if out_dir is not None else []
    try:
        with timer("load"):
            if isinstance(model, str | Path):
                model = load_submission(model, dataset=dataset, device=dev, trust_code=trust_code)
            elif isinstance(model, torch.nn.Module) and not isinstance(model, LoadedSubmission):
                dev = model_device(model)
                timer.device = dev
            if isinstance(model, LoadedSubmission):
                _check_modality(model, spec)  # before the dataset is opened or the judge loaded
            session = open_session(dataset, size=size, device=dev, judge_backend=judge_backend, judge=judge,
                                   spec=spec)
        return run_session(session, model, timer, groups, started, t_start, split=split, batch_size=batch_size,
                           limit=limit, seed=seed, repeats=repeats, out_dir=out_dir, pictures=pictures,
                           progress=progress, batch_progress=batch_progress)
    except BaseException:
        _remove_if_empty(created)  # an early error leaves no empty --out folder behind
        raise


def get_spec_checked(dataset: str, judge: Any = None) -> Any:
    """The dataset's spec (an unknown name is a one-line :class:`~msd_bench.errors.DatasetError`)."""
    from ..datasets import get_spec

    return get_spec(dataset) if judge is None else _spec_or_imported(dataset)


class _CountingModel(TimedModel):
    """A :class:`TimedModel` that reports every forward pass (per-batch progress)."""

    def __init__(self, model: Any, device: torch.device):
        super().__init__(model, device)
        self.tick: Callable[[], None] | None = None

    def _timed(self, fn, *args):
        out = super()._timed(fn, *args)
        if self.tick is not None:
            self.tick()
        return out


class _CountingJudge(TimedJudge):
    """A :class:`TimedJudge` that reports every forward pass (per-batch progress)."""

    def __init__(self, judge: Any, device: torch.device):
        super().__init__(judge, device)
        self.tick: Callable[[], None] | None = None

    def __call__(self, x: torch.Tensor):
        out = super().__call__(x)
        if self.tick is not None:
            self.tick()
        return out


def run_session(session: Session, model: Any, timer: PhaseTimer, groups: list[str], started: str, t_start: float,
                *, split: str, batch_size: int, limit: int | None, seed: int, repeats: int, out_dir: Path | None,
                pictures: bool, progress: Callable[[str, int, int], None] | None = None,
                batch_progress: Callable[[str, int, int | None], None] | None = None,
                passes: dict[str, int] | None = None) -> Result:
    """Score one (loaded) model in an open :class:`Session` (the body of :func:`evaluate`).

    ``passes``: forward passes per group of an earlier run with the same settings (the totals of
    ``batch_progress``); updated with this run's counts. Runs with numpy's huge-page advice off
    (:func:`msd_bench._memory.small_pages`: large temporaries cost no compaction stalls; values unchanged).
    """
    with small_pages():
        return _run_session(session, model, timer, groups, started, t_start, split=split, batch_size=batch_size,
                            limit=limit, seed=seed, repeats=repeats, out_dir=out_dir, pictures=pictures,
                            progress=progress, batch_progress=batch_progress, passes=passes)


def _run_session(session: Session, model: Any, timer: PhaseTimer, groups: list[str], started: str, t_start: float,
                 *, split: str, batch_size: int, limit: int | None, seed: int, repeats: int, out_dir: Path | None,
                 pictures: bool, progress: Callable[[str, int, int], None] | None = None,
                 batch_progress: Callable[[str, int, int | None], None] | None = None,
                 passes: dict[str, int] | None = None) -> Result:
    from .suite import EvalContext, run_group

    dataset, spec, ds, judge, dev = session.dataset, session.spec, session.ds, session.judge, session.device
    if isinstance(model, LoadedSubmission) and model.dataset != dataset:
        raise SubmissionError(f"{model.manifest.name} was loaded for {model.dataset}, not {dataset}")
    s_dim, d_dim = _check_dims(model)
    if isinstance(model, LoadedSubmission):
        _check_modality(model, spec)
        if model.device != dev:
            raise SubmissionError(f"submission loaded on {model.device} but evaluation runs on {dev}")
    elif isinstance(model, torch.nn.Module) and not _same_device(model_device(model), dev):
        raise SubmissionError(f"the model's parameters are on {model_device(model)} but the evaluation's dataset "
                              f"and judge are on {dev}; move the model or open the evaluation on that device")
    timer.device = dev
    timed_model = _CountingModel(model, dev)
    timed_judge = _CountingJudge(judge, dev)
    _check_latent_shapes(timed_model, ds, split, dev, s_dim, d_dim, session.inputs)  # its encode is model time
    providers = list(getattr(model, "providers", []) or [])
    n_split = len(ds.indices(split))
    if limit is not None:
        limit = min(limit, n_split)  # clamped: the result records what was actually scored
    n = limit if limit else n_split
    judge_backend = session.judge_backend

    result = Result(
        protocol=PROTOCOL,
        harness_version=__version__,
        git_sha=session.git_sha,
        dataset=DatasetRef(
            name=spec.name, version=str(ds.version), content_hash=str(ds.content_hash), size=session.size,
            split=split, n=n
        ),
        judge=JudgeRef(
            backend=str(getattr(judge, "backend", judge_backend)),
            sha256={"card.json": judge.sha256, **{k: v.sha256 for k, v in judge.card.artefacts.items()}},
            providers=list(judge.providers),
            ceiling={k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in judge.ceiling().items()},
        ),
        submission=_submission_ref(model, s_dim, d_dim),
        settings=RunSettings(
            seed=seed, batch_size=batch_size, device=str(dev), limit=limit, repeats=repeats, metrics=list(groups)
        ),
        environment={**session.environment(providers or list(judge.providers)),
                     **({"judge": judge.record()} if callable(getattr(judge, "record", None)) else {})},
        status="partial",
        missing=list(groups),
        started_at=started,
    )
    if out_dir is not None and (out_dir / RESULT_FILE).is_file():
        try:
            previous = read_result(out_dir / RESULT_FILE)
        except MsdBenchError:
            previous = None
        if previous is not None and _settings_key(previous) == _settings_key(result):
            done = [g for g in groups if g in previous.groups and g not in previous.errors]
            for g in done:
                result.groups[g] = previous.groups[g]
                for name in previous.groups[g]:
                    if name in previous.scores:
                        result.scores[name] = previous.scores[name]
            result.missing = [g for g in groups if g not in done]
            result.timing.phases_s.update({k: v for k, v in previous.timing.phases_s.items() if k in done})

    ctx = EvalContext(
        model=timed_model,
        judge=timed_judge,
        dataset=ds,
        split=split,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        repeats=repeats,
        device=dev,
        pictures_dir=out_dir if (out_dir is not None and pictures) else None,
        progress=progress,
        inputs=session.inputs,
    )
    counts = passes if passes is not None else {}
    todo = list(result.missing)
    try:
        for i, group in enumerate(todo):
            if progress:
                progress(group, i, len(todo))
            _set_ticks(timed_model, timed_judge, group, counts, batch_progress)
            try:
                with timer(group):
                    values = run_group(group, ctx)
                for mv in values:
                    result.scores[mv.name] = _score(mv)
                result.groups[group] = [mv.name for mv in values]
            except KeyboardInterrupt:
                raise
            except MsdBenchError as exc:
                result.errors[group] = str(exc)
            except Exception as exc:  # a crash in one metric group must not lose the others
                result.errors[group] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            result.missing.remove(group)
            _finish(result, timer, timed_model, timed_judge, t_start, final=False)
            if out_dir is not None:
                write_result(result, out_dir / RESULT_FILE)
    except KeyboardInterrupt:
        _finish(result, timer, timed_model, timed_judge, t_start, final=False)
        if out_dir is not None:
            write_result(result, out_dir / RESULT_FILE)
        raise
    finally:
        timed_model.tick = timed_judge.tick = None
    _finish(result, timer, timed_model, timed_judge, t_start, final=True)
    if out_dir is not None:
        write_result(result, out_dir / RESULT_FILE)
    return result


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` (the current device) are the same device."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)


def _set_ticks(model: _CountingModel, judge: _CountingJudge, group: str, counts: dict[str, int],
               batch_progress: Callable[[str, int, int | None], None] | None) -> None:
    """Count the forward passes of ``group`` into ``counts`` (its total for the next run) and report them."""
    total = counts.get(group)
    state = {"done": 0}

    def tick() -> None:
        state["done"] += 1
        counts[group] = state["done"]
        if batch_progress is not None:
            batch_progress(group, state["done"], total if total is not None and total >= state["done"] else None)

    model.tick = judge.tick = tick


def _spec_or_imported(dataset: str) -> Any:
    """The registry's spec, or (for an explicitly given judge) the imported dataset file of that name."""
    from ..datasets import get_spec, open_dataset
    from ..errors import DatasetError

    try:
        return get_spec(dataset)
    except DatasetError:
        try:
            return open_dataset(dataset)
        except DatasetError:
            pass
        raise


def _finish(result: Result, timer: PhaseTimer, model: TimedModel, judge: TimedJudge, t0: float, final: bool) -> None:
    wall = time.perf_counter() - t0
    result.timing = Timing(
        phases_s={**result.timing.phases_s, **timer.as_dict()},
        model_s=round(model.seconds, 6),
        judge_s=round(judge.seconds, 6),
        wall_s=round(wall, 6),
        overhead=round(wall / (model.seconds + judge.seconds), 4) if (model.seconds + judge.seconds) > 0 else None,
    )
    if final:
        result.finished_at = now_iso()
        if result.missing:
            result.status = "partial"
        elif result.errors and not result.scores:
            result.status = "failed"
        else:
            result.status = "complete" if not result.errors else "partial"


def _check_modality(model: LoadedSubmission, ds: Any) -> None:
    """Refuse a submission of another modality than the dataset's (``ds``: its registry spec or the
    opened file), or one whose manifest declares an ``input_shape`` other than the dataset's
    ``[T, *F]`` (one-line :class:`SubmissionError`)."""
    modality = dataset_modality(ds)
    shape = [int(ds.shape[0]), *dataset_feature_shape(ds)]
    if model.modality != modality:
        raise SubmissionError(
            f"dataset {ds.name!r} is {modality} {shape_text(modality)} = {shape} but {model.manifest.name} is a "
            f"{model.modality} submission {shape_text(model.modality)} (expected a submission whose manifest "
            f"declares interface_version 2 and modality {modality})"
        )
    declared = model.entry.input_shape
    if declared is not None and list(declared) != shape:
        raise SubmissionError(
            f"datasets.{model.dataset}.input_shape of {model.manifest.name} is {list(declared)} but {ds.name} has "
            f"{shape_text(modality)} = {shape}"
        )


def _check_latent_shapes(model: Any, ds: Any, split: str, dev: torch.device, s_dim: int, d_dim: int,
                         inputs: dict[str, Any] | None = None) -> None:
    """Encode two real sequences and compare the latent shapes with the declared dims (fail fast).

    ``inputs``: a session's kept inputs (the two sequences are read once and kept there).
    """
    from ..datasets import to_model_input

    key = f"shape-check:{split}"
    if inputs is not None and key in inputs:
        x = inputs[key]
    else:
        data, _ = ds.read(ds.indices(split)[:2])
        x = to_model_input(torch.from_numpy(data).to(dev), dataset_modality(ds))
        if inputs is not None:
            inputs[key] = x
    try:
        with torch.inference_mode():
            z = model.encode(x)
    except MsdBenchError:
        raise
    except Exception as exc:
        raise SubmissionError(
            f"encode failed on two sequences of {ds.name} of shape {list(x.shape)} ([B, T, *F], "
            f"{dataset_modality(ds)}): {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        ) from None
    if not hasattr(z, "static"):
        z_static, z_dynamic = z
    else:
        z_static, z_dynamic = z.static, z.dynamic
    t = x.shape[1]
    want_s, want_d = (2, s_dim), (2, t, d_dim)
    if tuple(z_static.shape) != want_s or tuple(z_dynamic.shape) != want_d:
        raise SubmissionError(
            f"latent shapes static {list(z_static.shape)} / dynamic {list(z_dynamic.shape)} do not match the "
            f"declared static_dim={s_dim}, dynamic_dim={d_dim} (expected {list(want_s)} / {list(want_d)})"
        )


def _check_writable(out: Path) -> list[Path]:
    """Create ``out`` (and its missing parents) and probe it; the folders created, deepest first."""
    import os
    import tempfile

    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _remove_if_empty(created)
        raise MsdBenchError(f"--out {out} is not writable ({exc.strerror or exc}); choose another folder") from None
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders this run created, deepest first, as long as they are empty."""
    for p in folders:
        with contextlib.suppress(OSError):
            p.rmdir()
