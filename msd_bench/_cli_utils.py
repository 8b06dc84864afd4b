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



#: seconds between the plain progress lines printed without a terminal (override: $MSD_BENCH_PROGRESS_INTERVAL)
PROGRESS_INTERVAL_S = 15.0


class EvalProgress:
    """Progress of an evaluation, for ``progress`` / ``batch_progress`` of :func:`msd_bench.evaluate`.

    On a terminal: a rich bar over the metric groups and, under it, one over the forward passes of
    the current group (the count moves per batch; its total is shown when known, else the bar pulses).
    Without a terminal (CI logs, pipes): plain lines on ``console`` — one when a group starts, then one
    every ``interval_s`` seconds (how long ago the current group started, its forward passes so far;
    from a timer thread, so a group that spends minutes in a fit without forward passes still
    prints), and one with the group's time when it ends.
    """

    def __init__(self, label: str, *, console: Console | None = None, enabled: bool = True,
                 interval_s: float | None = None):
        self.label = label
        self.console = console or err_console
        self.enabled = enabled
        if interval_s is None:
            interval_s = float(os.environ.get("MSD_BENCH_PROGRESS_INTERVAL", PROGRESS_INTERVAL_S))
        self.interval_s = max(float(interval_s), 0.01)
        self.tty = self.console.is_terminal
        self._group: str | None = None
        self._index = (0, 0)
        self._passes = 0
        self._total: int | None = None
        self._t0 = self._tg = 0.0
        self._bar: Any = None
        self._stop: Any = None
        self._thread: Any = None
        self._lock: Any = None

    # ------------------------------------------------------------------------ context
    def __enter__(self) -> EvalProgress:
        import threading
        import time

        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        if not self.enabled:
            return self
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
            self._groups_task = self._bar.add_task(self.label, total=None)
            self._batch_task = self._bar.add_task("  forward passes", total=None)
            self._bar.start()
        else:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._tick_lines, name="msd-bench-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._bar.stop()
        if self.enabled and not self.tty and self._group is not None and exc[0] is None:
            self._line(f"{self._group} done ({self._elapsed(self._tg):.1f} s)")

    # ------------------------------------------------------------------------ callbacks
    def group(self, group: str, done: int, total: int) -> None:
        """``progress(group, done, total)``: ``group`` starts, ``done`` of ``total`` groups finished."""
        import time

        with self._lock:
            previous, self._group, self._index = self._group, group, (done, total)
            prev_t, self._tg = self._tg, time.perf_counter()
            self._passes, self._total = 0, None
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._groups_task, description=f"{self.label}: {group}", completed=done, total=total)
            self._bar.reset(self._batch_task, total=None, description=f"  {group}: forward passes")
        else:
            if previous is not None:
                self._line(f"{previous} done ({time.perf_counter() - prev_t:.1f} s)")
            self._line(f"{group} ({done + 1}/{total}) started")

    def batch(self, group: str, done: int, total: int | None) -> None:
        """``batch_progress(group, done, total)``: ``done`` forward passes of ``group`` so far."""
        with self._lock:
            self._passes, self._total = done, total
        if self._bar is not None:
            self._bar.update(self._batch_task, completed=done, total=total)

    # ------------------------------------------------------------------------ plain lines
    def _elapsed(self, since: float) -> float:
        import time

        return time.perf_counter() - since

    def _line(self, text: str) -> None:
        self.console.print(f"[{self._elapsed(self._t0):7.1f} s] {self.label}: {text}", soft_wrap=True,
                           highlight=False, markup=False)

    def _tick_lines(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                group, (done, total), passes, of = self._group, self._index, self._passes, self._total
                since = self._tg
            if group is None:
                continue
            count = f"{passes}/{of}" if of is not None else str(passes)
            # "since it started", not "running": after the last group the caller may do other work (submit times
            # the model) and the line must stay true
            self._line(f"{group} ({done + 1}/{total}) started {self._elapsed(since):.1f} s ago, {count} forward "
                       "passes since")
