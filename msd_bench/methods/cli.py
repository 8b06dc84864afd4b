"""`msd-bench train METHOD --dataset NAME`."""

from __future__ import annotations

import typer

from .._cli_utils import handle_errors, not_yet


@handle_errors
def train(
    method: str = typer.Argument(..., help="Reference method to train, e.g. dsvae."),
    dataset: str = typer.Option("sprites", "--dataset", "-d", help="Built-in dataset to train on."),
) -> None:
    """Train a reference method and export it as a submission folder (lands with issue #8)."""
    raise not_yet("train", "issue #8 (reference methods)")
