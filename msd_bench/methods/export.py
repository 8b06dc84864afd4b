"""Export a trained reference model as a submission folder (torch format, plus ONNX where it exports).

Folder layout (``submissions/<method>-<dataset>/``)::

    submission.yaml        manifest: format torch, entry point model:build, config = the model config
    model.py               two lines: build the model with msd_bench.methods.build_model
    model.safetensors      the state dict
    training.json          settings, seed, loss history, training time, package versions
    traversal.gif          frame models only: latent traversals (one row per latent dimension)
    onnx/                  the same model as an ONNX submission (encoder, decoder, priors), where it
                           exports cleanly; its own submission.yaml (format onnx)

The folder is written next to its destination and renamed into place, so a crash never leaves half a
submission behind.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..harness.manifest import MANIFEST_NAME
from ..harness.modality import input_name
from . import get_method

VERSION = "1.0.0"  # of a reference trained on a dataset that is not built in
ONNX_SUFFIX = "-onnx"


def reference_version(dataset: str) -> str:
    """Version of a reference submission: ``<major of the training dataset's version>.0.0``.

    A reference retrained on a new revision of its dataset is a new version (``sprites`` 2.0, the
    standard Sprites, gives 2.0.0), so the results of the old model keep their own entry in the store.
    """
    from ..datasets import get_spec
    from ..errors import DatasetError

    try:
        return f"{get_spec(dataset).version.split('.')[0]}.0.0"
    except DatasetError:
        return VERSION

AUTHORS = ["msd-bench reference"]
LICENSE = "MIT"

MODEL_PY = '''"""Reference submission {method!r} trained by `msd-bench train` (code in msd_bench.methods)."""

from msd_bench.methods import build_model


def build(**config):
    """Entry point (model:build): the manifest's config holds the method name and its sizes."""
    return build_model(**config)
