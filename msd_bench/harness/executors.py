"""Fan the board out: one task per (submission, dataset, seed), in-process, on Ray, or on SLURM.

``msd-bench submit PATH [PATH ...] --executor inprocess|ray|slurm`` and :func:`run_board` plan the
tasks in the driver (manifests read, declared datasets checked, already-stored results skipped),
run each task where the executor puts it, store every result atomically and build the board once at
the end. A task is :func:`run_task`: exactly the per-dataset body of :func:`msd_bench.harness.submit.submit`
(validate, evaluate, time, store), so the scores are those of an in-process run with the same seed.

- ``inprocess`` (the default of ``msd-bench submit``): today's sequential run in this process.
- ``ray``: one Ray task per unit, ``num_cpus`` per task with torch and BLAS threads pinned to it,
  worker deaths retried (``max_retries``), other errors reported at the end. A local Ray on this
  machine's cores by default; ``address`` joins a running cluster.
- ``slurm``: one submitit job per unit (``submitit.AutoExecutor``: SLURM when ``sbatch`` is there,
  else submitit's local executor); a job that dies without a result is resubmitted up to
  ``max_retries`` times.

Results are written by the task (``add_result``: atomic, same key replaced, so idempotent) and again
by the driver from the returned record when the file is missing or differs (a store the workers
could not reach). A rerun after an interrupted driver skips the units whose stored result is
complete and was computed from the same submission, dataset revision, judge and settings; a unit
that was cut short resumes from evaluate's working copy (finished metric groups are kept).

Ray and submitit are optional (``pip install "msd-bench[ray]"`` / ``"msd-bench[slurm]"``) and imported
only when their executor runs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MsdBenchError

EXECUTORS = ("inprocess", "ray", "slurm")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
#: Test-only fault hook: a task whose ``name/dataset/seed`` matches this fnmatch pattern kills its own
#: worker process (SIGKILL) on its first attempt; the attempt is marked by a file in ``FAULT_DIR_ENV``.
FAULT_KILL_ENV = "MSD_BENCH_FAULT_KILL"
FAULT_DIR_ENV = "MSD_BENCH_FAULT_DIR"


class ExecutorError(MsdBenchError):
    """An executor is unknown, not installed or cannot start (one line, exit 2)."""


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Task:
    """One unit of work: a submission on one dataset with one seed, and where its result goes.

    Attributes
    ----------
    root : str
        Absolute path of the submission folder (a Hub submission's resolved snapshot).
    uri, hub_commit : str
        The source the result records (a Hub reference is pinned to its commit).
    name, version, dataset, seed
        The unit's key.
    store : str
        Absolute path of the results store.
    settings : dict
        ``device``, ``trust_code``, ``size``, ``limit``, ``batch_size``, ``bench_queries``, ``metrics``.
    threads : int
        Torch / BLAS threads of the task (0: leave them as they are, the in-process default).
    """

    root: str
    uri: str
    hub_commit: str | None
    name: str
    version: str
    dataset: str
    seed: int
    store: str
    settings: dict = field(default_factory=dict)
    threads: int = 0

    @property
    def key(self) -> str:
        """``name@version/dataset/seed`` (what progress lines and failure lines name)."""
        return f"{self.name}@{self.version}/{self.dataset}/seed {self.seed}"

    @property
    def fault_key(self) -> str:
        return f"{self.name}/{self.dataset}/{self.seed}"


@dataclass
class TaskOutcome:
    """What a task sends back: the stored result as JSON, or a one-line error."""

    task: Task
    result_json: str | None = None
    error: str | None = None
    wall_s: float = 0.0
    host: str = ""
    pid: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.result_json is not None


@dataclass
class BoardRun:
    """The outcome of :func:`run_board`.

    Attributes
    ----------
    tasks : list of Task
        Every planned unit.
    skipped : list of Task
        Units whose stored result was already complete and current (not recomputed).
    outcomes : list of TaskOutcome
        The units that ran, in completion order.
    startup_s : float
        Time to start (or join) the executor: Ray's ``init``, submitit's executor; 0 in-process.
    wall_s : float
        Wall time of the whole run, board build included.
    """

    executor: str
    tasks: list[Task] = field(default_factory=list)
    skipped: list[Task] = field(default_factory=list)
    outcomes: list[TaskOutcome] = field(default_factory=list)
    startup_s: float = 0.0
    wall_s: float = 0.0
    board: Any = None

    @property
    def failures(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def results(self) -> list[Any]:
        """The stored :class:`~msd_bench.harness.results.Result` of every unit that ran."""
        from .results import Result

        return [Result.model_validate_json(o.result_json) for o in self.outcomes if o.ok]

    def failure_lines(self) -> list[str]:
        """One line per failed unit: ``failed: name@version/dataset/seed S: reason``."""
        return [f"failed: {o.task.key}: {o.error}" for o in self.failures]


def _one_line(exc: BaseException | str, limit: int = 400) -> str:
    text = exc if isinstance(exc, str) else (str(exc) if isinstance(exc, MsdBenchError)
                                             else f"{type(exc).__name__}: {exc}")
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------- task
def thread_env(threads: int) -> dict[str, str]:
    """The environment that pins BLAS / OpenMP pools to ``threads`` (what each Ray / SLURM task gets)."""
    return {k: str(threads) for k in THREAD_VARS}


def _fault_hook(task: Task) -> None:
    """Test-only: kill this worker process on the first attempt of a matching task (see FAULT_KILL_ENV)."""
    pattern, folder = os.environ.get(FAULT_KILL_ENV), os.environ.get(FAULT_DIR_ENV)
    if not pattern or not folder or not fnmatch.fnmatch(task.fault_key, pattern):
        return
    marker = Path(folder) / (task.fault_key.replace("/", "__") + ".killed")
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


def run_task(task: Task, remote: bool = True) -> TaskOutcome:
    """Run one unit (validate, evaluate, time, store) and return its outcome; never raises an error of
    the unit's own (those become ``TaskOutcome.error``), so that only a dead worker is retried.

    Parameters
    ----------
    task : Task
    remote : bool
        True inside a Ray / SLURM worker: pins the threads and honours the test-only fault hook.
    """
    t0 = time.perf_counter()
    out = TaskOutcome(task=task, host=socket.gethostname(), pid=os.getpid())
    if remote:
        if task.threads > 0:
            os.environ.update(thread_env(task.threads))
        _fault_hook(task)
    try:
        if remote and task.threads > 0:
            import torch

            torch.set_num_threads(task.threads)
            with contextlib.suppress(RuntimeError):  # only settable before the first parallel region
                torch.set_num_interop_threads(1)
        from .manifest import load_manifest
        from .submit import submit_one

        s = task.settings
        manifest = load_manifest(Path(task.root))
        result = submit_one(Path(task.root), manifest, task.dataset, task.store, uri=task.uri,
                            hub_commit=task.hub_commit, device=s.get("device", "auto"),
                            trust_code=bool(s.get("trust_code")), size=s.get("size", "full"), limit=s.get("limit"),
                            batch_size=s.get("batch_size", 128), seed=task.seed,
                            bench_queries=s.get("bench_queries", 700), metrics=s.get("metrics", "all"))
        out.result_json = result.model_dump_json()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a unit's failure is reported, the others go on
        if isinstance(exc, SystemExit):
            exc = MsdBenchError(f"submission code called sys.exit({exc.code})")
        out.error = _one_line(exc)
    out.wall_s = time.perf_counter() - t0
    return out


def _store_outcome(outcome: TaskOutcome) -> None:
    """Write the returned result at its place unless the task already wrote exactly that (atomic)."""
    if not outcome.ok:
        return
    from ..leaderboard import add_result
    from ..leaderboard.store import result_path
    from .results import Result

    t = outcome.task
    path = result_path(t.store, t.name, t.version, t.dataset)
    try:
        same = json.loads(path.read_text(encoding="utf-8")) == json.loads(outcome.result_json)
    except (OSError, ValueError):
        same = False
    if not same:
        add_result(Result.model_validate_json(outcome.result_json), t.store)


# ------------------------------------------------------------------------------------------- plan
def plan_tasks(
    specs: list[str],
    store: str | Path,
    *,
    datasets: list[str] | None = None,
    seed: int = 0,
    threads: int = 0,
    **settings: Any,
) -> list[Task]:
    """The units of ``specs`` × their declared datasets (``datasets`` narrows them) × ``seed``.

    Raises
    ------
    MsdBenchError
        A requested dataset that no given submission declares, or one submission given twice.
    """
    from .loader import resolve_source
    from .manifest import load_manifest

    store = Path(store).resolve()
    tasks: list[Task] = []
    seen: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for spec in specs:
        source = resolve_source(spec)
        manifest = load_manifest(source.path)
        key = (manifest.name, manifest.version)
        if key in seen:
            raise MsdBenchError(f"{spec} and {seen[key]} are the same submission {manifest.name} {manifest.version}; "
                                "give each once")
        seen[key] = spec
        uri = spec
        if source.hub_commit and "@" not in spec:
            uri = f"{spec}@{source.hub_commit}"
        names = [d for d in manifest.datasets if not datasets or d in datasets]
        if datasets and len(specs) == 1:
            undeclared = [d for d in datasets if d not in manifest.datasets]
            if undeclared:
                raise MsdBenchError(f"{manifest.name} does not declare dataset(s) {', '.join(undeclared)} "
                                    f"(it declares: {', '.join(manifest.datasets)})")
        used.update(names)
        for ds in names:
            tasks.append(Task(root=str(Path(source.path).resolve()), uri=uri, hub_commit=source.hub_commit,
                              name=manifest.name, version=manifest.version, dataset=ds, seed=seed,
                              store=str(store), settings=dict(settings), threads=threads))
    missing = [d for d in (datasets or []) if d not in used]
    if missing:
        raise MsdBenchError(f"no given submission declares dataset(s) {', '.join(missing)}")
    return tasks


def _submission_hash(task: Task) -> str | None:
    """The submission hash a result of ``task`` would record (None when an artefact is unreadable)."""
    from .loader import hash_artefacts, submission_hash
    from .manifest import load_manifest

    try:
        manifest = load_manifest(Path(task.root))
        hashes = hash_artefacts(Path(task.root), manifest.datasets[task.dataset])
    except (MsdBenchError, OSError, KeyError):
        return None
    return submission_hash(manifest, hashes)


def is_done(task: Task, revisions: Any = None) -> bool:
    """Whether the store already holds a complete, current result of ``task`` with the same settings.

    Current = same protocol (the path), submission hash, dataset revision and judge hashes
    (:func:`msd_bench.leaderboard.scan_store`'s rerun rule), seed, size, limit, batch size and metric groups.
    """
    from ..leaderboard.store import StoreEntry, _check_revision, current_revisions, result_path
    from .results import read_result
    from .suite import resolve_groups

    path = result_path(task.store, task.name, task.version, task.dataset)
    if not path.is_file():
        return False
    try:
        r = read_result(path)
    except MsdBenchError:
        return False
    s = task.settings
    if r.status != "complete" or r.benchmark is None or r.dataset.size != s.get("size", "full"):
        return False
    st = r.settings
    if st.seed != task.seed or st.batch_size != s.get("batch_size", 128) or \
            sorted(st.metrics) != sorted(resolve_groups(s.get("metrics", "all"))):
        return False
    limit = s.get("limit")
    if limit is None:
        if st.limit is not None:
            return False
    elif not (st.limit == limit or (st.limit == r.dataset.n and limit >= r.dataset.n)):  # the runner clamps it
        return False
    if r.submission.submission_hash != _submission_hash(task):
        return False
    rev = revisions if revisions is not None else current_revisions([task.dataset])
    problem = _check_revision(StoreEntry(path, r), rev)
    return problem is None or problem.kind == "unchecked"


# -------------------------------------------------------------------------------------- executors
def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError('--executor ray needs Ray: pip install "msd-bench[ray]" (or: pip install ray)') from None
    return ray


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ExecutorError('--executor slurm needs submitit: pip install "msd-bench[slurm]"') from None
    return submitit


def _forwarded_env(threads: int) -> dict[str, str]:
    """Variables every worker gets: the thread pins plus the driver's MSD_BENCH_* / HF_* settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("MSD_BENCH_", "HF_"))}
    if threads > 0:
        env.update(thread_env(threads))
    return env


def _run_inprocess(tasks: list[Task], on_done: Callable[[TaskOutcome], None], on_start: Callable[[float], None],
                   **_: Any) -> None:
    on_start(0.0)
    for t in tasks:
        on_done(run_task(t, remote=False))


def _run_ray(tasks: list[Task], on_done: Callable[[TaskOutcome], None], on_start: Callable[[float], None], *,
             address: str | None = None, num_cpus: int | None = None, cpus_per_task: int = 1,
             gpus_per_task: float = 0, max_retries: int = 3, **_: Any) -> None:
    ray = _import_ray()
    t0 = time.perf_counter()
    started_here = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus, **kwargs)
        except Exception as exc:  # noqa: BLE001 - ray raises many kinds; one line for the user
            raise ExecutorError(f"could not start Ray{f' at {address}' if address else ''}: {_one_line(exc)}") from None
        started_here = True
    on_start(time.perf_counter() - t0)
    try:
        remote = ray.remote(_remote_entry).options(
            num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=max_retries, retry_exceptions=False,
            runtime_env={"env_vars": _forwarded_env(cpus_per_task)},
        )
        refs = {remote.remote(t): t for t in tasks}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a worker that died max_retries + 1 times, ...
                        outcome = TaskOutcome(task=refs[ref], error=f"Ray task failed: {_one_line(exc, 300)}")
                    on_done(outcome)
        except BaseException:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise
    finally:
        if started_here:
            ray.shutdown()


def _remote_entry(task: Task) -> TaskOutcome:
    return run_task(task, remote=True)


def _run_slurm(tasks: list[Task], on_done: Callable[[TaskOutcome], None], on_start: Callable[[float], None], *,
               slurm_folder: str | Path | None = None, slurm_cluster: str | None = None,
               slurm_partition: str | None = None, slurm_time_min: int = 120, cpus_per_task: int = 1,
               gpus_per_task: float = 0, max_retries: int = 3, poll_s: float = 0.5, **_: Any) -> None:
    submitit = _import_submitit()
    t0 = time.perf_counter()
    folder = Path(slurm_folder) if slurm_folder else Path(tasks[0].store) / ".submitit" if tasks else Path(".submitit")
    ex = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=slurm_cluster)
    params: dict[str, Any] = {"timeout_min": slurm_time_min, "cpus_per_task": cpus_per_task, "nodes": 1,
                              "tasks_per_node": 1, "name": "msd-bench"}
    if gpus_per_task:
        params["gpus_per_node"] = int(gpus_per_task)
    if slurm_partition:
        params["slurm_partition"] = slurm_partition
    if ex.cluster == "slurm":
        params["slurm_setup"] = [f"export {k}={v}" for k, v in _forwarded_env(cpus_per_task).items()]
    ex.update_parameters(**params)
    old_env = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(thread_env(cpus_per_task))  # the local executor's jobs inherit the driver's environment
    try:
        jobs = {ex.submit(_remote_entry, t): (t, 0) for t in tasks}
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    on_start(time.perf_counter() - t0)
    try:
        while jobs:
            finished = [j for j in jobs if j.done()]
            if not finished:
                time.sleep(poll_s)
                continue
            for job in finished:
                task, attempt = jobs.pop(job)
                try:
                    outcome = job.result()
                except Exception as exc:  # noqa: BLE001 - the job died (killed, preempted, out of memory)
                    if attempt < max_retries:
                        jobs[ex.submit(_remote_entry, task)] = (task, attempt + 1)
                        continue
                    outcome = TaskOutcome(task=task, error=f"job failed {attempt + 1} time(s): {_one_line(exc, 300)}")
                on_done(outcome)
    except BaseException:
        for job in jobs:
            with contextlib.suppress(Exception):
                job.cancel()
        raise


