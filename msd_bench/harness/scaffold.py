"""``msd-bench init``: write a submission folder that validates and evaluates as written.

The folder holds a commented ``submission.yaml``, a ``model.py`` with a tiny sequential VAE that
implements the interface, a ``train.py`` that trains it on the built-in data, the seeded initial
weights (``model.safetensors``) and a ``README.md``; for ``--format onnx`` also ``export.py``, which
:func:`init_submission` runs once (the very file it writes), so the four graphs are in the folder too.

The templates are package data (``msd_bench/harness/templates/*.txt``). Everything is written into a
hidden temporary folder beside the target and renamed onto it at the end: bad input or a failure
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MsdBenchError
from .loader import _on_sys_path
from .manifest import MANIFEST_NAME, check_name, slugify

FORMATS = ("torch", "onnx")
#: Files written per format (besides the ONNX graphs in ``<dataset>/``), from template -> file name.
TEMPLATES = {
    "torch": {"submission_torch.yaml.txt": MANIFEST_NAME, "model.py.txt": "model.py", "train.py.txt": "train.py",
              "README_torch.md.txt": "README.md"},
    "onnx": {"submission_onnx.yaml.txt": MANIFEST_NAME, "model.py.txt": "model.py", "train.py.txt": "train.py",
             "export.py.txt": "export.py", "README_onnx.md.txt": "README.md"},
}
ONNX_GRAPHS = ("encoder.onnx", "decoder.onnx", "prior_static.onnx", "prior_dynamic.onnx")
ONNX_OPSET = 17


class ScaffoldError(MsdBenchError):
    """``msd-bench init`` got bad input (format, dataset, name, dims, a folder that is not empty)."""


def template_text(name: str) -> str:
    """The text of one template shipped in ``msd_bench/harness/templates``."""
    return (resources.files("msd_bench.harness") / "templates" / name).read_text(encoding="utf-8")


def render(text: str, values: dict[str, str]) -> str:
    """Replace every ``{{KEY}}`` of ``text``; a placeholder left over is a bug in the template."""
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        start = text.index("{{")
        raise RuntimeError(f"template placeholder left unfilled: {text[start:start + 30]!r}")
    return text


def _check_target(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder} exists and is not a folder (expected a new or empty folder)")
    if folder.is_dir() and any(folder.iterdir()):
        raise ScaffoldError(f"{folder} is not empty (expected a new or empty folder; nothing was written)")
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ScaffoldError(f"cannot create {folder}: {parent} is not writable")


def check_request(folder: str | os.PathLike, fmt: str, dataset: str, name: str | None, static_dim: int,
                  dynamic_dim: int, authors: list[str] | None) -> tuple[Path, str, tuple[int, int, int, int]]:
    """Validate the arguments of :func:`init_submission` (nothing written); returns folder, name, shape."""
    folder = Path(folder)
    if fmt not in FORMATS:
        raise ScaffoldError(f"--format {fmt!r} is not a submission format (expected one of: {', '.join(FORMATS)})")
    from ..datasets import get_spec

    spec = get_spec(dataset)  # unknown name -> DatasetError listing the known ones
    shape = tuple(int(v) for v in spec.shape)
    if len(shape) != 4 or spec.modality != "video":
        raise ScaffoldError(f"dataset {dataset!r} is not a video dataset [T, C, H, W]; the scaffold's model needs one")
    if shape[2] % 8 or shape[3] % 8:
        raise ScaffoldError(
            f"dataset {dataset!r} has frames {shape[2]} x {shape[3]}; the scaffold's model needs multiples of 8"
        )
    for what, v in (("--static-dim", static_dim), ("--dynamic-dim", dynamic_dim)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ScaffoldError(f"{what} is {v!r}; expected an integer >= 1")
    if authors is not None and (not authors or not all(isinstance(a, str) and a.strip() for a in authors)):
        raise ScaffoldError("--author must be a non-empty name")
    if name is None:
        name = slugify(folder.resolve().name, default="my-model")
    try:
        check_name(name, "--name")
    except ValueError as exc:
        raise ScaffoldError(str(exc)) from None
    _check_target(folder)
    return folder, name, shape  # type: ignore[return-value]


def _import_file(path: Path) -> Any:
    """Import one written template file under a unique module name (so no cached ``model`` is reused)."""
    spec = importlib.util.spec_from_file_location(f"_msd_init_{uuid.uuid4().hex[:12]}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def init_submission(
    folder: str | os.PathLike,
    fmt: str = "torch",
    dataset: str = "sprites",
    name: str | None = None,
    static_dim: int = 8,
    dynamic_dim: int = 4,
    authors: list[str] | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write a new submission folder; returns the files written (relative to ``folder``).

    Parameters
    ----------
    folder : new or empty folder (created with its parents).
    fmt : ``"torch"`` or ``"onnx"``.
    dataset : a built-in dataset (``msd-bench datasets list``): its ``[T, C, H, W]`` sizes the model.
    name : the submission's name (default: the folder's name made a valid name).
    static_dim, dynamic_dim : ``S`` and ``D`` of the model's codes.
    authors : names for the manifest (default: a line asking for yours).
    seed : seed of the initial weights (the same arguments write byte-identical weights).

    Raises
    ------
    ScaffoldError, DatasetError
        One line, before anything is written.
    """
    folder, name, (t, c, h, w) = check_request(folder, fmt, dataset, name, static_dim, dynamic_dim, authors)
    values = {
        "NAME": name, "DATASET": dataset, "FOLDER": str(folder), "T": str(t), "C": str(c), "H": str(h), "W": str(w),
        "S": str(static_dim), "D": str(dynamic_dim), "OPSET": str(ONNX_OPSET),
        "AUTHORS": ", ".join(json.dumps(a.strip()) for a in (authors or ["Your Name"])),
    }
    texts = {out: render(template_text(tpl), values) for tpl, out in TEMPLATES[fmt].items()}
    made = [p for p in reversed(folder.absolute().parents) if not p.exists()]  # parents to create, outermost first
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.init-", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private (0700); the submission is not
        for out, text in texts.items():
            (tmp / out).write_text(text, encoding="utf-8")
        _write_weights(tmp, fmt, dataset, seed)
        from .manifest import load_manifest

        load_manifest(tmp)  # the written manifest must parse (a template bug would fail here, not later)
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
        if folder.is_dir():
            folder.rmdir()  # empty (checked above); os.replace then moves the whole tree at once
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in reversed(made):  # and the parents made for it: a failed init leaves nothing behind
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    return written


def _write_weights(tmp: Path, fmt: str, dataset: str, seed: int) -> None:
    """Seeded initial weights from the written ``model.py``; for ONNX, the graphs via the written ``export.py``."""
    import torch
    from safetensors.torch import save_file

    with _on_sys_path(tmp):
        model_mod = _import_file(tmp / "model.py")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_mod.build().eval()
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        os.chmod(tmp / "model.safetensors", 0o644)  # safetensors creates the file private (0600)
        if fmt == "onnx":
            export_mod = _import_file(tmp / "export.py")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # the example inputs of the trace
                export_mod.export(model, tmp / dataset)


