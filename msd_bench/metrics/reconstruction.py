"""Reconstruction metrics: MSE, PSNR, SSIM (per frame), temporal consistency, judge accuracy.

Videos are float ``[B, T, C, H, W]`` in ``[0, 1]`` (data range 1). Everything is computed in torch on
the inputs' device, batched; per-sequence values come back as ``[B]`` tensors so that callers can
bootstrap them (:func:`reconstruction_values`).

Other modalities (interface version 2, :func:`reconstruction_errors` with ``modality``): audio frames
``[B, T, F]`` in ``[-1, 1]`` get MSE per sample, PSNR against full scale (peak amplitude 1, so the
same formula as video's data range 1) and temporal consistency; time series ``[B, T, V]`` (normalised,
unbounded) get MSE per value and temporal consistency. SSIM is an image measure and PSNR needs a peak
value: where they do not apply, :data:`NOT_APPLICABLE` gives the reason the suite reports.
"""

from __future__ import annotations

import torch

from ..errors import MetricError
from .base import MetricValue, from_samples, register

__all__ = [
    "mse",
    "psnr",
    "reconstruction_errors",
    "reconstruction_values",
    "sequence_errors",
    "ssim",
    "temporal_consistency",
]

_G = "reconstruction"
register("mse", "1", False, "Mean squared error per pixel (audio: per sample, time series: per value) between "
         "input and reconstruction", needs=("decoder",), value_range="[0, 1] (audio [0, 4], time series [0, inf))",
         group=_G)
register("psnr", "1", True, "Peak signal-to-noise ratio (dB, data range 1; audio: full-scale amplitude 1), mean "
         "over frames; not applicable to time series",
         needs=("decoder",), value_range="[0, inf) dB (capped at 100)", group=_G)
register("ssim", "1", True, "Structural similarity per frame (Gaussian 11x11, sigma 1.5), mean over frames; "
         "video only",
         needs=("decoder",), value_range="[-1, 1]", group=_G)
register("temporal_consistency", "1", False,
         "MSE between the frame differences of the reconstruction and of the input",
         needs=("decoder",), value_range="[0, 4]", group=_G)
register("reconstruction.judge_accuracy", "1", True,
         "Judge accuracy on reconstructions vs ground truth (a model that cannot reconstruct cannot be judged)",
         needs=("decoder", "judge", "labels"), value_range="[0, 1]", group=_G)
register("reconstruction.judge_ceiling", "1", True,
         "Judge accuracy on the inputs themselves (same sequences): the ceiling for judge_accuracy",
         needs=("judge", "labels"), value_range="[0, 1]", group=_G)

PSNR_CAP = 100.0

#: modality -> {metric: reason} for the reconstruction metrics that do not apply to it
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "video": {},
    "audio": {"ssim": "SSIM is an image measure (2-D local windows); audio frames are 1-D waveforms"},
    "timeseries": {
        "ssim": "SSIM is an image measure (2-D local windows); a time-series step is a vector of features",
        "psnr": "PSNR needs a peak value; normalised time-series features are unbounded",
    },
}


_NOT_FINITE = "reconstruction contains NaN/Inf; expected values in [0, 1]"


def _pair(x, x_hat, check_finite: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor) or not isinstance(x_hat, torch.Tensor):
        raise MetricError("reconstruction metrics need torch tensors x and x_hat of shape [B, T, C, H, W]")
    if x.ndim != 5:
        raise MetricError(f"x must be [B, T, C, H, W], got shape {tuple(x.shape)}")
    if x_hat.shape != x.shape:
        raise MetricError(f"reconstruction has shape {tuple(x_hat.shape)}, expected the input's {tuple(x.shape)}")
    if check_finite and not torch.isfinite(x_hat).all():
        raise MetricError(_NOT_FINITE)
    # float32 element-wise work, float64 reductions: as exact as float64 to ~1e-7 and several times faster
    return x.float(), x_hat.to(x.device).float()


def mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""Per-sequence mean squared error ``[B]``: :math:`\frac{1}{TCHW}\sum (x - \hat x)^2`.

    Range [0, 1] for inputs in [0, 1]; lower is better.
    """
    a, b = _pair(x, x_hat)
    return (a - b).pow(2).flatten(1).mean(dim=1, dtype=torch.float64)


def psnr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""Per-sequence PSNR ``[B]`` in dB, the mean over frames of
    :math:`10 \log_{10}(1 / \mathrm{MSE}_t)` (data range 1), each frame capped at 100 dB
    (an exact frame would be infinite).

    Higher is better.
    """
    a, b = _pair(x, x_hat)
    per_frame = (a - b).pow(2).flatten(2).mean(dim=2, dtype=torch.float64)  # [B, T]
    val = 10.0 * torch.log10(1.0 / per_frame.clamp_min(10 ** (-PSNR_CAP / 10)))
    return val.clamp(max=PSNR_CAP).mean(dim=1)


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _band(g: torch.Tensor, n: int) -> torch.Tensor:
    """``[n, n - k + 1]`` matrix M with ``(v @ M)[j] = sum_i g[i] v[j + i]`` (a 'valid' 1-D correlation)."""
    k = g.numel()
    m = torch.zeros(n, n - k + 1, dtype=g.dtype, device=g.device)
    cols = torch.arange(n - k + 1, device=g.device)
    for i in range(k):
        m[cols + i, cols] = g[i]
    return m


