"""The ``msd-bench`` command line: a thin Typer app with one sub-app per area.

Each area keeps its commands in its own ``cli.py`` (``msd_bench/<area>/cli.py``) and imports heavy
libraries (torch, onnxruntime, sklearn) inside the command functions so that ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from . import __version__
from ._cli_utils import debug_enabled, print_error, set_debug
from .annotate.cli import annotate
from .datasets.cli import app as datasets_app
from .errors import MsdBenchError
from .harness.cli import bench, evaluate, schema, submit, validate
from .judges.cli import app as judges_app
from .leaderboard.cli import app as leaderboard_app
from .methods.cli import train
from .metrics.cli import app as metrics_app

app = typer.Typer(
    name="msd-bench",
    help=(
        "Benchmark harness for multi-factor sequential disentanglement.\n\n"
        "Score a model:      msd-bench evaluate --dataset sprites --submission PATH\n\n"
        "Check a submission: msd-bench validate PATH\n\n"
        "Datasets / judges:  msd-bench datasets list, msd-bench judges list"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msd-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    set_debug(debug)


app.add_typer(datasets_app, name="datasets", help="Built-in datasets: list, prepare, inspect, import.")
app.add_typer(judges_app, name="judges", help="Frozen judge classifiers: list, verify, train, cards.")
app.add_typer(metrics_app, name="metrics", help="The metric suite; score any codes without the harness.")
app.add_typer(leaderboard_app, name="leaderboard", help="Build, show and compare leaderboards.")
app.command("validate")(validate)
app.command("evaluate")(evaluate)
app.command("submit")(submit)
app.command("bench")(bench)
app.command("schema")(schema)
app.command("train")(train)
app.command("annotate")(annotate)


def main() -> None:
    """Console-script entry point: last-resort one-line errors for anything a command let through."""
    try:
        app()
    except MsdBenchError as exc:
        if debug_enabled():
            raise
        print_error(str(exc))
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
