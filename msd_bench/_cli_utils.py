"""Shared CLI plumbing: consoles, the ``--debug`` switch and one-line error handling.

Every command function is wrapped with :func:`handle_errors`: a :class:`~msd_bench.errors.MsdBenchError`
becomes ``error: <one line>`` on stderr and exit code 2 (a traceback only with ``msd-bench --debug``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from .errors import MsdBenchError, NotYetAvailable

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

_STATE = {"debug": os.environ.get("MSD_BENCH_DEBUG", "") not in ("", "0")}


def set_debug(value: bool) -> None:
    _STATE["debug"] = bool(value) or _STATE["debug"]


def debug_enabled() -> bool:
    return _STATE["debug"]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Decorator for command functions: user errors → one line on stderr, exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MsdBenchError as exc:
            if debug_enabled():
                raise
            raise fail(str(exc), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def not_yet(command: str, issue: str) -> NotYetAvailable:
    """The error of a command whose capability has not landed yet (exit 2, never a fake result)."""
    return NotYetAvailable(f"`msd-bench {command}` is not available yet: it lands with {issue}")
