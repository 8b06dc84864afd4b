"""Top-level harness commands: validate, evaluate, submit, bench."""

from __future__ import annotations

import typer

from .._cli_utils import handle_errors, not_yet


@handle_errors
def validate(path: str = typer.Argument(..., help="Submission folder.")) -> None:
    """Check that a submission implements the interface."""
    raise not_yet("validate", "issue #2")


@handle_errors
def evaluate() -> None:
    """Score a submission on a dataset (lands with issue #6)."""
    raise not_yet("evaluate", "issue #6 (evaluation runner)")


@handle_errors
def submit() -> None:
    """Validate, evaluate and add a submission to the leaderboard (lands with issue #7)."""
    raise not_yet("submit", "issue #7 (submissions and leaderboard)")


@handle_errors
def bench() -> None:
    """Time a submission (lands with issue #6)."""
    raise not_yet("bench", "issue #6 (timing)")
