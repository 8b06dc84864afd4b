"""Benchmark of the metric suite's hot paths (prints tables).

0. ``--gbt-compare``: the fast exact GradientBoostingClassifier (``msd_bench.metrics.gbt``, used by
   ``dci`` and the latent exploration) against scikit-learn's, side by side in one run: DCI on the
   codes the evaluation runner feeds to ``dci`` (static + mean-over-frames dynamic; 4,000 seeded train
   sequences, the full test split) of every reference submission found in ``--codes-dir`` (write them
   with ``--encode``; ``--names`` picks some), and on synthetic cases (``--no-synthetic``: none).
   Columns: sklearn seconds, ours, ratio, max |dD|, |dC|, |dI|. Ours = the CPU default, the numba
   split-search kernel (single-threaded, like sklearn); the first fit of the process (numba loading
   its cached kernels, or compiling them after an install / an edit of gbt.py) is printed on its own
   line and not counted in the cases. ``--gbt-timing``: ours alone on realistic sizes (exploration
   1,755 x 288 and 4,000 x 100 / 300 with 5 factors of 6-9 classes, DCI 8,000 x 24, ..., JIT).
1. Latent exploration + DCI on 1,750 x 288 codes with 5 factors (the MSD sprites test setting:
   static 32 + 8 frames x dynamic 32): the fast GBT and the ``hist`` proxy vs scikit-learn's GBT
   (``--with-gbt``; minutes), with the agreement of the channel assignments.
2. All representation metrics on 10,000 x 64 codes (DCI with the hist proxy in the total; the GBT
   DCI timed beside it).
3. Reconstruction metrics (MSE, PSNR, SSIM, temporal consistency) of one evaluation batch
   (256 sprites-sized sequences, 8 x 3 x 64 x 64): the fused pass per SSIM block size, against SSIM
   in one pass over the whole batch.

Run: ``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/bench_metrics.py [--gbt-compare
[--encode] [--codes-dir DIR] [--names A,B] [--no-synthetic]] [--gbt-timing] [--with-gbt]
[--gbt-cache PATH] [--only-reconstruction]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

N_CLASSES = (6, 6, 6, 6, 9)  # skin, top, pants, hair (static); action (dynamic)
FACTORS = ("skin", "top", "pants", "hair", "action")
S, T, D = 32, 8, 32


def sprites_like_codes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes shaped like a trained model's on Sprites: [n, 32 + 8*32], 5 factors, known structure.

    Static channels 0-23: four blocks of 6 carrying one static factor each through a random,
    non-ordinal class embedding with per-channel signal strength (strong .. weak); channels 3 and 9
    also leak a little of the next factor; 24-31 are noise. Dynamic dims 0-15 carry the action
    through a per-(action, frame) embedding; dims 16-19 leak the hair factor weakly in every frame;
    20-31 are noise. The same generator (seeded) gives the train and the test split.
    """
    structure = np.random.default_rng(1234)  # the "model": fixed across splits
    emb_static = [structure.normal(size=(N_CLASSES[k], 6)) for k in range(4)]
    strength = np.tile(np.array([3.0, 2.0, 1.5, 1.0, 0.6, 0.35]), 4)
    leak = structure.normal(size=(6,))
    emb_action = structure.normal(size=(9, T, 16))
    emb_hair_dyn = structure.normal(size=(6, 4))

    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, c, n) for c in N_CLASSES], axis=1)
    static = rng.normal(size=(n, S))
    for k in range(4):
        static[:, 6 * k : 6 * k + 6] += strength[6 * k : 6 * k + 6] * emb_static[k][f[:, k]]
    static[:, 3] += 0.4 * leak[f[:, 1]]
    static[:, 9] += 0.4 * leak[f[:, 2]]
    dynamic = rng.normal(size=(n, T, D))
    dynamic[:, :, :16] += 1.5 * emb_action[f[:, 4]]
    dynamic[:, :, 16:20] += 0.5 * emb_hair_dyn[f[:, 3]][:, None, :]
    codes = np.concatenate([static, dynamic.reshape(n, T * D)], axis=1)
    return codes, f, np.concatenate([np.arange(S), S + np.tile(np.arange(D), T)])


