"""Loading submissions: one loader, two adapters (ONNX Runtime and torch), local folders or the Hub.

``load_submission(path, dataset, device, trust_code)`` returns a :class:`LoadedSubmission` that
implements the model interface of :mod:`msd_bench.harness.interface` on torch tensors of ``device``,
whatever the submission's format.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._io import sha256_file
from ..errors import SubmissionError
from .device import onnx_provider_options, onnx_providers, resolve_device
from .interface import Latents, swap_channels
from .manifest import PICKLE_SUFFIXES, DatasetEntry, Manifest, inside_folder, load_manifest
from .modality import input_name

#: Expected graph inputs / outputs per ONNX role (video; :func:`onnx_io` for any modality).
ONNX_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "encoder": (("video",), ("static", "dynamic")),
    "decoder": (("static", "dynamic"), ("video",)),
    "prior_static": (("noise",), ("static",)),
    "prior_dynamic": (("noise",), ("dynamic",)),
}


def onnx_io(role: str, modality: str = "video") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Expected ``(inputs, outputs)`` names of the ``role`` graph of a ``modality`` submission: the
    sequence tensor is named by :func:`~msd_bench.harness.modality.input_name` (``video``, ``audio``,
    ``series``); latents are ``static`` / ``dynamic`` and prior inputs ``noise`` whatever the modality."""
    name = input_name(modality)
    ins, outs = ONNX_IO[role]
    return tuple(name if n == "video" else n for n in ins), tuple(name if n == "video" else n for n in outs)
ALLOWED_ONNX_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
HF_PREFIX = "hf://"


# ----------------------------------------------------------------------------------------- sources
@dataclass
class SubmissionSource:
    """Where a submission came from: a local folder, or a Hub repo pinned to a commit."""

    path: Path
    uri: str
    hub_repo: str | None = None
    hub_revision: str | None = None
    hub_commit: str | None = None


