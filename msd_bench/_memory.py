"""Process memory settings of the hot paths."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _hugepage_switch():
    """numpy's private switch of its huge-page advice for large arrays (None when this numpy has none)."""
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            m = __import__(mod, fromlist=["_set_madvise_hugepage"])
        except ImportError:
            continue
        fn = getattr(m, "_set_madvise_hugepage", None)
        if fn is not None:
            return fn
    return None


@contextmanager
def small_pages() -> Iterator[None]:
    """Within the block, numpy does not advise transparent huge pages for its large arrays.

    numpy calls ``madvise(MADV_HUGEPAGE)`` on every array of 4 MB or more; where the kernel then
    compacts memory on the first touch (``/sys/kernel/mm/transparent_hugepage/defrag`` = ``madvise``,
    common, and this machine's setting) a large temporary can stall for a long time once memory is
    fragmented. Measured here: a bootstrap interval over 2,664 items (1,000 resamples) 306 ms with the
    advice, 72 ms without, side by side in one process (``/tmp`` script; numbers in docs/evaluation.md).
    Only performance changes, never a value. The previous setting is restored on exit, so nesting and a
    caller's own setting are kept; a numpy without the switch runs unchanged.
    """
    switch = _hugepage_switch()
    if switch is None:
        yield
        return
    previous = switch(False)
    try:
        yield
    finally:
        switch(previous)


__all__ = ["small_pages"]
