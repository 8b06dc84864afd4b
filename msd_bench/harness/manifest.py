"""``submission.yaml``: the submission manifest (pydantic, ``extra="forbid"``).

Example (ONNX)::

    name: my-model
    version: 1.0.0
    authors: [Ada Lovelace]
    paper: https://arxiv.org/abs/0000.00000
    license: MIT
    format: onnx
    interface_version: 1                             # or 2, with a modality (below)
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

Interface version 2 adds the ``modality`` (``video``, ``audio`` or ``timeseries``; required with
version 2) and takes every modality's input ``[B, T, *F]``; ``input_shape`` is then ``[T, *F]``
(``[T, C, H, W]``, ``[T, F]`` or ``[T, V]``)::

    interface_version: 2
    modality: audio
    datasets:
      dmelodies:
        static_dim: 8
        dynamic_dim: 8
        encoder: dmelodies/encoder.onnx     # input "audio" [B, T, F]; outputs "static", "dynamic"
        decoder: dmelodies/decoder.onnx     # inputs "static", "dynamic"; output "audio" [B, T, F]

A version-1 manifest (no ``modality``) is a video submission and is read exactly as before.
The JSON Schema is exported to ``docs/submission.schema.json`` by ``msd-bench schema``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import ManifestError
from .modality import MODALITIES, shape_text

MANIFEST_NAME = "submission.yaml"
ONNX_FIELDS = ("encoder", "decoder", "prior_static", "prior_dynamic")
TORCH_FIELDS = ("weights", "entry_point")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")
_ENTRY_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_]\w*$")

#: The one rule for every name that becomes a path component (submission name, version, protocol,
#: dataset, metric): 1-64 characters of a-z, 0-9, '.', '_', '+', '-', starting with a letter or a
#: digit. So no '/', '\\', '..', leading '.', upper case (case-insensitive file systems) or spaces.
NAME_PATTERN = r"^[a-z0-9][a-z0-9._+-]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = "1-64 characters a-z, 0-9, '.', '_', '+', '-', starting with a letter or digit"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


def is_name(value: object) -> bool:
    """Whether ``value`` follows :data:`NAME_PATTERN` (can be one path component)."""
    return isinstance(value, str) and _NAME_RE.fullmatch(value) is not None


def check_name(value: object, what: str) -> str:
    """``value`` when it follows :data:`NAME_PATTERN`, else a ValueError naming ``what`` and the rule."""
    if not is_name(value):
        raise ValueError(f"{what} {value!r} is not a valid name (expected {NAME_RULE})")
    return value  # type: ignore[return-value]


def slugify(value: object, default: str = "model") -> str:
    """The nearest valid name to ``value`` (lower case, other characters -> '-'), for Python objects."""
    text = re.sub(r"[^a-z0-9._+-]+", "-", str(value).lower()).lstrip("._+-")[:64]
    return text if is_name(text) else default


class DatasetEntry(BaseModel):
    """The artefacts and latent sizes of a submission for one dataset."""

    model_config = ConfigDict(extra="forbid")

    static_dim: StrictInt = Field(..., ge=1, description="S, the size of the static code [B, S].")
    dynamic_dim: StrictInt = Field(..., ge=1, description="D, the per-frame size of the dynamic code [B, T, D].")
    input_shape: list[Annotated[StrictInt, Field(ge=1)]] | None = Field(
        None,
        min_length=2,
        max_length=4,
        description="[T, *F] of one input sequence ([T, C, H, W] video, [T, F] audio, [T, V] time series); "
        "needed only for datasets that are not built in.",
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

    name: Name = Field(..., description=f"Slug ({NAME_RULE}).")
    version: Name = Field(..., description=f"Version of this submission ({NAME_RULE}).")
    authors: list[str] = Field(..., min_length=1)
    paper: str | None = Field(None, description="URL or citation of the method's paper.")
    license: str = Field(..., min_length=1, description="SPDX identifier of the weights' license.")
    contact: str | None = None
    description: str | None = None
    format: Literal["onnx", "torch"]
    interface_version: Literal[1, 2] = Field(
        ..., description="The model interface version: 1 (video only) or 2 (any modality, declared)."
    )
    modality: Literal["video", "audio", "timeseries"] | None = Field(
        None,
        description="interface_version 2: the input modality of every declared dataset (required); "
        "version 1 is always video.",
    )
    datasets: dict[Name, DatasetEntry] = Field(
        ..., min_length=1, description="Artefacts per dataset.", json_schema_extra={"additionalProperties": False}
    )
    training_datasets: list[str] = Field(default_factory=list, description="Datasets the model saw.")

    @field_validator("interface_version", mode="before")
    @classmethod
    def _strict_interface_version(cls, v: Any) -> Any:
        if type(v) is not int:  # Literal[1, 2] alone accepts True
            raise ValueError(f"expected the integer 1 or 2, got {v!r}")
        return v

    @property
    def input_modality(self) -> str:
        """The modality of the submission's inputs (``video`` for interface version 1)."""
        return self.modality or "video"

    def identity_json(self) -> str:
        """The manifest as JSON for the submission hash; a field left unset by a version-1 manifest
        (``modality``) is left out, so every version-1 submission keeps its hash."""
        return self.model_dump_json(exclude={"modality"} if self.modality is None else None)

    @model_validator(mode="after")
    def _format_fields(self) -> Manifest:
        if self.interface_version == 1 and self.modality not in (None, "video"):
            raise ValueError(
                f"modality {self.modality!r} needs interface_version 2 (version 1 is video only)"
            )
        if self.interface_version == 2 and self.modality is None:
            raise ValueError(f"modality is required for interface_version 2 (one of {', '.join(MODALITIES)})")
        axes = 1 + MODALITIES[self.input_modality]["feature_axes"]
        for ds, entry in self.datasets.items():
            if entry.input_shape is not None and len(entry.input_shape) != axes:
                raise ValueError(
                    f"datasets.{ds}.input_shape has {len(entry.input_shape)} entries, expected {axes}: "
                    f"{shape_text(self.input_modality)} for modality {self.input_modality}"
                )
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
    if typ == "string_pattern_mismatch":
        what = loc
        if loc.endswith("[key]"):
            what = f"key {err['loc'][-2]!r} of {'.'.join(str(p) for p in err['loc'][:-2])}"
        return f"{where}: {what}: got {err.get('input')!r}, expected {NAME_RULE} ({err['msg']})"
    if typ == "int_type" and isinstance(err.get("input"), bool):
        return f"{where}: {loc}: got {err['input']!r}, expected an integer (true / false are not numbers)"
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


