"""The ``msd-bench`` command line: a thin Typer app with one sub-app per area.

Each area keeps its commands in its own ``cli.py`` (``msd_bench/<area>/cli.py``) and imports heavy
libraries (torch, onnxruntime, sklearn) inside the command functions so that ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from . import __version__
from ._cli_utils import console, debug_enabled, handle_errors, print_error, set_debug
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
        "Start a submission: msd-bench init my-model --format torch --dataset sprites (docs/submit.md)\n\n"
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


@handle_errors
def init(
    folder: Path = typer.Argument(..., help="New (or empty) folder to write the submission into."),
    fmt: str = typer.Option("torch", "--format", "-f", help="torch (safetensors + model.py) or onnx (graphs)."),
    dataset: str = typer.Option("sprites", "--dataset", "-d", help="Built-in dataset the model is for."),
    name: str | None = typer.Option(
        None, "--name", help="Submission name (default: the folder's name made a valid name)."
    ),
    static_dim: int = typer.Option(8, "--static-dim", help="S, the size of the static code."),
    dynamic_dim: int = typer.Option(4, "--dynamic-dim", help="D, the per-frame size of the dynamic code."),
    author: list[str] | None = typer.Option(
        None, "--author", help="Author name for the manifest (repeatable; default: 'Your Name', to replace)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the initial weights."),
) -> None:
    """Write a submission folder to start from: it validates and evaluates as written.

    The folder holds a commented submission.yaml, model.py (a tiny sequential VAE implementing the
    interface), train.py (trains it on the built-in dataset's train split), model.safetensors (the
    seeded initial weights) and a README; with --format onnx also export.py, already run once, and
    the four graphs in DATASET/. Bad input (unknown format or dataset, a folder that is not empty)
    is one line, exit 2, and nothing is written. The tutorial: docs/submit.md.

    Example: msd-bench init my-model --format onnx --dataset sprites && msd-bench validate my-model
    """
    from .harness.scaffold import init_submission

    written = init_submission(folder, fmt=fmt, dataset=dataset, name=name, static_dim=static_dim,
                              dynamic_dim=dynamic_dim, authors=author, seed=seed)
    console.print(f"wrote {folder}/: " + ", ".join(str(p) for p in written), soft_wrap=True, markup=False)
    trust = " --trust-code" if fmt == "torch" else ""
    steps = [f"python {folder}/train.py --epochs 1 --limit 64"]
    if fmt == "onnx":
        steps.append(f"python {folder}/export.py")
    steps += [f"msd-bench validate {folder}{trust}",
              f"msd-bench evaluate --dataset {dataset} --submission {folder}{trust} --limit 64"]
    console.print("next: " + " && ".join(steps), soft_wrap=True, markup=False)


app.add_typer(datasets_app, name="datasets", help="Built-in datasets: list, prepare, inspect, import.")
app.add_typer(judges_app, name="judges", help="Frozen judge classifiers: list, verify, train, cards.")
app.add_typer(metrics_app, name="metrics", help="The metric suite; score any codes without the harness.")
app.add_typer(leaderboard_app, name="leaderboard", help="Build, show and compare leaderboards.")
app.command("init")(init)
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
