"""Judge-based metrics: accuracy, inception score, entropies, chance level and frame consistency.

All functions take judge outputs as logits (torch tensors or arrays, any device) and return plain
per-sample tensors or floats; :func:`judged_values` wraps them into :class:`MetricValue` records with
seeded bootstrap intervals. Notation: :math:`p(y\\mid x)` = softmax of a judge head's logits for a
generated / reconstructed / swapped sequence :math:`x`, :math:`p(y) = E_x p(y\\mid x)`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import MetricError
from .base import MetricValue, from_samples, from_statistic, register

__all__ = [
    "accuracy",
    "chance_level",
    "conditional_entropy",
    "correct",
    "global_sample_consistency",
    "inception_score",
    "label_distribution",
    "local_sample_consistency",
    "marginal_entropy",
    "swap_consistency",
    "swap_frame_accuracy",
]

_G = "judged"
register("accuracy", "1", True, "Judge accuracy: fraction of sequences whose predicted class equals the target",
         needs=("judge", "labels"), value_range="[0, 1]", group=_G)
register("inception_score", "1", True, "IS = exp(E_x KL(p(y|x) || p(y))) of a judge head",
         needs=("judge",), value_range="[1, n_classes]", group=_G)
register("h_y_given_x", "1", False, "H(y|x) = E_x H(p(y|x)) (nats): judge confidence, lower = sharper",
         needs=("judge",), value_range="[0, log n_classes]", group=_G)
register("h_y", "1", True, "H(y) = H(E_x p(y|x)) (nats): diversity of the predicted classes",
         needs=("judge",), value_range="[0, log n_classes]", group=_G)
# version 2: renamed from swap_consistency (MSD's "consistency swap" is another intervention, msd.consistency_swap)
register("swap_frame_accuracy", "2", True,
         "Fraction of frames whose frame-head prediction equals the swapped-in source's label",
         needs=("judge", "labels"), value_range="[0, 1]", group=_G)
register("global_sample_consistency", "1", True,
         "Fraction of frames agreeing with their sequence's modal frame prediction",
         needs=("judge",), value_range="[1/n_classes, 1]", group=_G)
register("local_sample_consistency", "1", True,
         "Fraction of consecutive frame pairs with equal frame-head predictions",
         needs=("judge",), value_range="[0, 1]", group=_G)


def _t(x, what: str, ndim: int) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != ndim:
        raise MetricError(f"{what} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise MetricError(f"{what} contains NaN/Inf; expected finite logits")
    return t


def _log_probs(logits) -> torch.Tensor:
    """log p(y|x) = log_softmax(logits) in float64: finite for any finite logits (no underflow to -inf)."""
    t = _t(logits, "logits [B, n_classes]", 2)
    if t.shape[0] < 1:
        raise MetricError("logits has no rows; expected at least one sequence")
    return torch.log_softmax(t.double(), dim=1)


def _probs(logits) -> torch.Tensor:
    return torch.exp(_log_probs(logits))


def _log_marginal(logp: torch.Tensor) -> torch.Tensor:
    """log p(y) = log E_x p(y|x) = logsumexp_x log p(y|x) - log B, ``[1, n]`` (finite)."""
    return torch.logsumexp(logp, dim=0, keepdim=True) - np.log(logp.shape[0])


def correct(logits, target) -> torch.Tensor:
    """Per-sequence correctness ``[B]`` (float 0/1) of ``argmax logits`` against ``target`` ``[B]``."""
    t = _t(logits, "logits [B, n_classes]", 2)
    y = torch.as_tensor(target, device=t.device).reshape(-1)
    if y.shape[0] != t.shape[0]:
        raise MetricError(f"target has {y.shape[0]} entries but logits have {t.shape[0]} rows")
    return (t.argmax(dim=1) == y).double()


def accuracy(logits, target) -> float:
    r"""Judge accuracy :math:`\frac1B\sum_b 1[\arg\max_c \ell_{bc} = y_b]`.

    Parameters
    ----------
    logits : [B, n] ; target : int [B]

    Returns
    -------
    float in [0, 1]; higher is better.
    """
    return float(correct(logits, target).mean())


def inception_score(logits) -> float:
    r"""Inception score of one judge head.

    .. math:: \mathrm{IS} = \exp\big(E_x\, \mathrm{KL}(p(y\mid x)\,\|\,p(y))\big),\quad p(y) = E_x p(y\mid x)

    Parameters
    ----------
    logits : [B, n]

    Returns
    -------
    float in [1, n]; higher is better (confident and diverse predictions). ``n`` for ``n`` equally
    frequent one-hot predictions, 1 when every prediction is the same.

    References
    ----------
    Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016; used for sequential
    disentanglement by S3VAE (Zhu et al. 2020) and C-DSVAE (Bai et al. 2021).
    """
    return float(torch.exp(_kl_to_marginal(_log_probs(logits)).mean()))


def _kl_to_marginal(logp: torch.Tensor) -> torch.Tensor:
    """KL(p(y|x) || p(y)) per row from log-probabilities (all terms finite)."""
    return (torch.exp(logp) * (logp - _log_marginal(logp))).sum(dim=1)


def _entropy_rows_log(logp: torch.Tensor) -> torch.Tensor:
    """-sum_c p log p per row from log-probabilities (p = 0 cells contribute exactly 0)."""
    return -(torch.exp(logp) * logp).sum(dim=-1)


def conditional_entropy(logits) -> float:
    r""":math:`H(y\mid x) = E_x\big[-\sum_c p(c\mid x)\log p(c\mid x)\big]` in nats.

    Returns
    -------
    float in [0, log n]; lower is better (the judge is sure what it sees).
    """
    return float(_entropy_rows_log(_log_probs(logits)).mean())


def marginal_entropy(logits) -> float:
    r""":math:`H(y) = -\sum_c p(c)\log p(c)`, :math:`p(c) = E_x p(c\mid x)`, in nats.

    Returns
    -------
    float in [0, log n]; higher is better for generated samples (diverse classes).
    """
    logpy = _log_marginal(_log_probs(logits))
    return float(_entropy_rows_log(logpy)[0])


def label_distribution(labels, n_classes: int | None = None) -> np.ndarray:
    """Empirical class distribution ``p_k`` of an int label vector."""
    y = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels).reshape(-1).astype(np.int64)
    if y.size == 0:
        raise MetricError("labels are empty; expected at least one label")
    if y.min() < 0:
        raise MetricError(f"labels must be non-negative class indices, got {int(y.min())}")
    counts = np.bincount(y, minlength=n_classes or 0).astype(np.float64)
    return counts / counts.sum()


def chance_level(labels, n_classes: int | None = None) -> float:
    r"""Chance agreement of two independent draws from the label distribution: :math:`\sum_k p_k^2`.

    This is the expected accuracy of an off-target factor that follows a random partner instead of
    the source (MSD uses :math:`1/n`, which is only right for balanced labels).

    Returns
    -------
    float in [1/n, 1].
    """
    p = label_distribution(labels, n_classes)
    return float(np.sum(p * p))


def _frame_preds(frame_logits) -> torch.Tensor:
    t = _t(frame_logits, "frame logits [B, T, n_classes]", 3)
    return t.argmax(dim=2)


def swap_consistency_per_sequence(frame_logits, target) -> torch.Tensor:
    """Per-sequence fraction ``[B]`` of frames predicting ``target[b]``."""
    pred = _frame_preds(frame_logits)
    y = torch.as_tensor(target, device=pred.device).reshape(-1)
    if y.shape[0] != pred.shape[0]:
        raise MetricError(f"target has {y.shape[0]} entries but frame logits have {pred.shape[0]} sequences")
    return (pred == y[:, None]).double().mean(dim=1)


def swap_consistency(frame_logits, target) -> float:
    r"""Swap frame accuracy of a static factor's frame head (registry name ``swap_frame_accuracy``).

    .. math:: \frac{1}{BT}\sum_{b,t} 1[\hat y_{bt} = y^{src}_b]

    where :math:`\hat y_{bt}` is the frame-head prediction of frame :math:`t` of swapped sequence
    :math:`b` and :math:`y^{src}_b` the label of the sequence the static factor was taken from.
    Not MSD's consistency swap (which keeps one static factor's channels and checks every static
    factor against the source or the partner: :func:`msd_bench.metrics.msd.msd_interventions`).

    Returns
    -------
    float in [0, 1]; higher is better.
    """
    return float(swap_consistency_per_sequence(frame_logits, target).mean())


#: the same function under the name of its registry entry (``swap_frame_accuracy``, version 2)
swap_frame_accuracy = swap_consistency


def global_consistency_per_sequence(frame_logits) -> torch.Tensor:
    """Per-sequence fraction ``[B]`` of frames equal to the sequence's modal frame prediction."""
    pred = _frame_preds(frame_logits)
    mode = torch.mode(pred, dim=1).values
    return (pred == mode[:, None]).double().mean(dim=1)


