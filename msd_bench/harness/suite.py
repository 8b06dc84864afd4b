"""The metric groups run by :func:`msd_bench.harness.runner.evaluate` and their shared context.

A group is a function ``group(ctx) -> list[MetricValue]``. The :class:`EvalContext` owns the data of
one run (the evaluation subset of the split, its labels, the cached encodings, seeded generators)
so that every group reuses the same encodings and the same random choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import MetricError
from .interface import Latents

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

    # ------------------------------------------------------------------------------ data
    def subset(self, split: str | None = None, limit: int | None = None) -> np.ndarray:
        """Dataset indices evaluated: the whole split, or a seeded random subset of ``limit``, sorted."""
        split = split or self.split
        limit = self.limit if limit is None and split == self.split else limit
        key = f"subset:{split}:{limit}"
        if key not in self.cache:
            idx = self.dataset.indices(split)
            if limit is not None and limit < idx.size:
                rng = np.random.default_rng(self.seed)
                idx = np.sort(rng.choice(idx, size=limit, replace=False))
            self.cache[key] = idx
        return self.cache[key]

    @property
    def n(self) -> int:
        return int(self.subset().size)

    def labels(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        idx = self.subset(split, limit)
        return torch.from_numpy(self.dataset.labels()[idx]).to(self.device)

    def videos(self, positions: np.ndarray | torch.Tensor, split: str | None = None) -> torch.Tensor:
        """Float videos ``[B, T, C, H, W]`` of the given positions within the evaluated subset."""
        pos = positions.cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions)
        data, _ = self.dataset.read(self.subset(split)[pos])
        return torch.from_numpy(data).to(self.device).float().div_(255.0)

    def uint8(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        """The videos of a subset as one uint8 CPU tensor ``[N, T, C, H, W]``, read once and cached
        (about 170 MB for the full sprites test split)."""
        key = f"uint8:{split or self.split}:{limit}"
        if key not in self.cache:
            data, _ = self.dataset.read(self.subset(split, limit))
            self.cache[key] = torch.from_numpy(data)
        return self.cache[key]

    def iter_videos(self, split: str | None = None, limit: int | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(slice of positions, float videos on the device)`` over a subset in batches."""
        data = self.uint8(split, limit)
        for start in range(0, data.shape[0], self.batch_size):
            sl = slice(start, min(start + self.batch_size, data.shape[0]))
            yield sl, data[sl].to(self.device).float().div_(255.0)

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
from ..metrics import base as _mb  # noqa: E402  (registry of metric definitions)
from ..metrics.base import MetricValue, from_samples  # noqa: E402

