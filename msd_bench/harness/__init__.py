"""The harness: model interface, submission manifest, loaders, validation (and, later, the runner)."""

from .interface import (
    INTERFACE_VERSION,
    Latents,
    SequentialDisentangler,
    channel_mask,
    has_prior,
    static_mask,
    swap,
    swap_channels,
)
from .loader import LoadedSubmission, OnnxSubmission, TorchSubmission, load_submission, resolve_source
from .manifest import Manifest, load_manifest, manifest_schema

__all__ = [
    "INTERFACE_VERSION",
    "Latents",
    "LoadedSubmission",
    "Manifest",
    "OnnxSubmission",
    "SequentialDisentangler",
    "TorchSubmission",
    "channel_mask",
    "has_prior",
    "load_manifest",
    "load_submission",
    "manifest_schema",
    "resolve_source",
    "static_mask",
    "swap",
    "swap_channels",
]
