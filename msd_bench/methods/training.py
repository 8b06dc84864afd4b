"""One training loop for every reference method: deterministic, resumable, with a rich progress bar.

Determinism: the model is initialised from ``torch.manual_seed(seed)``; epoch ``e`` visits the training
split in the order ``numpy.random.default_rng([seed, e]).permutation`` (the last incomplete batch is
dropped); all other randomness (reparameterisation noise, augmentations) comes from the global torch RNG,
whose state is checkpointed. Same settings + seed -> identical weights on the same machine and torch
build, whether the run was interrupted and resumed or not.

Checkpoints (one safetensors file, rewritten atomically after every epoch) hold the model state, the
Adam state (``optim.<param>.<key>``), the torch RNG state and, in the metadata, the epoch, the step, the
settings and the loss history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_path
from ..harness.modality import dataset_modality
from . import MethodError, build_model, default_config, get_method

CHECKPOINT_NAME = "checkpoint.safetensors"
#: Settings that must match for ``--resume`` (epochs may grow).
RESUME_KEYS = ("method", "dataset", "size", "seed", "batch_size", "lr", "model")


@dataclass
class TrainSettings:
    """Everything that determines a training run."""

    method: str
    dataset: str
    size: str = "full"
    epochs: int = 10
    seed: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    grad_clip: float = 100.0
    model: dict[str, Any] = field(default_factory=dict)
    max_steps_per_epoch: int | None = None

    def check(self) -> None:
        get_method(self.method)
        if self.epochs < 1:
            raise MethodError(f"--epochs is {self.epochs}; expected an integer >= 1")
        if self.batch_size < 2:
            raise MethodError(f"--batch-size is {self.batch_size}; expected an integer >= 2")
        if not self.lr > 0:
            raise MethodError(f"--lr is {self.lr}; expected a positive learning rate")


@dataclass
class TrainResult:
    model: Any
    settings: TrainSettings
    history: list[dict[str, float]]
    seconds: float
    steps: int
    resumed_from_epoch: int = 0


# ------------------------------------------------------------------------------------- data
def epoch_order(train_indices: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """The fixed visiting order of epoch ``epoch`` (0-based)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(np.asarray(train_indices))


def iter_batches(ds: Any, order: np.ndarray, batch_size: int, limit: int | None = None) -> Iterator[torch.Tensor]:
    """Model inputs ``[B, T, *F]`` (:func:`msd_bench.datasets.to_model_input`: videos in [0, 1], audio
    in [-1, 1], time series as stored) for consecutive full batches of ``order``."""
    from ..datasets import to_model_input

    modality = dataset_modality(ds)
    n = len(order) // batch_size
    if limit is not None:
        n = min(n, int(limit))
    for i in range(n):
        data, _ = ds.read(order[i * batch_size : (i + 1) * batch_size])
        yield to_model_input(torch.from_numpy(data), modality)


def steps_per_epoch(ds: Any, settings: TrainSettings) -> int:
    n = len(ds.indices("train")) // settings.batch_size
    if settings.max_steps_per_epoch is not None:
        n = min(n, settings.max_steps_per_epoch)
    if n < 1:
        raise MethodError(
            f"{ds.name}: the train split has {len(ds.indices('train'))} sequences, fewer than one batch of "
            f"{settings.batch_size}; use a smaller --batch-size"
        )
    return n


# ------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, model: torch.nn.Module, optim: torch.optim.Optimizer, epoch: int, step: int,
                    settings: TrainSettings, history: list[dict[str, float]], seconds: float) -> None:
    """Write the training state to ``path`` atomically (safetensors, no pickle)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach().contiguous().clone()
                                        for k, v in model.state_dict().items()}
    opt_state = optim.state_dict()
    for pid, st in opt_state["state"].items():
        for key, val in st.items():
            t = val if torch.is_tensor(val) else torch.tensor(val)
            tensors[f"optim.{pid}.{key}"] = t.detach().contiguous().clone()
    tensors["rng.torch"] = torch.get_rng_state().clone()
    groups = [{k: v for k, v in g.items()} for g in opt_state["param_groups"]]
    meta = {
        "epoch": str(epoch),
        "step": str(step),
        "seconds": repr(float(seconds)),
        "settings": json.dumps(asdict(settings), sort_keys=True),
        "history": json.dumps(history),
        "param_groups": json.dumps(groups),
    }
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, model: torch.nn.Module, optim: torch.optim.Optimizer,
                    settings: TrainSettings) -> tuple[int, int, list[dict[str, float]], float]:
    """Restore model, optimiser and RNG from ``path``; returns ``(epoch, step, history, seconds)``.

    Raises :class:`MethodError` when the checkpoint was made with other settings.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises SafetensorError / OSError on a bad file
        raise MethodError(f"{path}: not a readable checkpoint ({type(exc).__name__}); delete it or drop --resume") \
            from None
    try:
        saved = json.loads(meta["settings"])
        epoch, step = int(meta["epoch"]), int(meta["step"])
        history = json.loads(meta["history"])
        seconds = float(meta.get("seconds", "0"))
        groups = json.loads(meta["param_groups"])
    except (KeyError, ValueError) as exc:
        raise MethodError(f"{path}: checkpoint metadata is incomplete ({exc}); delete it or drop --resume") from None
    now = asdict(settings)
    for key in RESUME_KEYS:
        if saved.get(key) != now.get(key):
            raise MethodError(
                f"{path}: checkpoint has {key}={json.dumps(saved.get(key))} but this run has "
                f"{key}={json.dumps(now.get(key))}; resume with the same settings or drop --resume"
            )
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, key = k.split(".", 2)
            state.setdefault(int(pid), {})[key] = v
    optim.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    return epoch, step, history, seconds


