"""The judge training recipe: deterministic, CPU-friendly, hyper-parameters in code.

``train_judge`` trains a :class:`~msd_bench.judges.model.JudgeNet` on the train split of a dataset,
selects the epoch with the best validation accuracy, reports the test accuracy, exports
``judge.onnx`` + ``judge.safetensors`` and writes ``card.json``. Everything that decides the result
(architecture, optimiser, schedule, augmentation, seed, thread count) is in :class:`TrainConfig` /
:class:`~msd_bench.judges.model.ArchConfig` and is copied into the card.

Determinism: one seed drives the initial weights (``torch.manual_seed``), the data order and the
augmentation (two explicit ``torch.Generator``); ``torch.use_deterministic_algorithms`` is on and the
thread count is fixed, so the same dataset revision, seed and thread count give the same weights.

Loss: cross-entropy of every sequence head (one per factor) plus cross-entropy of every frame head
(static factors, every frame labelled with its sequence's value), summed over heads.

Augmentation (robustness to generated images, which are blurry and noisy): per sequence, with
probability ``blur_p`` a Gaussian blur of standard deviation ``U(0, blur_sigma_max)`` pixels (of the
input after the network's average pooling, i.e. up to 1.6 px at 64x64 for pool 2), then
additive Gaussian noise of standard deviation ``U(0, noise_max)``; values clamped to ``[0, 1]``.
No geometric or colour augmentation: position, scale, orientation and colour are factors.
1-D data (audio, time series): per sequence a gain ``U(gain_min, 1)`` and additive Gaussian noise of
standard deviation ``U(0, noise_max)`` (audio clamped to ``[-1, 1]``); no blur.

Factors marked ``ignore`` by the dataset (for example a one-class factor, or a factor the data cannot
show, :data:`LEFT_OUT`) get no training loss: their heads exist, so the judge's outputs cover every
label column, but they are untrained, reported on the card as such and left out of the quality target
(the metrics leave ignored factors out too).
"""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import PROTOCOL, __version__
from .._io import atomic_path, sha256_file
from ..datasets import to_model_input
from ..errors import JudgeError
from .card import (
    CARD_FILE,
    ONNX_FILE,
    TARGET_FRAME,
    TARGET_SEQUENCE,
    WEIGHTS_FILE,
    Artefact,
    CardFactor,
    DatasetRevision,
    FactorAccuracy,
    JudgeCard,
    SplitScore,
)
from .model import ArchConfig, HeadSpec, JudgeNet, count_parameters


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the recipe (all copied into the card)."""

    epochs: int = 8
    steps_per_epoch: int | None = None  # None: one pass over the train split; else batches per epoch
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_frac: float = 0.05
    grad_clip: float = 5.0
    seed: int = 0
    threads: int = 1  # 1 thread: shared 2-core machines are oversubscribed; 2 threads were 6x slower there
    noise_max: float = 0.04
    blur_p: float = 0.5
    blur_sigma_max: float = 0.8  # in pixels of the pooled image (x pool at full resolution)
    frame_loss_weight: float = 1.0
    gain_min: float = 1.0  # 1-D data: random gain U(gain_min, 1) per sequence
    train_ignored: tuple[str, ...] = ()  # ignored factors whose heads are trained anyway (as evidence)
    eval_batch_size: int = 256
    arch: dict = field(default_factory=dict)  # ArchConfig overrides (e.g. {"pool": 1})

    def to_dict(self) -> dict:
        return asdict(self)


#: Per-dataset recipe overrides. Anything not listed uses the :class:`TrainConfig` defaults.
RECIPES: dict[str, dict[str, Any]] = {
    "sprites": {"epochs": 3},
    # dsprites: small rotated shapes need full resolution (at 32x32 hearts and squares blur together),
    # translation-invariant evidence (gap) because sprites appear at many positions, and a motion
    # stream on frame differences for the sense of rotation / motion. Version 1 of these two judges
    # (pool 2 for dsprites-dynamic, no gap, no motion stream, 600-800 steps) stayed below target.
    "dsprites-static": {
        "epochs": 6,
        "steps_per_epoch": 300,
        "arch": {"pool": 1, "widths": (16, 32, 64, 64), "strides": (2, 2, 2, 2), "keypoints": 16,
                 "gap": True, "motion": (16, 32, 32)},
    },
    "dsprites-dynamic": {
        "epochs": 6,
        "steps_per_epoch": 400,
        "arch": {"pool": 1, "widths": (16, 32, 64, 64), "strides": (2, 2, 2, 2), "keypoints": 16,
                 "gap": True, "motion": (8, 16, 32)},
    },
    "3dshapes-dynamic": {"epochs": 4, "steps_per_epoch": 120},
    "moving-digits": {"epochs": 5, "steps_per_epoch": 160, "arch": {"keypoints": 16}},
    # 1-D judges: no frame heads (one note, a rest or one hour does not show a static factor).
    "dmelodies": {"epochs": 3, "lr": 2e-3, "noise_max": 0.01, "gain_min": 0.5, "blur_p": 0.0,
                  "arch": {"modality": "audio", "frame_heads": False, "n_fft": 2048, "hop": 512, "n_bins": 768,
                           "mlp": (256,), "feature_dim": 128, "hidden": 128}},
    # air-quality: no noise (the derived labels are exact functions of the stored PM2.5 channel, and a
    # day's peak block can hinge on a small difference); a small, nearly linear network with a linear
    # path from every hour to the heads (flat_steps) and weight decay 1e-3: wider ones (MLP 64, three
    # temporal convs, GRU 128) overfit the other 12 features (val loss rising; test 93.9-98.4 %).
    "air-quality": {"epochs": 20, "lr": 3e-3, "weight_decay": 1e-3, "noise_max": 0.0, "gain_min": 1.0,
                    "blur_p": 0.0,
                    "arch": {"modality": "timeseries", "frame_heads": False, "mlp": (), "feature_dim": 32,
                             "tconv": (), "hidden": 32, "flat_steps": 24, "flat_dim": 64}},
}

#: Factors a dataset's data cannot show (marked ``ignore`` in the registry, so no metric scores them),
#: with the measured evidence; copied into the card's ``left_out``.
LEFT_OUT: dict[str, dict[str, str]] = {}


def recipe_for(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of dataset ``name`` with ``overrides`` (None values ignored)."""
    cfg = replace(TrainConfig(), **RECIPES.get(name, {}))
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, **clean)