def resolve_source(spec: str | os.PathLike) -> SubmissionSource:
    """Resolve a local path or ``hf://org/repo[@revision]`` into a local folder.

    Hub submissions are downloaded (or, with ``HF_HUB_OFFLINE=1``, taken from the local cache) as a
    snapshot; the snapshot folder's name is the resolved commit sha, which results record.
    """
    text = str(spec)
    if not text.startswith(HF_PREFIX):
        return SubmissionSource(path=Path(text), uri=text)
    ref = text[len(HF_PREFIX) :]
    repo, _, revision = ref.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise SubmissionError(f"bad Hub submission {text!r} (expected hf://org/repo or hf://org/repo@revision)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        local = snapshot_download(repo_id=repo, revision=revision or None, local_files_only=offline)
    except LocalEntryNotFoundError:
        raise SubmissionError(
            f"{text}: not found in the local Hub cache"
            + (" (HF_HUB_OFFLINE=1 is set; unset it to download)" if offline else "")
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise SubmissionError(f"{text}: could not fetch from the Hub: {str(exc).splitlines()[0]}") from None
    path = Path(local)
    return SubmissionSource(path=path, uri=text, hub_repo=repo, hub_revision=revision or "main", hub_commit=path.name)


# ---------------------------------------------------------------------------------------- artefacts
def artefact_path(root: Path, rel: str, role: str) -> Path:
    """Resolve an artefact path, refusing absolute paths and paths that escape the folder."""
    if os.path.isabs(rel):
        raise SubmissionError(f"{role} path {rel!r} is absolute (expected a path inside the submission folder)")
    path = root / rel
    if not inside_folder(root, path):
        raise SubmissionError(f"{role} path {rel!r} escapes the submission folder (expected a path inside {root})")
    if not path.is_file():
        raise SubmissionError(f"{role} file {rel!r} is missing from {root}")
    return path


def hash_artefacts(root: Path, entry: DatasetEntry) -> dict[str, str]:
    """sha256 of each declared artefact, keyed by its path relative to the folder."""
    return {rel: sha256_file(artefact_path(root, rel, role)) for role, rel in entry.artefacts().items()}


def submission_hash(manifest: Manifest, hashes: dict[str, str]) -> str:
    """sha256 over the manifest (:meth:`Manifest.identity_json`) and the artefacts' hashes."""
    import hashlib
    import json

    return hashlib.sha256((manifest.identity_json() + json.dumps(hashes, sort_keys=True)).encode()).hexdigest()


# ------------------------------------------------------------------------------------- the adapters
@dataclass
class LoadedSubmission:
    """Common base of the adapters: manifest, folder, dataset entry, device and artefact hashes."""

    manifest: Manifest
    root: Path
    dataset: str
    entry: DatasetEntry
    device: torch.device
    artefact_hashes: dict[str, str]
    source: SubmissionSource
    providers: list[str] = field(default_factory=list)

    @property
    def static_dim(self) -> int:
        return self.entry.static_dim

    @property
    def dynamic_dim(self) -> int:
        return self.entry.dynamic_dim

    @property
    def format(self) -> str:
        return self.manifest.format

    @property
    def modality(self) -> str:
        """The input modality the manifest declares (``video`` for interface version 1)."""
        return self.manifest.input_modality

    def swap(self, za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
        return swap_channels(za, zb, mask)

    def parameter_count(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


class OnnxSubmission(LoadedSubmission):
    """Runs the submission's ONNX graphs with ONNX Runtime on the providers chosen for ``device``."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sessions: dict[str, Any] = {}
        self.paths: dict[str, Path] = {}
        self._param_count = 0
        for role in ONNX_IO:
            rel = getattr(self.entry, role)
            if rel:
                self.paths[role] = artefact_path(self.root, rel, role)
                self.sessions[role] = self._open(role, self.paths[role])
        self.providers = list(self.sessions["encoder"].get_providers())

    def _open(self, role: str, path: Path):
        import onnx
        import onnxruntime as ort

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError, ValueError, ... on a corrupt file
            raise SubmissionError(f"{path.name}: not a readable ONNX model ({type(exc).__name__})") from None
        _check_graph(model, path, self.root)
        want_in, want_out = onnx_io(role, self.modality)
        got_in = tuple(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
        got_out = tuple(o.name for o in model.graph.output)
        if sorted(got_in) != sorted(want_in) or sorted(got_out) != sorted(want_out):
            raise SubmissionError(
                f"{path.name}: graph has inputs {list(got_in)} and outputs {list(got_out)}, "
                f"expected inputs {list(want_in)} and outputs {list(want_out)}"
            )
        self._param_count += sum(int(_numel(t.dims)) for t in model.graph.initializer)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(
                str(path),
                sess_options=opts,
                providers=onnx_providers(self.device),
                provider_options=onnx_provider_options(self.device),
            )
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SubmissionError(f"{path.name}: ONNX Runtime cannot load it: {first}") from None

    def _run(self, role: str, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sess = self.sessions[role]
        arrays = {k: v.detach().to("cpu", torch.float32).contiguous().numpy() for k, v in feeds.items()}
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, arrays)
        return {n: torch.from_numpy(o).to(self.device) for n, o in zip(names, outs, strict=True)}

    def encode(self, x: torch.Tensor) -> Latents:
        out = self._run("encoder", {input_name(self.modality): x})
        return Latents(out["static"], out["dynamic"])

    def decode(self, z: Latents) -> torch.Tensor:
        return self._run("decoder", {"static": z.static, "dynamic": z.dynamic})[input_name(self.modality)]

    def has_prior(self, part: str) -> bool:
        return f"prior_{part}" in self.sessions

    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if not self.has_prior("static"):
            raise SubmissionError(f"{self.manifest.name} has no prior_static.onnx for {self.dataset}")
        noise = torch.randn(n, self.static_dim, generator=generator, device=generator.device)
        return self._run("prior_static", {"noise": noise})["static"]

    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        if not self.has_prior("dynamic"):
            raise SubmissionError(f"{self.manifest.name} has no prior_dynamic.onnx for {self.dataset}")
        noise = torch.randn(n, frames, self.dynamic_dim, generator=generator, device=generator.device)
        return self._run("prior_dynamic", {"noise": noise})["dynamic"]

    def parameter_count(self) -> int:
        return self._param_count


@contextlib.contextmanager
def _no_exit(name: str, what: str):
    """Turn a ``SystemExit`` raised by submission code into a one-line :class:`SubmissionError`."""
    try:
        yield
    except SystemExit as exc:
        raise SubmissionError(f"{name}: {what} called sys.exit({exc.code!r}) (submission code must not exit)") from None


class TorchSubmission(LoadedSubmission):
    """Wraps the ``nn.Module`` returned by the submission's entry point (weights from safetensors).

    Submission code that calls ``sys.exit`` inside a method gets a :class:`SubmissionError` instead.
    """

    def __init__(self, *args: Any, module: torch.nn.Module, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.module = module

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Latents:
        with _no_exit(self.manifest.name, "encode"):
            out = self.module.encode(x.to(self.device))
        if isinstance(out, Latents):
            return out
        if isinstance(out, tuple | list) and len(out) == 2:
            return Latents(out[0], out[1])
        raise SubmissionError(
            f"{self.manifest.name}: encode returned {type(out).__name__}, expected Latents(static, dynamic)"
        )

    @torch.inference_mode()
    def decode(self, z: Latents) -> torch.Tensor:
        with _no_exit(self.manifest.name, "decode"):
            return self.module.decode(z.to(self.device))

    def has_prior(self, part: str) -> bool:
        return callable(getattr(self.module, f"sample_{part}", None))

    @torch.inference_mode()
    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if not self.has_prior("static"):
            raise SubmissionError(f"{self.manifest.name} has no sample_static")
        with _no_exit(self.manifest.name, "sample_static"):
            return self.module.sample_static(n, generator)

    @torch.inference_mode()
    def sample_dynamic(self, n: int, frames: int, generator: torch.Generator) -> torch.Tensor:
        if not self.has_prior("dynamic"):
            raise SubmissionError(f"{self.manifest.name} has no sample_dynamic")
        with _no_exit(self.manifest.name, "sample_dynamic"):
            return self.module.sample_dynamic(n, frames, generator)

    @torch.inference_mode()
    def swap(self, za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
        own = getattr(self.module, "swap", None)
        with _no_exit(self.manifest.name, "swap"):
            return own(za, zb, mask) if callable(own) else swap_channels(za, zb, mask)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


# ------------------------------------------------------------------------------------------ helpers
def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _iter_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and len(attr.g.node):
                yield from _iter_nodes(attr.g)
            for g in attr.graphs:
                yield from _iter_nodes(g)


def _check_graph(model, path: Path, root: Path) -> None:
    """Refuse custom-op domains and external data stored outside the submission folder."""
    for node in _iter_nodes(model.graph):
        if node.domain not in ALLOWED_ONNX_DOMAINS:
            raise SubmissionError(
                f"{path.name}: node {node.name or node.op_type!r} uses custom-op domain {node.domain!r} "
                "(only the standard ONNX domains are allowed)"
            )
    for fn in model.functions:
        if fn.domain not in ALLOWED_ONNX_DOMAINS:
            raise SubmissionError(f"{path.name}: graph defines custom function domain {fn.domain!r}")
    for init in model.graph.initializer:
        if init.data_location == 1:  # TensorProto.EXTERNAL
            loc = next((e.value for e in init.external_data if e.key == "location"), "")
            target = path.parent / loc
            if os.path.isabs(loc) or not inside_folder(root, target):
                raise SubmissionError(
                    f"{path.name}: external data {loc!r} of tensor {init.name!r} lies outside the submission folder"
                )
            if not target.is_file():
                raise SubmissionError(f"{path.name}: external data file {loc!r} of tensor {init.name!r} is missing")


@contextlib.contextmanager
def _on_sys_path(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _import_entry_point(root: Path, entry_point: str):
    module_name, func_name = entry_point.split(":")
    rel = Path(*module_name.split("."))
    file = root / rel.with_suffix(".py")
    if not file.is_file():
        file = root / rel / "__init__.py"
    if not file.is_file() or not inside_folder(root, file):
        raise SubmissionError(
            f"entry point module {module_name!r} not found in {root} (expected {rel.with_suffix('.py')})"
        )
    unique = f"_msd_submission_{uuid.uuid4().hex[:12]}"
    spec = importlib.util.spec_from_file_location(unique, file)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    try:
        with _on_sys_path(root):
            spec.loader.exec_module(mod)
    except SystemExit as exc:
        raise SubmissionError(f"entry point {entry_point}: importing it called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise SubmissionError(f"entry point {entry_point}: import failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(mod, func_name, None)
    if not callable(fn):
        raise SubmissionError(f"entry point {entry_point}: {module_name} has no function {func_name!r}")
    return fn


def _load_torch_module(root: Path, entry: DatasetEntry, device: torch.device) -> torch.nn.Module:
    from safetensors.torch import load_file

    weights = artefact_path(root, entry.weights or "", "weights")
    fn = _import_entry_point(root, entry.entry_point or "")
    try:
        with _on_sys_path(root):
            module = fn(**entry.config)
    except SystemExit as exc:
        raise SubmissionError(f"entry point {entry.entry_point}: called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise SubmissionError(f"entry point {entry.entry_point}: raised {type(exc).__name__}: {exc}") from None
    if not isinstance(module, torch.nn.Module):
        raise SubmissionError(
            f"entry point {entry.entry_point} returned {type(module).__name__}, expected an nn.Module"
        )
    for method in ("encode", "decode"):
        if not callable(getattr(module, method, None)):
            raise SubmissionError(f"entry point {entry.entry_point}: the module has no {method}() method")
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise SubmissionError(f"{entry.weights}: not a readable safetensors file ({type(exc).__name__})") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        shape = ""
        if wrong:
            shape = f", shape of {wrong[0]}: {list(state[wrong[0]].shape)} vs module {list(own[wrong[0]].shape)}"
        raise SubmissionError(
            f"{entry.weights}: state dict does not match the module (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}{shape})"
        )
    module.load_state_dict(state, strict=True)
    return module.to(device).eval()


def select_dataset(manifest: Manifest, dataset: str | None) -> str:
    """The dataset to load: the one asked for (must be declared) or the only one declared."""
    declared = list(manifest.datasets)
    if dataset is None:
        if len(declared) == 1:
            return declared[0]
        raise SubmissionError(
            f"{manifest.name} declares several datasets ({', '.join(declared)}); choose one with --dataset"
        )
    if dataset not in manifest.datasets:
        raise SubmissionError(
            f"{manifest.name} does not declare dataset {dataset!r} (it declares: {', '.join(declared)})"
        )
    return dataset


def load_submission(
    path: str | os.PathLike,
    dataset: str | None = None,
    device: str | torch.device = "cpu",
    trust_code: bool = False,
) -> LoadedSubmission:
    """Load a submission folder (or ``hf://org/repo[@rev]``) for one dataset.

    Parameters
    ----------
    path : str or PathLike
        Submission folder holding ``submission.yaml``, or a Hub reference.
    dataset : str, optional
        Dataset whose artefacts to load; may be omitted when the manifest declares exactly one.
    device : str or torch.device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    trust_code : bool
        Required for ``torch`` submissions, whose entry point is Python code from the submission.
    """
    source = resolve_source(path)
    root = source.path
    manifest = load_manifest(root)
    dataset = select_dataset(manifest, dataset)
    entry = manifest.datasets[dataset]
    dev = resolve_device(device)
    hashes = hash_artefacts(root, entry)
    common = dict(
        manifest=manifest, root=root, dataset=dataset, entry=entry, device=dev, artefact_hashes=hashes, source=source
    )
    if manifest.format == "onnx":
        return OnnxSubmission(**common)
    if Path(entry.weights or "").suffix.lower() in PICKLE_SUFFIXES:  # also refused by the manifest
        raise SubmissionError(f"{entry.weights}: pickle checkpoints are refused; use safetensors")
    if not trust_code:
        raise SubmissionError(
            f"{manifest.name} is a torch submission whose entry point {entry.entry_point} runs Python code "
            "from the submission; pass --trust-code (trust_code=True) if you trust it"
        )
    with _no_exit(manifest.name, "loading the module"):
        module = _load_torch_module(root, entry, dev)
    return TorchSubmission(**common, module=module)
