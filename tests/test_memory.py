"""msd_bench._memory.small_pages: numpy's huge-page advice off inside, the caller's setting back after."""

from __future__ import annotations

import numpy as np
import pytest

from msd_bench._memory import _hugepage_switch, small_pages


def _state(switch) -> bool:
    prev = switch(True)  # the switch returns the previous setting; put it back at once
    switch(prev)
    return bool(prev)


def test_small_pages_turns_the_advice_off_and_restores_it():
    switch = _hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page switch")
    for start in (True, False):
        switch(start)
        with small_pages():
            assert _state(switch) is False
            with small_pages():  # nested: still off, and the outer block's setting comes back
                assert _state(switch) is False
            assert _state(switch) is False
            a = np.arange(2_000_000, dtype=np.float64)  # a large array: values as ever
        assert _state(switch) is start
        assert a[-1] == 1_999_999.0
    switch(True)


def test_small_pages_restores_after_an_error():
    switch = _hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page switch")
    switch(True)
    with pytest.raises(RuntimeError), small_pages():
        raise RuntimeError("boom")
    assert _state(switch) is True