# ---------------------------------------------------------------------------------------------- data
def _heads(factors, frame_heads: bool = True) -> list[HeadSpec]:
    """Head specs of the factors; ``static`` (= has a frame head) only with ``frame_heads``."""
    return [HeadSpec(f.name, int(f.n_classes), frame_heads and f.type == "static") for f in factors]


def _card_factors(factors) -> list[CardFactor]:
    return [
        CardFactor(
            name=f.name,
            index=int(f.index),
            type=f.type,
            n_classes=int(f.n_classes),
            values={str(k): int(v) for k, v in dict(getattr(f, "values", {}) or {}).items()},
            ignore=bool(getattr(f, "ignore", False)),
        )
        for f in factors
    ]


def pool_video(x: np.ndarray, pool: int) -> np.ndarray:
    """Average-pool uint8 video ``[B, T, C, H, W]`` by ``pool`` and round back to uint8.

    The training loop keeps the data pooled in memory (4x less for ``pool=2``) and runs the network
    after its own pooling layer; the rounding error (at most 0.5/255) is far below the augmentation
    noise. Reported accuracies always run the full network on the original frames.
    """
    if pool <= 1:
        return np.ascontiguousarray(x, dtype=np.uint8)
    b, t, c, h, w = x.shape
    y = x.reshape(b, t, c, h // pool, pool, w // pool, pool).astype(np.float32).mean(axis=(4, 6))
    return np.rint(y).astype(np.uint8)


def _load_split(ds, split: str, pool: int = 1, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole split into memory (stored data, video pooled by ``pool``; int64 labels), in index order."""
    idx = np.sort(np.asarray(ds.indices(split), dtype=np.int64))
    if len(idx) == 0:
        raise JudgeError(f"dataset {ds.name}: split '{split}' is empty; expected at least one sequence")
    xs, ys = [], []
    for s in range(0, len(idx), chunk):
        x, y = ds.read(idx[s : s + chunk])
        x = np.asarray(x)
        xs.append(pool_video(x, pool) if x.dtype == np.uint8 and x.ndim == 5 else x)
        ys.append(np.asarray(y, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _iter_split(ds, split: str, chunk: int = 256):
    """Full-resolution (stored data, labels) chunks of a split, in index order."""
    idx = np.sort(np.asarray(ds.indices(split), dtype=np.int64))
    for s in range(0, len(idx), chunk):
        x, y = ds.read(idx[s : s + chunk])
        yield np.asarray(x), np.asarray(y, dtype=np.int64)


def _gaussian_kernel(sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """1-D Gaussian kernels ``[B, 2r+1]`` for per-sample sigmas (sigma 0 → identity)."""
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = sigma.clamp_min(1e-3)[:, None]
    k = torch.exp(-0.5 * (xs[None, :] / s) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def augment_1d(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, modality: str) -> torch.Tensor:
    """Gain + noise augmentation of a 1-D batch ``[B, T, F]`` (see module doc)."""
    b = x.shape[0]
    if cfg.gain_min < 1.0:
        x = x * (cfg.gain_min + (1.0 - cfg.gain_min) * torch.rand(b, 1, 1, generator=gen))
    if cfg.noise_max > 0:
        x = x + torch.rand(b, 1, 1, generator=gen) * cfg.noise_max * torch.randn(x.shape, generator=gen)
    return x.clamp_(-1.0, 1.0) if modality == "audio" else x


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Blur + noise augmentation of a batch ``[B, T, C, H, W]`` in ``[0, 1]`` (see module doc)."""
    b, t, c, h, w = x.shape
    if cfg.blur_p > 0 and cfg.blur_sigma_max > 0:
        on = torch.rand(b, generator=gen) < cfg.blur_p
        sigma = torch.rand(b, generator=gen) * cfg.blur_sigma_max * on
        k = _gaussian_kernel(sigma)  # [B, K]
        r = k.shape[1] // 2
        # Separable depthwise blur: one kernel per sequence, shared by its frames and channels.
        y = x.reshape(1, b * t * c, h, w)
        kk = k.repeat_interleave(t * c, dim=0)  # [B*T*C, K]
        y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), kk[:, None, None, :], groups=b * t * c)
        y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kk[:, None, :, None], groups=b * t * c)
        x = y.reshape(b, t, c, h, w)
    if cfg.noise_max > 0:
        std = torch.rand(b, 1, 1, 1, 1, generator=gen) * cfg.noise_max
        x = x + std * torch.randn(x.shape, generator=gen)
    return x.clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_arrays(
    model: JudgeNet,
    x_u8: np.ndarray | None,
    y: np.ndarray | None,
    batch_size: int = 256,
    with_loss: bool = False,
    pooled: bool = False,
    chunks=None,
):
    """Per-factor accuracy of ``model`` and the sequence-head confusion matrices.

    Data is either in memory (``x_u8``, ``y``; ``pooled`` says whether ``x_u8`` is pre-pooled) or an
    iterable ``chunks`` of full-resolution ``(uint8 video, labels)``. Returns ``(accuracies,
    confusion)``, or ``(accuracies, confusion, mean loss)`` with ``with_loss`` (the training loss
    without augmentation, averaged over sequences).
    """
    model.eval()
    seq_correct = {h.name: 0 for h in model.heads}
    seq_total = {h.name: 0 for h in model.heads}
    frm_correct = {h.name: 0 for h in model.static_heads}
    frm_total = {h.name: 0 for h in model.static_heads}
    conf = {h.name: np.zeros((h.n_classes, h.n_classes), dtype=np.int64) for h in model.heads}
    for h in model.static_heads:
        conf[f"frame__{h.name}"] = np.zeros((h.n_classes, h.n_classes), dtype=np.int64)
    cols = {h.name: i for i, h in enumerate(model.heads)}
    loss_sum, n = 0.0, 0
    if chunks is None:
        chunks = ((x_u8[s : s + batch_size], y[s : s + batch_size]) for s in range(0, len(x_u8), batch_size))
    for xc, yc in chunks:
        for s in range(0, len(xc), batch_size):
            xb = to_model_input(np.ascontiguousarray(xc[s : s + batch_size]), model.cfg.modality)
            yb = torch.from_numpy(np.ascontiguousarray(yc[s : s + batch_size]))
            outs = model(xb, pooled)
            if with_loss:
                loss_sum += _loss(model, outs, yb, 1.0).item() * len(xb)
            n += len(xb)
            seq, frame = model.split_outputs(outs)
            _accumulate(seq, frame, yb, cols, seq_correct, seq_total, frm_correct, frm_total, conf)
    acc = _finish(model.heads, seq_correct, seq_total, frm_correct, frm_total)
    if with_loss:
        return acc, conf, loss_sum / max(n, 1)
    return acc, conf


