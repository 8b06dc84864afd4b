"""msd_bench._fast: compiled helpers equal the torch expressions they replace, bit for bit."""

from __future__ import annotations

import torch

from msd_bench._fast import unit_float


def test_unit_float_equals_torch_division_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 4, 3, 8, 8), dtype=torch.uint8, generator=g)
    x[0, 0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)
    ref = x.float().div_(255.0)
    out = unit_float(x)
    assert out.dtype == torch.float32 and out.shape == x.shape and torch.equal(out, ref)
    every = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(unit_float(every), every.float().div_(255.0))
    # a non-contiguous view, and float input (only cast)
    assert torch.equal(unit_float(x[:, ::2]), x[:, ::2].float().div_(255.0))
    f = torch.rand(2, 3, dtype=torch.float64, generator=g)
    assert torch.equal(unit_float(f), f.float())
