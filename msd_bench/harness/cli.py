"""Top-level harness commands: validate, schema (and evaluate, submit, bench as they land)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from .._cli_utils import console, err_console, handle_errors
from ..errors import MsdBenchError
from .modality import shape_text

SCHEMA_FILES = {
    "submission.schema.json": "msd_bench.harness.manifest:manifest_schema_text",
    "result.schema.json": "msd_bench.harness.results:result_schema_text",
}


@handle_errors
def validate(
    path: str = typer.Argument(..., help="Submission folder (with submission.yaml) or hf://org/repo[@rev]."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Check only this dataset's artefacts (default: every declared dataset)."
    ),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or cuda:N."),
    trust_code: bool = typer.Option(
        False, "--trust-code", help="Allow a torch submission's entry point (its Python code) to run."
    ),
    batch_size: int = typer.Option(4, "--batch-size", min=2, help="Size of the seeded dummy batch."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Check that a submission implements the model interface.

    Loads the manifest and artefacts (sha256 printed), then runs a fixed, seeded dummy batch of each
    declared dataset's shape [T, *F] through it: encode shapes and dtypes, decode shape and range
    ([0, 1] video, [-1, 1] audio, unbounded time series), no NaN/Inf, determinism, batch invariance
    (batch 1 vs N within 1e-4), reproducible priors, and swap semantics. A submission of another
    modality than the dataset's is refused. Exit code 0 when every check passes, 2 otherwise.

    Example: msd-bench validate submissions/dsvae --trust-code
    """
    from .loader import resolve_source
    from .manifest import load_manifest
    from .validate import validate_submission

    source = resolve_source(path)
    manifest = load_manifest(source.path)
    names = [dataset] if dataset else list(manifest.datasets)
    reports = [
        validate_submission(source.path, dataset=name, device=device, trust_code=trust_code, batch=batch_size)
        for name in names
    ]
    if as_json:
        out = [
            {
                "submission": r.submission,
                "dataset": r.dataset,
                "format": r.format,
                "modality": r.modality,
                "shape": list(r.shape),
                "providers": r.providers,
                "sha256": r.hashes,
                "passed": r.passed,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in r.checks],
            }
            for r in reports
        ]
        console.print_json(json.dumps(out))
    else:
        for r in reports:
            title = escape(f"{r.submission} on {r.dataset} ({r.modality}) {shape_text(r.modality)}={list(r.shape)}")
            table = Table(title=title, title_justify="left")
            table.add_column("check")
            table.add_column("result")
            table.add_column("detail", overflow="fold")
            for c in r.checks:
                mark = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[dim]n/a[/]"}[c.passed]
                table.add_row(escape(c.name), mark, escape(c.detail))
            console.print(table)
            hashes = Table("artefact", "sha256", title="artefacts", title_justify="left")
            for rel, digest in r.hashes.items():
                hashes.add_row(rel, digest)
            console.print(hashes)
    failed = [(r, c) for r in reports for c in r.failures()]
    if failed:
        r, c = failed[0]
        raise MsdBenchError(
            f"{r.submission} fails {len(failed)} check(s); first: {c.name} on {r.dataset}: {c.detail}"
        )
    if not as_json:
        console.print(f"[green]all checks passed[/] for {', '.join(r.dataset for r in reports)}")


def _schema_texts() -> dict[str, str]:
    import importlib

    texts = {}
    for fname, target in SCHEMA_FILES.items():
        mod, fn = target.split(":")
        texts[fname] = getattr(importlib.import_module(mod), fn)()
    return texts


@handle_errors
def schema(
    out_dir: Path = typer.Option(Path("docs"), "--out-dir", help="Folder to write the JSON Schemas into."),
    check: bool = typer.Option(False, "--check", help="Only check that the files are up to date (exit 2 if not)."),
) -> None:
    """Export the JSON Schemas of submission.yaml (and results) to docs/.

    Example: msd-bench schema            # rewrite docs/submission.schema.json
             msd-bench schema --check    # CI: fail when the checked-in schema is stale
    """
    from .._io import atomic_write_text

    stale = []
    for fname, text in _schema_texts().items():
        path = out_dir / fname
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if check:
            stale.append(str(path))
        else:
            atomic_write_text(path, text)
            console.print(f"wrote {path}")
    if stale:
        raise MsdBenchError(f"stale JSON Schema: {', '.join(stale)} (run `msd-bench schema` to regenerate)")
    if check:
        console.print("schemas up to date")


