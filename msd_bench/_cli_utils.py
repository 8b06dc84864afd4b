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
from rich.markup import escape

from .errors import MsdBenchError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

_STATE = {"debug": os.environ.get("MSD_BENCH_DEBUG", "") not in ("", "0")}


def set_debug(value: bool) -> None:
    _STATE["debug"] = bool(value) or _STATE["debug"]


def debug_enabled() -> bool:
    return _STATE["debug"]


def print_error(message: str) -> None:
    """``error: message`` on stderr; the message is printed as plain text (never read as rich markup,
    so ``[a-z0-9]`` in a pattern or any ``[word]`` survives)."""
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    print_error(message)
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

