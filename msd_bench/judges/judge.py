"""Loading frozen judges: hash and revision checks, ONNX Runtime and torch backends.

>>> judge = load_judge("sprites")                 # ONNX Runtime on CPU (the default)
>>> out = judge(x)                                # x: float32 [B, T, *F] (to_model_input of the data)
>>> out.sequence["hair"].shape, out.frame["hair"].shape     # [B, n], [B, T, n] logits
>>> judge.ceiling()                               # the judge's own test accuracy (oracle row)

Before a judge is used, :func:`load_judge` checks that

* ``card.json`` is a valid card of the requested dataset and of this benchmark protocol,
* the sha256 of ``judge.onnx`` and ``judge.safetensors`` equal the card's,
* the card's dataset version and content hashes equal the dataset registry's (``get_spec``),
* the card's factors equal the registry's (names, order, types, class counts);

and raises :class:`~msd_bench.errors.JudgeError` naming the expected and found values otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import PROTOCOL
from .._io import sha256_file
from ..errors import DeviceError, JudgeError
from .card import CARD_FILE, ONNX_FILE, WEIGHTS_FILE, JudgeCard

#: Where the committed judges live: ``<ARTIFACTS>/<dataset>/{judge.onnx, judge.safetensors, card.json}``.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

BACKENDS = ("onnx", "torch")


def artifacts_root(root: str | os.PathLike | None = None) -> Path:
    """The judges' artefact root: ``root`` if given, else ``$MSD_BENCH_JUDGES`` or the package's."""
    if root is not None:
        return Path(root)
    env = os.environ.get("MSD_BENCH_JUDGES")
    return Path(env) if env else ARTIFACTS


def judge_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The artefact folder of dataset ``name``'s judge."""
    return artifacts_root(root) / name


def list_judges(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets that have a judge (a folder with ``card.json``), sorted."""
    base = artifacts_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / CARD_FILE).is_file())


def train_command(name: str) -> str:
    return f"msd-bench judges train {name}"


def _get_spec(name: str):
    """The dataset registry's spec of ``name`` (indirection so tests can substitute a registry)."""
    from ..datasets import get_spec

    return get_spec(name)


@dataclass
class JudgeOutput:
    """Logits of a judge: ``sequence[f]`` ``[B, n_f]`` for every factor, ``frame[f]`` ``[B, T, n_f]``
    for every static factor; tensors on the input's device."""

    sequence: dict[str, Any]
    frame: dict[str, Any]


def read_card(name: str, root: str | os.PathLike | None = None) -> JudgeCard:
    """Read the card of ``name``'s judge; a missing judge names the command that builds it."""
    d = judge_dir(name, root)
    path = d / CARD_FILE
    if not path.is_file():
        raise JudgeError(f"no judge for dataset '{name}' (missing {path}); build it with `{train_command(name)}`")
    card = JudgeCard.read(path)
    if card.dataset.name != name:
        raise JudgeError(f"judge card {path} is for dataset '{card.dataset.name}', expected '{name}'")
    return card


def check_hashes(name: str, card: JudgeCard, root: str | os.PathLike | None = None) -> dict[str, str]:
    """Verify every artefact's sha256 against the card; returns ``{file: sha256}``."""
    d = judge_dir(name, root)
    found = {}
    for fname, art in sorted(card.artefacts.items()):
        path = d / fname
        if not path.is_file():
            raise JudgeError(
                f"judge '{name}': artefact {path} is missing; rebuild it with `{train_command(name)}`"
            )
        sha = sha256_file(path)
        if sha != art.sha256:
            raise JudgeError(
                f"judge '{name}': sha256 of {path} is {sha}, expected {art.sha256} (from {d / CARD_FILE})"
            )
        found[fname] = sha
    for required in (ONNX_FILE, WEIGHTS_FILE):
        if required not in card.artefacts:
            raise JudgeError(f"judge card {d / CARD_FILE}: field 'artefacts' lacks '{required}'")
    return found


def check_revision(name: str, card: JudgeCard, spec=None) -> None:
    """Verify protocol, dataset version, content hashes and factors against the dataset registry."""
    if card.protocol != PROTOCOL:
        raise JudgeError(f"judge '{name}' was built for protocol {card.protocol}, expected {PROTOCOL}")
    spec = _get_spec(name) if spec is None else spec
    if str(spec.version) != card.dataset.version:
        raise JudgeError(
            f"judge '{name}' was trained on dataset version {card.dataset.version}, registry has"
            f" {spec.version}; rebuild it with `{train_command(name)}`"
        )
    expected = dict(getattr(spec, "content_hashes", {}) or {})
    found = dict(card.dataset.content_hashes)
    if expected != found:
        raise JudgeError(
            f"judge '{name}' was trained on dataset content hashes {found}, registry has {expected};"
            f" rebuild it with `{train_command(name)}`"
        )
    exp_f = [(f.name, f.type, int(f.n_classes)) for f in spec.factors]
    got_f = [(f.name, f.type, f.n_classes) for f in card.factors]
    if exp_f != got_f:
        raise JudgeError(f"judge '{name}' classifies factors {got_f}, registry declares {exp_f}")


def has_frame_heads(card: JudgeCard) -> bool:
    """Whether the judge has frame heads for its static factors (the 1-D judges have none)."""
    return bool(card.recipe.get("arch", {}).get("frame_heads", True))


def _resolve_device(device: Any):
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device '{device}' requested for the judge but CUDA is not available; use 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"judge device '{device}' is not supported; expected 'cpu' or 'cuda[:N]'")
    return dev