def true_feature_factors() -> np.ndarray:
    """Designed factor of each of the 288 feature columns of :func:`sprites_like_codes` (-1 = noise)."""
    static = np.r_[np.repeat(np.arange(4), 6), np.full(8, -1)]
    dyn = np.r_[np.full(16, 4), np.full(4, 3), np.full(12, -1)]
    return np.r_[static, np.tile(dyn, T)]


def clear_channels(imp: np.ndarray, ratio: float = 2.0) -> np.ndarray:
    """Channels whose top importance is >= ``ratio`` x the second and >= the uniform share 1/C."""
    srt = np.sort(imp, axis=1)
    return (srt[:, -1] >= ratio * srt[:, -2]) & (srt[:, -1] >= 1.0 / imp.shape[0])


REFERENCE_DSPRITES = (
    "beta-vae-dsprites-dynamic", "content-motion-vae-dsprites-dynamic", "dsvae-dsprites-dynamic",
    "frame-vae-dsprites-dynamic", "lambda-beta-vae-dsprites-dynamic", "lstm-vae-dsprites-dynamic",
    "skd-dsprites-dynamic",
)
REFERENCE_SPRITES = (
    "beta-vae-sprites", "c-dsvae-sprites", "content-motion-vae-sprites", "dsvae-sprites", "frame-vae-sprites",
    "lambda-beta-vae-sprites", "lstm-vae-sprites", "skd-sprites",
)


def encode_reference_codes(codes_dir: Path, names=REFERENCE_DSPRITES) -> None:
    """Encode reference submissions as the evaluation runner does and save the DCI codes.

    Each submission on the dataset its name ends with (``-sprites`` or ``-dsprites-dynamic``).

    Train: the runner's seeded subset of ``EXPLORE_TRAIN`` train sequences (``EvalContext.subset`` with
    seed 0); test: the full test split. Codes = ``[static, mean over frames of dynamic]``
    (``suite._sequence_codes``); factors = the dataset's non-ignored factor columns.
    """
    import torch

    from msd_bench.datasets.registry import open_dataset
    from msd_bench.harness.loader import load_submission
    from msd_bench.harness.suite import EXPLORE_TRAIN

    codes_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1] / "submissions"
    for name in names:
        dataset = "dsprites-dynamic" if name.endswith("-dsprites-dynamic") else "sprites"
        ds = open_dataset(dataset, progress=False)
        cols = [f.index for f in ds.factors if not f.ignore]
        tr = ds.indices("train")
        if EXPLORE_TRAIN < tr.size:
            tr = np.sort(np.random.default_rng(0).choice(tr, size=EXPLORE_TRAIN, replace=False))
        splits = {"train": tr, "test": ds.indices("test")}
        labels = ds.labels()
        model = load_submission(root / name, dataset, trust_code=True)
        model = getattr(model, "model", model)
        for split, idx in splits.items():
            parts = []
            for start in range(0, idx.size, 256):
                x, _ = ds.read(idx[start:start + 256])
                with torch.no_grad():
                    z = model.encode(torch.from_numpy(x).float().div_(255.0))
                parts.append(torch.cat([z.static, z.dynamic.mean(dim=1)], dim=1).double().numpy())
            np.save(codes_dir / f"{name}_{split}_dci.npy", np.concatenate(parts))
            np.save(codes_dir / f"{name}_{split}_factors.npy", labels[idx][:, cols])
        print(f"encoded {name}", flush=True)


