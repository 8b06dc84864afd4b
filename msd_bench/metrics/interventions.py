"""Model-level metrics through interventions on the latents (batched, device-agnostic torch).

- :func:`generation_metrics` (C-DSVAE / S3VAE protocol), two modes: ``"sample_static"`` keeps the
  dynamic code and samples the static code from the model's prior; ``"sample_dynamic"`` keeps the
  static code and samples the dynamics. Per factor head: judge accuracy of the *kept* factors against
  the ground truth, IS, H(y|x), H(y); sample consistency of static frame heads.
- :func:`static_dynamic_swap` (scores ``static_dynamic_swap.*``; old name ``two_factor_swap``):
  static <-> dynamic swap between random pairs (a, b): the result takes its static code from a and
  its dynamic code from b, so static factors must follow a and dynamic factors b; frame accuracy of
  static frame heads. This is *not*
  MSD's two-factor swap, which swaps the channel map's static / dynamic channel groups and scores
  1 - (on + off)/2 (``msd.two_factor_swap``, :mod:`msd_bench.metrics.msd`).
- :func:`multi_factor_swap` (MSD's intervention, msd-bench's score ``multi_*.cell_error``): for
  each factor k keep k's channels (from a channel map) of a and take every other channel from a
  partner b (``mode="swap"``) or from the prior (``mode="sample"``); judge every factor and compare
  the agreement matrix ``A[k, j] = P(pred_j = y_a[j])`` with its target ``T[k, j] = 1`` if
  ``j = k`` else :math:`\\sum_c p_{j,c}^2` (chance agreement of two draws from factor j's label
  distribution; MSD uses 1/n_classes, wrong for unbalanced labels) by the mean over all K² cells.
  MSD's own score of the same matrix (1 - (on + off)/2, chance 1/n) is ``msd.multi_factor_*``.

All randomness (which sequences, which pairs, prior samples) comes from ``seed`` through
``torch.Generator``: same model, data and seed give identical numbers. A model without the needed
prior gets "not applicable" values, never 0. Inputs: ``x`` float ``[N, T, C, H, W]`` in [0, 1] (or
uint8, scaled per batch), or ``[N, T, F]`` audio (int16 PCM or float in [-1, 1]) / time series
(float), converted per batch by :func:`msd_bench.datasets.to_model_input`; ``labels`` int ``[N, L]``,
``factors`` = objects with ``name``, ``index``,
``type`` ("static"/"dynamic"), ``n_classes`` and ``ignore`` (the datasets' ``Factor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from ..errors import MetricError
from .base import MetricValue, from_samples, from_statistic, register
from .judged import chance_level, consistency_values, judged_values

__all__ = [
    "class_balanced_indices",
    "generation_metrics",
    "multi_factor_swap",
    "static_dynamic_swap",
    "two_factor_swap",
]

_G = "interventions"
# Version 2 of these names: version 1 called them two_factor_swap.* and multi_{swap,sample}.error, which
# read as MSD's two-factor swap and multi-factor scores (different interventions / formulas: see
# msd_bench.metrics.msd). Same definitions as version 1, new names.
register("static_dynamic_swap.accuracy", "2", True,
         "Static<->dynamic swap: judge accuracy of each factor against the source it must follow",
         needs=("judge", "labels"), value_range="[0, 1]", group=_G)
for _mode in ("swap", "sample"):
    register(f"multi_{_mode}.cell_error", "2", False,
             f"Multi-factor {_mode}: mean |A - T| over all K^2 cells of the agreement matrix and its target "
             "(T off the diagonal = sum p^2); not MSD's score (msd.multi_factor_*)",
             needs=("judge", "labels", "channel_map") + (("prior",) if _mode == "sample" else ()),
             value_range="[0, 1]", group=_G)
    register(f"multi_{_mode}.kept_accuracy", "1", True,
             f"Multi-factor {_mode}: accuracy of the kept factor (diagonal of A)",
             needs=("judge", "labels", "channel_map") + (("prior",) if _mode == "sample" else ()),
             value_range="[0, 1]", group=_G)
register("multi_swap.partner_accuracy", "1", True,
         "Multi-factor swap: accuracy of the non-kept factors against the partner they were taken from",
         needs=("judge", "labels", "channel_map"), value_range="[0, 1]", group=_G)


def _active(factors) -> list:
    fs = [f for f in factors if not getattr(f, "ignore", False)]
    if not fs:
        raise MetricError("no factor to score: every factor is marked ignore")
    return fs


def _check_data(x: torch.Tensor, labels: torch.Tensor, factors) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 5):
        raise MetricError(f"x must be a tensor [N, T, *F] (video [N, T, C, H, W], audio / time series [N, T, F]), "
                          f"got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 2 or labels.shape[0] != x.shape[0]:
        raise MetricError(
            f"labels must be an int tensor [N, L] with N = {x.shape[0]}, got {getattr(labels, 'shape', None)}"
        )
    for f in factors:
        if not 0 <= f.index < labels.shape[1]:
            raise MetricError(f"factor {f.name!r} has label column {f.index}, but labels have {labels.shape[1]}")


def class_balanced_indices(labels: torch.Tensor, columns: Sequence[int], n: int, generator: torch.Generator):
    """Draw ``n`` distinct row indices whose classes are as balanced as possible in every column.

    Rows are drawn without replacement with weights :math:`\\prod_{c} 1/\\mathrm{count}_c(y_{ic})`
    (inverse class frequency of each listed column), which equalises the expected class counts of
    each column under independent factors. ``n >= N`` returns every row (in a seeded random order).
    """
    n_rows = labels.shape[0]
    if n >= n_rows or not columns:
        return torch.randperm(n_rows, generator=generator)[: min(n, n_rows)]
    w = torch.ones(n_rows, dtype=torch.float64)
    for c in columns:
        y = labels[:, c].cpu().long()
        counts = torch.bincount(y - y.min()).double()
        w = w / counts[y - y.min()]
    return torch.multinomial(w, n, replacement=False, generator=generator)


#: stored dtype -> modality of the model input (the on-disk format: uint8 video, int16 PCM audio)
_STORED = {torch.uint8: "video", torch.int16: "audio"}


def _batch(x: torch.Tensor, idx: torch.Tensor, device) -> torch.Tensor:
    """Rows ``idx`` of ``x`` as float32 model inputs on ``device``: a stored block (uint8 video, int16
    audio) through :func:`msd_bench.datasets.to_model_input`; a float block (time series, or inputs
    already converted) as it is. The rows are gathered through a 2-D view (``index_select`` of the
    5-D tensor is ~6x slower on CPU)."""
    flat = x.reshape(x.shape[0], -1).index_select(0, idx.to(x.device, torch.long))
    xb = flat.view(-1, *x.shape[1:]).to(device)
    modality = _STORED.get(xb.dtype)
    if modality is not None:
        from ..datasets import to_model_input

        return to_model_input(xb, modality)
    return xb.float()


def _latents():
    from ..harness.interface import Latents, has_prior, swap

    return Latents, has_prior, swap


def _device_of(x: torch.Tensor, device) -> torch.device:
    return torch.device(device) if device is not None else x.device


def _prior_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed) + 1)


def generation_metrics(
    model,
    judge,
    x: torch.Tensor,
    labels: torch.Tensor,
    factors,
    *,
    mode: Literal["sample_static", "sample_dynamic"],
    n: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
    n_boot: int = 200,
) -> dict[str, dict[str, MetricValue]]:
    r"""Generation metrics: keep one part of the code, sample the other from the model's prior.

    ``mode="sample_static"``: :math:`\hat x = \mathrm{dec}(s \sim p(s), d = \mathrm{enc}_d(x))`, kept
    factors = dynamic ones; ``mode="sample_dynamic"``: :math:`\hat x = \mathrm{dec}(\mathrm{enc}_s(x),
    d_{1:T} \sim p(d))`, kept factors = static ones. Inputs are a class-balanced set of ``n`` sequences
    (balanced over the kept factors' classes).

    Per factor head :math:`y`: ``accuracy`` (kept factors only; higher is better, in [0, 1]),
    ``inception_score`` = :math:`\exp(E_x \mathrm{KL}(p(y|x)\|p(y)))` (in [1, n]),
    ``h_y_given_x`` (nats, lower = sharper), ``h_y`` (nats, higher = more diverse), and for static
    factors with frame heads ``global_sample_consistency`` / ``local_sample_consistency``.

    Returns
    -------
    dict factor name -> {metric name -> MetricValue}; every value is "not applicable" when the model
    has no prior for the sampled part.

    References
    ----------
    Zhu et al. S3VAE, CVPR 2020; Bai, Wang, Gomes. C-DSVAE, NeurIPS 2021.
    """
    Latents, has_prior, _ = _latents()
    if mode not in ("sample_static", "sample_dynamic"):
        raise MetricError(f"generation mode must be 'sample_static' or 'sample_dynamic', got {mode!r}")
    fs = _active(factors)
    part = "static" if mode == "sample_static" else "dynamic"
    kept_type = "dynamic" if part == "static" else "static"
    if not has_prior(model, part):
        reason = f"model has no {part} prior"
        return {
            f.name: {m: MetricValue.not_applicable(m, reason) for m in
                     (["accuracy"] if f.type == kept_type else []) + ["inception_score", "h_y_given_x", "h_y"]}
            for f in fs
        }
    _check_data(x, labels, fs)
    dev = _device_of(x, device)
    gen = torch.Generator().manual_seed(int(seed))
    pgen = _prior_generator(dev, seed)
    idx = class_balanced_indices(labels, [f.index for f in fs if f.type == kept_type], n, gen)
    seq: dict[str, list[torch.Tensor]] = {f.name: [] for f in fs}
    frame: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for start in range(0, idx.numel(), batch_size):
            bi = idx[start : start + batch_size]
            z = model.encode(_batch(x, bi, dev))
            b = z.static.shape[0]
            if part == "static":
                z2 = Latents(model.sample_static(b, pgen).to(z.static), z.dynamic)
            else:
                z2 = Latents(z.static, model.sample_dynamic(b, z.dynamic.shape[1], pgen).to(z.dynamic))
            out = judge(model.decode(z2))
            for f in fs:
                seq[f.name].append(out.sequence[f.name].detach().double().cpu())
                if f.type == "static" and f.name in getattr(out, "frame", {}):
                    frame.setdefault(f.name, []).append(out.frame[f.name].detach().double().cpu())
    y = labels[idx].cpu()
    res: dict[str, dict[str, MetricValue]] = {}
    for f in fs:
        extra = {"mode": mode, "factor": f.name, "kept": f.type == kept_type}
        target = y[:, f.index] if f.type == kept_type else None
        res[f.name] = judged_values(torch.cat(seq[f.name]), target, n_boot=n_boot, seed=seed, extra=extra)
        if f.name in frame:
            res[f.name].update(consistency_values(torch.cat(frame[f.name]), seed=seed, extra=extra))
    return res


def _pairs(labels: torch.Tensor, fs, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(int(seed))
    idx = class_balanced_indices(labels, [f.index for f in fs], n, gen)
    if idx.numel() < 2:
        raise MetricError(f"need at least 2 sequences to form swap pairs, got {idx.numel()}")
    order = torch.randperm(idx.numel(), generator=gen)
    return idx[order], idx[order.roll(1)]


def static_dynamic_swap(
    model,
    judge,
    x: torch.Tensor,
    labels: torch.Tensor,
    factors,
    *,
    n: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
) -> dict[str, dict[str, MetricValue]]:
    r"""Static <-> dynamic swap between random pairs.

    For pairs :math:`(a, b)` of distinct sequences from a class-balanced set,
    :math:`\hat x = \mathrm{dec}(s_a, d_b)` (the harness's channel swap, or the model's own ``swap``).
    Static factors must follow :math:`a` and dynamic factors :math:`b`:
    ``accuracy`` = :math:`P(\hat y_k = y_{src(k)})`; ``chance`` in ``extra`` is the accuracy of a
    factor that ignores the code (:math:`\sum_c p_c^2`). Static factors with frame heads also get
    ``swap_frame_accuracy`` (frames predicting :math:`y_a`) and the sample consistencies.

    Returns
    -------
    dict factor name -> {metric name -> MetricValue}; accuracies in [0, 1], higher is better.

    References
    ----------
    The static/dynamic swap of sequential disentanglement (DSVAE, Li & Mandt 2018; S3VAE, Zhu et al.
    2020; C-DSVAE, Bai et al. 2021: swap the static and the dynamic code of two sequences and judge
    the result). Not MSD's ``TwoFactorSwap``, which swaps channel groups of the channel map
    (:func:`msd_bench.metrics.msd.two_factor_score`).
    """
    Latents, _, swap = _latents()
    fs = _active(factors)
    _check_data(x, labels, fs)
    dev = _device_of(x, device)
    ia, ib = _pairs(labels, fs, n, seed)
    seq: dict[str, list[torch.Tensor]] = {f.name: [] for f in fs}
    frame: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for start in range(0, ia.numel(), batch_size):
            za = model.encode(_batch(x, ia[start : start + batch_size], dev))
            zb = model.encode(_batch(x, ib[start : start + batch_size], dev))
            s = za.static.shape[1]
            mask = torch.zeros(s + za.dynamic.shape[2], dtype=torch.bool, device=za.static.device)
            mask[s:] = True  # dynamic channels from b
            out = judge(model.decode(swap(model, za, zb, mask)))
            for f in fs:
                seq[f.name].append(out.sequence[f.name].argmax(dim=1).cpu())
                if f.type == "static" and f.name in getattr(out, "frame", {}):
                    frame.setdefault(f.name, []).append(out.frame[f.name].detach().double().cpu())
    ya, yb = labels[ia].cpu(), labels[ib].cpu()
    res: dict[str, dict[str, MetricValue]] = {}
    for f in fs:
        src = ya if f.type == "static" else yb
        target = src[:, f.index]
        pred = torch.cat(seq[f.name])
        extra = {"factor": f.name, "follows": "a (static source)" if f.type == "static" else "b (dynamic source)",
                 "chance": chance_level(labels[ia][:, f.index])}
        res[f.name] = {"accuracy": from_samples("static_dynamic_swap.accuracy", (pred == target).double().numpy(),
                                                seed=seed, extra=extra)}
        if f.name in frame:
            res[f.name].update(consistency_values(torch.cat(frame[f.name]), ya[:, f.index], seed=seed,
                                                  extra={"factor": f.name}))
    return res


#: the function's name before version 2 of its scores (kept for callers)
two_factor_swap = static_dynamic_swap


def _channel_lists(channel_map, fs, n_channels: int) -> dict[str, list[int]]:
    if hasattr(channel_map, "channels") and hasattr(channel_map, "factor_names"):
        lists = {name: channel_map.channels(name) for name in channel_map.factor_names}
    elif isinstance(channel_map, dict):
        lists = {k: [int(c) for c in v] for k, v in channel_map.items()}
    else:
        raise MetricError("channel_map must be a ChannelMap or a dict factor -> list of channels")
    out = {}
    for f in fs:
        chans = lists.get(f.name, [])
        bad = [c for c in chans if not 0 <= c < n_channels]
        if bad:
            raise MetricError(f"channel_map[{f.name!r}] has channels {bad} outside [0, {n_channels})")
        out[f.name] = chans
    return out


def multi_factor_swap(
    model,
    judge,
    x: torch.Tensor,
    labels: torch.Tensor,
    factors,
    channel_map,
    *,
    mode: Literal["swap", "sample"] = "swap",
    n: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
    n_boot: int = 200,
) -> dict[str, Any]:
    r"""Multi-factor swap / sample (MSD) with a corrected chance level.

    For every factor :math:`k` and pair :math:`(a, b)`: keep :math:`a`'s channels of :math:`k` (from
    ``channel_map``), take every other channel from :math:`b` (``mode="swap"``) or from a prior sample
    (``mode="sample"``), decode, judge all factors. Agreement matrix
    :math:`A_{kj} = P(\hat y_j = y_{a,j})`; target :math:`T_{kj} = 1` for :math:`j = k`, else
    :math:`\sum_c p_{j,c}^2` over factor j's labels in the evaluated set.

    Scores: ``cell_error`` = :math:`\mathrm{mean}_{k,j}|A_{kj} - T_{kj}|` over all K² cells (lower is
    better, in [0, 1]; the diagonal weighs 1/K, unlike MSD's :math:`1 - (\mathrm{on}+\mathrm{off})/2`),
    ``kept_accuracy`` = :math:`\mathrm{mean}_k A_{kk}` and, for swaps, ``partner_accuracy`` =
    :math:`\mathrm{mean}_{k \ne j} P(\hat y_j = y_{b,j})` (higher is better). A factor without
    channels keeps nothing (its diagonal entry measures that honestly).

    Returns
    -------
    dict with ``cell_error``, ``kept_accuracy``, (``partner_accuracy``) as MetricValue, and ``matrix``
    (A), ``target`` (T), ``partner_matrix`` (swap mode), ``factors`` (order), ``channels`` (lists).

    References
    ----------
    The intervention is MSD's (Barami et al., NeurIPS 2025; ``MultiFactorSwap`` /
    ``MultiFactorSample`` in ``msd/evaluations/metrics/intervention/``); the score is msd-bench's.
    MSD's own score of it, ``1 - (on + off)/2`` with chance 1/n, is
    :func:`msd_bench.metrics.msd.multi_factor_score` (``msd.multi_factor_*``).
    """
    Latents, has_prior, swap = _latents()
    if mode not in ("swap", "sample"):
        raise MetricError(f"multi-factor mode must be 'swap' or 'sample', got {mode!r}")
    fs = _active(factors)
    names = [f"multi_{mode}.cell_error", f"multi_{mode}.kept_accuracy"] + (
        ["multi_swap.partner_accuracy"] if mode == "swap" else [])
    if mode == "sample" and not (has_prior(model, "static") and has_prior(model, "dynamic")):
        missing = [p for p in ("static", "dynamic") if not has_prior(model, p)]
        reason = f"model has no {' and '.join(missing)} prior"
        return {m.split(".", 1)[1]: MetricValue.not_applicable(m, reason) for m in names}
    _check_data(x, labels, fs)
    dev = _device_of(x, device)
    ia, ib = _pairs(labels, fs, n, seed)
    pgen = _prior_generator(dev, seed)
    k_f = len(fs)
    agree_a = []  # [n, K(kept), K(judged)]
    agree_b = []
    chans: dict[str, list[int]] | None = None
    with torch.no_grad():
        for start in range(0, ia.numel(), batch_size):
            ba, bb = ia[start : start + batch_size], ib[start : start + batch_size]
            za = model.encode(_batch(x, ba, dev))
            if mode == "swap":
                zo = model.encode(_batch(x, bb, dev))
            else:
                m = za.static.shape[0]
                zo = Latents(model.sample_static(m, pgen).to(za.static),
                             model.sample_dynamic(m, za.dynamic.shape[1], pgen).to(za.dynamic))
            n_ch = za.static.shape[1] + za.dynamic.shape[2]
            if chans is None:
                chans = _channel_lists(channel_map, fs, n_ch)
            ya, yb = labels[ba].cpu(), labels[bb].cpu()
            blk_a = torch.zeros(ba.numel(), k_f, k_f)
            blk_b = torch.zeros(ba.numel(), k_f, k_f)
            for kk, fk in enumerate(fs):
                take_other = torch.ones(n_ch, dtype=torch.bool, device=za.static.device)
                if chans[fk.name]:
                    take_other[torch.as_tensor(chans[fk.name], device=za.static.device)] = False
                out = judge(model.decode(swap(model, za, zo, take_other)))
                for jj, fj in enumerate(fs):
                    pred = out.sequence[fj.name].argmax(dim=1).cpu()
                    blk_a[:, kk, jj] = (pred == ya[:, fj.index]).float()
                    blk_b[:, kk, jj] = (pred == yb[:, fj.index]).float()
            agree_a.append(blk_a)
            agree_b.append(blk_b)
    a_all = torch.cat(agree_a).double().numpy()
    b_all = torch.cat(agree_b).double().numpy()
    y_set = labels[ia].cpu()
    chance = np.array([chance_level(y_set[:, f.index]) for f in fs])
    target = np.where(np.eye(k_f, dtype=bool), 1.0, chance[None, :])
    off = ~np.eye(k_f, dtype=bool)
    A = a_all.mean(axis=0)

    def err(sample: np.ndarray) -> np.ndarray:  # [n_boot, n, K, K]
        return np.abs(sample.mean(axis=1) - target).mean(axis=(1, 2))

    extra = {"factors": [f.name for f in fs]}
    res: dict[str, Any] = {
        "cell_error": from_statistic(f"multi_{mode}.cell_error", float(np.abs(A - target).mean()), a_all, err,
                                n_boot=n_boot, seed=seed, extra=extra),
        "kept_accuracy": from_samples(f"multi_{mode}.kept_accuracy", np.diagonal(a_all, axis1=1, axis2=2).mean(1),
                                      seed=seed, extra=extra),
        "matrix": A.tolist(),
        "target": target.tolist(),
        "factors": [f.name for f in fs],
        "channels": chans,
    }
    if mode == "swap":
        res["partner_accuracy"] = from_samples("multi_swap.partner_accuracy", b_all[:, off].mean(axis=1),
                                               seed=seed, extra=extra)
        res["partner_matrix"] = b_all.mean(axis=0).tolist()
    return res