def _strict_loader():
    """A safe YAML loader that refuses duplicate mapping keys (plain PyYAML keeps the last one)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                m = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", m
                )
            seen[key] = key_node.start_mark
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def load_yaml_strict(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (raises ``yaml.YAMLError``)."""
    import yaml

    return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass


def inside_folder(root: Path, target: Path) -> bool:
    """Whether ``target`` (after following symlinks) lies inside ``root``.

    A Hub snapshot folder (``models--org--name/snapshots/<sha>``) holds symlinks into the repo's
    ``blobs`` folder; those count as inside.
    """
    if not Path(os.path.normpath(target)).is_relative_to(os.path.normpath(root)):
        return False  # lexically outside (``..``), whatever the links say
    real = target.resolve()
    if real.is_relative_to(root.resolve()):
        return True
    if root.parent.name == "snapshots" and root.parent.parent.name.startswith("models--"):
        return real.is_relative_to((root.parent.parent / "blobs").resolve())
    return False


def load_manifest(folder: str | Path) -> Manifest:
    """Read and validate ``folder/submission.yaml`` (which must lie inside ``folder``, links followed)."""
    import yaml

    folder = Path(folder)
    if not folder.exists():
        raise ManifestError(f"submission folder {folder} does not exist (expected a folder with {MANIFEST_NAME})")
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder (expected a submission folder with {MANIFEST_NAME})")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path} is missing (every submission folder needs a {MANIFEST_NAME})")
    if not inside_folder(folder, path):
        raise ManifestError(
            f"{path} is a link to {path.resolve()}, outside the submission folder (expected a file inside {folder})"
        )
    try:
        data = load_yaml_strict(path.read_text(encoding="utf-8"))
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
