"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh, empty ``$MSD_BENCH_CACHE`` for one test."""
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny-tensor tests: faster than two on a busy 2-core machine
    (no spin-waiting); the previous count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