_RUNNERS = {"inprocess": _run_inprocess, "ray": _run_ray, "slurm": _run_slurm}


# ---------------------------------------------------------------------------------------------- run
def run_board(
    specs: list[str],
    store: str | Path = "leaderboard",
    *,
    executor: str = "inprocess",
    datasets: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    trust_code: bool = False,
    size: str = "full",
    limit: int | None = None,
    batch_size: int = 128,
    bench_queries: int = 700,
    metrics: str | list[str] = "all",
    rebuild: bool = True,
    resume: bool = True,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_task: int = 1,
    gpus_per_task: float = 0,
    max_retries: int = 3,
    slurm_folder: str | Path | None = None,
    slurm_cluster: str | None = None,
    slurm_partition: str | None = None,
    slurm_time_min: int = 120,
    log: Callable[[str], None] = lambda s: None,
    on_start: Callable[[float, int, int], None] | None = None,
    on_done: Callable[[TaskOutcome, int, int], None] | None = None,
) -> BoardRun:
    """Evaluate ``specs`` on their declared datasets through ``executor``, store, build the board once.

    Parameters
    ----------
    specs : list of str
        Submission folders or ``hf://`` references.
    executor : {"inprocess", "ray", "slurm"}
    resume : bool
        Skip units whose stored result is complete and current (:func:`is_done`); False recomputes all.
    address : str, optional
        Ray: join this cluster (``auto``, ``ray://host:10001``, ``host:6379``); default a local Ray.
    num_cpus : int, optional
        Ray: CPUs of the local Ray (default every core).
    cpus_per_task, gpus_per_task : int, float
        Resources of each task; torch / BLAS threads are pinned to ``cpus_per_task``.
    max_retries : int
        Ray: retries of a task whose worker died; SLURM: resubmissions of a job that died.
    slurm_folder, slurm_cluster, slurm_partition, slurm_time_min
        submitit's log folder (default ``<store>/.submitit``), cluster (None: SLURM if present, else
        ``local``), partition and time limit.
    on_start : callable(startup_s, n_todo, n_skipped), optional
    on_done : callable(outcome, n_finished, n_todo), optional
        Called in the driver after each unit's result is stored.

    Returns
    -------
    BoardRun
        Failed units are in ``failures`` (the others are stored); nothing is raised for them.
    """
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; expected one of: {', '.join(EXECUTORS)}")
    if cpus_per_task < 1:
        raise ExecutorError(f"--cpus-per-task must be >= 1, got {cpus_per_task}")
    if gpus_per_task < 0 or max_retries < 0:
        raise ExecutorError("--gpus-per-task and --max-retries must be >= 0")
    from .suite import resolve_groups

    resolve_groups(metrics)  # an unknown group: one line before any work
    if executor == "ray":
        _import_ray()
    elif executor == "slurm":
        _import_submitit()
    t0 = time.perf_counter()
    threads = 0 if executor == "inprocess" else cpus_per_task
    tasks = plan_tasks(specs, store, datasets=datasets, seed=seed, threads=threads, device=device,
                       trust_code=trust_code, size=size, limit=limit, batch_size=batch_size,
                       bench_queries=bench_queries, metrics=metrics)
    run = BoardRun(executor=executor, tasks=tasks)
    todo = []
    revisions_cache: dict[str, Any] = {}
    for t in tasks:
        if resume:
            from ..leaderboard.store import current_revisions

            rev = revisions_cache.setdefault(t.dataset, None) or revisions_cache.setdefault(
                t.dataset, current_revisions([t.dataset]))
            if is_done(t, rev):
                run.skipped.append(t)
                continue
        todo.append(t)
    for t in run.skipped:
        log(f"skipping {t.key}: stored result is complete and current")

    def started(startup_s: float) -> None:
        run.startup_s = startup_s
        if on_start:
            on_start(startup_s, len(todo), len(run.skipped))

    def finished(outcome: TaskOutcome) -> None:
        try:
            if outcome.ok:
                from .. import PROTOCOL
                from .results import Result

                worker = Result.model_validate_json(outcome.result_json).protocol
                if worker != PROTOCOL:  # e.g. a cluster node with another msd-bench installed
                    raise ExecutorError(f"the worker on {outcome.host} scored under protocol {worker}, this driver "
                                        f"runs {PROTOCOL}: install the same msd-bench on every node")
            _store_outcome(outcome)
        except MsdBenchError as exc:
            outcome.error, outcome.result_json = _one_line(exc), None
        run.outcomes.append(outcome)
        if on_done:
            on_done(outcome, len(run.outcomes), len(todo))

    if todo:
        _RUNNERS[executor](todo, finished, started, address=address, num_cpus=num_cpus, cpus_per_task=cpus_per_task,
                           gpus_per_task=gpus_per_task, max_retries=max_retries, slurm_folder=slurm_folder,
                           slurm_cluster=slurm_cluster, slurm_partition=slurm_partition,
                           slurm_time_min=slurm_time_min)
    else:
        started(0.0)
    if rebuild:
        from ..leaderboard import build_leaderboard

        run.board = build_leaderboard(store)
        log(f"leaderboard rebuilt: {', '.join(str(p) for p in getattr(run.board, 'written', []))}")
    run.wall_s = time.perf_counter() - t0
    return run


__all__ = ["EXECUTORS", "BoardRun", "ExecutorError", "Task", "TaskOutcome", "is_done", "plan_tasks",
           "run_board", "run_task", "thread_env"]