def synthetic_cases(seed: int = 0):
    """Synthetic DCI cases ``(name, c, f, tc, tf)``: random, a few dims carrying a few factors, binary
    factors, many classes, duplicated / constant columns, tiny n."""
    rng = np.random.default_rng(seed)

    def split(c, f, n):
        return c[:n], f[:n], c[n:], f[n:]

    n = 2000
    f = rng.integers(0, 4, (2 * n, 3))
    yield ("random codes 2000 x 10, 3 x 4 classes", *split(rng.normal(size=(2 * n, 10)), f, n))
    f = rng.integers(0, 3, (2 * n, 3))
    c = rng.normal(size=(2 * n, 10))
    c[:, 0] += f[:, 0]
    c[:, 1] += f[:, 1]
    yield ("2 of 10 dims carry 2 of 3 factors, 2000", *split(c, f, n))
    f = rng.integers(0, 2, (2 * n, 4))
    c = np.concatenate([f + 0.5 * rng.normal(size=f.shape), rng.normal(size=(2 * n, 4))], 1)
    yield ("binary factors 2000 x 8", *split(c, f, n))
    f = np.stack([rng.integers(0, 16, 2 * n), rng.integers(0, 5, 2 * n)], 1)
    c = np.concatenate([f + 0.4 * rng.normal(size=f.shape), rng.normal(size=(2 * n, 6))], 1)
    yield ("16 + 5 classes 2000 x 8", *split(c, f, n))
    f = rng.integers(0, 3, (2 * n, 3))
    base = f + 0.6 * rng.normal(size=f.shape)
    c = np.concatenate([base, base[:, :2], np.zeros((2 * n, 2)), rng.normal(size=(2 * n, 2))], 1)
    yield ("duplicated + constant columns 2000 x 9", *split(c, f, n))
    f = rng.integers(0, 2, (80, 2))
    yield ("tiny n: 50 train, 30 test", *split(f + 0.6 * rng.normal(size=(80, 2)), f, 50))


def _dci_from(imp, tr, te):
    from msd_bench.metrics import representation as R

    d, c = R._dci_scores(imp)
    return np.array([d, c, float(np.mean(tr)), float(np.mean(te))])


def jit_warmup() -> float:
    """Seconds of the first fit in this process: numba compiles the CPU kernel (``cache=True``: later
    processes load it from ``__pycache__``); reported on its own line, not in the timed cases."""
    from msd_bench.metrics.gbt import fit_gbts

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    fit_gbts(rng.normal(size=(40, 3)), rng.integers(0, 3, (40, 2)), rng.normal(size=(5, 3)), n_estimators=2)
    return time.perf_counter() - t0