'''


def manifest_dict(method: str, dataset: str, config: dict[str, Any], fmt: str, entry: dict[str, Any],
                  description: str) -> dict[str, Any]:
    spec = get_method(method)
    modality = config.get("modality", "video")
    ds_entry: dict[str, Any] = {"static_dim": int(config["static_dim"]), "dynamic_dim": int(config["dynamic_dim"])}
    if not _builtin(dataset):
        keys = ("frames", "channels", "height", "width") if modality == "video" else ("frames", "features")
        ds_entry["input_shape"] = [int(config[k]) for k in keys]
    # video references stay interface version 1 (their manifests unchanged); other modalities need 2
    version: dict[str, Any] = {"interface_version": 1} if modality == "video" else \
        {"interface_version": 2, "modality": modality}
    return {
        "name": method,
        "version": reference_version(dataset),
        "authors": list(AUTHORS),
        "paper": spec.paper,
        "license": LICENSE,
        "description": description,
        "format": fmt,
        **version,
        "training_datasets": [dataset],
        "datasets": {dataset: {**ds_entry, **entry}},
    }


def _builtin(dataset: str) -> bool:
    from ..datasets import get_spec
    from ..errors import DatasetError

    try:
        get_spec(dataset)
    except DatasetError:
        return False
    return True


# ------------------------------------------------------------------------------------------ ONNX
class _Enc(nn.Module):
    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m

    def forward(self, video):
        z = self.m.encode(video)
        return z.static, z.dynamic


class _Dec(nn.Module):
    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m

    def forward(self, static, dynamic):
        from ..harness.interface import Latents

        return self.m.decode(Latents(static, dynamic))


class _Identity(nn.Module):
    """The N(0, I) prior as a graph: noise -> latents (an exact copy)."""

    def forward(self, noise):
        return noise * 1.0


class _LstmPrior(nn.Module):
    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m

    def forward(self, noise):
        return self.m.prior_from_noise(noise)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dyn: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dyn, opset_version=17, dynamo=False)


def export_onnx(model: nn.Module, folder: Path, dataset: str, description: str) -> list[str]:
    """Write ``folder`` as an ONNX submission of ``model``; returns the files written.

    The dynamic prior of DSVAE / C-DSVAE is unrolled over the dataset's ``T`` frames (its graph accepts
    only that many frames); the other priors are N(0, I) and accept any ``T``.
    """
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config()
    t = int(cfg["frames"])
    modality = cfg.get("modality", "video")
    gen = torch.Generator().manual_seed(0)
    if modality == "video":
        x = torch.rand(2, t, cfg["channels"], cfg["height"], cfg["width"], generator=gen)
    else:
        x = torch.rand(2, t, int(cfg["features"]), generator=gen) * 2.0 - 1.0
    with torch.no_grad():
        z = model.encode(x)
    batch = {0: "batch"}
    name = input_name(modality)  # video / audio / series
    _export(_Enc(model), (x,), folder / "encoder.onnx", [name], ["static", "dynamic"],
            {name: batch, "static": batch, "dynamic": batch})
    _export(_Dec(model), (z.static, z.dynamic), folder / "decoder.onnx", ["static", "dynamic"], [name],
            {"static": batch, "dynamic": batch, name: batch})
    entry = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    if callable(getattr(model, "sample_static", None)):
        _export(_Identity(), (torch.randn(2, z.static_dim),), folder / "prior_static.onnx", ["noise"], ["static"],
                {"noise": batch, "static": batch})
        entry["prior_static"] = "prior_static.onnx"
    if callable(getattr(model, "prior_from_noise", None)):
        _export(_LstmPrior(model), (torch.randn(2, t, z.dynamic_dim),), folder / "prior_dynamic.onnx", ["noise"],
                ["dynamic"], {"noise": batch, "dynamic": batch})
        entry["prior_dynamic"] = "prior_dynamic.onnx"
    elif callable(getattr(model, "sample_dynamic", None)):
        frames = {0: "batch", 1: "frames"}
        _export(_Identity(), (torch.randn(2, t, z.dynamic_dim),), folder / "prior_dynamic.onnx", ["noise"],
                ["dynamic"], {"noise": frames, "dynamic": frames})
        entry["prior_dynamic"] = "prior_dynamic.onnx"
    manifest = manifest_dict(model.method, dataset, cfg, "onnx", entry, description + " (ONNX export)")
    # a distinct leaderboard entry if someone submits the copy too
    manifest["version"] = reference_version(dataset) + ONNX_SUFFIX
    (folder / MANIFEST_NAME).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------- traversals
@torch.no_grad()
def traversal_gif(model: nn.Module, x: torch.Tensor, path: Path, steps: int = 10, span: float = 3.0) -> None:
    """Latent traversal GIF of a frame model: rows = latent dims of the per-frame code, one GIF frame per value.

    ``x`` is one video ``[1, T, C, H, W]``; its first frame is encoded, and dimension ``i`` is swept over
    ``linspace(-span, span, steps)`` with the others fixed at the posterior mean.
    """
    from PIL import Image

    mu, _ = model.posterior(x[:, :1])
    code = mu[0, 0]
    dims = code.shape[0]
    values = torch.linspace(-span, span, steps)
    frames = []
    for v in values:
        codes = code.repeat(dims, 1)
        codes[torch.arange(dims), torch.arange(dims)] = v
        img = model.decode_frames(codes.view(dims, 1, -1))[:, 0]  # [dims, C, H, W]
        if img.shape[1] == 1:
            img = img.expand(-1, 3, -1, -1)
        row = torch.cat(list(img), dim=2)  # side by side: [3, H, dims*W]
        arr = (row.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        frames.append(Image.fromarray(arr))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200, loop=0)


# ----------------------------------------------------------------------------------------- export
def export_submission(model: nn.Module, out: Path, dataset: str, training: dict[str, Any], onnx: bool = True,
                      sample: torch.Tensor | None = None) -> Path:
    """Write the submission folder ``out`` for ``model`` (replacing an existing one atomically)."""
    import yaml
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    method = model.method
    cfg = model.config()
    description = (f"{get_method(method).summary}. Reference model trained by `msd-bench train {method} "
                   f"--dataset {dataset}` ({training.get('epochs')} epochs, seed {training.get('seed')}, "
                   f"size {training.get('size')}). A CPU-budget reference: undertrained compared with the "
                   f"method's paper (docs/methods.md sets our scores beside the published ones).")
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(stage / "model.safetensors"))
        (stage / "model.py").write_text(MODEL_PY.format(method=method), encoding="utf-8")
        entry = {"weights": "model.safetensors", "entry_point": "model:build", "config": cfg}
        manifest = manifest_dict(method, dataset, cfg, "torch", entry, description)
        (stage / MANIFEST_NAME).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        info = {**training, "msd_bench_version": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "machine": platform.machine()}
        files = ["model.safetensors", "model.py", MANIFEST_NAME, "training.json"]
        if sample is not None and callable(getattr(model, "posterior", None)) and hasattr(model, "decode_frames") \
                and method in ("frame-vae", "beta-vae", "lambda-beta-vae") and cfg.get("modality", "video") == "video":
            traversal_gif(model, sample[:1], stage / "traversal.gif")
            files.append("traversal.gif")
        if onnx and not callable(getattr(model, "swap", None)):
            try:
                files += [f"onnx/{f}" for f in export_onnx(model, stage / "onnx", dataset, description)]
            except Exception as exc:  # torch.onnx raises many types; the torch submission stands on its own
                shutil.rmtree(stage / "onnx", ignore_errors=True)
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                info["onnx"] = f"not exported: {type(exc).__name__}: {first}"
        elif onnx:
            info["onnx"] = "not exported: the model overrides swap (eigenbasis), which an ONNX submission cannot"
        info["files"] = sorted(files)
        (stage / "training.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for p in stage.rglob("*"):  # mkdtemp makes 0700 folders; a submission is meant to be shared
            p.chmod(0o755 if p.is_dir() else 0o644)
        stage.chmod(0o755)
        _replace_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def _replace_dir(stage: Path, out: Path) -> None:
    """Move ``stage`` onto ``out``; an existing ``out`` is moved aside first and removed afterwards."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old"
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
    try:
        stage.rename(out)
    except BaseException:
        if old is not None:
            with contextlib.suppress(OSError):
                old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