def _loss(model: JudgeNet, outs, yb: torch.Tensor, frame_weight: float) -> torch.Tensor:
    """Sum of the sequence-head cross-entropies and (weighted) frame-head cross-entropies."""
    heads = model.heads
    static_cols = [i for i, h in enumerate(heads) if h.static]
    seq_out, frm_out = outs[: len(heads)], outs[len(heads) :]
    # a column without any label in the batch (an ignored factor) has no loss (cross-entropy would be nan)
    loss = sum(F.cross_entropy(o, yb[:, i], ignore_index=-1) for i, o in enumerate(seq_out) if (yb[:, i] >= 0).any())
    for o, i in zip(frm_out, static_cols, strict=True):
        target = yb[:, i].repeat_interleave(o.shape[1])
        loss = loss + frame_weight * F.cross_entropy(o.reshape(-1, o.shape[-1]), target, ignore_index=-1)
    return loss


def _accumulate(seq, frame, yb, cols, seq_correct, seq_total, frm_correct, frm_total, conf) -> None:
    for name, logits in seq.items():
        true = yb[:, cols[name]]
        valid = true >= 0
        pred = logits.argmax(dim=-1)
        seq_correct[name] += int((pred[valid] == true[valid]).sum())
        seq_total[name] += int(valid.sum())
        if conf is not None:
            n = conf[name].shape[0]
            tv, pv = true[valid].cpu().numpy(), pred[valid].cpu().numpy()
            conf[name] += np.bincount(tv * n + pv, minlength=n * n).reshape(n, n)
    for name, logits in frame.items():
        true = yb[:, cols[name]]
        valid = true >= 0
        pred = logits.argmax(dim=-1)  # [B, T]
        frm_correct[name] += int((pred[valid] == true[valid, None]).sum())
        frm_total[name] += int(valid.sum()) * pred.shape[1]
        if conf is not None:
            m = conf[f"frame__{name}"]
            n = m.shape[0]
            tv = true[valid, None].expand(-1, pred.shape[1]).reshape(-1).cpu().numpy()
            pv = pred[valid].reshape(-1).cpu().numpy()
            m += np.bincount(tv * n + pv, minlength=n * n).reshape(n, n)