def gbt_compare(console, codes_dir: Path, include_synthetic: bool = True, names=REFERENCE_DSPRITES) -> Table:
    """Part 0: sklearn vs the fast GBT, side by side (same codes, same process, one after the other)."""
    from msd_bench.metrics import representation as R

    cases = []
    for name in names:
        p = codes_dir / f"{name}_train_dci.npy"
        if p.exists():
            cases.append((name, np.load(p), np.load(codes_dir / f"{name}_train_factors.npy"),
                          np.load(codes_dir / f"{name}_test_dci.npy"), np.load(codes_dir / f"{name}_test_factors.npy")))
    if include_synthetic:
        cases += list(synthetic_cases())
    console.print(f"  numba JIT, first fit in this process (compile, or load from __pycache__): {jit_warmup():.2f} s "
                  "(not in 'ours s')")
    table = Table(title="DCI: scikit-learn GradientBoostingClassifier vs msd_bench.metrics.gbt (one run)")
    for col in ("codes", "train x dims, factors (classes)", "sklearn s", "ours s", "ratio", "ours 2 threads s",
                "ratio 2 threads", "|dD|", "|dC|", "|dI train|", "|dI test|", "D / C / I_test (ours)"):
        table.add_column(col, justify="left" if col == "codes" else "right")
    tot_sk = tot_ours = tot_two = 0.0
    worst = np.zeros(4)
    for name, c, f, tc, tf in cases:
        t0 = time.perf_counter()
        ref = _dci_from(*R.sklearn_gbt_importance(c, f, tc, tf))
        t_sk = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = _dci_from(*R.gbt_importance(c, f, tc, tf))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        two = _dci_from(*R.gbt_importance(c, f, tc, tf, n_jobs=2))  # factors side by side: the same model
        t_two = time.perf_counter() - t0
        assert np.array_equal(two, ours)
        tot_sk += t_sk
        tot_ours += t_ours
        tot_two += t_two
        diff = np.abs(ours - ref)
        worst = np.maximum(worst, diff)
        classes = ",".join(str(len(np.unique(f[:, k]))) for k in range(f.shape[1]))
        table.add_row(name, f"{c.shape[0]} x {c.shape[1]}, {f.shape[1]} ({classes})", f"{t_sk:.1f}",
                      f"{t_ours:.2f}", f"{t_sk / t_ours:.1f}x", f"{t_two:.2f}", f"{t_sk / t_two:.1f}x",
                      *(f"{v:.4f}" for v in diff),
                      f"{ours[0]:.3f} / {ours[1]:.3f} / {ours[3]:.3f}")
        console.print(f"  {name}: sklearn {t_sk:.1f} s, ours {t_ours:.2f} s, max diff {diff.max():.4f}")
    table.add_row("all cases", "", f"{tot_sk:.1f}", f"{tot_ours:.2f}", f"{tot_sk / max(tot_ours, 1e-9):.1f}x",
                  f"{tot_two:.2f}", f"{tot_sk / max(tot_two, 1e-9):.1f}x",
                  *(f"{v:.4f}" for v in worst), "")
    return table


def gbt_timing() -> Table:
    """Ours alone on realistic code sizes (the exploration's and DCI's shapes in the harness)."""
    from msd_bench.metrics import representation as R
    from msd_bench.metrics.exploration import explore_channels

    jit = jit_warmup()
    table = Table(title="fast GBT on realistic code sizes (ours only)")
    for col in ("what", "train x dims, factors", "seconds"):
        table.add_column(col, justify="right")
    ctr, ftr, groups = sprites_like_codes(1755, seed=0)
    cte, fte, _ = sprites_like_codes(1755, seed=1)
    t0 = time.perf_counter()
    explore_channels(ctr, ftr, cte, fte, groups=groups, factor_names=FACTORS)
    table.add_row("exploration (fits + assigned refits + linear probe), sprites-like", "1755 x 288, 5",
                  f"{time.perf_counter() - t0:.1f}")
    t0 = time.perf_counter()
    R.gbt_fits(ctr, ftr, cte)
    table.add_row("fits only (shared by DCI on the same codes)", "1755 x 288, 5", f"{time.perf_counter() - t0:.1f}")
    chan = np.zeros((ctr.shape[0], S + D))
    np.add.at(chan.T, groups, ctr.T / np.bincount(groups)[groups][:, None])
    chan_t = np.zeros((cte.shape[0], S + D))
    np.add.at(chan_t.T, groups, cte.T / np.bincount(groups)[groups][:, None])
    t0 = time.perf_counter()
    R.dci(chan, ftr, chan_t, fte)
    table.add_row("dci on static + mean_t dynamic, sprites-like", "1755 x 64, 5", f"{time.perf_counter() - t0:.1f}")
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, c, 16000) for c in (9, 3, 6, 5, 6, 6)], 1)
    c = np.concatenate([f + 0.5 * rng.normal(size=f.shape), rng.normal(size=(16000, 18))], 1)
    t0 = time.perf_counter()
    R.dci(c[:8000], f[:8000], c[8000:], f[8000:])
    table.add_row("dci, dsprites-like factors", "8000 x 24, 6", f"{time.perf_counter() - t0:.1f}")
    for dims in (100, 300):
        c, f = _explore_case(dims)
        t0 = time.perf_counter()
        explore_channels(c[:4000], f[:4000], c[4000:], f[4000:])
        table.add_row("exploration, random class embeddings", f"4000 x {dims}, 5 (6-9 classes)",
                      f"{time.perf_counter() - t0:.1f}")
    table.add_row("numba JIT, first fit in the process (not above)", "", f"{jit:.2f}")
    return table


