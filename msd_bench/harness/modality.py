"""The modalities of interface version 2: feature axes, value ranges and ONNX tensor names.

Torch-free (the manifest and the CLI's ``--help`` import it). A sequence is ``[T, *F]``; ``F`` is
the per-step feature shape declared by the dataset (``H5Dataset.feature_shape``).

- ``video``: ``F = [C, H, W]``, model input in ``[0, 1]`` (uint8 on disk / 255), ONNX name ``video``;
- ``audio``: ``F = [F]`` samples per frame, input in ``[-1, 1]`` (int16 PCM / 32768), ONNX name ``audio``;
- ``timeseries``: ``F = [V]`` features per step, unbounded (float32 as stored), ONNX name ``series``.

Interface version 1 is the video modality alone; a version-1 submission runs unchanged.
"""

from __future__ import annotations

INTERFACE_VERSION = 2
#: the interface versions this harness runs (a version-1 manifest is a video submission, unchanged)
INTERFACE_VERSIONS = (1, 2)

#: modality -> number of per-step feature axes, the value range of the model input and output
#: (None = unbounded) and the name of the input / output tensor of the ONNX graphs.
MODALITIES: dict[str, dict] = {
    "video": {"feature_axes": 3, "features": "[C, H, W]", "range": (0.0, 1.0), "onnx_name": "video"},
    "audio": {"feature_axes": 1, "features": "[F]", "range": (-1.0, 1.0), "onnx_name": "audio"},
    "timeseries": {"feature_axes": 1, "features": "[V]", "range": None, "onnx_name": "series"},
}


def check_modality(modality: object) -> str:
    """``modality`` when it is one of :data:`MODALITIES`, else a ValueError naming the known ones."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return modality  # type: ignore[return-value]


def input_name(modality: str) -> str:
    """The ONNX tensor name of the model input (encoder) and output (decoder) for ``modality``."""
    return MODALITIES[check_modality(modality)]["onnx_name"]


def value_range(modality: str) -> tuple[float, float] | None:
    """``(low, high)`` of the model input and of a decoded sequence, or None when unbounded."""
    return MODALITIES[check_modality(modality)]["range"]


def shape_text(modality: str) -> str:
    """``[T, C, H, W]`` / ``[T, F]`` / ``[T, V]``: the per-sequence shape of ``modality`` in words."""
    return "[T, " + MODALITIES[check_modality(modality)]["features"][1:]


def dataset_modality(ds: object) -> str:
    """The modality of a dataset spec or opened dataset (``video`` when it does not say)."""
    return str(getattr(ds, "modality", None) or "video")


def dataset_feature_shape(ds: object) -> tuple[int, ...]:
    """``F`` of a dataset spec or opened dataset: its ``feature_shape``, else ``shape[1:]``."""
    shape = getattr(ds, "feature_shape", None)
    if shape is None:
        shape = tuple(ds.shape)[1:]  # type: ignore[attr-defined]
    return tuple(int(v) for v in shape)