def global_sample_consistency(frame_logits) -> float:
    r"""Global sample consistency: frames agreeing with the sequence's modal prediction.

    .. math:: \frac{1}{BT}\sum_{b,t} 1[\hat y_{bt} = \mathrm{mode}_t\, \hat y_{b\cdot}]

    Returns
    -------
    float in [1/T .. 1]; higher is better (a static factor should not flicker).

    References
    ----------
    The agreement of MSD's ``ConsistencyGlobalSample`` (``consistency_evaluator.py``), which MSD's code
    reports under the name ``local_consistency_sample``; named here by its definition.
    """
    return float(global_consistency_per_sequence(frame_logits).mean())


def local_consistency_per_sequence(frame_logits) -> torch.Tensor:
    """Per-sequence fraction ``[B]`` of consecutive frame pairs with equal predictions."""
    pred = _frame_preds(frame_logits)
    if pred.shape[1] < 2:
        raise MetricError(f"local sample consistency needs at least 2 frames, got {pred.shape[1]}")
    return (pred[:, 1:] == pred[:, :-1]).double().mean(dim=1)


def local_sample_consistency(frame_logits) -> float:
    r"""Local sample consistency: consecutive frames agreeing.

    .. math:: \frac{1}{B(T-1)}\sum_{b}\sum_{t=2}^{T} 1[\hat y_{bt} = \hat y_{b,t-1}]

    Returns
    -------
    float in [0, 1]; higher is better.

    References
    ----------
    The agreement of MSD's ``ConsistencyLocalSample`` (``consistency_evaluator.py``), which MSD's code
    reports under the name ``global_consistency_sample``; named here by its definition.
    """
    return float(local_consistency_per_sequence(frame_logits).mean())