def _explore_case(dims: int, seed: int = 0):
    """8,000 rows (4,000 train + 4,000 test) x ``dims`` codes, 5 factors with 6-9 classes; every
    factor is embedded in its own 10 dims, the rest is noise."""
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, k, 8000) for k in (6, 6, 7, 8, 9)], 1)
    c = rng.normal(size=(8000, dims))
    for k in range(5):
        c[:, 10 * k:10 * k + 10] += rng.normal(size=(f[:, k].max() + 1, 10))[f[:, k]]
    return c, f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--with-gbt", action="store_true", help="also run the GBT reference (minutes)")
    ap.add_argument("--gbt-cache", type=Path, default=None, help="npz to store / reuse the GBT run")
    ap.add_argument("--skip-representation", action="store_true")
    ap.add_argument("--only-reconstruction", action="store_true", help="only part 3")
    ap.add_argument("--gbt-compare", action="store_true",
                    help="only part 0: sklearn vs fast GBT side by side (DCI on reference codes + synthetic)")
    ap.add_argument("--codes-dir", type=Path, default=Path("/tmp/msd-bench-codes"),
                    help="reference submissions' DCI codes (<name>_{train,test}_{dci,factors}.npy)")
    ap.add_argument("--encode", action="store_true", help="(re)write --codes-dir from the reference submissions")
    ap.add_argument("--no-synthetic", action="store_true", help="part 0 without the synthetic cases")
    ap.add_argument("--names", default=",".join(REFERENCE_DSPRITES),
                    help="part 0: comma-separated reference submissions to compare (default: the 7 "
                         "dsprites-dynamic ones; the 8 sprites ones: " + ",".join(REFERENCE_SPRITES) + ")")
    ap.add_argument("--gbt-timing", action="store_true", help="only the fast GBT on realistic sizes")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    from msd_bench.metrics import representation as R
    from msd_bench.metrics.exploration import explore_channels

    console = Console(width=max(Console().width, 200))
    rows: list[tuple[str, str, str]] = []
    if args.gbt_compare or args.gbt_timing:
        if args.encode:
            encode_reference_codes(args.codes_dir, args.names.split(","))
        if args.gbt_compare:
            console.print(gbt_compare(console, args.codes_dir, not args.no_synthetic, args.names.split(",")))
        if args.gbt_timing:
            console.print(gbt_timing())
        return

    reconstruction_rows(rows)
    if args.only_reconstruction:
        print_table(console, rows)
        return

    ctr, ftr, groups = sprites_like_codes(1750, seed=0)
    cte, fte, _ = sprites_like_codes(1750, seed=1)
    t0 = time.perf_counter()
    fast_map = explore_channels(ctr, ftr, cte, fte, method="hist", factor_names=FACTORS)
    fast_dci = R.dci(ctr, ftr, cte, fte, estimator="hist")
    t_fast = time.perf_counter() - t0
    rows.append(("exploration + DCI, hist proxy (1,750 x 288, 5 factors)", f"{t_fast:.2f} s", ""))
    t0 = time.perf_counter()
    gbt_map = explore_channels(ctr, ftr, cte, fte, factor_names=FACTORS, linear_probe=False)
    gbt_dci = R.dci(ctr, ftr, cte, fte, fits=gbt_map.fits)
    rows.append(("exploration + DCI, fast exact GBT (same fits)", f"{time.perf_counter() - t0:.1f} s",
                 f"D {gbt_dci['disentanglement']:.3f} C {gbt_dci['completeness']:.3f}"))
    fast_ch = explore_channels(ctr, ftr, method="hist", groups=groups, factor_names=FACTORS)

    if args.with_gbt or (args.gbt_cache and args.gbt_cache.exists()):
        if args.gbt_cache and args.gbt_cache.exists():
            z = np.load(args.gbt_cache)
            imp, tr, te, t_gbt = z["imp"], z["tr"], z["te"], float(z["seconds"])
        else:
            t0 = time.perf_counter()
            imp, tr, te = R.sklearn_gbt_importance(ctr, ftr, cte, fte,
                                                   progress=lambda k: print(f"sklearn gbt factor {k} done"))
            t_gbt = time.perf_counter() - t0
            if args.gbt_cache:
                np.savez(args.gbt_cache, imp=imp, tr=tr, te=te, seconds=t_gbt)
        gbt_dis, gbt_comp = R._dci_scores(imp)
        sums = imp.sum(axis=0, keepdims=True)
        norm = np.divide(imp, sums, out=np.zeros_like(imp), where=sums > 0)
        gbt_assign = np.where(norm.max(axis=1) > 0, norm.argmax(axis=1), -1)
        clear = clear_channels(norm)
        agree = float(np.mean(fast_map.assignment[clear] == gbt_assign[clear]))
        all_agree = float(np.mean(fast_map.assignment == gbt_assign))
        ch_imp = np.zeros((S + D, 5))
        np.add.at(ch_imp, groups, norm)
        ch_assign = ch_imp.argmax(axis=1)
        ch_clear = clear_channels(ch_imp)
        ch_agree = float(np.mean(fast_ch.assignment[ch_clear] == ch_assign[ch_clear]))
        rows.append(("exploration + DCI, scikit-learn GBT reference", f"{t_gbt:.1f} s",
                     f"hist {t_gbt / t_fast:.0f}x faster"))
        rows.append(("fast GBT vs sklearn: |dD| / |dC| / |dI_test|",
                     f"{abs(gbt_dci['disentanglement'] - gbt_dis):.4f} / {abs(gbt_dci['completeness'] - gbt_comp):.4f}"
                     f" / {abs(gbt_dci['informativeness_test'] - np.mean(te)):.4f}", ""))
        rows.append(("assignment agreement, clearly assigned features",
                     f"{agree:.3f}", f"{int(clear.sum())} of 288 features clear"))
        rows.append(("assignment agreement, all features", f"{all_agree:.3f}",
                     f"hist leaves {len(fast_map.unassigned)} unassigned"))
        truth = true_feature_factors()
        for label, assign in (("hist", fast_map.assignment), ("gbt", gbt_assign)):
            sig = truth >= 0
            rows.append((f"{label}: signal features on their designed factor",
                         f"{np.mean(assign[sig] == truth[sig]):.3f}", f"{int(sig.sum())} signal features"))
            rows.append((f"{label}: noise features left unassigned",
                         f"{np.mean(assign[~sig] < 0):.3f}", f"{int((~sig).sum())} noise features"))
        rows.append(("assignment agreement, clearly assigned channels (S+D=64)",
                     f"{ch_agree:.3f}", f"{int(ch_clear.sum())} of 64 channels clear"))
        rows.append(("DCI disentanglement gbt / hist", f"{gbt_dis:.3f} / {fast_dci['disentanglement']:.3f}", ""))
        rows.append(("DCI completeness gbt / hist", f"{gbt_comp:.3f} / {fast_dci['completeness']:.3f}", ""))
        rows.append(("DCI informativeness_test gbt / hist",
                     f"{np.mean(te):.3f} / {fast_dci['informativeness_test']:.3f}", ""))
    else:
        rows.append(("DCI hist (dis / comp / info_test)",
                     f"{fast_dci['disentanglement']:.3f} / {fast_dci['completeness']:.3f} / "
                     f"{fast_dci['informativeness_test']:.3f}", "GBT reference: --with-gbt"))

    if not args.skip_representation:
        rng = np.random.default_rng(0)
        n, d, k = 10000, 64, 5
        f1, f2 = rng.integers(0, 8, (n, k)), rng.integers(0, 8, (n, k))
        emb = rng.normal(size=(k, 8, 2))
        c1, c2 = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        for j in range(k):  # factor j in dims 2j, 2j+1 (non-ordinal embedding)
            c1[:, 2 * j : 2 * j + 2] += 2 * emb[j][f1[:, j]]
            c2[:, 2 * j : 2 * j + 2] += 2 * emb[j][f2[:, j]]
        total = 0.0
        for name, fn in [
            ("mig", lambda: R.mig(c1, f1)),
            ("modularity", lambda: R.modularity(c1, f1)),
            ("irs", lambda: R.irs(c1, f1)),
            ("im_score", lambda: R.im_score(c1, f1)),
            ("gaussian_total_correlation", lambda: R.gaussian_total_correlation(c1)),
            ("sap", lambda: R.sap(c1, f1, c2, f2)),
            ("explicitness", lambda: R.explicitness(c1, f1, c2, f2)),
            ("dci_hist (proxy)", lambda: R.dci(c1, f1, c2, f2, estimator="hist")),
        ]:
            t0 = time.perf_counter()
            value = fn()
            dt = time.perf_counter() - t0
            total += dt
            shown = ", ".join(f"{v:.3f}" for v in value.values()) if isinstance(value, dict) else f"{value:.3f}"
            rows.append((f"{name} (10,000 x 64, 5 factors)", f"{dt:.2f} s", shown))
        rows.append(("all representation metrics (10,000 x 64)", f"{total:.2f} s", "target <= 5 s"))
        t0 = time.perf_counter()
        d = R.dci(c1, f1, c2, f2)
        rows.append(("dci, fast exact GBT (10,000 x 64, 5 x 8 classes; not in total)",
                     f"{time.perf_counter() - t0:.1f} s", ", ".join(f"{v:.3f}" for v in d.values())))
        t0 = time.perf_counter()
        ref = R.sap(c1, f1, c2, f2, solver="liblinear")
        rows.append(("sap, scikit-learn liblinear reference (not in total)", f"{time.perf_counter() - t0:.2f} s",
                     f"{ref:.3f}"))

    print_table(console, rows)


