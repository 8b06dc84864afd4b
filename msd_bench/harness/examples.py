"""Build the example submissions (ONNX and torch) and their broken variants, from code.

These are fixtures for the loaders, ``msd-bench validate`` and the tests: tiny, untrained networks
(:mod:`msd_bench.harness.example_model`), never opaque binaries. Run
``python -m msd_bench.harness.examples OUT_DIR --format onnx|torch`` to write one.

The example model's ``encode`` returns the plain ``(static, dynamic)`` pair: the interface accepts it
(the torch loader and :func:`msd_bench.evaluate` wrap it into ``Latents``; ``decode`` always gets a
``Latents``). ``msd-bench init`` writes a model whose ``encode`` returns ``Latents`` itself.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from torch import nn

from . import example_model
from .example_model import TinyModel, TinyStepModel
from .manifest import MANIFEST_NAME
from .modality import input_name

ONNX_DEFECTS = ("wrong_names", "encoder_rank", "decoder_shape", "nan", "custom_op", "external_escape")
TORCH_DEFECTS = ("pickle", "import_error")


class _Encoder(nn.Module):
    def __init__(self, m: TinyModel, defect: str | None):
        super().__init__()
        self.m, self.defect = m, defect

    def forward(self, video):
        s, d = self.m.encode(video)
        if self.defect == "encoder_rank":
            d = d.flatten(1)
        return s, d


class _Decoder(nn.Module):
    def __init__(self, m: TinyModel, defect: str | None):
        super().__init__()
        self.m, self.defect = m, defect

    def forward(self, static, dynamic):
        x = self.m.decode_parts(static, dynamic)
        if self.defect == "decoder_shape":
            b, t, c, h, w = x.shape
            x = x.reshape(b * t, c, h, w)[:, :, ::2, ::2].reshape(b, t, c, h // 2, w // 2)
        if self.defect == "nan":
            x = x * torch.tensor(float("nan"))
        return x


class _Prior(nn.Module):
    """Standard-normal prior written as an affine map of the harness's noise."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.shift = nn.Parameter(torch.zeros(dim))

    def forward(self, noise):
        return noise * self.scale + self.shift


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dyn: dict) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dyn,
            opset_version=17,
            dynamo=False,
        )


def _manifest(name: str, fmt: str, dataset: str, entry: dict, modality: str | None = None) -> dict:
    version = {"interface_version": 1} if modality is None else {"interface_version": 2, "modality": modality}
    return {
        "name": name,
        "version": "0.0.1",
        "authors": ["msd-bench test fixtures"],
        "license": "MIT",
        "description": "Tiny untrained example submission (a test fixture, not a reference method).",
        "format": fmt,
        **version,
        "training_datasets": [],
        "datasets": {dataset: entry},
    }