_SUITE = "suite"
_HEADLINES = {
    "reconstruction.judge_accuracy.mean": (True, "Judge accuracy on reconstructions, mean over factors"),
    "reconstruction.judge_ceiling.mean": (True, "Judge accuracy on the evaluated inputs themselves, mean over "
                                                "factors: the measured ceiling of the judged metrics"),
    "two_factor_swap.static_accuracy": (True, "Static<->dynamic swap: static factors follow the static source "
                                              "(mean over static factors)"),
    "two_factor_swap.dynamic_accuracy": (True, "Static<->dynamic swap: dynamic factors follow the dynamic source "
                                               "(mean over dynamic factors)"),
    "two_factor_swap.accuracy.mean": (True, "Static<->dynamic swap accuracy, mean over all factors"),
    "two_factor_swap.swap_consistency": (True, "Swap consistency of static frame heads after a static<->dynamic "
                                               "swap (mean over static factors)"),
    "generation.sample_static.accuracy": (True, "Sample the static code: judge accuracy of the kept dynamic "
                                                "factors (mean)"),
    "generation.sample_static.inception_score": (True, "Sample the static code: IS of the sampled static "
                                                       "factors' heads (mean)"),
    "generation.sample_static.h_y_given_x": (False, "Sample the static code: H(y|x) of the sampled static "
                                                    "factors (mean, nats)"),
    "generation.sample_static.h_y": (True, "Sample the static code: H(y) of the sampled static factors "
                                           "(mean, nats)"),
    "generation.sample_dynamic.accuracy": (True, "Sample the dynamics: judge accuracy of the kept static "
                                                 "factors (mean)"),
    "generation.sample_dynamic.inception_score": (True, "Sample the dynamics: IS of the sampled dynamic "
                                                        "factors' heads (mean)"),
    "generation.sample_dynamic.h_y_given_x": (False, "Sample the dynamics: H(y|x) of the sampled dynamic "
                                                     "factors (mean, nats)"),
    "generation.sample_dynamic.h_y": (True, "Sample the dynamics: H(y) of the sampled dynamic factors "
                                            "(mean, nats)"),
    "generation.global_sample_consistency": (True, "Sample the dynamics: frames agreeing with the sequence's "
                                                   "modal static prediction (mean over static factors)"),
    "generation.local_sample_consistency": (True, "Sample the dynamics: consecutive frames agreeing on static "
                                                  "factors (mean over static factors)"),
    "exploration.test_accuracy.mean": (True, "Latent exploration: test accuracy from all channels, mean over "
                                             "factors"),
    "exploration.assigned_accuracy.mean": (True, "Latent exploration: test accuracy from each factor's "
                                                 "assigned channels, mean over factors"),
    "explicitness.test": (True, "Explicitness on the test split (macro ROC-AUC)"),
    "explicitness.train": (True, "Explicitness on the train split (macro ROC-AUC)"),
}
for _name, (_hib, _desc) in _HEADLINES.items():
    _mb.register(_name, "1", _hib, _desc, group=_SUITE)


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
    """MSE, PSNR, SSIM, temporal consistency and judge accuracy on reconstructions."""
    from ..metrics import reconstruction as rec

    per: dict[str, list[torch.Tensor]] = {"mse": [], "psnr": [], "ssim": [], "temporal_consistency": []}
    labels = ctx.labels()
    correct: dict[str, list[torch.Tensor]] = {f.name: [] for f in ctx.factors if not f.ignore}
    ceiling: dict[str, list[torch.Tensor]] = {f.name: [] for f in ctx.factors if not f.ignore}
    z = ctx.latents()
    for (sl, x), (_, xh) in zip(ctx.iter_videos(), ctx.decode(z), strict=True):
        for k, v in rec.reconstruction_errors(x, xh).items():
            per[k].append(v.cpu())
        if ctx.pictures_dir is not None and sl.start == 0:
            _save_reconstruction_pictures(ctx, x, xh)
        out, real = ctx.judge(xh), ctx.judge(x)
        for f in ctx.factors:
            if f.name in correct:
                pred = out.sequence[f.name].argmax(dim=1)
                correct[f.name].append((pred == labels[sl, f.index]).double().cpu())
                pred = real.sequence[f.name].argmax(dim=1)
                ceiling[f.name].append((pred == labels[sl, f.index]).double().cpu())
    values = [from_samples(k, torch.cat(v).numpy(), seed=ctx.seed) for k, v in per.items() if v]
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


