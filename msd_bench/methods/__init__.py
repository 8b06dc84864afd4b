"""Reference methods: the seeds' models, trained by ``msd-bench train`` into submission folders.

>>> from msd_bench.methods import METHODS, build_model
>>> model = build_model("dsvae", frames=8, channels=3, height=64, width=64, static_dim=16, dynamic_dim=8)
>>> z = model.encode(x)            # Latents(static [B, 16], dynamic [B, 8, 8]) -- the msd-bench interface

A submission folder's ``model.py`` calls :func:`build_model` with the manifest's ``config``. See
docs/methods.md for the methods, their settings and their training times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import MsdBenchError


class MethodError(MsdBenchError):
    """An unknown method, bad training settings, or a checkpoint that does not match them."""


@dataclass(frozen=True)
class MethodSpec:
    """A reference method: its model class, default sizes / hyper-parameters, paper and summary."""

    name: str
    cls_path: str
    static_dim: int
    dynamic_dim: int
    paper: str
    summary: str
    hparams: dict[str, Any] = field(default_factory=dict)

    def model_class(self):
        import importlib

        module, _, cls = self.cls_path.rpartition(".")
        return getattr(importlib.import_module(module), cls)


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in [
        MethodSpec("frame-vae", "msd_bench.methods.models.FrameVAE", 8, 8,
                   "https://arxiv.org/abs/1312.6114",
                   "per-frame VAE, no temporal model (baseline); static = frame mean of the first half of z_t"),
        MethodSpec("lstm-vae", "msd_bench.methods.models.LstmVAE", 8, 8,
                   "msd-bench seed: Disentangled Content-Motion VAE for Video Generation (its LSTM-VAE baseline)",
                   "one unified per-frame latent with LSTMs in encoder and decoder (content-motion VAE seed)"),
        MethodSpec("content-motion-vae", "msd_bench.methods.models.ContentMotionVAE", 16, 8,
                   "msd-bench seed: Disentangled Content-Motion VAE for Video Generation",
                   "content encoder of the frame average, motion encoder of frame differences + LSTM"),
        MethodSpec("dsvae", "msd_bench.methods.models.DSVAE", 16, 8,
                   "https://arxiv.org/abs/1803.02991",
                   "Li & Mandt's disentangled sequential autoencoder: static f, dynamic z_t, learned LSTM prior"),
        MethodSpec("c-dsvae", "msd_bench.methods.models.CDSVAE", 16, 8,
                   "https://arxiv.org/abs/2110.12091",
                   "DSVAE + contrastive terms (temporal-shuffle content aug., colour-jitter/blur motion aug.) + MI"),
        MethodSpec("skd", "msd_bench.methods.skd.SKD", 12, 12,
                   "https://arxiv.org/abs/2303.17264",
                   "Koopman autoencoder, linear latent dynamics, static/dynamic split of the eigenvalues"),
        MethodSpec("beta-vae", "msd_bench.methods.models.FrameVAE", 5, 5,
                   "https://openreview.net/forum?id=Sy2fzU9gl",
                   "beta-VAE frame model (Bernoulli likelihood, beta=4); same split as frame-vae",
                   {"beta": 4.0, "likelihood": "bernoulli"}),
        MethodSpec("lambda-beta-vae", "msd_bench.methods.models.FrameVAE", 5, 5,
                   "msd-bench seed: lambda-beta-VAE disentanglement experiments; beta-VAE: https://openreview.net/forum?id=Sy2fzU9gl",
                   "lambda-beta-VAE frame model: beta-VAE loss + lambda * L2 reconstruction (beta=4, lambda=10)",
                   {"beta": 4.0, "lam": 10.0, "likelihood": "bernoulli"}),
    ]
}


def get_method(name: str) -> MethodSpec:
    """The spec of a method; an unknown name raises :class:`MethodError` listing the known ones."""
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]


#: methods that are defined for video only (their augmentations are image operations)
VIDEO_ONLY = ("c-dsvae",)


def default_config(method: str, shape: tuple[int, ...], modality: str = "video", **overrides: Any) -> dict[str, Any]:
    """The full model config of ``method`` for sequences of ``shape``: ``(T, C, H, W)`` videos, or
    ``(T, F)`` audio frames / time-series steps with ``modality`` ``audio`` / ``timeseries``.

    On 1-D steps the Bernoulli likelihood of the beta-VAE seeds does not apply (audio samples lie in
    [-1, 1], time-series features are unbounded): those methods use the Gaussian (squared-error) one.
    """
    spec = get_method(method)
    if modality != "video":
        if method in VIDEO_ONLY:
            raise MethodError(f"{method} is defined for video only (colour / blur augmentations); "
                              f"the dataset is {modality}")
        if len(shape) != 2:
            raise MethodError(f"{modality} sequences are [T, F], got shape {list(shape)}")
        cfg1: dict[str, Any] = dict(method=method, frames=int(shape[0]), static_dim=spec.static_dim,
                                    dynamic_dim=spec.dynamic_dim, modality=modality, features=int(shape[1]))
        cfg1.update(spec.hparams)
        if cfg1.get("likelihood") == "bernoulli":
            cfg1["likelihood"] = "gaussian"
        cfg1.update(overrides)
        return cfg1
    t, c, h, w = (int(v) for v in shape)
    res = 32 if min(h, w) >= 32 and h % 32 == 0 and w % 32 == 0 else min(h, w)
    cfg: dict[str, Any] = dict(method=method, frames=t, channels=c, height=h, width=w,
                               static_dim=spec.static_dim, dynamic_dim=spec.dynamic_dim, res=res)
    cfg.update(spec.hparams)
    cfg.update(overrides)
    return cfg


def build_model(method: str, **config: Any):
    """Build a reference model from its ``config`` (the manifest's ``config`` minus nothing).

    ``method`` picks the class; every other key is a constructor argument. The models of
    ``beta-vae`` and ``lambda-beta-vae`` are :class:`~msd_bench.methods.models.FrameVAE` with their
    hyper-parameters in the config.
    """
    spec = get_method(method)
    model = spec.model_class()(**config)
    model.method = method  # beta-vae / lambda-beta-vae share the FrameVAE class
    return model


__all__ = ["METHODS", "MethodError", "MethodSpec", "build_model", "default_config", "get_method"]
