"""One question to the model with repair requests, and many questions in parallel with progress.

:func:`ask` sends the system prompt, the question and the images; an answer that is not usable
(refusal, empty, not JSON, not the schema) is followed by a *repair* request: the conversation so far
plus "Your previous answer could not be used: <reason>" (:data:`~msd_bench.annotate.prompts.REPAIR`),
at most ``max_repairs`` times. Answers are stored in the cache only when the exchange ends with a
usable answer, so a rerun replays a successful exchange for free and asks again where it failed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from .client import VLMClient, _short
from .errors import InvalidAnswer
from .prompts import SYSTEM, repair_text
from .schema import extract_json


@dataclass
class Outcome:
    """What one question produced: the parsed value (None when every attempt failed) and why not."""

    value: Any
    attempts: int
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None


def ask(client: VLMClient, text: str, images: list[dict], schema: dict | None, name: str,
        parse: Callable[[Any], Any], seed: int, temperature: float | None = None, max_repairs: int = 2) -> Outcome:
    """Ask one question (text + images); parse the answer with ``parse`` (raises ``InvalidAnswer``)."""
    messages: list[dict] = [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": [{"type": "text", "text": text}, *images]}]
    pending, reasons = [], []
    for attempt in range(max_repairs + 1):
        ans = client.complete(messages, schema, name, seed, temperature)
        try:
            if ans.refusal:
                raise InvalidAnswer(f"the model refused ({_short(ans.refusal, 80)})")
            if ans.finish_reason == "content_filter":
                raise InvalidAnswer("the answer was stopped by a content filter")
            value = parse(extract_json(ans.content))
        except InvalidAnswer as exc:
            reasons.append(str(exc))
            pending.append(ans)
            messages = [*messages, {"role": "assistant", "content": ans.content or ans.refusal or ""},
                        {"role": "user", "content": repair_text(str(exc))}]
            continue
        for a in (*pending, ans):
            client.store(a)
        return Outcome(value, attempt + 1, reasons)
    return Outcome(None, max_repairs + 1, reasons)


def run_all(jobs: Sequence[Callable[[], Any]], concurrency: int, tick: Callable[[], None]) -> list[Any]:
    """Run ``jobs`` on ``concurrency`` threads, in any order; results in job order.

    A :class:`BackendError` (the endpoint failed after its retries) stops the remaining jobs and is
    re-raised; what finished before stays in the cache.
    """
    results: list[Any] = [None] * len(jobs)
    stop = threading.Event()

    def guarded(i: int) -> None:
        if stop.is_set():
            return
        try:
            results[i] = jobs[i]()
        except BaseException:
            stop.set()
            raise

    if concurrency <= 1:
        for i in range(len(jobs)):
            guarded(i)
            tick()
        return results
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = [pool.submit(guarded, i) for i in range(len(jobs))]
        first: BaseException | None = None
        for fut in as_completed(futures):
            exc = fut.exception()
            if exc is not None and first is None:
                first = exc
                for f in futures:
                    f.cancel()
            if exc is None:
                tick()
        if first is not None:
            raise first
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


@contextlib.contextmanager
def progress(description: str, total: int, enabled: bool | Callable[[str, int, int], None]) -> Iterator[Callable]:
    """``tick()`` callable showing progress: a rich bar on a terminal, plain lines (every 10 %)
    otherwise, a user callback ``(description, done, total)``, or nothing."""
    lock = threading.Lock()
    done = [0]
    if callable(enabled):
        def tick() -> None:
            with lock:
                done[0] += 1
                enabled(description, done[0], total)

        yield tick
        return
    if not enabled or total == 0:
        yield lambda: None
        return
    from .._cli_utils import err_console

    if err_console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task(description, total=total)

            def tick() -> None:
                with lock:
                    bar.advance(task)

            yield tick
        return
    step = max(1, total // 10)
    err_console.print(f"{description}: 0/{total}", highlight=False, markup=False)

    def tick() -> None:
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == total:
                err_console.print(f"{description}: {done[0]}/{total}", highlight=False, markup=False)

    yield tick
