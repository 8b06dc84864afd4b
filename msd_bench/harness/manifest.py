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
    authors: list[str] = Field(..., min_length=1, description="Who made the model (at least one name).")
    paper: str | None = Field(None, description="URL or citation of the method's paper.")
    license: str = Field(..., min_length=1, description="SPDX identifier of the weights' license.")
    contact: str | None = Field(None, description="E-mail or URL for questions about the submission.")
    description: str | None = Field(None, description="One or two sentences on the method, shown with the entry.")
    format: Literal["onnx", "torch"] = Field(
        ..., description="How the model is shipped: 'onnx' graphs, or 'torch' (safetensors + Python entry point)."
    )
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
    training_datasets: list[str] = Field(
        default_factory=list, description="Datasets the model was trained on (their train splits)."
    )

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
        problems = entry_problems(self.format, {ds: e.model_dump() for ds, e in self.datasets.items()})
        n_format = len(problems)
        if self.interface_version == 1 and self.modality not in (None, "video"):
            problems.append(f"modality {self.modality!r} needs interface_version 2 (version 1 is video only)")
        if self.interface_version == 2 and self.modality is None:
            problems.append(f"modality is required for interface_version 2 (one of {', '.join(MODALITIES)})")
        axes = 1 + MODALITIES[self.input_modality]["feature_axes"]
        modality_ok = len(problems) == n_format  # the shapes are checked against a known modality only
        for ds, entry in self.datasets.items():
            if modality_ok and entry.input_shape is not None and len(entry.input_shape) != axes:
                problems.append(
                    f"datasets.{ds}.input_shape has {len(entry.input_shape)} entries, expected {axes}: "
                    f"{shape_text(self.input_modality)} for modality {self.input_modality}"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


# ------------------------------------------------------------------------------ problems and hints
#: Top-level and per-dataset fields, for "did you mean" hints.
TOP_FIELDS = tuple(Manifest.model_fields)
ENTRY_FIELDS = tuple(DatasetEntry.model_fields)
#: What people write for ``format`` and what they mean.
FORMAT_ALIASES = {
    "pytorch": "torch", "pt": "torch", "pth": "torch", "torchscript": "torch", "safetensors": "torch",
    "python": "torch", "py": "torch", "onnxruntime": "onnx", "ort": "onnx", "onnx-runtime": "onnx",
}
_EXAMPLES = {
    "name": "name: my-model",
    "version": 'version: "1.0.0"',
    "authors": "authors: [Ada Lovelace]",
    "license": "license: MIT",
    "format": "format: onnx",
    "interface_version": "interface_version: 1",
    "datasets": "datasets: {sprites: {static_dim: 32, dynamic_dim: 16, ...}}",
    "static_dim": "static_dim: 32",
    "dynamic_dim": "dynamic_dim: 16",
}


class ManifestProblems(ManifestError):
    """Every problem of one manifest at once: ``problems`` holds one line each.

    ``str(exc)`` is ``"<where>: <problem>"`` for a single problem, else a header line
    ``"<where>: N problems:"`` followed by one indented line per problem.
    """

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = [" ".join(p.split()) for p in problems]
        if len(self.problems) == 1:
            text = f"{where}: {self.problems[0]}"
        else:
            text = f"{where}: {len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        Exception.__init__(self, text)  # not MsdBenchError.__init__: it would join the lines


def entry_problems(fmt: Any, datasets: Any) -> list[str]:
    """The format-dependent rules of the dataset entries, on raw (possibly invalid) data.

    Parameters
    ----------
    fmt : the manifest's ``format`` value (only ``"onnx"`` / ``"torch"`` are checked).
    datasets : the ``datasets`` mapping ``{name: entry mapping}``; other values are skipped.

    Returns
    -------
    list of str
        One line per problem (empty when none).
    """
    out: list[str] = []
    if fmt not in ("onnx", "torch") or not isinstance(datasets, dict):
        return out
    other = "torch" if fmt == "onnx" else "onnx"
    need = ("encoder", "decoder") if fmt == "onnx" else TORCH_FIELDS
    forbid = (*TORCH_FIELDS, "config") if fmt == "onnx" else ONNX_FIELDS
    for ds, entry in datasets.items():
        if not isinstance(entry, dict):
            continue
        for f in need:
            if not entry.get(f):
                example = {"encoder": f"{ds}/encoder.onnx", "decoder": f"{ds}/decoder.onnx",
                           "weights": "model.safetensors", "entry_point": "model:build"}[f]
                out.append(f"datasets.{ds}.{f} is required for format {fmt} (e.g. {f}: {example})")
        for f in forbid:
            if entry.get(f):
                out.append(
                    f"datasets.{ds}.{f} is only allowed for format {other} (this manifest says format: {fmt})"
                )
        if fmt != "torch":
            continue
        ep = entry.get("entry_point")
        if isinstance(ep, str) and ep and not _ENTRY_RE.match(ep):
            hint = ""
            if ep.endswith(".py") or ":" not in ep:
                hint = " (module name without .py, a colon, then the function: model:build)"
            out.append(f"datasets.{ds}.entry_point must look like 'module:function', got {ep!r}{hint}")
        w = entry.get("weights")
        if isinstance(w, str) and w:
            if Path(w).suffix.lower() in PICKLE_SUFFIXES:
                out.append(
                    f"datasets.{ds}.weights {w!r} is a pickle checkpoint, which is refused (it can run arbitrary "
                    "code); save the state dict with safetensors.torch.save_file as a .safetensors file"
                )
            elif not w.endswith(".safetensors"):
                out.append(f"datasets.{ds}.weights must be a .safetensors file, got {w!r}")
    return out


def _nearest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    import difflib

    low = {c.lower(): c for c in choices}
    if word.lower() in low:
        return low[word.lower()]
    hit = difflib.get_close_matches(word.lower(), list(low), n=1, cutoff=0.6)
    return low[hit[0]] if hit else None


def _builtin_datasets() -> list[str]:
    try:
        from ..datasets import list_datasets

        return [s.name for s in list_datasets()]
    except Exception:  # the registry is a hint only; never fail the manifest check on it
        return []


def _number_hint(field: str, value: Any) -> str:
    """Why YAML made a number (or boolean) of a string field, and how to quote it."""
    if isinstance(value, bool):
        return (f"got {value!r}: YAML reads unquoted yes / no / on / off / true / false as a boolean; "
                f"quote it: {field}: \"...\"")
    text = repr(value)
    lost = " (and may have dropped digits, e.g. 1.10 -> 1.1)" if isinstance(value, float) else ""
    return (f"got the number {text}: YAML reads an unquoted {text} as a number{lost}; "
            f'quote it: {field}: "{text}"')


def _name_hint(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    slips = []
    if any(c.isupper() for c in value):
        slips.append("upper-case letters")
    if any(c.isspace() for c in value):
        slips.append("spaces")
    if "/" in value or "\\" in value:
        slips.append("path separators")
    suggestion = slugify(value, default="").rstrip("._+-")
    parts = []
    if slips:
        parts.append("it has " + " and ".join(slips))
    if suggestion and suggestion != value:
        parts.append(f"try {suggestion!r}")
    return f" ({'; '.join(parts)})" if parts else ""


def _one_problem(err: dict[str, Any]) -> list[str]:
    """The line(s) of one pydantic error, with a hint for the common slips."""
    path = err["loc"]
    loc = ".".join(str(p) for p in path)
    typ = err["type"]
    value = err.get("input")
    field = str(path[-1]) if path else ""
    in_entry = len(path) >= 2 and path[0] == "datasets"
    if typ == "extra_forbidden":
        own, others = (ENTRY_FIELDS, TOP_FIELDS) if in_entry else (TOP_FIELDS, ENTRY_FIELDS)
        near = _nearest(field, own)
        if near:
            hint = f"did you mean '{near}'?"
        elif field in others and in_entry:
            hint = f"'{field}' belongs at the top level, not under datasets.{path[1]}"
        elif field in others:
            hint = f"'{field}' belongs under datasets.<dataset>, e.g. datasets.sprites.{field}"
        elif not in_entry and field in _builtin_datasets():
            hint = f"dataset entries go under datasets:, e.g. datasets: {{{field}: {{...}}}}"
        else:
            hint = ""
        allowed = ", ".join(own)
        return [f"unknown field '{loc}'" + (f" ({hint})" if hint else "") + f" (allowed fields: {allowed})"]
    if typ == "missing":
        example = _EXAMPLES.get(field)
        return [f"required field '{loc}' is missing" + (f" (e.g. {example})" if example else "")]
    if typ == "literal_error" and field == "format":
        expected = err.get("ctx", {}).get("expected", "")
        guess = None
        if isinstance(value, str):
            guess = value.strip().lower() if value.strip().lower() in ("onnx", "torch") else None
            guess = guess or FORMAT_ALIASES.get(value.strip().lower())
        hint = f" (did you mean '{guess}'? format is lower case)" if guess else ""
        return [f"{loc}: got {value!r}, expected {expected}{hint}"]
    if typ == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return [f"{loc}: got {value!r}, expected {expected}"]
    if typ == "string_type" and isinstance(value, int | float):
        return [f"{loc}: {_number_hint(field, value)}"]
    if typ == "string_pattern_mismatch":
        if loc.endswith("[key]"):
            what = f"key {path[-2]!r} of {'.'.join(str(p) for p in path[:-2])}"
            hint = _name_hint(path[-2])
            near = _nearest(str(path[-2]), _builtin_datasets()) if path[0] == "datasets" else None
            if near and near != path[-2]:
                hint += f" (the built-in dataset is {near!r})"
            return [f"{what}: got {path[-2]!r}, expected {NAME_RULE}{hint} ({err['msg']})"]
        return [f"{loc}: got {value!r}, expected {NAME_RULE}{_name_hint(value)} ({err['msg']})"]
    if typ == "int_type":
        if isinstance(value, bool):
            return [f"{loc}: got {value!r}, expected an integer (true / false are not numbers)"]
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return [f"{loc}: got the string {value!r}, expected an integer; write it without quotes: "
                    f"{field}: {value.strip()}"]
        if isinstance(value, float):
            whole = f"{field}: {int(value)}" if value.is_integer() else "a whole number"
            return [f"{loc}: got {value!r}, expected an integer; write {whole} without a decimal point"]
        return [f"{loc}: got {value!r}, expected an integer"]
    if typ == "list_type" and isinstance(value, str):
        return [f"{loc}: got the single string {value!r}, expected a list; write {field}: [{value}]"]
    if typ == "dict_type" and field == "datasets":
        return [f"{loc}: got {type(value).__name__}, expected a mapping of dataset name -> entry "
                f"(e.g. {_EXAMPLES['datasets']})"]
    if (typ == "value_error" and field == "interface_version" and isinstance(value, str)
            and value.strip() in ("1", "2")):
        return [f"{loc}: got the string {value!r}, expected the integer {value.strip()}; write it without quotes: "
                f"interface_version: {value.strip()}"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not path:  # the model validator: several lines, one problem each
        return [line for line in msg.splitlines() if line.strip()]
    if typ in ("greater_than_equal", "too_short") and field in ("static_dim", "dynamic_dim", "authors", "datasets"):
        return [f"{loc}: got {value!r}: {msg}"]
    return [f"{loc}: {msg}"]


def _check(data: Any) -> tuple[Manifest | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"expected a mapping of fields at the top level, got {type(data).__name__}"]
    try:
        return Manifest.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors()
        lines: list[str] = []
        for err in errors:
            lines += _one_problem(err)
        if all(err["loc"] for err in errors):  # the model validator did not run: apply its rules to the raw data
            lines += entry_problems(data.get("format"), data.get("datasets"))
        return None, list(dict.fromkeys(lines))


def manifest_problems(data: Any) -> list[str]:
    """Every problem of a parsed manifest mapping, one line each, with hints (empty when it is valid).

    Field errors (types, names, unknown or missing fields) and the format-dependent rules of the
    dataset entries are all reported, so a user fixes everything in one round.
    """
    return _check(data)[1]


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """Validate a parsed manifest mapping.

    Raises
    ------
    ManifestProblems
        (a :class:`ManifestError`) listing every problem, one line each.
    """
    manifest, problems = _check(data)
    if manifest is None:
        raise ManifestProblems(where, problems)
    return manifest


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