# ------------------------------------------------------------------------------------- training
def make_settings(method: str, ds: Any, size: str = "full", epochs: int | None = None, seed: int = 0,
                  batch_size: int = 32, lr: float = 1e-3, max_steps_per_epoch: int | None = None,
                  **model_overrides: Any) -> TrainSettings:
    """Settings with the method's default model config for ``ds``'s shape (and its default epochs)."""
    get_method(method)
    modality = dataset_modality(ds)
    if modality == "video":
        model_overrides.setdefault("out_bias", data_logit(ds))
    model_cfg = default_config(method, tuple(ds.shape), modality=modality, **model_overrides)
    if method == "c-dsvae":
        model_cfg.setdefault("dataset_size", int(len(ds.indices("train"))))
    s = TrainSettings(method=method, dataset=ds.name, size=size,
                      epochs=int(epochs) if epochs is not None else default_epochs(method, ds.name),
                      seed=seed, batch_size=batch_size, lr=lr, model=model_cfg,
                      max_steps_per_epoch=max_steps_per_epoch)
    s.check()
    return s


def data_logit(ds: Any, n: int = 256) -> float:
    """Logit of the mean intensity of the first ``n`` training sequences (the decoder's initial output),
    rounded to 3 decimals and clamped to [-4, 4]."""
    idx = np.sort(np.asarray(ds.indices("train"))[:n])
    data, _ = ds.read(idx)
    mean = float(np.clip(data.mean() / 255.0, 0.018, 0.982))
    return round(float(np.log(mean / (1.0 - mean))), 3)


#: Default number of epochs (measured to fit the CPU budget; see docs/methods.md).
DEFAULT_EPOCHS: dict[str, int] = {"sprites": 8, "dsprites-dynamic": 3, "3dshapes-dynamic": 5, "moving-digits": 5,
                                  "dmelodies": 2, "air-quality": 5}


def default_epochs(method: str, dataset: str) -> int:
    return DEFAULT_EPOCHS.get(dataset, 4)


def train_model(ds: Any, settings: TrainSettings, checkpoint: Path | None = None, resume: bool = False,
                progress: bool = True, threads: int | None = 2) -> TrainResult:
    """Train ``settings.method`` on ``ds`` (an opened dataset: ``indices``, ``read``, ``shape``, ``name``).

    Parameters
    ----------
    checkpoint : Path, optional
        Checkpoint file, rewritten after every epoch; with ``resume=True`` training continues from it
        (it must exist and match the settings).
    progress : bool
        Show a rich progress bar on stderr.
    threads : int, optional
        ``torch.set_num_threads`` (2 by default; the reference machines have 2 cores).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .._cli_utils import err_console

    settings.check()
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(settings.seed)
    cfg = dict(settings.model)
    model = build_model(**cfg)
    optim = torch.optim.Adam(model.parameters(), lr=settings.lr)
    start_epoch, step, history, seconds = 0, 0, [], 0.0
    if resume:
        if checkpoint is None or not checkpoint.is_file():
            raise MethodError(f"--resume: no checkpoint at {checkpoint}; run once without --resume first")
        start_epoch, step, history, seconds = load_checkpoint(checkpoint, model, optim, settings)
    n_steps = steps_per_epoch(ds, settings)
    train_idx = ds.indices("train")
    model.train()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console,
                   disable=not progress, transient=False)
    with bar:
        task = bar.add_task(f"train {settings.method} on {settings.dataset}", total=settings.epochs * n_steps,
                            completed=start_epoch * n_steps, info="")
        for epoch in range(start_epoch, settings.epochs):
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            order = epoch_order(train_idx, settings.seed, epoch)
            for x in iter_batches(ds, order, settings.batch_size, settings.max_steps_per_epoch):
                loss, logs = model.training_loss(x)
                if not torch.isfinite(loss):
                    raise MethodError(
                        f"{settings.method}: loss became {float(loss)} at epoch {epoch + 1}, step {step + 1}; "
                        "try a smaller --lr"
                    )
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optim.step()
                step += 1
                logs = {"loss": float(loss.detach()), **logs}
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{settings.epochs} loss {logs['loss']:.1f}")
            seconds += time.perf_counter() - t0
            history.append({"epoch": epoch + 1, "seconds": round(seconds, 2),
                            **{k: round(v / n_steps, 4) for k, v in sums.items()}})
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optim, epoch + 1, step, settings, history, seconds)
    model.eval()
    return TrainResult(model=model, settings=settings, history=history, seconds=seconds, steps=step,
                       resumed_from_epoch=start_epoch)


def finalize_model(model: Any, ds: Any, settings: TrainSettings, limit: int = 64) -> dict[str, Any]:
    """Post-training step of methods that need one (SKD's frozen Koopman eigenbasis); ``{}`` otherwise."""
    fn = getattr(model, "finalize", None)
    if not callable(fn):
        return {}
    order = np.asarray(ds.indices("train"))
    return fn(iter_batches(ds, order, min(settings.batch_size * 4, max(len(order), 1)), limit=limit)) or {}
