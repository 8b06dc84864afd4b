"""pytest-benchmark entry points of the hot paths (``make bench`` / ``pytest benchmarks/``).

``make test`` never collects this folder (``testpaths = ["tests"]``). Each ``test_bench_*.py`` times
its hot path with the ``benchmark`` fixture (``--benchmark-json out.json`` saves the figures) and
prints the same rich table as its ``bench_*.py`` script, which still runs alone with more options.
"""

from __future__ import annotations

import pytest
import torch
from rich.console import Console


@pytest.fixture(scope="session", autouse=True)
def _threads():
    """Two torch threads, as the scripts use (the machine the figures in the docs come from)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def show(capsys):
    """Print a rich table to the terminal, past pytest's capture (the scripts' tables)."""

    def _show(table) -> None:
        with capsys.disabled():
            Console(width=160).print(table)

    return _show
