"""`msd-bench leaderboard ...` commands: build, show, diff, check, card."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import PROTOCOL
from .._cli_utils import console, err_console, handle_errors

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Build, show and compare leaderboards from the results store.\n\n"
        "The store holds one result per (submission, version, dataset) at "
        "leaderboard/results/<protocol>/<submission>/<version>/<dataset>.json (written by `msd-bench submit`).\n\n"
        "Example: msd-bench leaderboard build && msd-bench leaderboard show --dataset sprites"
    ),
)

STORE_HELP = "Store root holding results/<protocol>/<submission>/<version>/<dataset>.json."


def _print_problems(problems) -> None:
    for p in problems:
        colour = "yellow" if not p.skipped else "red"
        tail = escape(f"{p.path}: {p.message}{' (skipped)' if p.skipped else ''}")
        err_console.print(f"[{colour}]{p.kind}[/]: {tail}", soft_wrap=True, markup=True, highlight=False)


@app.command("build")
@handle_errors
def build(
    store: Path = typer.Option(Path("leaderboard"), "--store", help=STORE_HELP),
    out: Path | None = typer.Option(
        None, "--out", help="Output root (default: the store); files go to OUT/<protocol>/."
    ),
    protocol: str | None = typer.Option(None, "--protocol", help="Build only this protocol (default: every one)."),
    formats: list[str] = typer.Option(
        [], "--format", "-f",
        help="json, csv, md, html (the default four), latex, model-index, or all; repeat or comma-separate.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when the store has problems (for CI)."),
) -> None:
    """Build the leaderboards: one board per protocol, one table per dataset.

    Reads every result in the store, reports bad files in one line each and skips them, ranks
    entries by the mean of their per-metric ranks over the key scores (ties share the mean rank) and
    writes OUT/<protocol>/{leaderboard.json, leaderboard.csv, LEADERBOARD.md, index.html}. The same
    store always gives byte-identical files.

    Example: msd-bench leaderboard build --store leaderboard --format all
    """
    from .build import build_leaderboard

    report = build_leaderboard(store, out, protocol=protocol, formats=formats or ("json", "csv", "md", "html"))
    _print_problems(report.problems)
    if not report.boards:
        console.print(f"no usable results in {store}; nothing written")
    t = Table(title=f"leaderboard build ({report.n_results} results)")
    for col in ("protocol", "dataset", "entries", "ranked", "key scores"):
        t.add_column(col)
    for proto, board in report.boards.items():
        for ds, table in board["datasets"].items():
            ranked = sum(1 for r in table["entries"] if r["rank"] is not None)
            t.add_row(proto, ds, str(len(table["entries"])), str(ranked),
                      ", ".join(k["name"] for k in table["key_scores"]))
    if report.boards:
        console.print(t)
        folders = sorted({str(p.parent if p.parent.name != "model-index" else p.parent.parent) for p in report.written})
        console.print("wrote " + ", ".join(folders))
    if strict and report.problems:
        raise typer.Exit(1)


@app.command("show")
@handle_errors
def show(
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Only this dataset's table."),
    store: Path = typer.Option(Path("leaderboard"), "--store", help=STORE_HELP),
    protocol: str = typer.Option(PROTOCOL, "--protocol", help="Protocol to show (default: the current one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the board as JSON instead of tables."),
) -> None:
    """Print the leaderboard tables of the store (computed on the fly; nothing is written).

    Example: msd-bench leaderboard show --dataset sprites
    """
    from .build import load_config, main_first, make_boards, terminal_table
    from .store import LeaderboardError, scan_store

    entries, problems = scan_store(store)
    boards = make_boards(entries, load_config(store), problems, root=store, out=store, protocol=protocol)
    if protocol not in boards:
        present = sorted({e.result.protocol for e in entries})
        raise LeaderboardError(
            f"store {store} has no usable result of protocol {protocol!r}; protocols present:"
            f" {', '.join(present) or 'none'} (pass --protocol)"
        )
    board = boards[protocol]
    tables = board["datasets"]
    if dataset is not None:
        if dataset not in tables:
            raise LeaderboardError(
                f"no results for dataset {dataset!r} in protocol {protocol}; datasets: {', '.join(tables)}"
            )
        tables = {dataset: tables[dataset]}
    if as_json:
        typer.echo(json.dumps({**board, "datasets": tables}, indent=2, sort_keys=True))
        return
    _print_problems(problems)
    # A terminal gets a table that fits its width (short headers with a legend, two-line cells, columns
    # left out and named); piped output (files, CI logs) gets room for every column.
    wide = console if console.is_terminal else Console(width=max(console.width, 220), highlight=False)
    for ds, table in main_first(tables).items():
        wide.print(terminal_table(ds, table, protocol, wide.width))


@app.command("diff")
@handle_errors
def diff(
    old: Path = typer.Argument(..., help="Old build: a leaderboard.json or its folder (OUT/<protocol>)."),
    new: Path = typer.Argument(..., help="New build: a leaderboard.json or its folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    """Show what changed between two builds: entries added / removed, rank and key-score changes.

    Example: git show HEAD~1:leaderboard/msd-bench-1/leaderboard.json > /tmp/old.json &&
    msd-bench leaderboard diff /tmp/old.json leaderboard/msd-bench-1
    """
    from .diff import diff_boards, load_board

    d = diff_boards(load_board(old), load_board(new))
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2, sort_keys=True))
        return
    if d.empty and d.old_protocol == d.new_protocol:
        console.print("no changes")
        return
    t = Table(title=f"leaderboard diff {old} -> {new}")
    t.add_column("change")
    for line in d.lines():
        t.add_row(line)
    console.print(t)


@app.command("check")
@handle_errors
def check(
    store: Path = typer.Option(Path("leaderboard"), "--store", help=STORE_HELP),
) -> None:
    """Check the store: malformed or misplaced files, duplicates, results that need a rerun.

    Prints one line per problem and exits 1 when there is any (0 when the store is clean).

    Example: msd-bench leaderboard check --store leaderboard
    """
    from .store import scan_store

    entries, problems = scan_store(store)
    for p in problems:
        typer.echo(p.line())
    typer.echo(f"{len(entries)} usable results, {len(problems)} problems")
    if problems:
        raise typer.Exit(1)


@app.command("card")
@handle_errors
def card(
    result_file: Path = typer.Argument(..., help="A result JSON (from `msd-bench evaluate` or the store)."),
    repo_id: str = typer.Option(..., "--repo-id", help="The model's Hub repo, ORG/NAME."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the card here (an existing card keeps its text; its results are merged)."
    ),
    push: bool = typer.Option(False, "--push", help="Merge the results into the Hub repo's card (needs a token)."),
    token: str | None = typer.Option(None, "--token", help="Hub token [default: HF_TOKEN or the stored login]."),
    timeout: float = typer.Option(60.0, "--timeout", min=1, help="--push: give up after this many seconds."),
    source_url: str | None = typer.Option(None, "--source-url", help="Link of the results (e.g. the board)."),
) -> None:
    """Write a result's scores into a Hugging Face model card (model-index), with huggingface_hub's API.

    Every scored metric becomes one eval result (task sequential-disentanglement, dataset
    msd-bench/<dataset>, its size and split, the value with its 95 % interval and n). Without --out
    or --push the card is printed. --push merges the results into the repo's card on the Hub
    (ModelCard.load, merged, push_to_hub); no token, offline mode, a network error or --timeout passed
    is one line, exit 2.

    Example: msd-bench leaderboard card leaderboard/results/msd-bench-2/dsvae/2.0.0/sprites.json
             --repo-id my-lab/dsvae-sprites --out README.md
    """
    from ..harness.results import read_result
    from .card import card_for, check_push, check_repo_id, push_card, write_card

    check_repo_id(repo_id)
    result = read_result(result_file)
    if push:
        check_push(token)  # before anything is written: no token (or offline), no work
    built = card_for(result, repo_id, existing=out, source_url=source_url)
    if out is not None:
        write_card(built, out)
        err_console.print(f"wrote {out} ({len(built.data.eval_results)} eval results)")
    if push:
        url = push_card(result, repo_id, token=token, timeout_s=timeout, source_url=source_url)
        err_console.print(f"pushed to {repo_id}: {url}")
    if out is None and not push:
        typer.echo(str(built))