def reconstruction_rows(rows: list[tuple[str, str, str]], repeats: int = 3) -> None:
    """Part 3: the fused reconstruction metrics of one batch, per SSIM block size."""
    import torch

    from msd_bench.metrics import reconstruction as rec

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(256, 8, 3, 64, 64, generator=gen)
    xh = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)

    def timed(fn) -> float:
        fn()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats

    default = rec.SSIM_BLOCK
    try:
        rec.SSIM_BLOCK = x[0].numel() * x.shape[0]  # one block = the whole batch
        one_pass = timed(lambda: rec.ssim(x, xh))
        rows.append(("ssim, one pass over the batch (256 x 8 x 3 x 64 x 64)", f"{one_pass:.3f} s", ""))
        for block in (16, 64, 256):
            rec.SSIM_BLOCK = block
            t = timed(lambda: rec.ssim(x, xh))
            mark = " (default)" if block == default else ""
            rows.append((f"ssim, blocks of <= {block} planes (whole sequences){mark}", f"{t:.3f} s",
                         f"{one_pass / t:.1f}x faster"))
    finally:
        rec.SSIM_BLOCK = default
    rows.append(("mse + psnr + ssim + temporal consistency, fused, one batch",
                 f"{timed(lambda: rec.reconstruction_errors(x, xh)):.3f} s", ""))


def print_table(console, rows: list[tuple[str, str, str]]) -> None:
    table = Table(title=f"msd-bench metrics benchmark ({os.cpu_count()} CPU cores)")
    table.add_column("what")
    table.add_column("time / value", justify="right")
    table.add_column("note")
    for r in rows:
        table.add_row(*r)
    console.print(table)


if __name__ == "__main__":
    main()
