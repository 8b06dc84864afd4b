"""Benchmark of the metric suite's hot paths (prints a table).

1. Latent exploration + DCI on 1,750 x 288 codes with 5 factors (the MSD sprites test setting:
   static 32 + 8 frames x dynamic 32): fast ``hist`` estimator vs the GBT reference
   (``--with-gbt``; minutes), with the agreement of the channel assignments on clearly assigned
   channels.
2. All representation metrics on 10,000 x 64 codes (DCI with the fast estimator).
3. Reconstruction metrics (MSE, PSNR, SSIM, temporal consistency) of one evaluation batch
   (256 sprites-sized sequences, 8 x 3 x 64 x 64): the fused pass per SSIM block size, against SSIM
   in one pass over the whole batch.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--with-gbt] [--gbt-cache PATH] [--only-reconstruction]``
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--with-gbt", action="store_true", help="also run the GBT reference (minutes)")
    ap.add_argument("--gbt-cache", type=Path, default=None, help="npz to store / reuse the GBT run")
    ap.add_argument("--skip-representation", action="store_true")
    ap.add_argument("--only-reconstruction", action="store_true", help="only part 3")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    from msd_bench.metrics import representation as R
    from msd_bench.metrics.exploration import explore_channels

    console = Console()
    rows: list[tuple[str, str, str]] = []

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
    rows.append(("exploration + DCI, hist (1,750 x 288, 5 factors)", f"{t_fast:.2f} s", ""))
    fast_ch = explore_channels(ctr, ftr, method="hist", groups=groups, factor_names=FACTORS)

    if args.with_gbt or (args.gbt_cache and args.gbt_cache.exists()):
        if args.gbt_cache and args.gbt_cache.exists():
            z = np.load(args.gbt_cache)
            imp, tr, te, t_gbt = z["imp"], z["tr"], z["te"], float(z["seconds"])
        else:
            t0 = time.perf_counter()
            imp, tr, te = R.gbt_importance(ctr, ftr, cte, fte, progress=lambda k: print(f"gbt factor {k} done"))
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
        rows.append(("exploration + DCI, GBT reference", f"{t_gbt:.1f} s", f"speed-up {t_gbt / t_fast:.0f}x"))
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
            ("dci (hist)", lambda: R.dci(c1, f1, c2, f2, estimator="hist")),
        ]:
            t0 = time.perf_counter()
            value = fn()
            dt = time.perf_counter() - t0
            total += dt
            shown = ", ".join(f"{v:.3f}" for v in value.values()) if isinstance(value, dict) else f"{value:.3f}"
            rows.append((f"{name} (10,000 x 64, 5 factors)", f"{dt:.2f} s", shown))
        rows.append(("all representation metrics (10,000 x 64)", f"{total:.2f} s", "target <= 5 s"))
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
