"""What a result records about the machine and software it ran on."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from .. import __version__

_PACKAGES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "scikit-learn", "h5py", "pydantic")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def git_sha() -> str | None:
    """The git commit of the msd-bench checkout, when it runs from one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine_fingerprint(device: torch.device | None = None) -> str:
    """Short hash of what decides timings: CPU model and count, RAM, OS, and the GPU when used."""
    gpu = ""
    if device is not None and device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
    parts = [_cpu_model(), str(os.cpu_count()), str(_ram_gb()), platform.system(), platform.machine(), gpu]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def environment(device: torch.device, providers: list[str] | None = None) -> dict:
    """A JSON-ready description of the environment of a run."""
    env = {
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": _ram_gb(),
        "packages": package_versions(),
        "msd_bench": __version__,
        "git_sha": git_sha(),
        "device": str(device),
        "onnxruntime_providers": list(providers or []),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "fingerprint": machine_fingerprint(device),
    }
    return env
