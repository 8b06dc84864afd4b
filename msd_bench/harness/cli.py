"""Top-level harness commands: validate, schema (and evaluate, submit, bench as they land)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .._cli_utils import console, err_console, handle_errors, not_yet
from ..errors import MsdBenchError

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
    declared dataset's shape through it: encode shapes and dtypes, decode shape and [0, 1] range, no
    NaN/Inf, determinism, batch invariance (batch 1 vs N within 1e-4), reproducible priors, and swap
    semantics. Exit code 0 when every check passes, 2 otherwise.

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
            table = Table(title=f"{r.submission} on {r.dataset} [T,C,H,W]={list(r.shape)}", title_justify="left")
            table.add_column("check")
            table.add_column("result")
            table.add_column("detail", overflow="fold")
            for c in r.checks:
                mark = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[dim]n/a[/]"}[c.passed]
                table.add_row(c.name, mark, c.detail)
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
def evaluate() -> None:
    """Score a submission on a dataset (lands with issue #6)."""
    raise not_yet("evaluate", "issue #6 (evaluation runner)")


@handle_errors
def submit() -> None:
    """Validate, evaluate and add a submission to the leaderboard (lands with issue #7)."""
    raise not_yet("submit", "issue #7 (submissions and leaderboard)")


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
    leaderboard compare only timings taken on the same machine.

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
    shape = expected_shape(model.dataset, model.entry)
    with console.status(f"timing {model.manifest.name} on {model.dataset} ({model.device})"):
        report = bench_model(model, shape, queries=queries, warmup=warmup, batch_size=batch_size)
    report.phases_s = {"load": round(load_s, 6), **report.phases_s}
    data = {"submission": model.manifest.name, "version": model.manifest.version, "dataset": model.dataset,
            "format": model.format, "providers": model.providers, **report.to_dict()}
    if out is not None:
        atomic_write_json(out, data)
    if as_json:
        console.print_json(json.dumps(data))
        return
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
    verdict = "[green]VALID[/]" if report.verdict == "VALID" else f"[red]INVALID[/]: {'; '.join(report.reasons)}"
    table.add_row("verdict", verdict)
    console.print(table)


__all__ = ["bench", "err_console", "evaluate", "schema", "submit", "validate"]
