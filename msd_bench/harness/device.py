"""Device selection: ``auto`` picks CUDA when present, else CPU; an explicit CUDA request without a
GPU is an error (never a silent fallback)."""

from __future__ import annotations

import re

import torch

from ..errors import DeviceError

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N`` into a :class:`torch.device`."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if not _DEVICE_RE.match(spec):
        raise DeviceError(f"unknown device {spec!r} (expected auto, cpu, cuda or cuda:N)")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"--device {spec} requested but no CUDA GPU is visible to torch; use --device cpu or auto"
            )
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"--device {spec} requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return dev
    return torch.device("cpu")


def onnx_providers(device: torch.device) -> list[str]:
    """The ONNX Runtime providers to ask for on ``device`` (CUDA only when asked for and built in)."""
    import onnxruntime as ort

    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise DeviceError(
                "--device cuda requested but this onnxruntime build has no CUDAExecutionProvider "
                f"(available: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_provider_options(device: torch.device) -> list[dict]:
    if device.type == "cuda":
        return [{"device_id": device.index or 0}, {}]
    return [{}]
