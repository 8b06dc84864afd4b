"""The harness: model interface, submission manifest, loaders, validation, the evaluation runner.

Names are imported lazily (module ``__getattr__``), so ``import msd_bench.harness`` and the CLI's
``--help`` do not import torch; ``from msd_bench.harness import Latents`` imports it on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "INTERFACE_VERSION": "interface",
    "Latents": "interface",
    "SequentialDisentangler": "interface",
    "channel_mask": "interface",
    "has_prior": "interface",
    "static_mask": "interface",
    "swap": "interface",
    "swap_channels": "interface",
    "LoadedSubmission": "loader",
    "OnnxSubmission": "loader",
    "TorchSubmission": "loader",
    "load_submission": "loader",
    "resolve_source": "loader",
    "Manifest": "manifest",
    "load_manifest": "manifest",
    "manifest_schema": "manifest",
    "evaluate": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'msd_bench.harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
