"""The reference methods (VAE family): frame VAE, β-VAE, λβ-VAE, LSTM-VAE, content–motion VAE, DSVAE, C-DSVAE.

Every model implements the msd-bench model interface (``encode``, ``decode``, priors) on videos
``[B, T, C, H, W]`` in ``[0, 1]`` and a ``training_loss(x)`` used by :mod:`msd_bench.methods.training`.
With ``modality="audio"`` or ``"timeseries"`` and ``features=F`` the same models run on 1-D steps
``[B, T, F]`` (interface version 2): the per-frame conv encoder / decoder is replaced by the MLP
:class:`~msd_bench.methods.nets.StepEncoder` / :class:`~msd_bench.methods.nets.StepDecoder` (tanh
output for audio in [-1, 1], linear output for normalised time series); the temporal parts are the same.
Randomness during training (reparameterisation noise, augmentations) comes from the global torch RNG,
which the trainer seeds and checkpoints; the priors draw only from the ``torch.Generator`` they get.

Static / dynamic split of the frame models (frame-vae, beta-vae, lambda-beta-vae, lstm-vae)
-----------------------------------------------------------------------------------------------
These models have one per-frame code ``z_t`` of ``S + D`` dimensions and no notion of static vs dynamic.
We report ``static = mean over frames of z_t[:S]`` and ``dynamic_t = z_t[S:]`` and decode frame ``t``
from ``[static, dynamic_t]``. This is the honest "no inductive bias" split: nothing in the model pushes
the first half to hold the static factors, so any disentanglement measured on it is what an unbiased
frame model gets for free (the mean over frames removes whatever varies in the first half, which
costs reconstruction when the model put motion there).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..harness.interface import Latents
from .nets import (
    FrameDecoder,
    FrameEncoder,
    StepDecoder,
    StepEncoder,
    kl_normal,
    kl_std_normal,
    log_normal,
    reparameterize,
    upsample_nearest,
)


class ReferenceModel(nn.Module):
    """Common plumbing: shapes, input pooling / output upsampling, standard-normal priors, config.

    Parameters
    ----------
    frames, channels, height, width : int
        The dataset's ``(T, C, H, W)``.
    static_dim, dynamic_dim : int
        ``S`` and ``D`` of the interface.
    res : int
        Internal frame resolution (``height`` and ``width`` must be multiples of it).
    hidden : int
        Width of the per-frame features and of the recurrent layers.
    base : int
        Channel width of the first conv stage.
    recon_weight : float
        Weight of the squared-error reconstruction term, ``1 / (2 sigma^2)`` of a Gaussian likelihood
        (20 = sigma ~0.16). With weight 1 (sigma = 1) the KL terms win and the posteriors collapse on
        the sprites (measured: KL -> 0.1 nats after two epochs); the Bernoulli likelihood is not scaled.
    out_bias : float
        Initial output logit of the decoder (the trainer uses the logit of the training data's mean).
    modality : str
        ``video`` (default; ``channels``, ``height``, ``width`` describe a frame), ``audio`` or
        ``timeseries`` (a step is ``features`` values; ``channels``, ``height``, ``width`` and ``res``
        are then unused).
    features : int
        ``F`` of a 1-D step (audio samples per frame, time-series features); 0 for video.
    """

    method = "reference"

    def __init__(
        self,
        frames: int,
        channels: int = 1,
        height: int = 1,
        width: int = 1,
        static_dim: int = 8,
        dynamic_dim: int = 8,
        res: int = 32,
        hidden: int = 128,
        base: int = 16,
        recon_weight: float = 20.0,
        out_bias: float = 0.0,
        modality: str = "video",
        features: int = 0,
    ):
        super().__init__()
        if modality not in ("video", "audio", "timeseries"):
            raise ValueError(f"modality must be video, audio or timeseries, got {modality!r}")
        if modality != "video":
            if int(features) < 1:
                raise ValueError(f"modality {modality} needs features >= 1 (the size of a step), got {features}")
            channels, height, width, res = 1, 1, 1, 1
        elif height % res or width % res:
            raise ValueError(f"frame size {height}x{width} is not a multiple of the internal resolution {res}")
        self.modality, self.features = modality, int(features)
        self.frames, self.channels, self.height, self.width = frames, channels, height, width
        self.static_dim, self.dynamic_dim = static_dim, dynamic_dim
        self.res, self.hidden, self.base = res, hidden, base
        self.recon_weight = float(recon_weight)
        self.out_bias = float(out_bias)
        self._config: dict[str, Any] = dict(
            frames=frames, channels=channels, height=height, width=width, static_dim=static_dim,
            dynamic_dim=dynamic_dim, res=res, hidden=hidden, base=base, recon_weight=self.recon_weight,
            out_bias=self.out_bias,
        )
        if modality != "video":  # (a video config stays as before, so version-1 manifests rebuild unchanged)
            for key in ("channels", "height", "width", "res", "base"):
                del self._config[key]
            self._config.update(modality=modality, features=self.features)

    # ----------------------------------------------------------------------------- plumbing
    @property
    def step_shape(self) -> tuple[int, ...]:
        """Shape of one step of the training target: ``(C, res, res)`` (video) or ``(F,)``."""
        if self.modality == "video":
            return (self.channels, self.res, self.res)
        return (self.features,)

    def step_encoder(self, out: int) -> nn.Module:
        """A new per-step encoder ``[N, *step] -> [N, out]`` for this modality."""
        if self.modality == "video":
            return FrameEncoder(self.channels, self.res, out, self.base)
        return StepEncoder(self.features, out, width=self.hidden)

    def step_decoder(self, in_dim: int) -> nn.Module:
        """A new per-step decoder ``[N, in_dim] -> [N, *step]`` for this modality."""
        if self.modality == "video":
            return FrameDecoder(in_dim, self.channels, self.res, self.base, self.out_bias)
        return StepDecoder(in_dim, self.features, width=self.hidden, bounded=self.modality == "audio")
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this model (with ``method``): the manifest's ``config``."""
        return {"method": self.method, **self._config}

    def frames_in(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` -> pooled frames ``[B*T, C, res, res]`` (1-D steps: ``[B, T, F]`` -> ``[B*T, F]``)."""
        if self.modality != "video":
            if x.ndim != 3 or x.shape[2] != self.features:
                raise ValueError(
                    f"{self.method}: input is {list(x.shape)}, expected [B, T, {self.features}] ({self.modality})"
                )
            return x.reshape(-1, self.features)
        b, t, c, h, w = x.shape
        if c != self.channels or h != self.height or w != self.width:
            raise ValueError(
                f"{self.method}: input frames are {c}x{h}x{w}, expected {self.channels}x{self.height}x{self.width}"
            )
        frames = x.reshape(b * t, c, h, w)
        if self.res == h and self.res == w:
            return frames
        # python-int kernel sizes from the config (not from x.shape), so the ONNX trace stays static
        return F.avg_pool2d(frames, kernel_size=(self.height // self.res, self.width // self.res))

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The training target: pooled frames ``[B, T, C, res, res]``."""
        b, t = x.shape[:2]
        return self.frames_in(x).reshape(b, t, *self.step_shape)

    def frames_out(self, y: torch.Tensor, b: int, t: int) -> torch.Tensor:
        """Decoder output ``[B*T, C, res, res]`` -> video ``[B, T, C, H, W]`` (nearest upsampling);
        1-D steps ``[B*T, F]`` -> ``[B, T, F]``."""
        if self.modality != "video":
            return y.reshape(b, t, self.features)
        if self.res != self.height or self.res != self.width:
            y = upsample_nearest(y, self.height // self.res, self.width // self.res)
        return y.reshape(b, t, self.channels, self.height, self.width)

    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Static prior N(0, I): ``[n, S]``."""
        return torch.randn(n, self.static_dim, generator=generator, device=generator.device).to(self._device())

    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        """Dynamic prior N(0, I) per frame: ``[n, T, D]``."""
        z = torch.randn(n, frames, self.dynamic_dim, generator=generator, device=generator.device)
        return z.to(self._device())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError


def _f(t: torch.Tensor) -> float:
    """A loss term as a plain float for logging (mean over the batch, no grad)."""
    return float(t.detach().mean())


def recon_mse(x_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over a sequence, ``[B]`` (unweighted; models multiply by ``recon_weight``)."""
    return (x_hat - target).pow(2).flatten(1).sum(1)


def recon_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood summed over a sequence, ``[B]`` (targets in [0, 1])."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


# ============================================================================ frame models
class FrameVAE(ReferenceModel):
    """Per-frame VAE without a temporal model (``frame-vae``), and the β-VAE / λβ-VAE frame models.

    Loss per sequence: ``recon + beta * KL + lam * ||x - x_hat||^2`` where ``recon`` is the squared error
    (``likelihood="gaussian"``) or the Bernoulli NLL (``likelihood="bernoulli"``, the β-VAE seed).
    ``lam > 0`` is λβ-VAE. See the module doc for the static / dynamic split.
    """

    method = "frame-vae"

    def __init__(self, *args: Any, beta: float = 1.0, lam: float = 0.0, likelihood: str = "gaussian",
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if likelihood not in ("gaussian", "bernoulli"):
            raise ValueError(f"likelihood must be gaussian or bernoulli, got {likelihood!r}")
        self.beta, self.lam, self.likelihood = float(beta), float(lam), likelihood
        self._config.update(beta=self.beta, lam=self.lam, likelihood=likelihood)
        latent = self.static_dim + self.dynamic_dim
        self.encoder = self.step_encoder(self.hidden)
        self.to_mu = nn.Linear(self.hidden, latent)
        self.to_logvar = nn.Linear(self.hidden, latent)
        self.decoder = self.step_decoder(latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame posterior ``(mu, logvar)``, each ``[B, T, S + D]``."""
        b, t = x.shape[:2]
        h = self.encoder(self.frames_in(x))
        return self.to_mu(h).view(b, t, -1), self.to_logvar(h).view(b, t, -1)

    def split(self, z: torch.Tensor) -> Latents:
        """Per-frame codes ``[B, T, S + D]`` -> (mean over frames of the first S dims, the last D dims)."""
        return Latents(z[..., : self.static_dim].mean(1), z[..., self.static_dim :])

    def join(self, z: Latents) -> torch.Tensor:
        b, t = z.dynamic.shape[:2]
        return torch.cat([z.static.unsqueeze(1).expand(b, t, self.static_dim), z.dynamic], dim=-1)

    def encode(self, x: torch.Tensor) -> Latents:
        return self.split(self.posterior(x)[0])

    def decode_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-frame codes ``[B, T, L]`` -> video ``[B, T, C, H, W]``."""
        b, t = codes.shape[:2]
        return self.frames_out(self.decoder(codes.reshape(b * t, -1)), b, t)

    def decode(self, z: Latents) -> torch.Tensor:
        return self.decode_frames(self.join(z))

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        b, t = x.shape[:2]
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar)
        logits = self.decoder.logits(z.reshape(b * t, -1)).view(b, t, *self.step_shape)
        target = self.target(x)
        x_hat = self.decoder.activate(logits)  # sigmoid (video), tanh (audio), identity (time series)
        mse = recon_mse(x_hat, target)
        recon = self.recon_weight * mse if self.likelihood == "gaussian" else recon_bce(logits, target)
        kl = kl_std_normal(mu, logvar)
        loss = recon + self.beta * kl + self.lam * mse
        return loss.mean(), {"recon": _f(recon), "kl": _f(kl), "mse": _f(mse)}


class LstmVAE(FrameVAE):
    """LSTM-VAE (content–motion VAE seed): one unified per-frame latent, LSTMs in encoder and decoder.

    ``q(z_t | x_{1:T})`` from a bidirectional LSTM over per-frame features; the decoder runs an LSTM
    over ``z_{1:T}`` before the frame decoder. Prior N(0, I) per frame. Static / dynamic split: see the
    module doc.
    """

    method = "lstm-vae"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        latent = self.static_dim + self.dynamic_dim
        self.rnn = nn.LSTM(self.hidden, self.hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * self.hidden, latent)
        self.to_logvar = nn.Linear(2 * self.hidden, latent)
        self.dec_rnn = nn.LSTM(latent, self.hidden, batch_first=True)
        self.decoder = self.step_decoder(self.hidden)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = x.shape[:2]
        h, _ = self.rnn(self.encoder(self.frames_in(x)).view(b, t, -1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_frames(self, codes: torch.Tensor) -> torch.Tensor:
        b, t = codes.shape[:2]
        h, _ = self.dec_rnn(codes)
        return self.frames_out(self.decoder(h.reshape(b * t, -1)), b, t)

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        b, t = x.shape[:2]
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar)
        h, _ = self.dec_rnn(z)
        x_hat = self.decoder(h.reshape(b * t, -1)).view(b, t, *self.step_shape)
        recon = self.recon_weight * recon_mse(x_hat, self.target(x))
        kl = kl_std_normal(mu, logvar)
        loss = recon + self.beta * kl
        return loss.mean(), {"recon": _f(recon), "kl": _f(kl)}


# ====================================================================== content-motion VAE
class ContentMotionVAE(ReferenceModel):
    """Content–motion VAE (seed): content from the frame average, motion from frame differences.

    Content encoder: conv encoder of the mean frame -> ``q(c)`` ``[S]``. Motion encoder: conv encoder of
    the differences ``x_t - x_{t-1}`` (``x_0 - x_0 = 0`` for the first frame, inputs mapped to [0, 1] by
    ``(d + 1) / 2``), then a bidirectional LSTM -> ``q(m_t)`` ``[D]``. Decoder: frame decoder of
    ``[c, m_t]``. Priors N(0, I). Loss: ``recon + beta * (KL_c + KL_m)``.
    """

    method = "content-motion-vae"

    def __init__(self, *args: Any, beta: float = 1.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.beta = float(beta)
        self._config.update(beta=self.beta)
        self.content_enc = self.step_encoder(self.hidden)
        self.c_mu = nn.Linear(self.hidden, self.static_dim)
        self.c_logvar = nn.Linear(self.hidden, self.static_dim)
        self.motion_enc = self.step_encoder(self.hidden)
        self.rnn = nn.LSTM(self.hidden, self.hidden, batch_first=True, bidirectional=True)
        self.m_mu = nn.Linear(2 * self.hidden, self.dynamic_dim)
        self.m_logvar = nn.Linear(2 * self.hidden, self.dynamic_dim)
        latent = self.static_dim + self.dynamic_dim
        self.decoder = self.step_decoder(latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, t = x.shape[:2]
        frames = self.frames_in(x).view(b, t, *self.step_shape)
        hc = self.content_enc(frames.mean(1))
        diffs = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, 1:] - frames[:, :-1]], dim=1)
        hm = self.motion_enc(((diffs + 1.0) * 0.5).reshape(b * t, *self.step_shape))
        hm, _ = self.rnn(hm.view(b, t, -1))
        return self.c_mu(hc), self.c_logvar(hc), self.m_mu(hm), self.m_logvar(hm)

    def encode(self, x: torch.Tensor) -> Latents:
        mc, _, mm, _ = self.posterior(x)
        return Latents(mc, mm)

    def _decode_res(self, c: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        b, t = m.shape[:2]
        codes = torch.cat([c.unsqueeze(1).expand(b, t, c.shape[-1]), m], dim=-1)
        return self.decoder(codes.reshape(b * t, -1))

    def decode(self, z: Latents) -> torch.Tensor:
        b, t = z.dynamic.shape[:2]
        return self.frames_out(self._decode_res(z.static, z.dynamic), b, t)

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        b, t = x.shape[:2]
        mc, lc, mm, lm = self.posterior(x)
        c, m = reparameterize(mc, lc), reparameterize(mm, lm)
        x_hat = self._decode_res(c, m).view(b, t, *self.step_shape)
        recon = self.recon_weight * recon_mse(x_hat, self.target(x))
        kl_c, kl_m = kl_std_normal(mc, lc), kl_std_normal(mm, lm)
        loss = recon + self.beta * (kl_c + kl_m)
        return loss.mean(), {"recon": _f(recon), "kl_c": _f(kl_c), "kl_m": _f(kl_m)}


# ================================================================================== DSVAE
class DSVAE(ReferenceModel):
    """Disentangled sequential autoencoder (Li & Mandt, 2018), the "factorised q" variant.

    Encoder: per-frame conv features ``h_t`` -> bidirectional LSTM. ``q(f | x_{1:T})`` from the forward
    LSTM's last state and the backward LSTM's first state; ``q(z_t | x_{1:T})`` from a second LSTM run
    over the bidirectional outputs. Priors: ``p(f) = N(0, I)`` and a learned LSTM prior
    ``p(z_t | z_{<t}) = N(mu(g_t), sigma(g_t))`` with ``g_t = LSTMCell(z_{t-1}, g_{t-1})``, ``z_0 = 0``.
    Decoder: frame decoder of ``[f, z_t]``. Loss: ``recon + kl_f * KL_f + kl_z * KL_z``.
    """

    method = "dsvae"

    def __init__(self, *args: Any, kl_f: float = 1.0, kl_z: float = 1.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kl_f, self.kl_z = float(kl_f), float(kl_z)
        self._config.update(kl_f=self.kl_f, kl_z=self.kl_z)
        hd = self.hidden
        self.encoder = self.step_encoder(hd)
        self.birnn = nn.LSTM(hd, hd, batch_first=True, bidirectional=True)
        self.f_mu = nn.Linear(2 * hd, self.static_dim)
        self.f_logvar = nn.Linear(2 * hd, self.static_dim)
        self.z_rnn = nn.LSTM(2 * hd, hd, batch_first=True)
        self.z_mu = nn.Linear(hd, self.dynamic_dim)
        self.z_logvar = nn.Linear(hd, self.dynamic_dim)
        self.prior_cell = nn.LSTMCell(self.dynamic_dim, hd)
        self.prior_mu = nn.Linear(hd, self.dynamic_dim)
        self.prior_logvar = nn.Linear(hd, self.dynamic_dim)
        latent = self.static_dim + self.dynamic_dim
        self.decoder = self.step_decoder(latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(mu_f, logvar_f [B, S], mu_z, logvar_z [B, T, D])``."""
        b, t = x.shape[:2]
        h = self.encoder(self.frames_in(x)).view(b, t, -1)
        out, _ = self.birnn(h)
        hd = self.hidden
        summary = torch.cat([out[:, -1, :hd], out[:, 0, hd:]], dim=-1)
        zo, _ = self.z_rnn(out)
        return self.f_mu(summary), self.f_logvar(summary), self.z_mu(zo), self.z_logvar(zo)

    def encode(self, x: torch.Tensor) -> Latents:
        mf, _, mz, _ = self.posterior(x)
        return Latents(mf, mz)

    def _decode_res(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b, t = z.shape[:2]
        codes = torch.cat([f.unsqueeze(1).expand(b, t, f.shape[-1]), z], dim=-1)
        return self.decoder(codes.reshape(b * t, -1))

    def decode(self, z: Latents) -> torch.Tensor:
        b, t = z.dynamic.shape[:2]
        return self.frames_out(self._decode_res(z.static, z.dynamic), b, t)

    def prior_params(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced prior ``(mu, logvar)`` of ``p(z_t | z_{<t})`` for a given sequence ``z`` [B, T, D]."""
        b, t, _ = z.shape
        inp = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)
        hx = z.new_zeros(b, self.hidden)
        cx = z.new_zeros(b, self.hidden)
        mus, lvs = [], []
        for i in range(t):
            hx, cx = self.prior_cell(inp[:, i], (hx, cx))
            mus.append(self.prior_mu(hx))
            lvs.append(self.prior_logvar(hx))
        return torch.stack(mus, 1), torch.stack(lvs, 1)

    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        """Ancestral sampling of the learned LSTM prior; all noise from ``generator``."""
        dev = self._device()
        noise = torch.randn(n, frames, self.dynamic_dim, generator=generator, device=generator.device).to(dev)
        return self.prior_from_noise(noise)

    def prior_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Ancestral prior sample driven by standard-normal ``noise`` ``[n, T, D]`` (ONNX-exportable)."""
        n, t, _ = noise.shape
        hx = noise.new_zeros(n, self.hidden)
        cx = noise.new_zeros(n, self.hidden)
        z_prev = noise.new_zeros(n, self.dynamic_dim)
        out = []
        for i in range(t):
            hx, cx = self.prior_cell(z_prev, (hx, cx))
            z_prev = self.prior_mu(hx) + torch.exp(0.5 * self.prior_logvar(hx)) * noise[:, i]
            out.append(z_prev)
        return torch.stack(out, 1)

    def elbo_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b, t = x.shape[:2]
        mf, lf, mz, lz = self.posterior(x)
        f, z = reparameterize(mf, lf), reparameterize(mz, lz)
        x_hat = self._decode_res(f, z).view(b, t, *self.step_shape)
        pm, pl = self.prior_params(z)
        return {
            "recon": self.recon_weight * recon_mse(x_hat, self.target(x)),
            "kl_f": kl_std_normal(mf, lf),
            "kl_z": kl_normal(mz, lz, pm, pl),
            "mf": mf, "lf": lf, "mz": mz, "lz": lz, "f": f, "z": z,
        }

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        e = self.elbo_terms(x)
        loss = e["recon"] + self.kl_f * e["kl_f"] + self.kl_z * e["kl_z"]
        return loss.mean(), {k: _f(e[k]) for k in ("recon", "kl_f", "kl_z")}


# ================================================================================ C-DSVAE
def temporal_shuffle(x: torch.Tensor) -> torch.Tensor:
    """Content augmentation: each sequence's frames in a random order (global torch RNG)."""
    b, t = x.shape[:2]
    perm = torch.argsort(torch.rand(b, t, device=x.device), dim=1)
    return torch.gather(x, 1, perm.view(b, t, 1, 1, 1).expand_as(x))


def colour_jitter_blur(x: torch.Tensor) -> torch.Tensor:
    """Motion augmentation: per sequence, a random channel permutation (colour), brightness/contrast
    jitter and, with probability 1/2, a 3x3 Gaussian blur; the same for every frame (global torch RNG)."""
    b, t, c, h, w = x.shape
    dev = x.device
    if c > 1:
        perm = torch.argsort(torch.rand(b, c, device=dev), dim=1)
        x = torch.gather(x, 2, perm.view(b, 1, c, 1, 1).expand_as(x))
    scale = 0.6 + 0.6 * torch.rand(b, 1, 1, 1, 1, device=dev)
    shift = 0.2 * torch.rand(b, 1, 1, 1, 1, device=dev) - 0.1
    x = ((x - 0.5) * scale + 0.5 + shift).clamp(0.0, 1.0)
    k1 = torch.tensor([1.0, 2.0, 1.0], device=dev) / 4.0
    kernel = (k1[:, None] * k1[None, :]).expand(c, 1, 3, 3).contiguous()
    flat = x.reshape(b * t, c, h, w)
    blurred = F.conv2d(F.pad(flat, (1, 1, 1, 1), mode="replicate"), kernel, groups=c).view_as(x)
    use = (torch.rand(b, 1, 1, 1, 1, device=dev) < 0.5).to(x.dtype)
    return use * blurred + (1.0 - use) * x


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """InfoNCE with cosine similarity: row ``i`` of ``positive`` is the positive of row ``i`` of ``anchor``,
    every other row a negative. Returns the mean cross-entropy (a scalar)."""
    a = F.normalize(anchor.flatten(1), dim=1)
    p = F.normalize(positive.flatten(1), dim=1)
    logits = a @ p.t() / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def mutual_information_mws(e: dict[str, torch.Tensor], dataset_size: int) -> torch.Tensor:
    """Minibatch-weighted-sampling estimate of I(f; z_{1:T}) (as in C-DSVAE), clamped at 0."""
    b = e["f"].shape[0]
    lf = log_normal(e["f"].unsqueeze(1), e["mf"].unsqueeze(0), e["lf"].unsqueeze(0)).sum(-1)
    lz = log_normal(e["z"].unsqueeze(1), e["mz"].unsqueeze(0), e["lz"].unsqueeze(0)).flatten(2).sum(-1)
    norm = math.log(b * dataset_size)
    log_qf = torch.logsumexp(lf, 1) - norm
    log_qz = torch.logsumexp(lz, 1) - norm
    log_qfz = torch.logsumexp(lf + lz, 1) - norm
    return F.relu((log_qfz - log_qf - log_qz).mean())


class CDSVAE(DSVAE):
    """C-DSVAE (Bai et al., 2021): DSVAE plus contrastive terms with content / motion augmentation.

    Extra loss terms: ``w_c * InfoNCE(mu_f(x), mu_f(shuffle(x)))`` (the static code must survive a
    temporal shuffle) + ``w_m * InfoNCE(mu_z(x), mu_z(jitter(x)))`` (the dynamic code must survive a
    colour jitter / blur) + ``w_mi * I(f; z)`` (minibatch-weighted-sampling estimate).
    """

    method = "c-dsvae"

    def __init__(self, *args: Any, w_c: float = 50.0, w_m: float = 50.0, w_mi: float = 1.0, tau: float = 0.5,
                 dataset_size: int = 10000, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.modality != "video":
            raise ValueError(
                f"c-dsvae's augmentations (colour jitter, blur) are defined for video, not {self.modality}"
            )
        self.w_c, self.w_m, self.w_mi, self.tau = float(w_c), float(w_m), float(w_mi), float(tau)
        self.dataset_size = int(dataset_size)
        self._config.update(w_c=self.w_c, w_m=self.w_m, w_mi=self.w_mi, tau=self.tau, dataset_size=self.dataset_size)

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        e = self.elbo_terms(x)
        elbo = e["recon"] + self.kl_f * e["kl_f"] + self.kl_z * e["kl_z"]
        mf_c, _, _, _ = self.posterior(temporal_shuffle(x))
        _, _, mz_m, _ = self.posterior(colour_jitter_blur(x))
        con_f = info_nce(e["mf"], mf_c, self.tau)
        con_z = info_nce(e["mz"], mz_m, self.tau)
        mi = mutual_information_mws(e, self.dataset_size)
        loss = elbo.mean() + self.w_c * con_f + self.w_m * con_z + self.w_mi * mi
        logs = {k: _f(e[k]) for k in ("recon", "kl_f", "kl_z")}
        logs.update(con_f=_f(con_f), con_z=_f(con_z), mi=_f(mi))
        return loss, logs
