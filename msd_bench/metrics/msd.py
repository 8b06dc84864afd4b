r"""The MSD benchmark's and C-DSVAE's published scores, reproduced (groups ``msd`` and ``cdsvae``).

Two layers:

- **Formulas** on hand-made matrices (numpy, no model): :func:`intervention_score` (MSD's
  ``1 - (on + off) / 2``), :func:`multi_factor_score`, :func:`two_factor_score`,
  :func:`consistency_score`, :func:`group_dci`, and C-DSVAE's :func:`cdsvae_balanced_subset`.
  Each is the formula of the reference code, cited in its docstring, including the reference's
  handling of a factor without channels.
- **Protocols** on a model and a judge (torch, batched): :func:`msd_interventions` (one pass per
  manipulation that serves the multi-factor, two-factor and consistency scores) and
  :func:`cdsvae_generation`.

References
----------
MSD: T. Barami, N. Berman, I. Naiman, A. H. Hason, R. Ezra, O. Azencot. *Disentanglement Beyond
Static vs. Dynamic: A Benchmark and Evaluation Framework for Multi-Factor Sequential
Representations.* NeurIPS 2025; code github.com/azencot-group/MSD-Benchmark,
``msd/evaluations/metrics/`` (``intervention/intervention_evaluator.py``,
``intervention/multi_factor_intervention.py``, ``intervention/two_factor_intervention.py``,
``consistency_evaluator.py``, ``dci_evaluator.py``) and
``msd/evaluations/latent_exploration/explorers/predictor_latent_explorer.py``.

C-DSVAE: J. Bai, W. Wang, C. P. Gomes. *Contrastively Disentangled Sequential Variational
Autoencoder.* NeurIPS 2021; code github.com/JunwenBai/C-DSVAE, ``test_sprite_cls.py`` (``main``,
``inception_score``, ``entropy_Hyx``, ``entropy_Hy``) with ``model.py``
(``forward_fixed_motion_for_classification``).

Names. MSD's code names its two sample-consistency evaluators the wrong way round:
``ConsistencyGlobalSample`` (agreement of every frame with the sequence's modal prediction — a
*global* property) reports under the name ``local_consistency_sample``, and
``ConsistencyLocalSample`` (agreement of consecutive frames — a *local* property) reports as
``global_consistency_sample``. Here the names follow the definitions:
``msd.global_sample_consistency`` is the modal-frame agreement (MSD's reported
"local_consistency_sample") and ``msd.local_sample_consistency`` the consecutive-frame agreement
(MSD's reported "global_consistency_sample").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from ..errors import MetricError
from .base import MetricValue, from_samples, from_statistic, register
from .interventions import _batch
from .judged import _entropy_rows_log, _kl_to_marginal, _log_marginal

__all__ = [
    "EPSILON_DCI",
    "cdsvae_balanced_subset",
    "cdsvae_generation",
    "consistency_score",
    "group_dci",
    "intervention_score",
    "msd_interventions",
    "multi_factor_score",
    "two_factor_score",
]

#: MSD's ``DCIEvaluator.epsilon``: the probability used in place of an exactly zero importance share
EPSILON_DCI = 1e-7

_G = "msd"
_NEEDS = ("judge", "labels", "channel_map")
for _mode in ("swap", "sample"):
    _prior = ("prior",) if _mode == "sample" else ()
    register(f"msd.multi_factor_{_mode}", "1", True,
             f"MSD multi-factor {_mode} score 1 - (on + off)/2 (on/off = mean |A - T| on/off the diagonal, "
             "T = 1 on it, 1/n_classes off it)", needs=_NEEDS + _prior, value_range="[0, 1]", group=_G)
    register(f"msd.two_factor_{_mode}", "1", True,
             f"MSD two-factor {_mode} score 1 - (on + off)/2 over the static and dynamic channel groups of the "
             "channel map", needs=_NEEDS + _prior, value_range="[0, 1]", group=_G)
register("msd.consistency_swap", "1", True,
         "MSD per-factor consistency swap: frame accuracy of each static factor (kept one vs source, others vs "
         "partner) when one static factor's channels are kept", needs=_NEEDS, value_range="[0, 1]", group=_G)
register("msd.global_sample_consistency", "1", True,
         "MSD sample consistency, modal-frame agreement (MSD's code reports it as local_consistency_sample)",
         needs=_NEEDS + ("prior",), value_range="[0, 1]", group=_G)
register("msd.local_sample_consistency", "1", True,
         "MSD sample consistency, consecutive-frame agreement (MSD's code reports it as "
         "global_consistency_sample)", needs=_NEEDS + ("prior",), value_range="[0, 1]", group=_G)
register("msd.dci.modularity", "1", True,
         "MSD group DCI modularity: importance-weighted 1 - entropy (base K) of each channel group's importance "
         "over factors", needs=("labels", "channel_map"), value_range="[0, 1]", group=_G)
register("msd.dci.compactness", "1", True,
         "MSD group DCI compactness: mean over factors of 1 - entropy (base = number of channels) of the "
         "factor's importance over channel groups", needs=("labels", "channel_map"), value_range="[0, 1]",
         group=_G)
_GC = "cdsvae"
register("cdsvae.accuracy", "1", True,
         "C-DSVAE: static code resampled, judge accuracy of the kept dynamic factors (mean)",
         needs=("judge", "labels", "prior"), value_range="[0, 1]", group=_GC)
register("cdsvae.inception_score", "1", True,
         "C-DSVAE: static code resampled, IS of the kept dynamic factors' heads on a class-balanced subset (mean)",
         needs=("judge", "labels", "prior"), value_range="[1, n_classes]", group=_GC)
register("cdsvae.h_y_given_x", "1", False,
         "C-DSVAE: static code resampled, H(y|x) of the kept dynamic factors' heads (nats, mean)",
         needs=("judge", "labels", "prior"), value_range="[0, log n_classes]", group=_GC)
register("cdsvae.h_y", "1", True,
         "C-DSVAE: static code resampled, H(y) of the kept dynamic factors' heads (nats, mean)",
         needs=("judge", "labels", "prior"), value_range="[0, log n_classes]", group=_GC)


# ============================================================================================ formulas
def intervention_score(acc, on, n_classes, missing: Sequence[int] = ()) -> dict[str, float]:
    r"""MSD's intervention score of an agreement matrix.

    .. math::
        T_{rj} = \begin{cases}1 & (r, j)\ \text{on}\\ 1/n_j & \text{off}\end{cases},\quad
        \Delta = |A - T|,\quad
        \mathrm{on} = \mathrm{mean}_{(r,j)\ \text{on}} \Delta_{rj},\quad
        \mathrm{off} = \mathrm{mean}_{(r,j)\ \text{off}} \Delta_{rj},\quad
        \mathrm{score} = 1 - \tfrac12(\mathrm{on} + \mathrm{off})

    The means pool every on (resp. off) cell of the matrix (MSD concatenates the cells of all rows,
    then averages), so the diagonal and the off-diagonal weigh 1/2 each whatever K is. A *missing*
    row (an intervention without channels in the map) is the worst case: MSD sets its on cells to 0
    and its off cells to :math:`1 + 1/n_j`, so every cell of it has :math:`\Delta = 1`.

    Parameters
    ----------
    acc : float [R, K]
        ``acc[r, j]`` = fraction of interventions of row r whose judged factor j equals the
        source's label (the sequence whose channels were kept).
    on : bool [R, K]
        Cells that must follow the source (target 1); the others have target :math:`1/n_j`.
    n_classes : int [K]
        Classes per judged factor (MSD's ``dataset.class_dims``; chance = 1/n, uniform).
    missing : sequence of int
        Rows without channels.

    Returns
    -------
    dict with ``score`` (in [0, 1], higher is better), ``on``, ``off`` (mean errors).

    References
    ----------
    MSD, ``InterventionEvaluator.calculate_score``.
    """
    a = np.asarray(acc, dtype=np.float64)
    m = np.asarray(on, dtype=bool)
    n = np.asarray(n_classes, dtype=np.float64).reshape(-1)
    if a.ndim != 2 or m.shape != a.shape or n.shape[0] != a.shape[1]:
        raise MetricError(f"intervention_score: acc {a.shape}, on {m.shape}, n_classes {n.shape} do not fit [R, K]")
    if not m.any() or m.all():
        raise MetricError("intervention_score: needs both on and off cells")
    diff = np.abs(a - np.where(m, 1.0, 1.0 / n[None, :]))
    for r in missing:
        diff[int(r), :] = 1.0
    on_err, off_err = float(diff[m].mean()), float(diff[~m].mean())
    return {"score": 1.0 - (on_err + off_err) / 2.0, "on": on_err, "off": off_err}


def multi_factor_score(acc, n_classes, missing: Sequence[int] = ()) -> dict[str, float]:
    r"""MSD multi-factor swap / sample score of the K×K agreement matrix.

    Row k keeps factor k's channels of the source and takes every other channel from a partner
    (swap) or from the prior (sample); ``acc[k, j]`` = P(judge's factor j = source's label j). On
    cells: the diagonal. Score :math:`1 - (\mathrm{on} + \mathrm{off})/2` (:func:`intervention_score`).

    References
    ----------
    MSD, ``MultiFactorSwap`` / ``MultiFactorSample`` (``_expected_map`` = each factor itself) and
    ``InterventionEvaluator.calculate_score``.
    """
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise MetricError(f"multi_factor_score: expected a square [K, K] matrix, got {a.shape}")
    return intervention_score(a, np.eye(a.shape[0], dtype=bool), n_classes, missing)


def two_factor_score(acc, types: Sequence[str], n_classes, missing: Sequence[int] = ()) -> dict[str, float]:
    r"""MSD two-factor swap / sample score of the 2×K agreement matrix.

    Row 0 keeps the *static group* (the union of the channels the channel map gives to static
    factors) of the source, row 1 the *dynamic group*; the rest comes from a partner or the prior.
    On cells: the static factors in row 0, the dynamic factors in row 1. Score
    :math:`1 - (\mathrm{on} + \mathrm{off})/2`. (MSD decodes the source unchanged when a group is
    empty, ``len(subset) == 0``; :func:`msd_interventions` does the same.)

    Parameters
    ----------
    acc : float [2, K]
        Rows (static group, dynamic group).
    types : sequence of "static" / "dynamic", length K

    References
    ----------
    MSD, ``TwoFactorIntervention._get_mapping`` / ``_expected_map`` and
    ``InterventionEvaluator.calculate_score``.
    """
    a = np.asarray(acc, dtype=np.float64)
    t = np.asarray(list(types))
    if a.ndim != 2 or a.shape[0] != 2 or t.shape[0] != a.shape[1]:
        raise MetricError(f"two_factor_score: expected acc [2, K] and K types, got {a.shape} and {t.shape[0]}")
    on = np.stack([t == "static", t == "dynamic"])
    return intervention_score(a, on, n_classes, missing)


def consistency_score(acc, missing: Sequence[int] = ()) -> float:
    r"""MSD consistency score of the S×S matrix of static factors.

    .. math:: 1 - \mathrm{mean}_j\ \mathrm{mean}_{k:\ C_{kj}\ \text{defined}} |C_{kj} - 1|

    ``acc[k, j]`` is a frame-level agreement of static factor j when static factor k's channels are
    kept: for the *swap* consistency, frames whose prediction of j equals the source's label
    (j = k) or the partner's (j ≠ k); for the sample consistencies, the modal-frame or
    consecutive-frame agreement. A *missing* row (k without channels) has its diagonal set to 0 and
    its other cells undefined (NaN), which the column means skip (pandas ``DataFrame.mean``), as
    in MSD.

    Returns
    -------
    float in [0, 1]; higher is better.

    References
    ----------
    MSD, ``ConsistencyEvaluator.calculate_score`` (``1 - diff.mean().mean()``).
    """
    a = np.array(acc, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise MetricError(f"consistency_score: expected a square [S, S] matrix, got {a.shape}")
    for k in missing:
        a[int(k), :] = np.nan
        a[int(k), int(k)] = 0.0
    diff = np.abs(a - 1.0)
    with np.errstate(invalid="ignore"), _quiet():
        cols = np.nanmean(diff, axis=0)
        return float(1.0 - np.nanmean(cols))


class _quiet:
    """Silence numpy's 'mean of empty slice' warning (NaN is the intended answer there)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def group_dci(importance, mapping: Mapping[str, Sequence[int]], n_channels: int | None = None) -> dict[str, Any]:
    r"""MSD's group DCI: modularity and compactness of channel *groups* (the channel map's).

    With :math:`R` the importance matrix ``[C, K]`` (channel × factor; MSD: each factor's
    ``GradientBoostingClassifier.feature_importances_``), groups :math:`G_g` (the channels the
    channel map gives to factor g; factors without channels have no group) and
    :math:`p \log p := \epsilon\log\epsilon` for an exactly zero share (:math:`\epsilon = 10^{-7}`):

    .. math::
        \mathrm{modularity} = \sum_g \rho_g\Big(1 + \sum_f p_{gf}\log_K p_{gf}\Big),\quad
        p_{gf} = \frac{\sum_{c\in G_g} R_{cf}}{\sum_{c\in G_g}\sum_{f'} R_{cf'}},\quad
        \rho_g = \frac{\sum_{c\in G_g}\sum_f R_{cf}}{\sum_{c,f} R_{cf}}

    .. math::
        \mathrm{compactness} = \frac1K\sum_f\Big(1 + \sum_g q_{fg}\log_{C} q_{fg}\Big),\quad
        q_{fg} = \frac{\sum_{c\in G_g} R_{cf}}{\sum_{c} R_{cf}}

    Note the bases: K (number of factors) for modularity, C (the number of latent channels,
    MSD's ``model.latent_dim()``, not the number of groups) for compactness.

    Parameters
    ----------
    importance : float [C, K] >= 0
    mapping : dict factor name -> channels (in factor order; one entry per factor with channels)
    n_channels : int, optional
        The compactness log base (default C).

    Returns
    -------
    dict with ``modularity``, ``compactness`` (floats) and ``per_group`` / ``per_factor`` lists.

    References
    ----------
    MSD, ``DCIEvaluator.modularity`` and ``DCIEvaluator.compactness``.
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise MetricError(f"group_dci: importance must be [C, K] with K >= 2 factors, got shape {r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise MetricError("group_dci: importance must be finite and non-negative")
    c, k = r.shape
    base_c = int(n_channels or c)
    if base_c < 2:
        raise MetricError(f"group_dci: needs at least 2 channels for the compactness base, got {base_c}")
    groups = [(name, np.asarray(list(ch), dtype=np.int64)) for name, ch in mapping.items() if len(ch)]
    if not groups:
        raise MetricError("group_dci: the channel map gives no channel to any factor; no group to score")
    for name, ch in groups:
        if ch.size and (ch.min() < 0 or ch.max() >= c):
            raise MetricError(f"group_dci: group {name!r} has channels outside [0, {c})")
    total = r.sum()
    if total <= 0:
        raise MetricError("group_dci: every importance is zero; no channel carries any factor")

    def plogp(w: float, z: float, base: float) -> float:
        p = w / z if w != 0 else EPSILON_DCI
        return p * (np.log(p) / np.log(base))

    per_group, modularity = [], 0.0
    for _name, ch in groups:
        code_w = float(r[ch].sum())
        m = 1.0 + sum(plogp(float(r[ch, f].sum()), code_w, k) for f in range(k))
        per_group.append(m)
        modularity += (code_w / total) * m
    per_factor = []
    for f in range(k):
        fw = float(r[:, f].sum())
        per_factor.append(1.0 + sum(plogp(float(r[ch, f].sum()), fw, base_c) for _n, ch in groups))
    return {"modularity": float(modularity), "compactness": float(np.mean(per_factor)),
            "per_group": per_group, "per_factor": per_factor}


def cdsvae_balanced_subset(labels) -> np.ndarray:
    """C-DSVAE's class-balanced subset: for every class present, its first m positions, m = min count.

    ``labels`` int [N] in evaluation order; returns the positions, class by class (C-DSVAE,
    ``test_sprite_cls.py``: ``nSample_per_cls = min(...)``, ``np.nonzero(label_gt == i)[0][:nSample_per_cls]``).
    """
    y = np.asarray(labels).reshape(-1)
    classes = np.unique(y)
    m = min(int((y == c).sum()) for c in classes)
    return np.concatenate([np.flatnonzero(y == c)[:m] for c in classes])


# =========================================================================================== protocols
def _lat():
    from ..harness.interface import Latents, has_prior, swap

    return Latents, has_prior, swap


def _active(factors) -> list:
    fs = [f for f in factors if not getattr(f, "ignore", False)]
    if not fs:
        raise MetricError("no factor to score: every factor is marked ignore")
    return fs


def _mapping_of(channel_map, fs) -> dict[str, list[int]]:
    if hasattr(channel_map, "channels") and hasattr(channel_map, "factor_names"):
        lists = {n: channel_map.channels(n) for n in channel_map.factor_names}
    elif isinstance(channel_map, Mapping):
        lists = {k: [int(c) for c in v] for k, v in channel_map.items()}
    else:
        raise MetricError("channel_map must be a ChannelMap or a dict factor -> list of channels")
    return {f.name: list(lists.get(f.name, [])) for f in fs}


def msd_interventions(
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
    r"""MSD's intervention protocol: one pass serving the multi-factor, two-factor and consistency scores.

    Sequences: ``min(n, N)`` drawn uniformly without replacement (seeded); partners: a seeded random
    permutation of them (MSD's ``SwapManipulator``: ``torch.randperm`` of the batch), or, for
    ``mode="sample"``, a full prior sample (static and dynamic; MSD's ``SampleManipulator``). For
    each intervention row the kept channels come from the source and every other channel from the
    partner / prior sample; the decoded sequences are judged.

    Rows: one per factor with channels (its channels kept), plus the static group and the dynamic
    group (union of the channels of the factors of that type; an empty group decodes the source
    unchanged, as in MSD). Factors without channels are *missing* (worst case, see
    :func:`intervention_score`).

    Returns
    -------
    dict with MetricValues ``multi_factor``, ``two_factor`` and, for static factors with frame heads,
    ``consistency_swap`` (swap) or ``global_sample_consistency`` / ``local_sample_consistency``
    (sample); the mean matrices (``multi_matrix``, ``two_matrix``, ``consistency_*_matrix``),
    ``factors``, ``channels``, ``missing``. Intervals: bootstrap over the pairs (``n_boot``).
    Not applicable (sample mode) without both priors.
    """
    Latents, has_prior, swap = _lat()
    if mode not in ("swap", "sample"):
        raise MetricError(f"msd_interventions: mode must be 'swap' or 'sample', got {mode!r}")
    fs = _active(factors)
    names = [f"msd.multi_factor_{mode}", f"msd.two_factor_{mode}"]
    cons_names = ["msd.consistency_swap"] if mode == "swap" else ["msd.global_sample_consistency",
                                                                  "msd.local_sample_consistency"]
    if mode == "sample" and not (has_prior(model, "static") and has_prior(model, "dynamic")):
        missing_p = [p for p in ("static", "dynamic") if not has_prior(model, p)]
        reason = f"model has no {' and '.join(missing_p)} prior"
        keys = ["multi_factor", "two_factor", "global_sample_consistency", "local_sample_consistency"]
        return {k: MetricValue.not_applicable(m, reason) for k, m in zip(keys, names + cons_names, strict=True)}
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 5) or labels.shape[0] != x.shape[0]:
        raise MetricError(f"msd_interventions: x must be [N, T, C, H, W] or [N, T, F] with one label row each, got "
                          f"{tuple(getattr(x, 'shape', ()))} and {tuple(labels.shape)}")
    dev = torch.device(device) if device is not None else x.device
    mapping = _mapping_of(channel_map, fs)
    k_f = len(fs)
    statics = [i for i, f in enumerate(fs) if f.type == "static"]
    gen = torch.Generator().manual_seed(int(seed))
    m_seq = min(int(n), x.shape[0])
    if m_seq < 2:
        raise MetricError(f"msd_interventions: need at least 2 sequences, got {m_seq}")
    ia = torch.randperm(x.shape[0], generator=gen)[:m_seq]
    ib = ia[torch.randperm(m_seq, generator=gen)]
    pgen = torch.Generator(device=dev).manual_seed(int(seed) + 1)

    rows_multi = [k for k, f in enumerate(fs) if mapping[f.name]]
    missing = [k for k in range(k_f) if k not in rows_multi]
    multi = np.full((m_seq, k_f, k_f), np.nan)
    two = np.zeros((m_seq, 2, k_f))
    cons = {c: np.full((m_seq, len(statics), len(statics)), np.nan) for c in ("swap", "global", "local")}
    have_frames = True
    groups = [sorted({c for f in fs if f.type == t for c in mapping[f.name]}) for t in ("static", "dynamic")]
    with torch.no_grad():
        for start in range(0, m_seq, batch_size):
            sl = slice(start, min(start + batch_size, m_seq))
            ba, bb = ia[sl], ib[sl]
            za = model.encode(_batch(x, ba, dev))
            if mode == "swap":
                zo = model.encode(_batch(x, bb, dev))
            else:
                b = za.static.shape[0]
                zo = Latents(model.sample_static(b, pgen).to(za.static),
                             model.sample_dynamic(b, za.dynamic.shape[1], pgen).to(za.dynamic))
            n_ch = za.static.shape[1] + za.dynamic.shape[2]
            for name, ch in mapping.items():
                if any(not 0 <= c < n_ch for c in ch):
                    raise MetricError(f"channel_map[{name!r}] has channels outside [0, {n_ch})")
            ya, yb = labels[ba].cpu(), labels[bb].cpu()

            def judged(keep: list[int], za=za, zo=zo, n_ch=n_ch):
                if not keep:  # MSD: an empty subset means no swap at all (the source decoded as is)
                    return judge(model.decode(za))
                take_other = torch.ones(n_ch, dtype=torch.bool, device=za.static.device)
                take_other[torch.as_tensor(keep, device=za.static.device)] = False
                return judge(model.decode(swap(model, za, zo, take_other)))

            for k in rows_multi:
                out = judged(mapping[fs[k].name])
                for j, fj in enumerate(fs):
                    pred = out.sequence[fj.name].argmax(dim=1).cpu()
                    multi[sl, k, j] = (pred == ya[:, fj.index]).double().numpy()
                if fs[k].type != "static":
                    continue
                kk = statics.index(k)
                for jj, j in enumerate(statics):
                    fj = fs[j]
                    frame = getattr(out, "frame", {}).get(fj.name)
                    if frame is None:
                        have_frames = False
                        continue
                    p = frame.argmax(dim=2).cpu()  # [B, T]
                    if mode == "swap":
                        y = (ya if j == k else yb)[:, fj.index]
                        cons["swap"][sl, kk, jj] = (p == y[:, None]).double().mean(dim=1).numpy()
                    else:
                        modal = torch.mode(p, dim=1).values
                        cons["global"][sl, kk, jj] = (p == modal[:, None]).double().mean(dim=1).numpy()
                        if p.shape[1] >= 2:
                            cons["local"][sl, kk, jj] = (p[:, 1:] == p[:, :-1]).double().mean(dim=1).numpy()
            for r, keep in enumerate(groups):
                out = judged(keep)
                for j, fj in enumerate(fs):
                    pred = out.sequence[fj.name].argmax(dim=1).cpu()
                    two[sl, r, j] = (pred == ya[:, fj.index]).double().numpy()

    n_cls = np.array([f.n_classes for f in fs], dtype=np.float64)
    types = [f.type for f in fs]
    info = {"factors": [f.name for f in fs], "channels": mapping, "missing": [fs[k].name for k in missing],
            "static_group": groups[0], "dynamic_group": groups[1], "n_pairs": m_seq, "chance": "1/n_classes"}
    res: dict[str, Any] = {"factors": info["factors"], "channels": mapping, "missing": info["missing"]}

    def multi_stat(sample: np.ndarray) -> np.ndarray:
        mean = np.nan_to_num(sample.mean(axis=1))
        return np.array([multi_factor_score(m, n_cls, missing)["score"] for m in mean])

    mm = np.nan_to_num(multi.mean(axis=0))
    sc = multi_factor_score(mm, n_cls, missing)
    res["multi_factor"] = from_statistic(names[0], sc["score"], multi, multi_stat, n_boot=n_boot, seed=seed,
                                         extra={**info, "on": sc["on"], "off": sc["off"], "matrix": mm.tolist()})
    res["multi_matrix"] = mm.tolist()
    if any(t == "static" for t in types) and any(t == "dynamic" for t in types):
        tm = two.mean(axis=0)
        st = two_factor_score(tm, types, n_cls)
        res["two_factor"] = from_statistic(
            names[1], st["score"], two,
            lambda s: np.array([two_factor_score(m, types, n_cls)["score"] for m in s.mean(axis=1)]),
            n_boot=n_boot, seed=seed, extra={**info, "on": st["on"], "off": st["off"], "matrix": tm.tolist()})
        res["two_matrix"] = tm.tolist()
    else:
        res["two_factor"] = MetricValue.not_applicable(names[1], "needs both static and dynamic factors")
    miss_s = [statics.index(k) for k in missing if k in statics]
    keys = ["swap"] if mode == "swap" else ["global", "local"]
    for key, name in zip(keys, cons_names, strict=True):
        out_key = {"swap": "consistency_swap", "global": "global_sample_consistency",
                   "local": "local_sample_consistency"}[key]
        if not statics or not have_frames:
            res[out_key] = MetricValue.not_applicable(name, "no static factor with a frame head")
            continue
        arr = cons[key]
        with _quiet():
            cm = np.nanmean(arr, axis=0)
        value = consistency_score(cm, miss_s)
        if not np.isfinite(value):
            res[out_key] = MetricValue.not_applicable(name, "no static factor has channels in the map")
            continue

        def cstat(s: np.ndarray) -> np.ndarray:
            with _quiet():
                return np.array([consistency_score(np.nanmean(b, axis=0), miss_s) for b in s])

        res[out_key] = from_statistic(name, value, arr, cstat, n_boot=n_boot, seed=seed,
                                      extra={**info, "static_factors": [fs[k].name for k in statics],
                                             "matrix": np.where(np.isfinite(cm), cm, -1.0).tolist()})
        res[f"consistency_{key}_matrix"] = cm.tolist()
    return res


def cdsvae_generation(
    model,
    judge,
    x: torch.Tensor,
    labels: torch.Tensor,
    factors,
    *,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
    n_boot: int = 200,
) -> dict[str, dict[str, MetricValue]]:
    r"""C-DSVAE's generation protocol: keep the dynamic code, sample the static code, judge the kept head.

    For every evaluated sequence x (in order): :math:`\hat x = \mathrm{dec}(s \sim p(s),\ d =
    \mathrm{enc}_d(x))` (C-DSVAE ``forward_fixed_motion_for_classification``: posterior-mean motion,
    content from the prior). For each *dynamic* factor y (C-DSVAE's Sprites: the action head), with
    :math:`p(y\mid\hat x)` = softmax of the judge's head:

    - ``accuracy`` = mean 1[argmax p(y|x̂) = y(x)] over every evaluated sequence;
    - on C-DSVAE's class-balanced subset (:func:`cdsvae_balanced_subset` of the true labels):
      ``inception_score`` = :math:`\exp(E\,\mathrm{KL}(p(y|\hat x)\|p(y)))`, ``h_y_given_x`` =
      :math:`E\,H(p(y|\hat x))`, ``h_y`` = :math:`H(E\,p(y|\hat x))` (nats).

    C-DSVAE adds ``eps = 1e-16`` inside its logs; here log-probabilities come from ``log_softmax``
    (the two differ by < 1e-12 on any judge output). C-DSVAE drops the last incomplete batch of
    its data loader (``drop_last=True``); here every evaluated sequence counts.

    Returns
    -------
    dict dynamic factor name -> {metric -> MetricValue}; not applicable without a static prior.

    References
    ----------
    C-DSVAE ``test_sprite_cls.py`` (``main``: ``acc``, ``IS``, ``H_yx``, ``H_y``; ``inception_score``,
    ``entropy_Hyx``, ``entropy_Hy``).
    """
    Latents, has_prior, _ = _lat()
    fs = _active(factors)
    dyn = [f for f in fs if f.type == "dynamic"]
    if not dyn:
        raise MetricError("cdsvae_generation: the dataset has no dynamic factor to keep")
    if not has_prior(model, "static"):
        reason = "model has no static prior"
        return {f.name: {m: MetricValue.not_applicable(f"cdsvae.{m}", reason)
                         for m in ("accuracy", "inception_score", "h_y_given_x", "h_y")} for f in dyn}
    dev = torch.device(device) if device is not None else x.device
    pgen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    logits: dict[str, list[torch.Tensor]] = {f.name: [] for f in dyn}
    idx = torch.arange(x.shape[0])
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            z = model.encode(_batch(x, idx[start : start + batch_size], dev))
            z2 = Latents(model.sample_static(z.static.shape[0], pgen).to(z.static), z.dynamic)
            out = judge(model.decode(z2))
            for f in dyn:
                logits[f.name].append(out.sequence[f.name].detach().double().cpu())
    res: dict[str, dict[str, MetricValue]] = {}
    for f in dyn:
        lg = torch.cat(logits[f.name])
        y = labels[:, f.index].cpu()
        logp = torch.log_softmax(lg, dim=1)
        sub = torch.as_tensor(cdsvae_balanced_subset(y.numpy()))
        ls = logp[sub]
        ps = torch.exp(ls).numpy()
        extra = {"factor": f.name, "n_balanced": int(sub.numel())}
        correct = (logp.argmax(dim=1) == y).double().numpy()

        def is_stat(s: np.ndarray) -> np.ndarray:
            py = s.mean(axis=1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                kl = np.where(s > 0, s * (np.log(np.where(s > 0, s, 1)) - np.log(np.where(py > 0, py, 1))), 0.0)
            return np.exp(kl.sum(axis=2).mean(axis=1))

        def hy_stat(s: np.ndarray) -> np.ndarray:
            py = s.mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return -np.where(py > 0, py * np.log(np.where(py > 0, py, 1)), 0.0).sum(axis=1)

        res[f.name] = {
            "accuracy": from_samples("cdsvae.accuracy", correct, seed=seed, extra=extra),
            "inception_score": from_statistic("cdsvae.inception_score", float(torch.exp(_kl_to_marginal(ls).mean())),
                                              ps, is_stat, n_boot=n_boot, seed=seed, extra=extra),
            "h_y_given_x": from_samples("cdsvae.h_y_given_x", _entropy_rows_log(ls).numpy(), seed=seed, extra=extra),
            "h_y": from_statistic("cdsvae.h_y", float(_entropy_rows_log(_log_marginal(ls))[0]), ps, hy_stat,
                                  n_boot=n_boot, seed=seed, extra=extra),
        }
    return res