def group_two_factor_swap(ctx: EvalContext) -> list[MetricValue]:
    """Static <-> dynamic swap between class-balanced random pairs."""
    from ..metrics.interventions import two_factor_swap

    res = two_factor_swap(ctx.model, ctx.judge, ctx.uint8(), ctx.labels().cpu(), ctx.factors,
                          n=min(1000, ctx.n), seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
    statics = [f.name for f in ctx.factors if f.type == "static" and not f.ignore]
    dynamics = [f.name for f in ctx.factors if f.type == "dynamic" and not f.ignore]
    if ctx.pictures_dir is not None:
        _save_swap_pictures(ctx)
    return [
        _aggregate("two_factor_swap.static_accuracy", _with_factor(res, "accuracy", statics)),
        _aggregate("two_factor_swap.dynamic_accuracy", _with_factor(res, "accuracy", dynamics)),
        _aggregate("two_factor_swap.accuracy.mean", _with_factor(res, "accuracy", statics + dynamics)),
        _aggregate("two_factor_swap.swap_consistency", _with_factor(res, "swap_consistency", statics)),
    ]


def group_generation(ctx: EvalContext) -> list[MetricValue]:
    """Generation metrics in both modes (not applicable without the needed prior)."""
    from ..metrics.interventions import generation_metrics

    x, y = ctx.uint8(), ctx.labels().cpu()
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
        _save_sample_pictures(ctx)
    return out


def channel_map(ctx: EvalContext):
    """The latent exploration's channel map, fit on the train subset (cached)."""
    if "channel_map" not in ctx.cache:
        from ..metrics.exploration import explore_channels, features_from_latents

        zt, yt = ctx.train_latents()
        z = ctx.latents()
        names, cols = zip(*[(f.name, f.index) for f in ctx.factors if not f.ignore], strict=True)
        codes, groups = features_from_latents(zt.static, zt.dynamic)
        tcodes, _ = features_from_latents(z.static, z.dynamic)
        ctx.cache["channel_map"] = explore_channels(
            codes, yt[:, list(cols)].cpu().numpy(), tcodes, ctx.labels()[:, list(cols)].cpu().numpy(),
            groups=groups, factor_names=list(names),
        )
    return ctx.cache["channel_map"]


def group_exploration(ctx: EvalContext) -> list[MetricValue]:
    """Which channels carry which factor (fit on train, scored on test)."""
    cmap = channel_map(ctx)
    n = cmap.n_test
    out = []
    for key, attr in (("test_accuracy", cmap.test_accuracy), ("assigned_accuracy", cmap.assigned_accuracy)):
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
    """MSD multi-factor swap and sample with the corrected chance level."""
    from ..metrics.interventions import multi_factor_swap

    cmap = channel_map(ctx)
    x, y = ctx.uint8(), ctx.labels().cpu()
    out: list[MetricValue] = []
    for mode in ("swap", "sample"):
        res = multi_factor_swap(ctx.model, ctx.judge, x, y, ctx.factors, cmap, mode=mode,  # type: ignore[arg-type]
                                n=min(1000, ctx.n), seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
        detail = {k: res[k] for k in ("matrix", "target", "partner_matrix", "factors", "channels") if k in res}
        for key in ("error", "kept_accuracy", "partner_accuracy"):
            if key in res:
                mv = res[key]
                out.append(replace(mv, extra={**mv.extra, **detail}))
    if ctx.pictures_dir is not None:
        _save_factor_swap_picture(ctx, cmap)
    return out


def _sequence_codes(z: Latents) -> np.ndarray:
    """Per-sequence codes for the representation metrics: ``[static, mean over frames of dynamic]``."""
    return torch.cat([z.static, z.dynamic.mean(dim=1)], dim=1).double().cpu().numpy()


def group_representation(ctx: EvalContext) -> list[MetricValue]:
    """disentanglement_lib-style metrics of the codes vs the factors (fit on train, scored on test)."""
    from ..metrics import representation as rep

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
    d = rep.dci(c_tr, f_tr, c_te, f_te, estimator="hist")
    for k, v in d.items():
        out.append(mv(f"dci.{k}", v, {"estimator": "hist", "codes": "static + mean_t dynamic"}))
    e = rep.explicitness(c_tr, f_tr, c_te, f_te)
    out += [mv("explicitness.test", e["test"]), mv("explicitness.train", e["train"])]
    return out


#: group name -> function(ctx) -> list of MetricValue, in run order
GROUPS: dict[str, Callable[[EvalContext], list[MetricValue]]] = {
    "reconstruction": group_reconstruction,
    "two_factor_swap": group_two_factor_swap,
    "generation": group_generation,
    "exploration": group_exploration,
    "multi_factor": group_multi_factor,
    "representation": group_representation,
}


#: groups whose numbers depend on random choices (pairs, prior samples): repeated with seeds
#: ``seed, seed + 1, ...`` when ``repeats > 1``
RANDOMISED = ("two_factor_swap", "generation", "multi_factor")


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


def resolve_groups(metrics: str | list[str]) -> list[str]:
    """``"all"`` or a comma-separated list / list of group names → validated group names."""
    if isinstance(metrics, str):
        names = list(GROUPS) if metrics.strip() == "all" else [m.strip() for m in metrics.split(",") if m.strip()]
    else:
        names = list(metrics)
    unknown = [m for m in names if m not in GROUPS]
    if unknown or not names:
        raise MetricError(
            f"unknown metric group {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"expected 'all' or a comma-separated list of: {', '.join(GROUPS)}"
        )
    return names


# ========================================================================================= pictures
def _pair_labels(ctx: EvalContext, positions: np.ndarray) -> list[str]:
    y = ctx.dataset.labels()[ctx.subset()[positions]]
    out = []
    for row in y:
        parts = []
        for f in ctx.factors:
            names = {v: k for k, v in f.values.items()} if getattr(f, "values", None) else {}
            parts.append(str(names.get(int(row[f.index]), int(row[f.index]))))
        out.append("/".join(parts))
    return out


def _save_reconstruction_pictures(ctx: EvalContext, x: torch.Tensor, xh: torch.Tensor) -> None:
    from .pictures import interleave, save_gif, save_png, video_grid

    k = min(6, x.shape[0])
    labels = [s for i in range(k) for s in (f"input {i}", f"recon {i}")]
    grid = interleave(x[:k], xh[:k])
    save_png(video_grid(grid, labels), ctx.pictures_dir / "reconstruction.png")  # type: ignore[operator]
    save_gif(grid, ctx.pictures_dir / "reconstruction.gif", labels)  # type: ignore[operator]


def _save_swap_pictures(ctx: EvalContext) -> None:
    from .interface import static_mask, swap
    from .pictures import save_gif, save_png, video_grid

    g = torch.Generator().manual_seed(ctx.seed + 17)
    k = min(4, ctx.n // 2)
    pos = torch.randperm(ctx.n, generator=g)[: 2 * k].numpy()
    xa, xb = ctx.videos(pos[:k]), ctx.videos(pos[k:])
    za, zb = ctx.model.encode(xa), ctx.model.encode(xb)
    mask = static_mask(za.static_dim, za.dynamic_dim, device=za.static.device)
    ab = ctx.model.decode(swap(ctx.model, zb, za, mask))  # static of A, dynamic of B
    ba = ctx.model.decode(swap(ctx.model, za, zb, mask))  # static of B, dynamic of A
    rows, labels = [], []
    la, lb = _pair_labels(ctx, pos[:k]), _pair_labels(ctx, pos[k:])
    for i in range(k):
        rows += [xa[i], xb[i], ab[i], ba[i]]
        labels += [f"A {la[i]}", f"B {lb[i]}", "static A + dyn B", "static B + dyn A"]
    grid = torch.stack(rows)
    save_png(video_grid(grid, labels), ctx.pictures_dir / "swap.png")  # type: ignore[operator]
    save_gif(grid, ctx.pictures_dir / "swap.gif", labels)  # type: ignore[operator]


def _save_factor_swap_picture(ctx: EvalContext, cmap) -> None:
    """Per-factor swap: for each factor, keep its channels of A and take every other channel from B."""
    from .interface import swap
    from .pictures import save_png, video_grid

    g = torch.Generator().manual_seed(ctx.seed + 23)
    pos = torch.randperm(ctx.n, generator=g)[:2].numpy()
    xa, xb = ctx.videos(pos[:1]), ctx.videos(pos[1:])
    za, zb = ctx.model.encode(xa), ctx.model.encode(xb)
    la, lb = _pair_labels(ctx, pos[:1]), _pair_labels(ctx, pos[1:])
    rows, labels = [xa[0], xb[0]], [f"A {la[0]}", f"B {lb[0]}"]
    for f in ctx.factors:
        if f.ignore:
            continue
        take_b = torch.ones(za.n_channels, dtype=torch.bool, device=za.static.device)
        chans = cmap.channels(f.name)
        if chans:
            take_b[torch.as_tensor(chans, device=za.static.device)] = False
        rows.append(ctx.model.decode(swap(ctx.model, za, zb, take_b))[0])
        labels.append(f"keep {f.name} of A ({len(chans)} ch)")
    save_png(video_grid(torch.stack(rows), labels), ctx.pictures_dir / "factor_swap.png")  # type: ignore[operator]


def _save_sample_pictures(ctx: EvalContext) -> None:
    from .pictures import save_gif, save_png, video_grid

    if not (ctx.model.has_prior("static") and ctx.model.has_prior("dynamic")):
        return
    k = 8
    t = ctx.dataset.shape[0]
    g = ctx.generator(99)
    from .interface import Latents as _L

    z = _L(ctx.model.sample_static(k, g), ctx.model.sample_dynamic(k, t, g))
    x = ctx.model.decode(z)
    labels = [f"prior sample {i}" for i in range(k)]
    save_png(video_grid(x, labels), ctx.pictures_dir / "samples.png")  # type: ignore[operator]
    save_gif(x, ctx.pictures_dir / "samples.gif", labels)  # type: ignore[operator]