@handle_errors
def evaluate(
    dataset: str = typer.Option("sprites", "--dataset", "-d", help="Built-in dataset to score on."),
    submission: str = typer.Option(..., "--submission", "-s", help="Submission folder or hf://org/repo[@rev]."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda or cuda:N."),
    metrics: str = typer.Option(
        "all", "--metrics", "-m", help="'all' or a comma-separated list of metric groups or score names (a score "
        "runs its whole group; `msd-bench metrics list --groups`)."
    ),
    split: str = typer.Option("test", "--split", help="Split to score: test, val or train."),
    size: str = typer.Option("full", "--size", help="Dataset size: full, or small for a quick check."),
    limit: int | None = typer.Option(
        None, "--limit", help="Score a seeded random subset of N sequences (N above the split's size: all of it)."
    ),
    batch_size: int = typer.Option(128, "--batch-size", help="Batch size of every forward pass."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed (>= 0) of every random choice (same seed, same scores)."),
    repeats: int = typer.Option(1, "--repeats", help="Seeded repeats of the randomised metrics."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for result.json and pictures [default: results/<name>/<version>/<dataset>]."
    ),
    trust_code: bool = typer.Option(False, "--trust-code", help="Allow a torch submission's code to run."),
    judge_backend: str = typer.Option("onnx", "--judge-backend", help="Judge backend: onnx, torch, or vlm."),
    vlm_model: str | None = typer.Option(
        None, "--vlm-model", help="With --judge-backend vlm: the vision-language model that judges (docs/annotate.md)."
    ),
    vlm_base_url: str | None = typer.Option(None, "--vlm-base-url", help="With --judge-backend vlm: API root URL."),
    vlm_api_key_env: str | None = typer.Option(
        None, "--vlm-api-key-env", help="With --judge-backend vlm: environment variable holding the API key."
    ),
    pictures: bool = typer.Option(True, "--pictures/--no-pictures", help="Save swap / sample grids and GIFs."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON instead of the table."),
) -> None:
    """Score a submission with the frozen judge and the full metric suite.

    Loads the submission and the dataset's frozen judge (hash- and revision-checked), runs every
    metric group on the device, prints a table (value with its 95 % interval, the judge's own
    accuracy as the ceiling, the direction), writes result.json and pictures into --out. An
    interrupted run keeps what finished; the same command resumes it.

    Example: msd-bench evaluate --dataset sprites --submission submissions/dsvae-sprites --trust-code
    """
    from .loader import load_submission, resolve_source
    from .runner import evaluate as run_evaluate
    from .suite import resolve_groups

    resolve_groups(metrics)  # unknown group -> one-line error before any work
    from ..datasets import get_spec

    vlm_judge = None
    if judge_backend == "vlm":  # a vision-language model judges instead of a frozen judge (msd_bench.annotate)
        from ..annotate.judge import vlm_judge_for

        if not vlm_model or not vlm_base_url:
            raise MsdBenchError("--judge-backend vlm needs --vlm-model NAME and --vlm-base-url URL")
        vlm_judge = vlm_judge_for(dataset, size=size, base_url=vlm_base_url, model=vlm_model,
                                  api_key_env=vlm_api_key_env)
    else:
        get_spec(dataset)
    if out is None:
        from .manifest import load_manifest

        m = load_manifest(resolve_source(submission).path)
        out = Path("results") / m.name / m.version / dataset
    model = load_submission(submission, dataset=dataset, device=device, trust_code=trust_code)
    from .._cli_utils import EvalProgress

    with EvalProgress(f"{model.manifest.name} on {dataset}", enabled=not as_json) as bar:
        try:
            result = run_evaluate(
                model, dataset, size=size, split=split, metrics=metrics, device=device, batch_size=batch_size,
                limit=limit, seed=seed, repeats=repeats, judge_backend=judge_backend, out=out,
                pictures=pictures, progress=bar.group, batch_progress=bar.batch, judge=vlm_judge,
            )
        except KeyboardInterrupt:
            err_console.print(f"interrupted: finished metric groups are kept in {out / 'result.json'}; "
                              "rerun the same command to resume")
            raise typer.Exit(130) from None
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        print_result(result)
        console.print(f"result: {out / 'result.json'}")
    if result.status != "complete":
        raise MsdBenchError(
            f"evaluation {result.status}: "
            + "; ".join(f"{k}: {v}" for k, v in result.errors.items())
            + (f" missing: {', '.join(result.missing)}" if result.missing else "")
        )


def print_result(result) -> None:
    """The rich table of a result: metric, value [95 % CI], judge ceiling, direction."""
    table = Table(
        title=f"{result.submission.name} {result.submission.version} on {result.dataset.name} "
        f"({result.dataset.split}, n={result.dataset.n}, protocol {result.protocol})",
        title_justify="left",
    )
    for col in ("metric", "value", "95% CI", "n", "dir"):
        table.add_column(col, justify="right" if col in ("value", "n") else "left")
    for name, sc in sorted(result.scores.items()):
        arrow = {True: "↑", False: "↓", None: ""}[sc.higher_is_better]
        if sc.status != "ok" or sc.value is None:
            table.add_row(escape(name), "[dim]n/a[/]", f"[dim]{escape(sc.reason or sc.status)}[/]", "", arrow)
            continue
        ci = f"[{sc.ci_low:.3f}, {sc.ci_high:.3f}]" if sc.ci_low is not None and sc.ci_high is not None else ""
        table.add_row(escape(name), f"{sc.value:.4f}", escape(ci), str(sc.n or ""), arrow)
    console.print(table)
    if result.judge and result.judge.ceiling:
        oracle = Table("factor", "judge seq acc", "judge frame acc", title="judge ceiling (oracle row, from its card)",
                       title_justify="left")
        for f, acc in result.judge.ceiling.items():
            seq, frm = acc.get("sequence"), acc.get("frame")
            oracle.add_row(f, f"{seq:.4f}" if seq is not None else "", f"{frm:.4f}" if frm is not None else "")
        console.print(oracle)
    t = result.timing
    if t.wall_s:
        console.print(f"time: {t.wall_s:.1f}s wall, model {t.model_s or 0:.1f}s, judge {t.judge_s or 0:.1f}s, "
                      f"overhead x{t.overhead or float('nan'):.2f}")
    for group, err in result.errors.items():
        err_console.print(f"[red]{escape(group)} failed:[/] {escape(err)}")


@handle_errors
def submit(
    path: list[str] = typer.Argument(..., help="Submission folder(s) or hf://org/repo[@revision]."),
    store: Path = typer.Option(Path("leaderboard"), "--store", help="Leaderboard root holding results/."),
    dataset: list[str] | None = typer.Option(
        None, "--dataset", "-d", help="Only these declared datasets (repeatable) [default: all declared]."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    trust_code: bool = typer.Option(False, "--trust-code", help="Allow a torch submission's code to run."),
    size: str = typer.Option("full", "--size", help="Dataset size: full (the leaderboard's) or small."),
    limit: int | None = typer.Option(
        None, "--limit", help="Score a seeded random subset of N sequences (N above the split's size: all of it)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed (>= 0) of every random choice."),
    metrics: str = typer.Option("all", "--metrics", "-m", help="'all' (the leaderboard's), groups or scores."),
    no_build: bool = typer.Option(False, "--no-build", help="Store the results without rebuilding the board."),
    executor: str = typer.Option(
        "inprocess", "--executor", help="inprocess (sequential, here), ray or slurm: one task per submission x "
        "dataset x seed (docs/scale.md)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray: join this cluster (auto, host:6379, ray://host:10001) (default: a local Ray)."
    ),
    num_cpus: int | None = typer.Option(None, "--num-cpus", min=1,
                                        help="Ray: CPUs of the local Ray (default: every core)."),
    cpus_per_task: int = typer.Option(1, "--cpus-per-task", min=1, help="Ray / SLURM: CPUs (= torch and BLAS "
                                      "threads) of each task."),
    gpus_per_task: float = typer.Option(0, "--gpus-per-task", min=0, help="Ray / SLURM: GPUs of each task."),
    max_retries: int = typer.Option(3, "--max-retries", min=0, help="Ray / SLURM: retries of a task whose worker "
                                    "died."),
    resume: bool = typer.Option(
        True, "--resume/--redo", help="Ray / SLURM: skip units whose stored result is complete and current "
        "(--redo recomputes them)."
    ),
    slurm_partition: str | None = typer.Option(None, "--slurm-partition", help="SLURM: partition."),
    slurm_time: int = typer.Option(120, "--slurm-time", min=1, help="SLURM: time limit per job in minutes."),
    slurm_folder: Path | None = typer.Option(
        None, "--slurm-folder", help="SLURM: submitit's job folder (logs, pickles) (default: <store>/.submitit)."
    ),
    slurm_cluster: str | None = typer.Option(
        None, "--slurm-cluster", help="SLURM: submitit cluster: slurm, or local (jobs as processes here) "
        "(default: slurm when sbatch exists, else local)."
    ),
) -> None:
    """Validate, evaluate and time submissions on every dataset they declare; store; rebuild the board.

    Results go to <store>/results/<protocol>/<name>/<version>/<dataset>.json with their pictures beside them,
    then the leaderboard in <store>/<protocol>/ is rebuilt once. A Hub submission is pinned to the
    resolved commit (works offline with HF_HUB_OFFLINE=1 and a local cache).

    With --executor ray (or slurm) every submission x dataset x seed is one task, run in parallel
    (a local Ray on this machine's cores, or --address CLUSTER); workers that die are retried, a
    unit that fails is reported at the end while the others are stored (exit 2), and a rerun skips
    the units already stored (docs/scale.md).

    Example: msd-bench submit submissions/dsvae-sprites --trust-code
             msd-bench submit submissions/* --trust-code --executor ray
    """
    from .executors import EXECUTORS, ExecutorError

    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown --executor {executor!r}; expected one of: {', '.join(EXECUTORS)}")
    log = lambda s: err_console.print(f"[dim]{escape(s)}[/]")  # noqa: E731
    if executor == "inprocess":
        from .._cli_utils import EvalProgress
        from .submit import submit as run_submit

        results = []
        for i, p in enumerate(path):  # today's sequential run; the board is built once at the end
            with EvalProgress(str(p)) as bar:  # a group bar (plain periodic lines without a terminal)
                results += run_submit(
                    p, store, datasets=dataset or None, device=device, trust_code=trust_code, size=size,
                    limit=limit, seed=seed, metrics=metrics, rebuild=not no_build and i == len(path) - 1, log=log,
                    progress=bar.group,
                )
        for r in results:
            print_result(r)
        return
    _submit_fanout(path, store, executor=executor, dataset=dataset, device=device, trust_code=trust_code, size=size,
                   limit=limit, seed=seed, metrics=metrics, rebuild=not no_build, resume=resume, address=address,
                   num_cpus=num_cpus, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                   max_retries=max_retries, slurm_partition=slurm_partition, slurm_time_min=slurm_time,
                   slurm_folder=slurm_folder, slurm_cluster=slurm_cluster, log=log)


def _submit_fanout(path: list[str], store: Path, *, executor: str, dataset: list[str] | None, log, **kw) -> None:
    """``submit --executor ray|slurm``: a progress bar over tasks (a line per task without a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .executors import run_board

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err_console, transient=False)
    state: dict = {}

    def on_start(startup_s: float, n_todo: int, n_skipped: int) -> None:
        err_console.print(f"{executor} start-up: {startup_s:.1f} s; {n_todo} task(s) to run, "
                          f"{n_skipped} already stored")
        state["task"] = bar.add_task(f"{executor}: submissions x datasets", total=n_todo)
        if err_console.is_terminal:
            bar.start()

    def on_done(outcome, done: int, total: int) -> None:
        mark = "[green]stored[/]" if outcome.ok else "[bold red]FAILED[/]"
        line = f"[{done}/{total}] {mark} {escape(outcome.task.key)} ({outcome.wall_s:.1f} s"
        line += f", {escape(outcome.host)})" if outcome.host else ")"
        (bar.console if bar.live.is_started else err_console).print(line)
        bar.update(state["task"], advance=1)

    try:
        run = run_board(path, store, executor=executor, datasets=dataset or None, log=log, on_start=on_start,
                        on_done=on_done, **kw)
    except KeyboardInterrupt:
        bar.stop()
        err_console.print("interrupted: every finished unit is stored; rerun the same command to compute only "
                          "what is missing")
        raise typer.Exit(130) from None
    finally:
        bar.stop()
    table = Table("submission", "version", "dataset", "seed", "status", "wall s", "host",
                  title=f"{len(run.outcomes)} task(s) run, {len(run.skipped)} skipped (already stored); "
                  f"{run.wall_s:.1f} s in all", title_justify="left")
    for o in run.outcomes:
        status = "[bold red]failed[/]"
        if o.ok:
            status = escape(json.loads(o.result_json).get("status", "?"))
        t = o.task
        table.add_row(escape(t.name), escape(t.version), escape(t.dataset), str(t.seed), status,
                      f"{o.wall_s:.1f}", escape(o.host))
    for t in run.skipped:
        table.add_row(escape(t.name), escape(t.version), escape(t.dataset), str(t.seed), "[dim]skipped[/]", "", "")
    console.print(table)
    if run.failures:
        for line in run.failure_lines():
            err_console.print(escape(line), soft_wrap=True)
        raise MsdBenchError(f"{len(run.failures)} of {len(run.tasks)} task(s) failed (one line each above); "
                            "the others are stored")


@handle_errors
def bench(
    path: str = typer.Argument(..., help="Submission folder or hf://org/repo[@rev]."),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Dataset whose artefacts to time."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    queries: int = typer.Option(700, "--queries", min=1, help="Batch-1 queries for the latency percentiles."),
    warmup: int = typer.Option(10, "--warmup", min=0, help="Discarded warm-up calls."),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Batch size of the throughput runs."),
    trust_code: bool = typer.Option(False, "--trust-code", help="Allow a torch submission's code to run."),
    out: Path | None = typer.Option(None, "--out", help="Also write the report as JSON to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Time a submission: latency percentiles, throughput, memory, parameters, FLOPs.

    Latency is per sequence at batch 1 on encode + decode after warm-up (p90 needs >= 64 queries,
    p99 >= 662, else the report is INVALID); throughput is sequences/s at --batch-size for encode,
    decode and swap separately; CUDA timings are synchronised. The machine fingerprint lets the
    leaderboard compare only timings taken on the same machine. An INVALID report is still printed
    (and written with --out), then the command exits 2.

    Example: msd-bench bench submissions/dsvae --dataset sprites --trust-code
    """
    import time

    from .._io import atomic_write_json
    from .loader import load_submission
    from .timing import bench_model
    from .validate import expected_shape

    t0 = time.perf_counter()
    model = load_submission(path, dataset=dataset, device=device, trust_code=trust_code)
    load_s = time.perf_counter() - t0
    shape = expected_shape(model.dataset, model.entry, model.modality)
    with console.status(f"timing {model.manifest.name} on {model.dataset} ({model.device})"):
        report = bench_model(model, shape, queries=queries, warmup=warmup, batch_size=batch_size,
                             modality=model.modality)
    report.phases_s = {"load": round(load_s, 6), **report.phases_s}
    data = {"submission": model.manifest.name, "version": model.manifest.version, "dataset": model.dataset,
            "format": model.format, "providers": model.providers, **report.to_dict()}
    if out is not None:
        atomic_write_json(out, data)
    if as_json:
        console.print_json(json.dumps(data))
    else:
        _print_bench(model, report)
    if report.verdict != "VALID":
        raise MsdBenchError(
            f"bench verdict INVALID: {'; '.join(report.reasons)} (use --queries >= 662 and --warmup >= 1)"
        )


def _print_bench(model, report) -> None:
    table = Table("measure", "value", title=f"{model.manifest.name} on {model.dataset} ({report.device})",
                  title_justify="left")

    def ms(v: float | None) -> str:
        return f"{v:.3f} ms" if v is not None else "[dim]invalid (too few queries)[/]"

    table.add_row("latency p50 / seq (batch 1)", ms(report.latency["p50_ms"]))
    table.add_row("latency p90", ms(report.latency["p90_ms"]))
    table.add_row("latency p99", ms(report.latency["p99_ms"]))
    for k, v in report.throughput.items():
        table.add_row(f"throughput {k.removesuffix('_seq_per_s')} (batch {report.batch_size})", f"{v:,.1f} seq/s")
    table.add_row(f"peak memory ({report.peak_memory_kind})", f"{report.peak_memory_bytes / 2**20:,.1f} MiB")
    table.add_row("parameters", f"{report.parameters:,}" if report.parameters is not None else "n/a")
    flops = f"{report.flops_per_sequence:,}" if report.flops_per_sequence is not None else "n/a"
    table.add_row("FLOPs / sequence", f"{flops} [dim]({report.flops_method})[/]")
    table.add_row("phases", ", ".join(f"{k} {v:.2f}s" for k, v in report.phases_s.items()))
    table.add_row("providers", ", ".join(model.providers) or "torch")
    table.add_row("machine fingerprint", report.fingerprint)
    reasons = escape("; ".join(report.reasons))
    verdict = "[green]VALID[/]" if report.verdict == "VALID" else f"[red]INVALID[/]: {reasons}"
    table.add_row("verdict", verdict)
    console.print(table)


__all__ = ["bench", "err_console", "evaluate", "schema", "submit", "validate"]