# ----------------------------------------------------------------------------------------------
# MetricValue wrappers
# ----------------------------------------------------------------------------------------------


def _xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, a * np.log(np.where(b > 0, b, 1.0)), 0.0)


def _boot_is(sample: np.ndarray) -> np.ndarray:
    """IS of each bootstrap resample of probability rows ``[n_boot, B, n]`` -> ``[n_boot]``."""
    py = sample.mean(axis=1, keepdims=True)
    kl = (_xlogy(sample, sample) - _xlogy(sample, np.broadcast_to(py, sample.shape))).sum(axis=2)
    return np.exp(kl.mean(axis=1))


def _boot_hy(sample: np.ndarray) -> np.ndarray:
    """H(y) of each bootstrap resample ``[n_boot, B, n]`` -> ``[n_boot]``."""
    py = sample.mean(axis=1)
    return -_xlogy(py, py).sum(axis=1)


def judged_values(
    logits,
    target=None,
    *,
    n_boot: int = 200,
    seed: int = 0,
    extra: dict | None = None,
) -> dict[str, MetricValue]:
    r"""Accuracy (when ``target`` is given), IS, H(y|x) and H(y) of one head as MetricValues.

    Every quantity is computed from :math:`\log p(y\mid x)` = ``log_softmax(logits)`` (float64), so
    finite logits give finite values whatever their gap (a softmax followed by a log underflows to
    :math:`-\infty` once two logits differ by more than about 745). Intervals: bootstrap over
    sequences (``n_boot`` resamples, seeded).

    Parameters
    ----------
    logits : [B, n] finite
    target : int [B], optional
        Ground-truth classes; gives ``accuracy``.

    Returns
    -------
    dict with ``accuracy`` (when ``target`` is given), ``inception_score``, ``h_y_given_x``, ``h_y``.
    """
    logp = _log_probs(logits)
    out: dict[str, MetricValue] = {}
    extra = dict(extra or {})
    if target is not None:
        out["accuracy"] = from_samples("accuracy", correct(logp, target).cpu().numpy(), seed=seed, extra=extra)
    pn = torch.exp(logp).cpu().numpy()
    is_value = float(torch.exp(_kl_to_marginal(logp).mean()))
    out["inception_score"] = from_statistic(
        "inception_score", is_value, pn, _boot_is, n_boot=n_boot, seed=seed, extra=extra,
    )
    out["h_y_given_x"] = from_samples("h_y_given_x", _entropy_rows_log(logp).cpu().numpy(), seed=seed, extra=extra)
    out["h_y"] = from_statistic(
        "h_y", float(_entropy_rows_log(_log_marginal(logp))[0]), pn, _boot_hy, n_boot=n_boot, seed=seed,
        extra=extra,
    )
    return out


def consistency_values(frame_logits, target=None, *, seed: int = 0, extra: dict | None = None) -> dict:
    """Swap frame accuracy (when ``target`` is given), global and local sample consistency as MetricValues."""
    extra = dict(extra or {})
    out = {}
    if target is not None:
        out["swap_frame_accuracy"] = from_samples(
            "swap_frame_accuracy", swap_consistency_per_sequence(frame_logits, target).cpu().numpy(),
            seed=seed, extra=extra,
        )
    out["global_sample_consistency"] = from_samples(
        "global_sample_consistency", global_consistency_per_sequence(frame_logits).cpu().numpy(),
        seed=seed, extra=extra,
    )
    if torch.as_tensor(frame_logits).shape[1] >= 2:
        out["local_sample_consistency"] = from_samples(
            "local_sample_consistency", local_consistency_per_sequence(frame_logits).cpu().numpy(),
            seed=seed, extra=extra,
        )
    return out