def ssim(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    r"""Per-sequence SSIM ``[B]``: mean over frames (and channels) of the per-frame SSIM.

    .. math:: \mathrm{SSIM}(a, b) = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
              {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)}

    with local statistics under a Gaussian window (11 x 11, sigma 1.5, 'valid' positions only),
    :math:`C_1 = (0.01 L)^2`, :math:`C_2 = (0.03 L)^2`, :math:`L = 1`, averaged over positions and
    channels of each frame, then over frames. Frames smaller than the window use the largest odd window
    that fits. Element-wise work is float32, sums are float64: equal to the direct float64 formula
    within 1e-6 on random frames (tested) and within 2e-6 on sprites frames against blurred or noisy
    reconstructions (measured; the variances cancel in float32 on flat backgrounds).

    Range [-1, 1]; higher is better.

    References
    ----------
    Wang, Bovik, Sheikh, Simoncelli. Image Quality Assessment: From Error Visibility to Structural
    Similarity. IEEE TIP 2004.
    """
    a, b = _pair(x, x_hat, check_finite=False)  # checked block by block
    return _ssim_pairs(a, b, window, sigma, k1, k2)


#: image planes per block on CPU (whole sequences, at least one): a block's moments, blurs and
#: differences stay in the cache, several times faster than whole-batch passes (measured,
#: docs/evaluation.md). On a GPU the whole batch is one block (fewer, larger kernels).
SSIM_BLOCK = 16


def _ssim_planes(pa: torch.Tensor, pb: torch.Tensor, band_h: torch.Tensor, band_w: torch.Tensor,
                 c1: float, c2: float) -> torch.Tensor:
    """Mean SSIM of each plane ``[k]`` (float64) of float32 planes ``pa``, ``pb`` ``[k, h, w]``."""
    k, h, w = pa.shape
    # four moments suffice: var_a + var_b = E[a^2 + b^2] - mu_a^2 - mu_b^2 (the blur is linear)
    m = torch.stack([pa, pb, pa * pa + pb * pb, pa * pb], dim=1)  # [k, 4, h, w]
    # the 'valid' separable Gaussian blur as two products with banded matrices (BLAS-fast); the second
    # works on the transposed map, which leaves the mean over positions unchanged
    y = (m.reshape(-1, w) @ band_w).reshape(k * 4, h, -1).transpose(1, 2)  # [4k, w', h]
    mu_a, mu_b, e_sq, e_ab = torch.matmul(y, band_h).reshape(k, 4, -1).unbind(dim=1)
    mab = mu_a * mu_b
    msq = mu_a * mu_a + mu_b * mu_b
    smap = ((2 * mab + c1) * (2 * (e_ab - mab) + c2)) / ((msq + c1) * (e_sq - msq + c2))
    return smap.mean(dim=1, dtype=torch.float64)


def _blocked(a: torch.Tensor, b: torch.Tensor, errors: bool = True, window: int = 11, sigma: float = 1.5,
             k1: float = 0.01, k2: float = 0.03) -> dict[str, torch.Tensor]:
    """Per-sequence metrics of float32 videos ``a`` (input), ``b`` (reconstruction), computed block by
    block of whole sequences: ``ssim`` always; ``mse``, ``psnr``, ``temporal_consistency`` (T >= 2)
    with ``errors``. Raises on a non-finite reconstruction."""
    bsz, t, c, h, w = a.shape
    size = min(window, h, w)
    if size % 2 == 0:
        size -= 1
    g = _gaussian_window(size, sigma, a.device, torch.float64).float()
    band_h, band_w = _band(g, h), _band(g, w)
    c1, c2 = k1**2, k2**2
    step = max(1, SSIM_BLOCK // (t * c)) if a.device.type == "cpu" else max(1, bsz)
    ssim_planes = torch.empty(bsz * t * c, dtype=torch.float64, device=a.device)
    per_frame = torch.empty(bsz, t, dtype=torch.float64, device=a.device)
    tc = torch.empty(bsz, dtype=torch.float64, device=a.device)
    for start in range(0, bsz, step):
        sa, sb = a[start : start + step], b[start : start + step]  # [k, T, C, H, W]
        k = sa.shape[0]
        if not torch.isfinite(sb).all():
            raise MetricError(_NOT_FINITE)
        ssim_planes[start * t * c : (start + k) * t * c] = _ssim_planes(
            sa.reshape(-1, h, w), sb.reshape(-1, h, w), band_h, band_w, c1, c2)
        if errors:
            d = sb - sa
            per_frame[start : start + k] = d.square().flatten(2).mean(dim=2, dtype=torch.float64)
            if t >= 2:
                # (x_hat_t - x_hat_{t-1}) - (x_t - x_{t-1}) = d_t - d_{t-1}
                tc[start : start + k] = (d[:, 1:] - d[:, :-1]).square().flatten(1).mean(dim=1, dtype=torch.float64)
    out = {"ssim": ssim_planes.reshape(bsz, t * c).mean(dim=1)}
    if errors:
        out["mse"] = per_frame.mean(dim=1)
        floor = per_frame.clamp_min(10 ** (-PSNR_CAP / 10))
        out["psnr"] = (10.0 * torch.log10(1.0 / floor)).clamp(max=PSNR_CAP).mean(dim=1)
        if t >= 2:
            out["temporal_consistency"] = tc
    return out


def _ssim_pairs(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5,
                k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM ``[B]`` of float32 videos ``a``, ``b`` of equal shape (see :func:`ssim`)."""
    return _blocked(a, b, errors=False, window=window, sigma=sigma, k1=k1, k2=k2)["ssim"]


def temporal_consistency(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""Per-sequence temporal consistency error ``[B]``.

    .. math:: \mathrm{TC}(x, \hat x) = \frac{1}{(T-1)CHW}\sum_{t=2}^{T}
              \big\|(\hat x_t - \hat x_{t-1}) - (x_t - x_{t-1})\big\|_2^2

    The MSE between the frame-to-frame changes of the reconstruction and those of the input: 0 when
    the reconstruction moves exactly like the input (even if it is offset by a constant image), large
    when it flickers or freezes. Range [0, 4] for inputs in [0, 1]; lower is better. Needs T >= 2.
    """
    a, b = _pair(x, x_hat)
    if a.shape[1] < 2:
        raise MetricError(f"temporal_consistency needs at least 2 frames, got {a.shape[1]}")
    da = a[:, 1:] - a[:, :-1]
    db = b[:, 1:] - b[:, :-1]
    return (db - da).pow(2).flatten(1).mean(dim=1, dtype=torch.float64)


def reconstruction_errors(x: torch.Tensor, x_hat: torch.Tensor, modality: str = "video") -> dict[str, torch.Tensor]:
    """All per-sequence reconstruction metrics of one batch in one pass: ``{"mse", "psnr", "ssim",
    "temporal_consistency"}`` → ``[B]`` (``temporal_consistency`` only when ``T >= 2``).

    Equal to calling :func:`mse`, :func:`psnr`, :func:`ssim` and :func:`temporal_consistency` (tested),
    but converts the inputs once and walks the batch once, a few whole sequences at a time, so the
    difference ``x_hat - x`` and the SSIM moments stay in the CPU cache: the evaluation runner calls
    this on every batch of the split.

    With ``modality`` ``audio`` (``[B, T, F]`` in ``[-1, 1]``) or ``timeseries`` (``[B, T, V]``), only
    the metrics that apply are returned (see the module doc and :data:`NOT_APPLICABLE`).
    """
    if modality == "video":
        a, b = _pair(x, x_hat, check_finite=False)  # checked block by block
        out = _blocked(a, b)
        return {k: out[k] for k in ("mse", "psnr", "ssim", "temporal_consistency") if k in out}
    return sequence_errors(x, x_hat, modality)


def sequence_errors(x: torch.Tensor, x_hat: torch.Tensor, modality: str) -> dict[str, torch.Tensor]:
    r"""Per-sequence errors ``[B]`` of 1-D steps ``[B, T, F]`` (audio frames, time-series vectors).

    ``mse`` :math:`\frac{1}{TF}\sum (x - \hat x)^2`; ``psnr`` (audio only) the mean over frames of
    :math:`10 \log_{10}(1 / \mathrm{MSE}_t)` (full-scale peak amplitude 1, each frame capped at 100 dB);
    ``temporal_consistency`` as for video (the MSE of the step-to-step differences), when ``T >= 2``.
    """
    if modality not in NOT_APPLICABLE or modality == "video":
        raise MetricError(f"sequence_errors: modality {modality!r}; expected audio or timeseries")
    if not isinstance(x, torch.Tensor) or not isinstance(x_hat, torch.Tensor):
        raise MetricError(f"reconstruction metrics need torch tensors x and x_hat of shape [B, T, F] ({modality})")
    if x.ndim != 3:
        raise MetricError(f"x must be [B, T, F] for {modality}, got shape {tuple(x.shape)}")
    if x_hat.shape != x.shape:
        raise MetricError(f"reconstruction has shape {tuple(x_hat.shape)}, expected the input's {tuple(x.shape)}")
    if not torch.isfinite(x_hat).all():
        raise MetricError("reconstruction contains NaN/Inf")
    d = x_hat.to(x.device).float() - x.float()
    per_frame = d.square().mean(dim=2, dtype=torch.float64)  # [B, T]
    out = {"mse": per_frame.mean(dim=1)}
    if "psnr" not in NOT_APPLICABLE[modality]:
        floor = per_frame.clamp_min(10 ** (-PSNR_CAP / 10))
        out["psnr"] = (10.0 * torch.log10(1.0 / floor)).clamp(max=PSNR_CAP).mean(dim=1)
    if x.shape[1] >= 2:
        out["temporal_consistency"] = (d[:, 1:] - d[:, :-1]).square().flatten(1).mean(dim=1, dtype=torch.float64)
    return out


def reconstruction_values(
    model,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    judge=None,
    factors=None,
    *,
    batch_size: int = 256,
    seed: int = 0,
    device=None,
    modality: str = "video",
) -> dict[str, MetricValue | dict[str, MetricValue]]:
    """Encode-decode ``x`` in batches and score MSE, PSNR, SSIM, temporal consistency and, with a
    judge, per-factor judge accuracy on the reconstructions (sequence heads).

    ``x`` is float ``[N, T, C, H, W]`` in [0, 1] or uint8 (scaled per batch); batches are moved to
    ``device`` (default: ``x``'s device). Another ``modality``: ``x`` is ``[N, T, F]`` (audio, float in
    [-1, 1] or int16 PCM) or ``[N, T, V]`` (time series), scored by :func:`sequence_errors`.

    Returns
    -------
    dict: ``mse``, ``psnr``, ``ssim``, ``temporal_consistency`` (MetricValue, bootstrap CI over
    sequences) and, when ``judge``, ``labels`` and ``factors`` are given, ``judge_accuracy`` and
    ``judge_ceiling`` ({factor: MetricValue}): the judge's accuracy on the reconstructions and on the
    inputs themselves. Show them side by side: where the first is far below the second, the model's
    outputs cannot be judged, and its swap / generation numbers say little.
    """
    per: dict[str, list[torch.Tensor]] = {"mse": [], "psnr": [], "ssim": [], "temporal_consistency": []}
    correct: dict[str, list[torch.Tensor]] = {}
    ceiling: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device if device is not None else x.device)
            if xb.dtype in (torch.uint8, torch.int16):
                from ..datasets import to_model_input

                xb = to_model_input(xb, modality)
            else:
                xb = xb.float()
            xh = model.decode(model.encode(xb))
            for k, v in reconstruction_errors(xb, xh, modality).items():
                per[k].append(v.cpu())
            if judge is not None and labels is not None and factors is not None:
                out = judge(xh)
                ref = judge(xb)
                yb = labels[start : start + batch_size].cpu()
                for f in factors:
                    if getattr(f, "ignore", False):
                        continue
                    pred = out.sequence[f.name].argmax(dim=1).cpu()
                    correct.setdefault(f.name, []).append((pred == yb[:, f.index]).double())
                    pred = ref.sequence[f.name].argmax(dim=1).cpu()
                    ceiling.setdefault(f.name, []).append((pred == yb[:, f.index]).double())
    res: dict[str, MetricValue | dict[str, MetricValue]] = {}
    for name, parts in per.items():
        if parts:
            res[name] = from_samples(name, torch.cat(parts).numpy(), seed=seed)
    if correct:
        res["judge_accuracy"] = {
            k: from_samples("reconstruction.judge_accuracy", torch.cat(v).numpy(), seed=seed, extra={"factor": k})
            for k, v in correct.items()
        }
        res["judge_ceiling"] = {
            k: from_samples("reconstruction.judge_ceiling", torch.cat(v).numpy(), seed=seed, extra={"factor": k})
            for k, v in ceiling.items()
        }
    return res
