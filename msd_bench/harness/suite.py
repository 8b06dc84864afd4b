"""The metric groups run by :func:`msd_bench.harness.runner.evaluate` and their shared context.

A group is a function ``group(ctx) -> list[MetricValue]``; :data:`GROUPS` lists them in run order.
The :class:`EvalContext` owns the data of one run (the evaluation subset of the split, its labels,
the cached encodings, seeded generators) so that every group reuses the same encodings and the same
random choices. Every score name is registered in :mod:`msd_bench.metrics` (headlines in
:mod:`msd_bench.metrics.aggregates`); the pictures are drawn by :mod:`msd_bench.harness.pictures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..datasets import to_model_input
from ..errors import MetricError
from ..metrics import aggregates as _aggregates  # noqa: F401  (registers the headline scores written here)
from ..metrics import base as _mb
from ..metrics import reconstruction as rec
from ..metrics import representation as rep
from ..metrics.base import MetricValue, from_samples
from ..metrics.exploration import explore_channels, features_from_latents
from ..metrics.interventions import generation_metrics, multi_factor_swap, static_dynamic_swap
from ..metrics.msd import cdsvae_generation, group_dci, msd_interventions
from . import pictures
from .interface import Latents
from .modality import dataset_modality

#: sequences of the train split encoded to fit the latent exploration (channel map) and the
#: representation metrics' classifiers
EXPLORE_TRAIN = 4000


@dataclass
class EvalContext:
    model: Any  # TimedModel
    judge: Any  # TimedJudge
    dataset: Any  # H5Dataset
    split: str
    limit: int | None
    batch_size: int
    seed: int
    repeats: int
    device: torch.device
    pictures_dir: Path | None = None
    progress: Callable[[str, int, int], None] | None = None
    explore_train: int = EXPLORE_TRAIN
    cache: dict[str, Any] = field(default_factory=dict)
    #: model-independent inputs kept across runs (:class:`msd_bench.Evaluator`): subsets, labels, and the
    #: videos as float tensors on the device. ``None`` (one cold run): they live in ``cache`` and the
    #: videos stay uint8 on the CPU, converted per batch. The values are the same either way.
    inputs: dict[str, Any] | None = None

    @property
    def _store(self) -> dict[str, Any]:
        return self.cache if self.inputs is None else self.inputs

    # ------------------------------------------------------------------------------ data
    def subset(self, split: str | None = None, limit: int | None = None) -> np.ndarray:
        """Dataset indices evaluated: the whole split, or a seeded random subset of ``limit``, sorted."""
        split = split or self.split
        limit = self.limit if limit is None and split == self.split else limit
        key = f"subset:{split}:{limit}"
        store = self._store
        if key not in store:
            idx = self.dataset.indices(split)
            if limit is not None and limit < idx.size:
                rng = np.random.default_rng(self.seed)
                idx = np.sort(rng.choice(idx, size=limit, replace=False))
            store[key] = idx
        return store[key]

    @property
    def n(self) -> int:
        return int(self.subset().size)

    def labels(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        idx = self.subset(split, limit)
        if self.inputs is None:
            return torch.from_numpy(self.dataset.labels()[idx]).to(self.device)
        key = f"labels:{split or self.split}:{limit}"
        if key not in self.inputs:
            self.inputs[key] = torch.from_numpy(self.dataset.labels()[idx]).to(self.device)
        return self.inputs[key].clone()  # a metric may modify its copy; the kept one stays as read

    @property
    def modality(self) -> str:
        """The dataset's modality (``video``, ``audio``, ``timeseries``)."""
        return dataset_modality(self.dataset)

    def videos(self, positions: np.ndarray | torch.Tensor, split: str | None = None) -> torch.Tensor:
        """Model inputs ``[B, T, *F]`` (float32, :func:`msd_bench.datasets.to_model_input`) of the given
        positions within the evaluated subset (videos, audio frames or time series)."""
        pos = positions.cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions)
        data, _ = self.dataset.read(self.subset(split)[pos])
        return to_model_input(torch.from_numpy(data).to(self.device), self.modality)

    def uint8(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        """The stored sequences of a subset as one CPU tensor ``[N, T, *F]`` in the stored dtype (uint8
        video, int16 audio, float32 time series), read once and cached (about 170 MB for the full
        sprites test split)."""
        key = f"uint8:{split or self.split}:{limit}"
        store = self._store
        if key not in store:
            data, _ = self.dataset.read(self.subset(split, limit))
            store[key] = torch.from_numpy(data)
        return store[key]

    def float_videos(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        """The model inputs of a subset as one float tensor on the device, kept in :attr:`inputs`
        (only when there is one: an :class:`msd_bench.Evaluator`; 4 bytes per pixel)."""
        if self.inputs is None:
            raise RuntimeError("float_videos needs an inputs store (msd_bench.Evaluator)")
        key = f"float:{split or self.split}:{limit}"
        if key not in self.inputs:
            # the same conversion as iter_videos' per-batch one (to_model_input): same values
            self.inputs[key] = to_model_input(self.uint8(split, limit).to(self.device), self.modality)
            self.inputs.pop(f"uint8:{split or self.split}:{limit}", None)
        return self.inputs[key]

    def videos_for_metrics(self) -> torch.Tensor:
        """The evaluated videos as the intervention metrics take them: uint8 on the CPU (scaled per batch),
        or the kept float tensor on the device (same values, no conversion per call)."""
        return self.uint8() if self.inputs is None else self.float_videos()

    def iter_videos(self, split: str | None = None, limit: int | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(slice of positions, float videos on the device)`` over a subset in batches."""
        if self.inputs is not None:
            full = self.float_videos(split, limit)
            for start in range(0, full.shape[0], self.batch_size):
                sl = slice(start, min(start + self.batch_size, full.shape[0]))
                yield sl, full[sl]
            return
        data = self.uint8(split, limit)
        for start in range(0, data.shape[0], self.batch_size):
            sl = slice(start, min(start + self.batch_size, data.shape[0]))
            yield sl, to_model_input(data[sl].to(self.device), self.modality)

    # ------------------------------------------------------------------------------ model
    def encode_split(self, split: str | None = None, limit: int | None = None) -> Latents:
        """Encodings of the evaluated subset (cached)."""
        key = f"latents:{split or self.split}:{limit}"
        if key not in self.cache:
            parts = [self.model.encode(x) for _, x in self.iter_videos(split, limit)]
            z = Latents.cat(parts)
            bad = [k for k, v in (("static", z.static), ("dynamic", z.dynamic)) if not torch.isfinite(v).all()]
            if bad:
                raise MetricError(f"the model's encode returned NaN or Inf in {', '.join(bad)} latents")
            self.cache[key] = z
        return self.cache[key]

    def latents(self) -> Latents:
        return self.encode_split()

    def train_latents(self) -> tuple[Latents, torch.Tensor]:
        """Encodings and labels of a seeded subset of the train split (exploration / classifier fits)."""
        z = self.encode_split("train", self.explore_train)
        if self.inputs is None:
            self.cache.pop(f"uint8:train:{self.explore_train}", None)  # only the encodings are needed again
        return z, self.labels("train", self.explore_train)

    def decode(self, z: Latents) -> Iterator[tuple[slice, torch.Tensor]]:
        """Decode ``z`` in batches: ``(slice, videos)``."""
        for start in range(0, z.batch_size, self.batch_size):
            sl = slice(start, min(start + self.batch_size, z.batch_size))
            yield sl, self.model.decode(z[sl])

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator on the device for one use (``offset``), seeded from the run seed and the offset."""
        return torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + offset)

    @property
    def factors(self) -> list[Any]:
        return list(self.dataset.factors)


# ===================================================================================== metric groups
def _aggregate(name: str, values: list[MetricValue], key: str = "factor") -> MetricValue:
    """Mean of per-factor values; the interval is the mean of the per-factor bounds.

    That interval is conservative: the half-width of a mean of (correlated) estimates is at most the
    mean of their half-widths (Minkowski), so the reported interval is never narrower than the true
    one. Per-factor values are kept in ``extra["per_factor"]``.
    """
    info = _mb.get_info(name)
    ok = [v for v in values if v.applicable and v.value is not None]
    if not ok:
        reason = next((v.reason for v in values if v.reason), "no factor to score")
        return MetricValue.not_applicable(name, reason)
    lows = [v.ci_low for v in ok]
    highs = [v.ci_high for v in ok]
    per = {str(v.extra.get(key, i)): {"value": v.value, "ci_low": v.ci_low, "ci_high": v.ci_high, "n": v.n}
           for i, v in enumerate(ok)}
    return MetricValue(
        name=name,
        value=float(np.mean([v.value for v in ok])),
        ci_low=float(np.mean(lows)) if all(x is not None for x in lows) else None,
        ci_high=float(np.mean(highs)) if all(x is not None for x in highs) else None,
        n=int(min(v.n for v in ok)),
        version=info.version,
        higher_is_better=info.higher_is_better,
        extra={"per_factor": per},
    )


def _with_factor(per_factor: dict[str, dict[str, MetricValue]], metric: str, names: list[str]) -> list[MetricValue]:
    out = []
    for f in names:
        mv = per_factor.get(f, {}).get(metric)
        if mv is not None:
            out.append(replace(mv, extra={**mv.extra, "factor": f}))
    return out


def group_reconstruction(ctx: EvalContext) -> list[MetricValue]:
    """MSE, PSNR, SSIM, temporal consistency and judge accuracy on reconstructions.

    A metric that does not apply to the dataset's modality (SSIM for audio and time series, PSNR for
    time series: :data:`msd_bench.metrics.reconstruction.NOT_APPLICABLE`) is reported as not
    applicable with its reason.
    """
    modality = ctx.modality
    skipped = rec.NOT_APPLICABLE.get(modality, {})
    per: dict[str, list[torch.Tensor]] = {k: [] for k in ("mse", "psnr", "ssim", "temporal_consistency")
                                          if k not in skipped}
    labels = ctx.labels()
    correct: dict[str, list[torch.Tensor]] = {f.name: [] for f in ctx.factors if not f.ignore}
    ceiling: dict[str, list[torch.Tensor]] = {f.name: [] for f in ctx.factors if not f.ignore}
    z = ctx.latents()
    for (sl, x), (_, xh) in zip(ctx.iter_videos(), ctx.decode(z), strict=True):
        for k, v in rec.reconstruction_errors(x, xh, modality).items():
            per[k].append(v.cpu())
        if ctx.pictures_dir is not None and sl.start == 0:
            pictures.save_reconstruction(ctx, x, xh)
        out, real = ctx.judge(xh), ctx.judge(x)
        for f in ctx.factors:
            if f.name in correct:
                pred = out.sequence[f.name].argmax(dim=1)
                correct[f.name].append((pred == labels[sl, f.index]).double().cpu())
                pred = real.sequence[f.name].argmax(dim=1)
                ceiling[f.name].append((pred == labels[sl, f.index]).double().cpu())
    values = [from_samples(k, torch.cat(v).numpy(), seed=ctx.seed) for k, v in per.items() if v]
    values += [MetricValue.not_applicable(k, reason) for k, reason in skipped.items()]
    per_factor = [
        from_samples("reconstruction.judge_accuracy", torch.cat(v).numpy(), seed=ctx.seed, extra={"factor": k})
        for k, v in correct.items()
    ]
    values.append(_aggregate("reconstruction.judge_accuracy.mean", per_factor))
    per_factor = [
        from_samples("reconstruction.judge_ceiling", torch.cat(v).numpy(), seed=ctx.seed, extra={"factor": k})
        for k, v in ceiling.items()
    ]
    values.append(_aggregate("reconstruction.judge_ceiling.mean", per_factor))
    return values


def group_static_dynamic_swap(ctx: EvalContext) -> list[MetricValue]:
    """Static <-> dynamic swap (the model's own split) between class-balanced random pairs."""
    res = static_dynamic_swap(ctx.model, ctx.judge, ctx.videos_for_metrics(), ctx.labels().cpu(), ctx.factors,
                          n=min(1000, ctx.n), seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
    statics = [f.name for f in ctx.factors if f.type == "static" and not f.ignore]
    dynamics = [f.name for f in ctx.factors if f.type == "dynamic" and not f.ignore]
    if ctx.pictures_dir is not None:
        pictures.save_swap(ctx)
    return [
        _aggregate("static_dynamic_swap.static_accuracy", _with_factor(res, "accuracy", statics)),
        _aggregate("static_dynamic_swap.dynamic_accuracy", _with_factor(res, "accuracy", dynamics)),
        _aggregate("static_dynamic_swap.accuracy.mean", _with_factor(res, "accuracy", statics + dynamics)),
        _aggregate("static_dynamic_swap.static_frame_accuracy", _with_factor(res, "swap_frame_accuracy", statics)),
    ]


def group_generation(ctx: EvalContext) -> list[MetricValue]:
    """Generation metrics in both modes (not applicable without the needed prior)."""
    x, y = ctx.videos_for_metrics(), ctx.labels().cpu()
    statics = [f.name for f in ctx.factors if f.type == "static" and not f.ignore]
    dynamics = [f.name for f in ctx.factors if f.type == "dynamic" and not f.ignore]
    out: list[MetricValue] = []
    for mode, kept, sampled in (("sample_static", dynamics, statics), ("sample_dynamic", statics, dynamics)):
        res = generation_metrics(ctx.model, ctx.judge, x, y, ctx.factors, mode=mode, n=min(1000, ctx.n),  # type: ignore[arg-type]
                                 seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
        out.append(_aggregate(f"generation.{mode}.accuracy", _with_factor(res, "accuracy", kept)))
        for m in ("inception_score", "h_y_given_x", "h_y"):
            out.append(_aggregate(f"generation.{mode}.{m}", _with_factor(res, m, sampled)))
        if mode == "sample_dynamic":
            for m in ("global_sample_consistency", "local_sample_consistency"):
                vals = _with_factor(res, m, statics)
                if vals or not ctx.model.has_prior("dynamic"):
                    out.append(_aggregate(f"generation.{m}", vals or [MetricValue.not_applicable(
                        m, "model has no dynamic prior")]))
    if ctx.pictures_dir is not None:
        pictures.save_samples(ctx)
    return out


def _fit_threads() -> int:
    """Threads for the boosted-tree fits: torch's intra-op thread count (the evaluation's CPU budget;
    ``--threads`` / ``torch.set_num_threads``). The fits are the same for every value."""
    return max(1, torch.get_num_threads())


def channel_map(ctx: EvalContext):
    """The latent exploration's channel map, fit on the train subset (cached)."""
    if "channel_map" not in ctx.cache:
        zt, yt = ctx.train_latents()
        z = ctx.latents()
        names, cols = zip(*[(f.name, f.index) for f in ctx.factors if not f.ignore], strict=True)
        codes, groups = features_from_latents(zt.static, zt.dynamic)
        tcodes, _ = features_from_latents(z.static, z.dynamic)
        ctx.cache["channel_map"] = explore_channels(
            codes, yt[:, list(cols)].cpu().numpy(), tcodes, ctx.labels()[:, list(cols)].cpu().numpy(),
            groups=groups, factor_names=list(names), device=ctx.device, n_jobs=_fit_threads(),
        )
    return ctx.cache["channel_map"]


def group_exploration(ctx: EvalContext) -> list[MetricValue]:
    """Which channels carry which factor (fit on train, scored on test)."""
    cmap = channel_map(ctx)
    n = cmap.n_test
    out = []
    for key, attr in (("test_accuracy", cmap.test_accuracy), ("assigned_accuracy", cmap.assigned_accuracy),
                      ("linear_probe_accuracy", getattr(cmap, "linear_probe_accuracy", {}))):
        if not attr:
            continue
        per = [_rate_with_ci(f"exploration.{key}", float(v), n, ctx.seed, {"factor": k}) for k, v in attr.items()]
        agg = _aggregate(f"exploration.{key}.mean", per)
        out.append(replace(agg, extra={**agg.extra, "channel_map": cmap.to_dict()}))
    return out


def _rate_with_ci(name: str, rate: float, n: int, seed: int, extra: dict) -> MetricValue:
    """An accuracy known as a rate over ``n`` items, with the bootstrap interval of its 0/1 outcomes."""
    ones = np.zeros(n)
    ones[: int(round(rate * n))] = 1.0
    return from_samples(name, ones, seed=seed, extra=extra)


def group_multi_factor(ctx: EvalContext) -> list[MetricValue]:
    """Multi-factor swap and sample (MSD's interventions) scored by msd-bench: all-cell error, Σp² chance."""
    cmap = channel_map(ctx)
    x, y = ctx.videos_for_metrics(), ctx.labels().cpu()
    out: list[MetricValue] = []
    for mode in ("swap", "sample"):
        res = multi_factor_swap(ctx.model, ctx.judge, x, y, ctx.factors, cmap, mode=mode,  # type: ignore[arg-type]
                                n=min(1000, ctx.n), seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
        detail = {k: res[k] for k in ("matrix", "target", "partner_matrix", "factors", "channels") if k in res}
        for key in ("cell_error", "kept_accuracy", "partner_accuracy"):
            if key in res:
                mv = res[key]
                out.append(replace(mv, extra={**mv.extra, **detail}))
    if ctx.pictures_dir is not None:
        pictures.save_factor_swap(ctx, cmap)
    return out


def group_msd(ctx: EvalContext) -> list[MetricValue]:
    """The MSD benchmark's published scores (``msd.*``; definitions in :mod:`msd_bench.metrics.msd`).

    Multi-factor and two-factor swap / sample (1 - (on + off)/2, chance 1/n), the per-factor
    consistency swap, the global / local sample consistencies (named by their definitions) and MSD's
    group DCI on the exploration's importance matrix and channel map.
    """
    cmap = channel_map(ctx)
    x, y = ctx.videos_for_metrics(), ctx.labels().cpu()
    out: list[MetricValue] = []
    keys = {"swap": ("multi_factor", "two_factor", "consistency_swap"),
            "sample": ("multi_factor", "two_factor", "global_sample_consistency", "local_sample_consistency")}
    for mode in ("swap", "sample"):
        res = msd_interventions(ctx.model, ctx.judge, x, y, ctx.factors, cmap, mode=mode,  # type: ignore[arg-type]
                                n=min(1000, ctx.n), seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
        out += [res[k] for k in keys[mode]]
    mapping = {name: cmap.channels(name) for name in cmap.factor_names if cmap.channels(name)}
    info = {"estimator": cmap.method, "importance": "channel map (fit on train)", "groups": mapping}
    try:
        d = group_dci(cmap.importance, mapping)
    except MetricError as exc:
        reason = str(exc)
        out += [MetricValue.not_applicable("msd.dci.modularity", reason),
                MetricValue.not_applicable("msd.dci.compactness", reason)]
        return out
    for key, per in (("modularity", "per_group"), ("compactness", "per_factor")):
        info_k = _mb.get_info(f"msd.dci.{key}")
        out.append(MetricValue(name=info_k.name, value=float(d[key]), n=int(cmap.n_train), version=info_k.version,
                               higher_is_better=info_k.higher_is_better,
                               extra={**info, per: [float(v) for v in d[per]]}))
    return out


def group_cdsvae(ctx: EvalContext) -> list[MetricValue]:
    """C-DSVAE's generation protocol (``cdsvae.*``): static code resampled, kept dynamic heads judged."""
    res = cdsvae_generation(ctx.model, ctx.judge, ctx.videos_for_metrics(), ctx.labels().cpu(), ctx.factors,
                            seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
    kept = list(res)
    return [_aggregate(f"cdsvae.{m}", _with_factor(res, m, kept))
            for m in ("accuracy", "inception_score", "h_y_given_x", "h_y")]


def _sequence_codes(z: Latents) -> np.ndarray:
    """Per-sequence codes for the representation metrics: ``[static, mean over frames of dynamic]``."""
    return torch.cat([z.static, z.dynamic.mean(dim=1)], dim=1).double().cpu().numpy()


def group_representation(ctx: EvalContext) -> list[MetricValue]:
    """disentanglement_lib-style metrics of the codes vs the factors (fit on train, scored on test)."""
    cols = [f.index for f in ctx.factors if not f.ignore]
    zt, yt = ctx.train_latents()
    z = ctx.latents()
    c_tr, f_tr = _sequence_codes(zt), yt[:, cols].cpu().numpy()
    c_te, f_te = _sequence_codes(z), ctx.labels()[:, cols].cpu().numpy()
    n = int(c_te.shape[0])

    def mv(name: str, value: float, extra: dict | None = None) -> MetricValue:
        info = _mb.get_info(name)
        v = float(value)
        return MetricValue(name=name, value=v if np.isfinite(v) else None, n=n, version=info.version,
                           higher_is_better=info.higher_is_better, extra=extra or {"codes": "static + mean_t dynamic"})

    out = [
        mv("mig", rep.mig(c_te, f_te)),
        mv("modularity", rep.modularity(c_te, f_te)),
        mv("irs", rep.irs(c_te, f_te)),
        mv("im_score", rep.im_score(c_te, f_te)),
        mv("gaussian_total_correlation", rep.gaussian_total_correlation(c_te)),
        mv("sap", rep.sap(c_tr, f_tr, c_te, f_te)),
    ]
    # dci.* = disentanglement_lib's definition (the exact fast GBT); dci_hist.* = the fast proxy, under its own name
    for prefix, estimator in (("dci", "gbt"), ("dci_hist", "hist")):
        names = [f"{prefix}.{k}" for k in ("disentanglement", "completeness", "informativeness_train",
                                           "informativeness_test")]
        try:
            d = rep.dci(c_tr, f_tr, c_te, f_te, estimator=estimator, device=ctx.device if estimator == "gbt" else None,
                        n_jobs=_fit_threads())
        except MetricError as exc:
            out += [MetricValue.not_applicable(m, str(exc)) for m in names]
            continue
        for k, v in d.items():
            out.append(mv(f"{prefix}.{k}", v, {"estimator": estimator, "codes": "static + mean_t dynamic"}))
    e = rep.explicitness(c_tr, f_tr, c_te, f_te)
    out += [mv("explicitness.test", e["test"]), mv("explicitness.train", e["train"])]
    return out


#: group name -> function(ctx) -> list of MetricValue, in run order
GROUPS: dict[str, Callable[[EvalContext], list[MetricValue]]] = {
    "reconstruction": group_reconstruction,
    "static_dynamic_swap": group_static_dynamic_swap,
    "generation": group_generation,
    "exploration": group_exploration,
    "multi_factor": group_multi_factor,
    "msd": group_msd,
    "cdsvae": group_cdsvae,
    "representation": group_representation,
}

#: group names of earlier versions, still accepted by ``--metrics``
GROUP_ALIASES = {"two_factor_swap": "static_dynamic_swap"}

#: groups whose numbers depend on random choices (pairs, prior samples): repeated with seeds
#: ``seed, seed + 1, ...`` when ``repeats > 1``
RANDOMISED = ("static_dynamic_swap", "generation", "multi_factor", "msd", "cdsvae")


def run_group(name: str, ctx: EvalContext) -> list[MetricValue]:
    """Run one group; a randomised group is repeated ``ctx.repeats`` times with consecutive seeds.

    With repeats, each metric's value is the mean over repeats and its interval is mean ± 1.96 std/√r
    (``from_repeats``); the details of the first repeat are kept. The evaluated subset and the cached
    encodings are shared by all repeats, so only the interventions' random choices change.
    """
    fn = GROUPS[name]
    if ctx.repeats <= 1 or name not in RANDOMISED:
        return fn(ctx)
    runs = [fn(replace(ctx, seed=ctx.seed + r, pictures_dir=ctx.pictures_dir if r == 0 else None))
            for r in range(ctx.repeats)]
    out = []
    for i, first in enumerate(runs[0]):
        vals = [run[i].value for run in runs]
        if not first.applicable or any(v is None for v in vals):
            out.append(first)
            continue
        agg = _mb.from_repeats(first.name, vals, extra={**first.extra, "repeats": vals})
        out.append(agg)
    return out


#: group name -> the score names it writes (``msd-bench metrics list --groups``; a test checks them
#: against what each group computes)
GROUP_METRICS: dict[str, tuple[str, ...]] = {
    "reconstruction": ("mse", "psnr", "ssim", "temporal_consistency", "reconstruction.judge_accuracy.mean",
                       "reconstruction.judge_ceiling.mean"),
    "static_dynamic_swap": ("static_dynamic_swap.static_accuracy", "static_dynamic_swap.dynamic_accuracy",
                            "static_dynamic_swap.accuracy.mean", "static_dynamic_swap.static_frame_accuracy"),
    "generation": tuple(f"generation.{mode}.{m}" for mode in ("sample_static", "sample_dynamic")
                        for m in ("accuracy", "inception_score", "h_y_given_x", "h_y"))
    + ("generation.global_sample_consistency", "generation.local_sample_consistency"),
    "exploration": ("exploration.test_accuracy.mean", "exploration.assigned_accuracy.mean",
                    "exploration.linear_probe_accuracy.mean"),
    "multi_factor": ("multi_swap.cell_error", "multi_swap.kept_accuracy", "multi_swap.partner_accuracy",
                     "multi_sample.cell_error", "multi_sample.kept_accuracy"),
    "msd": ("msd.multi_factor_swap", "msd.two_factor_swap", "msd.consistency_swap", "msd.multi_factor_sample",
            "msd.two_factor_sample", "msd.global_sample_consistency", "msd.local_sample_consistency",
            "msd.dci.modularity", "msd.dci.compactness"),
    "cdsvae": ("cdsvae.accuracy", "cdsvae.inception_score", "cdsvae.h_y_given_x", "cdsvae.h_y"),
    "representation": ("mig", "modularity", "irs", "im_score", "gaussian_total_correlation", "sap")
    + tuple(f"{p}.{k}" for p in ("dci", "dci_hist")
            for k in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"))
    + ("explicitness.test", "explicitness.train"),
}


def group_of(name: str) -> str:
    """The group that computes ``name``: a group name (or an old alias), a score name (``mig``,
    ``msd.dci.modularity``), or a dotted prefix of score names of one group (``dci``, ``msd.dci``).

    An unknown name raises a one-line :class:`~msd_bench.errors.MetricError` listing the close matches.
    """
    name = GROUP_ALIASES.get(name, name)
    if name in GROUPS:
        return name
    owners = {g for g, names in GROUP_METRICS.items() if name in names}
    if not owners:
        owners = {g for g, names in GROUP_METRICS.items() for m in names if m.startswith(name + ".")}
    if len(owners) == 1:
        return owners.pop()
    if len(owners) > 1:  # cannot happen with today's names; a guard for future ones
        raise MetricError(f"metric {name!r} is computed by several groups ({', '.join(sorted(owners))}); "
                          "name the group instead")
    import difflib

    known = [*GROUPS, *GROUP_ALIASES, *(m for names in GROUP_METRICS.values() for m in names)]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"groups: {', '.join(GROUPS)}"
    raise MetricError(f"unknown metric or group {name!r}; {hint} (`msd-bench metrics list --groups` lists every "
                      "group and its metrics)")


def resolve_groups(metrics: str | list[str]) -> list[str]:
    """``"all"`` or a comma-separated list / list of group or metric names → validated group names.

    A metric name selects the group that computes it (:func:`group_of`); the result then holds every
    score of that group. Duplicates are dropped, the order given is kept.
    """
    if isinstance(metrics, str):
        names = list(GROUPS) if metrics.strip() == "all" else [m.strip() for m in metrics.split(",") if m.strip()]
    else:
        names = [str(m).strip() for m in metrics if str(m).strip()]
    if not names:
        raise MetricError(f"no metric group given; expected 'all' or a comma-separated list of groups "
                          f"({', '.join(GROUPS)}) or metric names")
    return list(dict.fromkeys(group_of(m) for m in names))