class Judge:
    """A loaded, verified judge. Call it on a video batch to get :class:`JudgeOutput` logits.

    Attributes
    ----------
    name : str
        Dataset name.
    card : JudgeCard
        The card.
    factors : list
        The dataset's factors (registry objects), in label-column order.
    backend : str
        ``"onnx"`` or ``"torch"``.
    providers : list of str
        ONNX Runtime providers in use (``[]`` for the torch backend).
    sha256 : str
        sha256 of ``card.json`` (which pins every artefact's hash): the judge's identity in results.
    """

    def __init__(self, name, card, factors, backend, device, providers, runner, sha256, chunk: int = 256):
        self.name = name
        self.card = card
        self.factors = factors
        self.backend = backend
        self.device = device
        self.providers = providers
        self.sha256 = sha256
        self._run = runner
        self._chunk = chunk
        self._statics = [f.name for f in card.factors if f.type == "static" and has_frame_heads(card)]
        self._names = [f.name for f in card.factors]
        self._chw = tuple(int(v) for v in card.dataset.shape[1:])  # one step: (C, H, W) or (F,)

    @property
    def static_factors(self) -> list[str]:
        """Static factors that have frame heads (none for the 1-D judges)."""
        return list(self._statics)

    @property
    def left_out(self) -> dict[str, str]:
        """Factors this judge does not score (``card.left_out``: name -> evidence)."""
        return dict(self.card.left_out)

    def ceiling(self) -> dict[str, dict[str, float | None]]:
        """The judge's own test accuracy per factor from the card: ``{f: {"sequence", "frame"}}``."""
        return self.card.ceiling()

    def __repr__(self) -> str:
        return f"Judge({self.name!r}, backend={self.backend!r}, device={str(self.device)!r})"

    def __call__(self, x) -> JudgeOutput:
        """Logits of every head for ``x`` (float32 ``[B, T, *F]``, the dataset's model input, any device)."""
        import torch

        if not isinstance(x, torch.Tensor):
            raise JudgeError(f"judge '{self.name}' input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 + len(self._chw) or tuple(x.shape[2:]) != self._chw or x.shape[0] < 1 or x.shape[1] < 1:
            chw = ", ".join(map(str, self._chw))
            raise JudgeError(f"judge '{self.name}' input has shape {list(x.shape)}, expected [B, T, {chw}]")
        if x.dtype != torch.float32:
            raise JudgeError(f"judge '{self.name}' input has dtype {x.dtype}, expected torch.float32 "
                             f"({self.card.dataset.modality} model input)")
        seq_parts: dict[str, list] = {n: [] for n in self._names}
        frm_parts: dict[str, list] = {n: [] for n in self._statics}
        for s in range(0, x.shape[0], self._chunk):
            seq, frm = self._run(x[s : s + self._chunk])
            for k, v in seq.items():
                seq_parts[k].append(v)
            for k, v in frm.items():
                frm_parts[k].append(v)
        seq = {k: torch.cat(v) if len(v) > 1 else v[0] for k, v in seq_parts.items()}
        frm = {k: torch.cat(v) if len(v) > 1 else v[0] for k, v in frm_parts.items()}
        return JudgeOutput(sequence=seq, frame=frm)

    def predict(self, x) -> JudgeOutput:
        """Class indices instead of logits (argmax of every head)."""
        out = self(x)
        return JudgeOutput(
            sequence={k: v.argmax(-1) for k, v in out.sequence.items()},
            frame={k: v.argmax(-1) for k, v in out.frame.items()},
        )


def _onnx_runner(path: Path, heads, dev, threads: int | None):
    import numpy as np
    import onnxruntime as ort
    import torch

    from .model import split_outputs

    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if dev.type == "cuda" and "CUDAExecutionProvider" in available:
        providers = [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(path), so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise JudgeError(f"judge ONNX file {path} cannot be loaded by ONNX Runtime: {exc}") from None
    in_use = list(sess.get_providers())
    in_name = sess.get_inputs()[0].name  # video, audio or series

    def run(x):
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        outs = sess.run(None, {in_name: arr})
        tens = [torch.from_numpy(o).to(x.device) for o in outs]
        return split_outputs(heads, tens)

    return run, in_use


def _torch_runner(d: Path, card: JudgeCard, heads, dev):
    import torch
    from safetensors.torch import load_file

    from .model import ArchConfig, JudgeNet

    model = JudgeNet(ArchConfig.from_dict(card.recipe["arch"]), heads)
    try:
        state = load_file(str(d / WEIGHTS_FILE))
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors / torch raise various types
        raise JudgeError(f"judge weights {d / WEIGHTS_FILE} do not fit the card's architecture: {exc}") from None
    model.to(dev).eval()

    def run(x):
        with torch.inference_mode():
            outs = model(x.to(dev, torch.float32))
        seq, frm = model.split_outputs(outs)
        seq = {k: v.to(x.device) for k, v in seq.items()}
        frm = {k: v.to(x.device) for k, v in frm.items()}
        return seq, frm

    return run


def load_judge(
    name: str,
    backend: str = "onnx",
    device: Any = "cpu",
    root: str | os.PathLike | None = None,
    threads: int | None = None,
    verify_revision: bool = True,
) -> Judge:
    """Load and verify the frozen judge of dataset ``name``.

    Parameters
    ----------
    name : str
        Dataset name (e.g. ``"sprites"``).
    backend : {"onnx", "torch"}
        ONNX Runtime (default) or the torch module built from ``judge.safetensors``.
    device : str or torch.device
        ``"cpu"`` or ``"cuda[:N]"``. With ONNX, the CUDA provider is requested only for a CUDA device
        and only when ONNX Runtime offers it; ``judge.providers`` says what is actually in use.
    root : path, optional
        Artefact root (default: the package's committed judges, or ``$MSD_BENCH_JUDGES``).
    threads : int, optional
        ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    verify_revision : bool
        Check the card against the dataset registry (always on in the harness).

    Raises
    ------
    JudgeError
        Missing judge (names the build command), sha256 mismatch, wrong dataset revision or protocol.
    """
    if backend not in BACKENDS:
        raise JudgeError(f"unknown judge backend '{backend}'; expected one of {', '.join(BACKENDS)}")
    from .model import HeadSpec

    card = read_card(name, root)
    check_hashes(name, card, root)
    spec = None
    if verify_revision:
        spec = _get_spec(name)
        check_revision(name, card, spec)
    dev = _resolve_device(device)
    frames = has_frame_heads(card)
    heads = [HeadSpec(f.name, f.n_classes, frames and f.type == "static") for f in card.factors]
    d = judge_dir(name, root)
    if backend == "onnx":
        runner, providers = _onnx_runner(d / ONNX_FILE, heads, dev, threads)
    else:
        runner, providers = _torch_runner(d, card, heads, dev), []
    factors = list(spec.factors) if spec is not None else list(card.factors)
    return Judge(name, card, factors, backend, dev, providers, runner, sha256_file(d / CARD_FILE))