def build_example(
    folder: str | Path,
    fmt: str = "onnx",
    dataset: str = "sprites",
    shape: tuple[int, int, int, int] = (8, 3, 64, 64),
    static_dim: int = 4,
    dynamic_dim: int = 2,
    defect: str | None = None,
    seed: int = 0,
    with_priors: bool = True,
    input_shape_in_manifest: bool = False,
    modality: str | None = None,
) -> Path:
    """Write an example submission into ``folder`` (created; must not exist or be empty).

    Parameters
    ----------
    fmt : {"onnx", "torch"}
    shape : (T, C, H, W) of the dataset's videos (H and W divisible by 8), or (T, F) with ``modality``
        ``audio`` / ``timeseries``.
    defect : str, optional
        A deliberate fault for tests: one of :data:`ONNX_DEFECTS` or :data:`TORCH_DEFECTS`
        (``decoder_shape`` is video only).
    modality : str, optional
        None writes an interface-version-1 (video) manifest, as before; ``video``, ``audio`` or
        ``timeseries`` writes interface version 2 with that modality (ONNX tensor named by
        :func:`~msd_bench.harness.modality.input_name`).
    """
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt not in ("onnx", "torch"):
        raise ValueError(f"fmt must be onnx or torch, got {fmt!r}")
    allowed = ONNX_DEFECTS if fmt == "onnx" else TORCH_DEFECTS
    if defect is not None and defect not in allowed:
        raise ValueError(f"unknown defect {defect!r} for {fmt} (known: {', '.join(allowed)})")
    one_d = modality in ("audio", "timeseries")
    if one_d:
        t, f = shape
        config: dict = dict(frames=t, features=f, static_dim=static_dim, dynamic_dim=dynamic_dim,
                            bounded=modality == "audio")
    else:
        t, c, h, w = shape
        config = dict(frames=t, channels=c, height=h, width=w, static_dim=static_dim, dynamic_dim=dynamic_dim)
    torch.manual_seed(seed)
    model = (TinyStepModel(**config) if one_d else TinyModel(**config)).eval()
    io_name = input_name(modality or "video")
    entry: dict = {"static_dim": static_dim, "dynamic_dim": dynamic_dim}
    if input_shape_in_manifest:
        entry["input_shape"] = list(shape)
    name = f"example-{fmt}" + (f"-{defect.replace('_', '-')}" if defect else "")

    if fmt == "torch":
        from safetensors.torch import save_file

        src = Path(example_model.__file__).read_text(encoding="utf-8")
        if defect == "import_error":
            src = src + '\nraise RuntimeError("example import failure")\n'
        (folder / "model.py").write_text(src, encoding="utf-8")
        if defect == "pickle":
            torch.save(model.state_dict(), folder / "model.pt")
            entry["weights"] = "model.pt"
        else:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
            entry["weights"] = "model.safetensors"
        entry["entry_point"] = "model:build_steps" if one_d else "model:build"
        entry["config"] = config
    else:
        x = torch.rand(2, *shape)
        enc_in = "x" if defect == "wrong_names" else io_name
        _export(
            _Encoder(model, defect),
            (x,),
            folder / "encoder.onnx",
            [enc_in],
            ["static", "dynamic"],
            {enc_in: {0: "batch"}, "static": {0: "batch"}, "dynamic": {0: "batch"}},
        )
        s, d = model.encode(x)
        _export(
            _Decoder(model, defect),
            (s.detach(), d.detach()),
            folder / "decoder.onnx",
            ["static", "dynamic"],
            [io_name],
            {"static": {0: "batch"}, "dynamic": {0: "batch"}, io_name: {0: "batch"}},
        )
        entry.update(encoder="encoder.onnx", decoder="decoder.onnx")
        if with_priors:
            _export(
                _Prior(static_dim),
                (torch.randn(2, static_dim),),
                folder / "prior_static.onnx",
                ["noise"],
                ["static"],
                {"noise": {0: "batch"}, "static": {0: "batch"}},
            )
            _export(
                _Prior(dynamic_dim),
                (torch.randn(2, t, dynamic_dim),),
                folder / "prior_dynamic.onnx",
                ["noise"],
                ["dynamic"],
                {"noise": {0: "batch", 1: "frames"}, "dynamic": {0: "batch", 1: "frames"}},
            )
            entry.update(prior_static="prior_static.onnx", prior_dynamic="prior_dynamic.onnx")
        if defect in ("custom_op", "external_escape"):
            _corrupt_graph(folder / "encoder.onnx", defect)
    manifest = _manifest(name, fmt, dataset, entry, modality)
    (folder / MANIFEST_NAME).write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def _corrupt_graph(path: Path, defect: str) -> None:
    import onnx

    model = onnx.load(str(path))
    if defect == "custom_op":
        model.graph.node[0].domain = "com.example.custom"
        model.opset_import.append(onnx.helper.make_opsetid("com.example.custom", 1))
    else:  # external_escape: the first initializer claims its data lives outside the folder
        init = model.graph.initializer[0]
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        entry = init.external_data.add()
        entry.key, entry.value = "location", "../outside.bin"
    onnx.save(model, str(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write an example msd-bench submission (a test fixture).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--format", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--dataset", default="sprites")
    parser.add_argument("--shape", default="8,3,64,64", help="T,C,H,W (or T,F with --modality audio|timeseries)")
    parser.add_argument("--modality", default=None, choices=["video", "audio", "timeseries"],
                        help="Write an interface-version-2 manifest of this modality (default: version 1, video).")
    parser.add_argument("--defect", default=None)
    parser.add_argument("--force", action="store_true", help="Replace OUT if it exists.")
    a = parser.parse_args(argv)
    if a.out.exists() and a.force:
        shutil.rmtree(a.out)
    shape = tuple(int(v) for v in a.shape.split(","))
    print(build_example(a.out, a.format, a.dataset, shape, defect=a.defect, modality=a.modality))  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    main()
