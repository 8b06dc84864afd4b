"""Reconstruction metrics on 1-D steps: audio [B, T, F] and time series [B, T, V]."""

from __future__ import annotations

import math

import pytest
import torch

from msd_bench.errors import MetricError
from msd_bench.metrics import reconstruction as rec


def _pair(shape, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g) * 2 - 1
    return x, (x + noise * torch.randn(*shape, generator=g)).clamp(-1, 1)


def test_audio_errors_match_their_definitions():
    x, xh = _pair((3, 4, 50))
    out = rec.reconstruction_errors(x, xh, "audio")
    assert set(out) == {"mse", "psnr", "temporal_consistency"}
    d = (xh - x).double()
    assert torch.allclose(out["mse"], d.pow(2).mean(dim=(1, 2)))
    per_frame = d.pow(2).mean(dim=2)
    assert torch.allclose(out["psnr"], (10 * torch.log10(1 / per_frame)).mean(dim=1))
    assert torch.allclose(out["temporal_consistency"], (d[:, 1:] - d[:, :-1]).pow(2).mean(dim=(1, 2)))


def test_timeseries_has_no_psnr_or_ssim():
    x = torch.randn(2, 24, 13)
    out = rec.reconstruction_errors(x, x * 0.5, "timeseries")
    assert set(out) == {"mse", "temporal_consistency"}
    assert torch.allclose(out["mse"], (0.25 * x.double().pow(2)).mean(dim=(1, 2)))
    assert set(rec.NOT_APPLICABLE["timeseries"]) == {"ssim", "psnr"}
    assert set(rec.NOT_APPLICABLE["audio"]) == {"ssim"} and rec.NOT_APPLICABLE["video"] == {}


def test_exact_audio_reconstruction_is_capped():
    x, _ = _pair((2, 3, 20))
    out = rec.reconstruction_errors(x, x.clone(), "audio")
    assert float(out["mse"].max()) == 0.0 and math.isclose(float(out["psnr"].min()), rec.PSNR_CAP)


def test_video_path_is_unchanged():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 1, 16, 16, generator=g)
    xh = (x + 0.05).clamp(0, 1)
    assert rec.reconstruction_errors(x, xh).keys() == rec.reconstruction_errors(x, xh, "video").keys()
    assert torch.equal(rec.reconstruction_errors(x, xh)["ssim"], rec.ssim(x, xh))


@pytest.mark.parametrize(
    ("x", "xh", "modality", "needle"),
    [
        (torch.zeros(2, 3, 1, 4, 4), torch.zeros(2, 3, 1, 4, 4), "audio", r"x must be \[B, T, F\] for audio"),
        (torch.zeros(2, 3, 8), torch.zeros(2, 3, 7), "timeseries", "expected the input's"),
        (torch.zeros(2, 3, 8), torch.full((2, 3, 8), float("nan")), "audio", "NaN/Inf"),
        (torch.zeros(2, 3, 8), torch.zeros(2, 3, 8), "speech", "expected audio or timeseries"),
    ],
)
def test_bad_inputs_are_one_line(x, xh, modality, needle):
    with pytest.raises(MetricError, match=needle):
        rec.reconstruction_errors(x, xh, modality)


def test_intervention_inputs_accept_1d_steps_and_name_the_shapes():
    from msd_bench.metrics.interventions import _check_data

    labels = torch.zeros(4, 1, dtype=torch.long)
    _check_data(torch.zeros(4, 3, 10, dtype=torch.int16), labels, [])  # audio [N, T, F]
    _check_data(torch.zeros(4, 3, 1, 8, 8, dtype=torch.uint8), labels, [])  # video [N, T, C, H, W]
    with pytest.raises(MetricError, match=r"\[N, T, \*F\] \(video \[N, T, C, H, W\], audio / time series"):
        _check_data(torch.zeros(4, 3, 8, 8), labels, [])
