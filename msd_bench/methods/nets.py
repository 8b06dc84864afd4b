"""Shared building blocks of the reference methods: a small conv frame encoder / decoder and VAE helpers.

The networks are deliberately small (a few hundred thousand parameters) so that every reference method
trains on 2 CPU cores in minutes. Frames are average-pooled to an internal resolution ``res`` (a power
of two that divides the frame size, 32 by default for 64x64 videos) before the encoder, and the
decoder's ``res x res`` output is upsampled (nearest, :func:`upsample_nearest`) back to the frame
size, so the interface still sees full-size videos. The training target is the pooled frame (see :func:`pool_frames`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def pool_frames(x: torch.Tensor, res: int) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, C, res, res]`` by average pooling (identity when ``H == res``)."""
    h, w = x.shape[-2:]
    if h == res and w == res:
        return x
    return F.avg_pool2d(x, kernel_size=(h // res, w // res))


def upsample_nearest(y: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Nearest upsampling by integer factors: ``[N, C, h, w]`` -> ``[N, C, h * kh, w * kw]``.

    Each pixel is repeated ``kh x kw`` times by ``expand`` + ``reshape``: bit-identical to
    ``F.interpolate(y, scale_factor=(kh, kw), mode="nearest")`` for integer factors (no arithmetic,
    only copies) and several times faster on CPU. ``kh`` and ``kw`` are Python ints (from the
    config, not from ``y.shape``), so an ONNX trace stays static apart from the batch axis.
    """
    if kh == 1 and kw == 1:
        return y
    _, c, h, w = y.shape
    return y[:, :, :, None, :, None].expand(-1, -1, -1, kh, -1, kw).reshape(-1, c, h * kh, w * kw)


def _n_down(res: int) -> int:
    """Number of stride-2 stages that bring ``res`` down to 4."""
    n = int(round(math.log2(res / 4)))
    if n < 1 or 4 * 2**n != res:
        raise ValueError(f"internal resolution must be 4 * 2^k with k >= 1, got {res}")
    return n


def _widths(n: int, base: int) -> list[int]:
    """Channel widths of the ``n`` stages: ``base`` doubling up to ``4 * base``."""
    return [min(base * 2**i, 4 * base) for i in range(n)]


class FrameEncoder(nn.Module):
    """Conv encoder of single frames: ``[N, C, res, res]`` -> ``[N, out]``.

    ``k`` stride-2 4x4 convolutions (``res`` -> 4) with GroupNorm (per sample, so batch-invariant) and
    SiLU, then a linear map of the flattened 4x4 map.
    """

    def __init__(self, channels: int, res: int, out: int, base: int = 32):
        super().__init__()
        n = _n_down(res)
        widths = _widths(n, base)
        layers: list[nn.Module] = []
        c = channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.GroupNorm(min(8, w // 4), w), nn.SiLU()]
            c = w
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(c * 16, out)
        self.out_dim = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.fc(self.conv(x).flatten(1)))


class FrameDecoder(nn.Module):
    """Conv decoder of single frames: ``[N, in]`` -> ``[N, C, res, res]`` in ``[0, 1]`` (sigmoid).

    ``out_bias`` initialises the output logits (the trainer sets it to the logit of the training
    data's mean intensity, so training does not start by learning the background).
    """

    def __init__(self, in_dim: int, channels: int, res: int, base: int = 32, out_bias: float = 0.0):
        super().__init__()
        n = _n_down(res)
        widths = _widths(n, base)[::-1]
        self.c0 = widths[0]
        self.fc = nn.Linear(in_dim, self.c0 * 16)
        layers: list[nn.Module] = []
        c = self.c0
        for i, w in enumerate(widths[1:] + [channels]):
            layers.append(nn.ConvTranspose2d(c, w, 4, 2, 1))
            if i < n - 1:
                layers += [nn.GroupNorm(min(8, w // 4), w), nn.SiLU()]
            c = w
        self.deconv = nn.Sequential(*layers)
        with torch.no_grad():  # start from a light-grey frame: most datasets have bright or dark backgrounds
            layers[-1].bias.fill_(out_bias)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.fc(z)).view(z.shape[0], self.c0, 4, 4)
        return self.deconv(h)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """The output map applied to :meth:`logits` (sigmoid: frames in [0, 1])."""
        return torch.sigmoid(logits)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``mu + sigma * eps`` with ``eps`` from the global torch RNG (seeded by the trainer)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over all but the batch axis: ``[B]``."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.flatten(1).sum(1)


def kl_normal(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(lv_q)) || N(mu_p, exp(lv_p))), summed over all but the batch axis: ``[B]``."""
    kl = 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p).pow(2)) / lv_p.exp() - 1.0)
    return kl.flatten(1).sum(1)


def log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log density of ``N(mu, exp(logvar))`` at ``x``."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp())


class StepEncoder(nn.Module):
    """Encoder of one 1-D step (an audio frame ``[F]`` of samples, a time-series vector ``[V]``):
    ``[N, F]`` -> ``[N, out]`` by ``Linear(F, width)`` -> SiLU -> ``Linear(width, out)`` -> SiLU.

    On raw audio frames the first layer is a learned filter bank over the frame's samples: a dMelodies
    frame is one note that starts at phase 0 at the frame's onset, so one (instrument, pitch) always
    gives the same frame and a linear map of the waveform separates them (no spectrogram needed).
    """

    def __init__(self, features: int, out: int, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, width), nn.SiLU(), nn.Linear(width, out))
        self.out_dim = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.net(x))


class StepDecoder(nn.Module):
    """Decoder of one 1-D step: ``[N, in]`` -> ``[N, F]`` by ``Linear(in, width)`` -> SiLU ->
    ``Linear(width, F)`` and the output map of the modality: ``tanh`` for audio (samples in [-1, 1]),
    the identity for time series (normalised features, unbounded)."""

    def __init__(self, in_dim: int, features: int, width: int = 128, bounded: bool = True):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, width), nn.SiLU(), nn.Linear(width, features))
        self.bounded = bool(bounded)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The output before the output map."""
        return self.net(z)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """The output map applied to :meth:`logits` (tanh for audio, the identity for time series)."""
        return torch.tanh(logits) if self.bounded else logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.activate(self.net(z))