def _finish(heads, seq_correct, seq_total, frm_correct, frm_total) -> dict[str, FactorAccuracy]:
    out = {}
    for h in heads:
        s = seq_correct[h.name] / max(seq_total[h.name], 1)
        f = frm_correct[h.name] / max(frm_total[h.name], 1) if h.static else None
        out[h.name] = FactorAccuracy(sequence=round(s, 6), frame=None if f is None else round(f, 6))
    return out


def evaluate_judge(judge, ds, split: str = "test", batch_size: int = 256, progress=None):
    """Per-factor accuracy of a loaded judge (any backend) on ``split`` of dataset ``ds``.

    Returns ``(accuracies {factor: FactorAccuracy}, n sequences)``.
    """
    heads = _heads(judge.factors, bool(judge.card.recipe.get("arch", {}).get("frame_heads", True)))
    cols = {f.name: i for i, f in enumerate(judge.factors)}
    sc = {h.name: 0 for h in heads}
    st = dict(sc)
    fc = {h.name: 0 for h in heads if h.static}
    ft = dict(fc)
    n = 0
    for xb, yb in ds.batches(split, batch_size=batch_size):
        out = judge(xb)
        _accumulate(out.sequence, out.frame, yb.cpu(), cols, sc, st, fc, ft, None)
        n += len(yb)
        if progress is not None:
            progress(len(yb))
    return _finish(heads, sc, st, fc, ft), n


