"""The model interface (interface_version 1 and 2).

A submission is any object with ``encode`` / ``decode`` (and optionally priors and ``swap``):

- input: float32 ``[B, T, *F]``, with the per-step feature shape ``F`` and the value range declared by
  the dataset's modality (:data:`MODALITIES`): video ``[C, H, W]`` in ``[0, 1]`` (interface_version 1
  knows only this one), audio frames ``[F]`` in ``[-1, 1]`` (int16 PCM / 32768), time series ``[V]``
  (normalised features, unbounded);
- ``encode(x) -> Latents(static [B, S], dynamic [B, T, D])``, deterministic (posterior means);
- ``decode(Latents) -> x̂`` with the input's shape and range;
- optional priors ``sample_static(n, generator) -> [n, S]`` and
  ``sample_dynamic(n, T, generator) -> [n, T, D]``; the harness owns all randomness through the
  ``torch.Generator`` it passes;
- the channel space for factor-level interventions has ``S + D`` channels: channel ``c < S`` is static
  dimension ``c``, channel ``S + j`` is dynamic dimension ``j`` over all frames. The harness swaps
  channels itself (:func:`swap_channels`); a model may override ``swap`` when its latents need a change
  of basis (e.g. a Koopman eigenbasis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch

from .modality import INTERFACE_VERSION, INTERFACE_VERSIONS, MODALITIES, input_name, shape_text, value_range

__all__ = [
    "INTERFACE_VERSION", "INTERFACE_VERSIONS", "MODALITIES", "Latents", "SequentialDisentangler", "channel_mask",
    "has_prior", "input_name", "shape_text", "static_mask", "swap", "swap_channels", "value_range",
]


@dataclass(frozen=True)
class Latents:
    """A batch of latent codes: ``static`` ``[B, S]`` and ``dynamic`` ``[B, T, D]``."""

    static: torch.Tensor
    dynamic: torch.Tensor

    def __post_init__(self) -> None:
        if self.static.ndim != 2:
            raise ValueError(f"Latents.static must be [B, S], got shape {tuple(self.static.shape)}")
        if self.dynamic.ndim != 3:
            raise ValueError(f"Latents.dynamic must be [B, T, D], got shape {tuple(self.dynamic.shape)}")
        if self.static.shape[0] != self.dynamic.shape[0]:
            raise ValueError(
                f"Latents batch sizes differ: static {self.static.shape[0]} vs dynamic {self.dynamic.shape[0]}"
            )

    @property
    def batch_size(self) -> int:
        return int(self.static.shape[0])

    @property
    def static_dim(self) -> int:
        return int(self.static.shape[1])

    @property
    def dynamic_dim(self) -> int:
        return int(self.dynamic.shape[2])

    @property
    def n_frames(self) -> int:
        return int(self.dynamic.shape[1])

    @property
    def n_channels(self) -> int:
        """Size of the intervention channel space, ``S + D``."""
        return self.static_dim + self.dynamic_dim

    def to(self, device: torch.device | str) -> Latents:
        return Latents(self.static.to(device), self.dynamic.to(device))

    def detach(self) -> Latents:
        return Latents(self.static.detach(), self.dynamic.detach())

    def __getitem__(self, index) -> Latents:
        """Select samples along the batch axis (int, slice, index tensor or boolean mask)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Latents(self.static[index], self.dynamic[index])

    @staticmethod
    def cat(parts: list[Latents]) -> Latents:
        """Concatenate along the batch axis."""
        return Latents(torch.cat([p.static for p in parts]), torch.cat([p.dynamic for p in parts]))


@runtime_checkable
class SequentialDisentangler(Protocol):
    """What the harness needs from a model. Priors and ``swap`` are optional (see module doc)."""

    static_dim: int
    dynamic_dim: int

    def encode(self, x: torch.Tensor) -> Latents: ...

    def decode(self, z: Latents) -> torch.Tensor: ...


def channel_mask(static_dim: int, dynamic_dim: int, channels, device=None) -> torch.Tensor:
    """Boolean mask ``[S + D]`` that is True on ``channels`` (an iterable of channel indices)."""
    mask = torch.zeros(static_dim + dynamic_dim, dtype=torch.bool, device=device)
    idx = torch.as_tensor(list(channels), dtype=torch.long)
    if idx.numel():
        if int(idx.min()) < 0 or int(idx.max()) >= static_dim + dynamic_dim:
            raise ValueError(f"channel index out of range [0, {static_dim + dynamic_dim})")
        mask[idx.to(mask.device)] = True
    return mask


def static_mask(static_dim: int, dynamic_dim: int, device=None) -> torch.Tensor:
    """Mask selecting every static channel (``c < S``)."""
    return channel_mask(static_dim, dynamic_dim, range(static_dim), device)


def swap_channels(za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
    """The default swap: ``za`` with the channels where ``mask`` is True taken from ``zb``.

    Parameters
    ----------
    za, zb : Latents
        Codes of the same shapes.
    mask : bool tensor ``[S + D]``
        ``mask[c]`` True takes channel ``c`` from ``zb``; ``c < S`` is static dimension ``c`` and
        ``S + j`` is dynamic dimension ``j`` over all frames.
    """
    if za.static.shape != zb.static.shape or za.dynamic.shape != zb.dynamic.shape:
        raise ValueError(
            "swap_channels needs codes of equal shapes, got "
            f"{tuple(za.static.shape)}/{tuple(za.dynamic.shape)} and "
            f"{tuple(zb.static.shape)}/{tuple(zb.dynamic.shape)}"
        )
    s = za.static_dim
    if mask.shape != (s + za.dynamic_dim,):
        raise ValueError(f"swap mask must have shape [{s + za.dynamic_dim}], got {tuple(mask.shape)}")
    mask = mask.to(za.static.device)
    static = torch.where(mask[:s].unsqueeze(0), zb.static, za.static)
    dynamic = torch.where(mask[s:].view(1, 1, -1), zb.dynamic, za.dynamic)
    return Latents(static, dynamic)


def swap(model, za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
    """Swap through the model's own ``swap`` when it has one, else :func:`swap_channels`."""
    own = getattr(model, "swap", None)
    if callable(own):
        return own(za, zb, mask)
    return swap_channels(za, zb, mask)


def has_prior(model, part: Literal["static", "dynamic"]) -> bool:
    """Whether ``model`` can sample the ``part`` of the code from its prior."""
    fn = getattr(model, f"sample_{part}", None)
    if not callable(fn):
        return False
    probe = getattr(model, "has_prior", None)
    if callable(probe):  # adapters (e.g. ONNX without a prior file) answer for themselves
        return bool(probe(part))
    return True
