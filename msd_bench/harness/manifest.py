"""``submission.yaml``: the submission manifest (pydantic, ``extra="forbid"``).

Example (ONNX)::

    name: my-model
    version: 1.0.0
    authors: [Ada Lovelace]
    paper: https://arxiv.org/abs/0000.00000
    license: MIT
    format: onnx
    interface_version: 1
    training_datasets: [sprites]
    datasets:
      sprites:
        static_dim: 32
        dynamic_dim: 16
        encoder: sprites/encoder.onnx
        decoder: sprites/decoder.onnx
        prior_static: sprites/prior_static.onnx      # optional
        prior_dynamic: sprites/prior_dynamic.onnx    # optional

A ``torch`` entry replaces the four ONNX files by ``weights`` (safetensors) and ``entry_point``
(``module:function`` inside the submission folder, called as ``function(**config)``).
The JSON Schema is exported to ``docs/submission.schema.json`` by ``msd-bench schema``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ManifestError

MANIFEST_NAME = "submission.yaml"
ONNX_FIELDS = ("encoder", "decoder", "prior_static", "prior_dynamic")
TORCH_FIELDS = ("weights", "entry_point")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")
_ENTRY_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_]\w*$")


class DatasetEntry(BaseModel):
    """The artefacts and latent sizes of a submission for one dataset."""

    model_config = ConfigDict(extra="forbid")

    static_dim: int = Field(..., ge=1, description="S, the size of the static code [B, S].")
    dynamic_dim: int = Field(..., ge=1, description="D, the per-frame size of the dynamic code [B, T, D].")
    input_shape: list[int] | None = Field(
        None,
        min_length=4,
        max_length=4,
        description="[T, C, H, W] of the input video; needed only for datasets that are not built in.",
    )
    encoder: str | None = Field(None, description="onnx: encoder graph, video -> static, dynamic.")
    decoder: str | None = Field(None, description="onnx: decoder graph, static, dynamic -> video.")
    prior_static: str | None = Field(None, description="onnx, optional: noise [n, S] -> static [n, S].")
    prior_dynamic: str | None = Field(
        None, description="onnx, optional: noise [n, T, D] -> dynamic [n, T, D]."
    )
    weights: str | None = Field(None, description="torch: safetensors file with the module's state dict.")
    entry_point: str | None = Field(
        None, description="torch: 'module:function' in the submission folder returning an nn.Module."
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="torch: keyword arguments passed to the entry point."
    )

    def artefacts(self) -> dict[str, str]:
        """Declared artefact files by role (only those that are set)."""
        return {k: getattr(self, k) for k in (*ONNX_FIELDS, "weights") if getattr(self, k)}


class Manifest(BaseModel):
    """A submission's ``submission.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Slug: a-z, 0-9, '.', '_', '-'.")
    version: str = Field(..., min_length=1, max_length=32, description="Version of this submission.")
    authors: list[str] = Field(..., min_length=1)
    paper: str | None = Field(None, description="URL or citation of the method's paper.")
    license: str = Field(..., min_length=1, description="SPDX identifier of the weights' license.")
    contact: str | None = None
    description: str | None = None
    format: Literal["onnx", "torch"]
    interface_version: Literal[1] = Field(..., description="The model interface version (1).")
    datasets: dict[str, DatasetEntry] = Field(..., min_length=1, description="Artefacts per dataset.")
    training_datasets: list[str] = Field(default_factory=list, description="Datasets the model saw.")

    @model_validator(mode="after")
    def _format_fields(self) -> Manifest:
        for ds, entry in self.datasets.items():
            if self.format == "onnx":
                for f in ("encoder", "decoder"):
                    if not getattr(entry, f):
                        raise ValueError(f"datasets.{ds}.{f} is required for format onnx")
                for f in (*TORCH_FIELDS, "config"):
                    if getattr(entry, f):
                        raise ValueError(f"datasets.{ds}.{f} is only allowed for format torch")
            else:
                for f in TORCH_FIELDS:
                    if not getattr(entry, f):
                        raise ValueError(f"datasets.{ds}.{f} is required for format torch")
                for f in ONNX_FIELDS:
                    if getattr(entry, f):
                        raise ValueError(f"datasets.{ds}.{f} is only allowed for format onnx")
                if not _ENTRY_RE.match(entry.entry_point or ""):
                    raise ValueError(
                        f"datasets.{ds}.entry_point must look like 'module:function', got {entry.entry_point!r}"
                    )
                if Path(entry.weights or "").suffix.lower() in PICKLE_SUFFIXES:
                    raise ValueError(
                        f"datasets.{ds}.weights {entry.weights!r} is a pickle checkpoint, which is refused "
                        "(it can run arbitrary code); save the state dict with safetensors.torch.save_file "
                        "as a .safetensors file"
                    )
                if not (entry.weights or "").endswith(".safetensors"):
                    raise ValueError(f"datasets.{ds}.weights must be a .safetensors file, got {entry.weights!r}")
        return self


def _format_validation_error(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    typ = err["type"]
    if typ == "extra_forbidden":
        parent = err["loc"][:-1]
        model: type[BaseModel] = DatasetEntry if parent and parent[0] == "datasets" else Manifest
        allowed = ", ".join(model.model_fields)
        return f"{where}: unknown field '{loc}' (allowed fields: {allowed})"
    if typ == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{where}: {loc}: got {err.get('input')!r}, expected {expected}"
    if typ == "missing":
        return f"{where}: required field '{loc}' is missing"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {loc + ': ' if loc else ''}{msg}"


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """Validate a parsed manifest mapping; raises :class:`ManifestError` with one line."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a mapping of fields at the top level, got {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_format_validation_error(exc, where)) from None


def load_manifest(folder: str | Path) -> Manifest:
    """Read and validate ``folder/submission.yaml``."""
    import yaml

    folder = Path(folder)
    if not folder.exists():
        raise ManifestError(f"submission folder {folder} does not exist (expected a folder with {MANIFEST_NAME})")
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder (expected a submission folder with {MANIFEST_NAME})")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path} is missing (every submission folder needs a {MANIFEST_NAME})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{path}{line}: YAML syntax error: {problem}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text (expected a YAML file)") from None
    return parse_manifest(data, str(path))


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "msd-bench submission.yaml"
    return schema


def manifest_schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"