def _mean_acc(acc: dict[str, FactorAccuracy]) -> float:
    vals = [a.sequence for a in acc.values()] + [a.frame for a in acc.values() if a.frame is not None]
    return float(np.mean(vals))


# -------------------------------------------------------------------------------------------- export
#: ONNX input name of a judge by modality (the submissions' names too)
INPUT_NAMES = {"video": "video", "audio": "audio", "timeseries": "series"}


def export_onnx(model: JudgeNet, path: str | Path, example: torch.Tensor) -> None:
    """Export ``model`` to ONNX (opset 17, dynamic batch and time axes), atomically."""
    model.eval()
    names = model.output_names
    in_name = INPUT_NAMES[model.cfg.modality]
    axes: dict[str, dict[int, str]] = {in_name: {0: "batch", 1: "time"}}
    for n in names:
        axes[n] = {0: "batch", 1: "time"} if n.startswith("frame__") else {0: "batch"}
    with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings():
        # The tracer warns about the GRU's shape checks and batch size; parity with torch over other
        # batch sizes and lengths is checked after export (onnx_parity) and in the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=[in_name],
            output_names=names,
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
        os.chmod(tmp, 0o644)


def save_weights(model: JudgeNet, path: str | Path) -> None:
    """Save the state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "producer": f"msd-bench {__version__}"})
        os.chmod(tmp, 0o644)


def onnx_parity(path: str | Path, model: JudgeNet, x: torch.Tensor) -> float:
    """Max absolute difference between ONNX Runtime and torch logits on ``x``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    model.eval()
    with torch.no_grad():
        ref = model(x)
    return float(max(np.abs(g - r.numpy()).max() for g, r in zip(got, ref, strict=True)))


