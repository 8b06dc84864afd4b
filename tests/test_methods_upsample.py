"""The reference decoders' nearest upsampling (expand + reshape) equals F.interpolate bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from msd_bench.methods import build_model, default_config
from msd_bench.methods.nets import upsample_nearest

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.mark.parametrize("shape,kh,kw", [
    ((2, 3, 32, 32), 2, 2),   # the reference models on 64x64 videos (res 32)
    ((5, 3, 16, 16), 4, 4),
    ((1, 1, 7, 5), 3, 2),     # odd sizes, different factors per axis
    ((3, 2, 4, 4), 1, 1),     # identity
    ((4, 3, 8, 8), 8, 8),
])
def test_expand_reshape_equals_interpolate_bit_for_bit(shape, kh, kw):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(*shape, generator=g, dtype=torch.float32)
    y[0, 0, 0, 0] = float("inf")  # special values are copied, not computed
    y[-1, -1, -1, -1] = -0.0
    old = F.interpolate(y, scale_factor=(kh, kw), mode="nearest")
    new = upsample_nearest(y, kh, kw)
    assert new.dtype == torch.float32 and new.shape == old.shape
    assert torch.equal(new, old) and new.numpy().tobytes() == old.numpy().tobytes()
    # a non-contiguous input too
    yt = y.transpose(2, 3)
    assert torch.equal(upsample_nearest(yt, kw, kh), F.interpolate(yt, scale_factor=(kw, kh), mode="nearest"))


@pytest.mark.parametrize("method", ["dsvae", "frame-vae", "skd"])
def test_reference_decoder_output_unchanged(method):
    torch.manual_seed(0)
    model = build_model(**default_config(method, (4, 3, 32, 32), hidden=16, res=8)).eval()
    y = torch.rand(4 * 4, 3, 8, 8)
    new = model.frames_out(y, 4, 4)
    old = F.interpolate(y, scale_factor=(4, 4), mode="nearest").reshape(4, 4, 3, 32, 32)
    assert new.numpy().tobytes() == old.numpy().tobytes()


def test_gradient_flows_like_interpolate():
    y = torch.randn(2, 3, 4, 4, requires_grad=True)
    upsample_nearest(y, 2, 3).sum().backward()
    assert torch.equal(y.grad, torch.full_like(y, 6.0))
