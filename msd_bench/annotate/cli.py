"""``msd-bench annotate``: label a new dataset with a vision-language model (docs/annotate.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from .._cli_utils import console, handle_errors
from .errors import AnnotateError


def _size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = value.lower().replace("×", "x").split("x")
    try:
        hw = [int(p) for p in parts]
    except ValueError:
        hw = []
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or min(hw) < 1:
        raise AnnotateError(f"--size {value!r}: expected H or HxW in pixels, e.g. 64 or 64x96")
    return hw[0], hw[1]


@handle_errors
def annotate(
    input: Path = typer.Argument(
        ..., metavar="INPUT", help="An msd-bench .h5 file, or a folder of videos / frame folders."
    ),
    base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible API root, e.g. http://localhost:8000/v1."),
    model: str = typer.Option(..., "--model", help="Model name as the server knows it."),
    out: Path = typer.Option(..., "--out", help="Output folder: <name>.h5, schema.json, report.json."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the API key [default: OPENAI_API_KEY if set]."
    ),
    n_explore: int = typer.Option(16, "--n-explore", min=0, help="Sequences shown for factor discovery."),
    explore_per_query: int = typer.Option(
        2, "--explore-per-query", min=1, help="Sequences shown together in one exploration query."
    ),
    n_annotate: int | None = typer.Option(
        None, "--n-annotate", min=1, help="Sequences to label (a seeded subset) [default: all]."
    ),
    schema: Path | None = typer.Option(
        None, "--schema", help="Factor schema JSON to label with instead of exploring (e.g. an earlier schema.json)."
    ),
    name: str | None = typer.Option(None, "--name", help="Dataset name [default: input name + '-vlm']."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random choice (samples, split, requests)."),
    frames_per_query: int = typer.Option(4, "--frames-per-query", min=0, help="Frames shown per query (0: all)."),
    layout: str = typer.Option("grid", "--layout", help="grid (one image) or frames (one image per frame)."),
    min_side: int = typer.Option(128, "--min-side", min=1, help="Upscale frames to at least this many pixels."),
    frames: int | None = typer.Option(None, "--frames", min=1, help="Folder input: frames per sequence."),
    size: str | None = typer.Option(None, "--size", help="Folder input: output frame size H or HxW."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Queries per sequence (label = majority vote)."),
    agreement_sample: int = typer.Option(
        16, "--agreement-sample", min=0, help="Sequences queried at least twice to measure agreement."
    ),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature of the first query."),
    repeat_temperature: float = typer.Option(0.7, "--repeat-temperature", help="Temperature of repeated queries."),
    response_format: str = typer.Option(
        "json_schema", "--response-format", help="json_schema (strict), json_object, or none (prompt only)."
    ),
    max_tokens: int = typer.Option(1024, "--max-tokens", min=16, help="Completion token limit per request."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds per request."),
    max_retries: int = typer.Option(4, "--max-retries", min=0, help="Retries of a failed request (backoff doubles)."),
    backoff: float = typer.Option(1.0, "--backoff", min=0.0, help="First backoff in seconds."),
    max_repairs: int = typer.Option(2, "--max-repairs", min=0, help="Follow-up requests after an unusable answer."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Parallel requests."),
    min_support: float = typer.Option(0.5, "--min-support", help="Merge rule: share of answers naming a factor."),
    min_value_support: float = typer.Option(
        0.5, "--min-value-support", help="Merge rule: share of a factor's answers listing a value."
    ),
    max_factors: int | None = typer.Option(None, "--max-factors", min=1, help="Keep the best supported factors."),
    context: str | None = typer.Option(None, "--context", help="A sentence about the data added to every prompt."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Response cache [default: $MSD_BENCH_CACHE/vlm]."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Send every request (nothing read or written)."),
    price_in: float | None = typer.Option(None, "--price-in", help="USD per million prompt tokens (for the cost)."),
    price_out: float | None = typer.Option(None, "--price-out", help="USD per million completion tokens."),
    skip_failed: bool = typer.Option(False, "--skip-failed", help="Leave out sequences without a valid label."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Label a new dataset with a vision-language model and write an msd-bench dataset file.

    Exploration asks the model which factors vary (static or dynamic, candidate values) on
    --n-explore sequences and merges the answers into one schema; annotation labels every sequence
    through structured JSON output; the output folder gets <name>.h5 (classes, labels, splits),
    schema.json and report.json (agreement between repeated queries, tokens, cost). Every request is
    cached by content: a rerun costs nothing and resumes an interrupted run.

    Example: msd-bench annotate videos/ --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-VL-7B-Instruct
    --n-explore 16 --out annotated/
    """
    from .pipeline import annotate as run

    res = run(
        input, base_url=base_url, model=model, out=out, api_key_env=api_key_env, n_explore=n_explore,
        explore_per_query=explore_per_query,
        n_annotate=n_annotate, schema=schema, name=name, seed=seed, frames_per_query=frames_per_query, layout=layout,
        min_side=min_side, frames=frames, size=_size(size), repeats=repeats, agreement_sample=agreement_sample,
        temperature=temperature, repeat_temperature=repeat_temperature, max_tokens=max_tokens,
        response_format=response_format, timeout=timeout, max_retries=max_retries, backoff=backoff,
        max_repairs=max_repairs, concurrency=concurrency, min_support=min_support,
        min_value_support=min_value_support, max_factors=max_factors, context=context, cache_dir=cache_dir,
        no_cache=no_cache, price_in=price_in, price_out=price_out, skip_failed=skip_failed,
        progress_bar=not as_json,
    )
    if as_json:
        console.print_json(json.dumps(res.report))
        return
    rep = res.report
    table = Table(title=escape(f"{rep['dataset']['name']}: {rep['dataset']['n']} sequences, schema"),
                  title_justify="left")
    for col in ("factor", "type", "values", "support", "agreement", "accuracy vs input labels"):
        table.add_column(col, overflow="fold")
    truth = (rep.get("truth") or {}).get("per_factor", {})
    agree = rep["agreement"]["per_factor"]
    for f in rep["schema"]["factors"]:
        acc = truth.get(f["name"], {}).get("accuracy")
        table.add_row(escape(f["name"]), f["type"], escape(", ".join(f["values"])), str(f.get("support", "")),
                      "" if f["name"] not in agree else f"{agree[f['name']]:.3f}", "" if acc is None else f"{acc:.3f}")
    console.print(table)
    req = rep["requests"]
    cost = rep["cost_usd"]["total"]
    console.print(
        f"requests: {req['requests_sent']} sent, {req['cache_hits']} from the cache, retries {req['retries'] or 0}, "
        f"{rep['annotation']['repaired'] + rep['exploration'].get('repaired', 0)} answers repaired; "
        f"tokens: {req['tokens']['total']} ({req['tokens_this_run']['total']} this run)"
        + (f"; cost ${cost:.4f}" if cost is not None else ""), highlight=False, markup=False)
    console.print(f"wrote {res.dataset_path} (content hash {res.content_hash[:12]}), {res.schema_path}, "
                  f"{res.report_path}", highlight=False, markup=False)