def library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {
        "msd_bench": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# ------------------------------------------------------------------------------------------ training
class _IndexStream:
    """Endless sequence of train indices: consecutive random permutations of ``range(n)``."""

    def __init__(self, n: int, gen: torch.Generator):
        self.n, self.gen = n, gen
        self.perm = torch.randperm(n, generator=gen).numpy()
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        if self.pos + k > self.n:  # drop the rest of this permutation, start a new one
            self.perm = torch.randperm(self.n, generator=self.gen).numpy()
            self.pos = 0
        out = self.perm[self.pos : self.pos + k]
        self.pos += k
        return out


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    warm = max(1, int(cfg.warmup_frac * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    p = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * p))


def train_judge(
    ds,
    content_hashes: dict[str, str],
    out_dir: str | Path,
    cfg: TrainConfig,
    extra_test: list | None = None,
    progress: bool = True,
    log=None,
) -> JudgeCard:
    """Train, select, test, export and card a judge for dataset ``ds``.

    Parameters
    ----------
    ds
        An open dataset (``msd_bench.datasets`` API: ``name, version, size, content_hash, factors,
        shape, indices, read``).
    content_hashes : dict
        The registry's content hash of every size of the dataset (``spec.content_hashes``).
    out_dir : path
        Where ``judge.onnx``, ``judge.safetensors`` and ``card.json`` are written (atomically, card last).
    cfg : TrainConfig
        The recipe.
    extra_test : list of datasets, optional
        Other sizes of the same dataset whose test accuracy is also recorded (e.g. ``small``).
    progress : bool
        Show a rich progress bar.
    log : callable, optional
        ``log(str)`` for one line per epoch.

    Returns
    -------
    JudgeCard
        The written card.
    """
    if ds.size in content_hashes and content_hashes[ds.size] != ds.content_hash:
        raise JudgeError(
            f"dataset {ds.name} ({ds.size}) at {getattr(ds, 'path', '?')} has content hash {ds.content_hash},"
            f" expected {content_hashes[ds.size]} from the registry; re-prepare the dataset"
        )
    t_start = time.perf_counter()
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(ds, content_hashes, Path(out_dir), cfg, extra_test or [], progress, log, t_start)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _train(ds, content_hashes, out_dir, cfg, extra_test, progress, log, t_start) -> JudgeCard:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .._cli_utils import err_console

    factors = list(ds.factors)
    shape = tuple(int(s) for s in ds.shape)  # (T, C, H, W) or (T, F)
    modality = getattr(ds, "modality", "video")
    if cfg.arch.get("modality", "video") != modality:
        raise JudgeError(f"dataset {ds.name} is {modality}, but the recipe's architecture is for "
                         f"{cfg.arch.get('modality', 'video')}")
    if modality == "video":
        arch = ArchConfig(in_channels=shape[1], image_size=shape[2], **cfg.arch)
    else:
        arch = ArchConfig(in_channels=1, image_size=shape[1], **cfg.arch)
    heads = _heads(factors, arch.frame_heads)
    ignored = [i for i, f in enumerate(factors) if getattr(f, "ignore", False)]
    untrained = [i for i in ignored if factors[i].name not in cfg.train_ignored]

    torch.manual_seed(cfg.seed)
    model = JudgeNet(arch, heads)
    order_gen = torch.Generator().manual_seed(cfg.seed + 1)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 2)

    pool = arch.pool if modality == "video" else 1
    x_train, y_train = _load_split(ds, "train", pool)
    x_val, y_val = _load_split(ds, "val", pool)
    y_train[:, untrained] = -1  # ignored factors: no loss (and no validation score) unless train_ignored
    y_val[:, untrained] = -1

    n = len(x_train)
    # An epoch is one pass over the train split (last incomplete batch dropped), or, for the large
    # datasets, `steps_per_epoch` batches drawn from a stream of fresh permutations of the whole split.
    steps_per_epoch = cfg.steps_per_epoch or max(1, n // cfg.batch_size)
    stream = _IndexStream(n, order_gen)
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    best_key: tuple[float, float] = (-1.0, 0.0)
    best_state, best_epoch = None, -1
    history: list[dict] = []
    step = 0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"judge {ds.name}", total=total, info="")
        for epoch in range(cfg.epochs):
            model.train()
            run_loss = 0.0
            for _ in range(steps_per_epoch):
                idx = np.sort(stream.take(min(cfg.batch_size, n)))
                xb = to_model_input(x_train[idx], modality)
                yb = torch.from_numpy(y_train[idx])
                xb = augment(xb, cfg, aug_gen) if modality == "video" else augment_1d(xb, cfg, aug_gen, modality)
                for g in opt.param_groups:
                    g["lr"] = _lr_at(step, total, cfg)
                loss = _loss(model, model(xb, pooled=True), yb, cfg.frame_loss_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                run_loss += loss.item()
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{cfg.epochs} loss {loss.item():.3f}")
            val_acc, _, val_loss = evaluate_arrays(
                model, x_val, y_val, cfg.eval_batch_size, with_loss=True, pooled=True
            )
            kept = {k: a for k, a in val_acc.items() if k not in {factors[i].name for i in ignored}} or val_acc
            score = _mean_acc(kept)
            min_acc = min(
                [a.sequence for a in kept.values()] + [a.frame for a in kept.values() if a.frame is not None]
            )
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": round(run_loss / steps_per_epoch, 5),
                    "val_mean_acc": round(score, 6),
                    "val_min_acc": round(min_acc, 6),
                    "val_loss": round(val_loss, 6),
                }
            )
            line = (
                f"epoch {epoch + 1}: loss {run_loss / steps_per_epoch:.4f} val mean {score:.4f}"
                f" min {min_acc:.4f} val loss {val_loss:.4f}"
            )
            if log is not None:
                log(line)
            # Selection: best mean validation accuracy; ties broken by the lower validation loss.
            key = (round(score, 6), -val_loss)
            if key > best_key:
                best_key, best_epoch = key, epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    del x_train, y_train, x_val, y_val
    model.load_state_dict(best_state)
    model.eval()
    # Reported numbers: the full network on the original frames.
    bs = cfg.eval_batch_size
    val_acc, _ = evaluate_arrays(model, None, None, bs, chunks=_iter_split(ds, "val"))
    test_acc, conf = evaluate_arrays(model, None, None, bs, chunks=_iter_split(ds, "test"))
    n_val, n_test = len(ds.indices("val")), len(ds.indices("test"))
    extra_scores = []
    for other in extra_test:
        acc_o, _ = evaluate_arrays(model, None, None, bs, chunks=_iter_split(other, "test"))
        extra_scores.append(SplitScore(split="test", size=other.size, n=len(other.indices("test")), factors=acc_o))

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, weights_path, card_path = out_dir / ONNX_FILE, out_dir / WEIGHTS_FILE, out_dir / CARD_FILE
    first_test = np.sort(np.asarray(ds.indices("test")))[:8]
    example = to_model_input(np.asarray(ds.read(first_test)[0]), modality)
    save_weights(model, weights_path)
    export_onnx(model, onnx_path, example)
    diff = onnx_parity(onnx_path, model, example)
    if diff > 1e-4:
        raise JudgeError(f"ONNX export of judge {ds.name} differs from torch by {diff:.2e}; expected <= 1e-4")

    ignored_names = {factors[i].name for i in ignored}
    below = []
    for name, a in test_acc.items():
        if name in ignored_names:
            continue
        if a.sequence < TARGET_SEQUENCE:
            below.append(f"{name}/sequence")
        if a.frame is not None and a.frame < TARGET_FRAME:
            below.append(f"{name}/frame")
    recipe = cfg.to_dict()
    recipe["arch"] = arch.to_dict()
    recipe["torch_threads"] = cfg.threads
    recipe["cpu_count"] = os.cpu_count()
    card = JudgeCard(
        protocol=PROTOCOL,
        dataset=DatasetRevision(
            name=ds.name,
            version=str(ds.version),
            size=ds.size,
            content_hash=ds.content_hash,
            content_hashes=dict(content_hashes),
            shape=list(shape),
            modality=modality,
        ),
        factors=_card_factors(factors),
        left_out={**{n: "marked ignore by the dataset; " + ("head trained as evidence, test accuracy above"
                                                            if n in cfg.train_ignored else "untrained head")
                     for n in sorted(ignored_names)},
                  **LEFT_OUT.get(ds.name, {})},
        artefacts={
            ONNX_FILE: Artefact(sha256=sha256_file(onnx_path), bytes=onnx_path.stat().st_size),
            WEIGHTS_FILE: Artefact(sha256=sha256_file(weights_path), bytes=weights_path.stat().st_size),
        },
        test=SplitScore(split="test", size=ds.size, n=n_test, factors=test_acc),
        val=SplitScore(split="val", size=ds.size, n=n_val, factors=val_acc),
        extra_tests=extra_scores,
        confusion={k: v.tolist() for k, v in conf.items() if not k.startswith("frame__")},
        frame_confusion={k[7:]: v.tolist() for k, v in conf.items() if k.startswith("frame__")},
        quality_met=not below,
        below_target=below,
        onnx_max_abs_diff=float(f"{diff:.3e}"),
        recipe=recipe,
        best_epoch=best_epoch,
        train_sequences=n,
        train_steps=total,
        history=history,
        training_seconds=round(time.perf_counter() - t_start, 1),
        parameters=count_parameters(model),
        versions=library_versions(),
    )
    card.write(card_path)
    return card
