"""GPU check (`make gpu-check`): evaluate, bench and judge verification on CUDA against the CPU run.

For one reference submission (default ``submissions/dsvae-sprites``) on a seeded subset of the sprites
test split (``--limit``, default 512):

1. ``msd_bench.evaluate`` on ``cpu`` and on ``cuda`` with the same seed; every score compared. Judge-based
   accuracies are fractions of discrete decisions, so a float difference can flip a few: they must agree
   within ``--tol`` (default 0.01 absolute, i.e. 5 of 512 decisions); continuous scores (MSE, PSNR,
   SSIM, IS, entropies, DCI, exploration) within the same absolute tolerance or 1 % relative.
2. ``bench_model`` on cuda (CUDA-synchronised timing: p50 / p90 / p99 of a reconstruction, throughput)
   and the peak CUDA memory.
3. The sprites judge on cuda (torch backend, and ONNX Runtime's CUDA provider where installed):
   test accuracy of every head recomputed on the small test split and compared with its card, and the
   cuda logits compared with the cpu logits.

Prints one table per part and writes ``--out`` (JSON). Exit code 0 when every check passes, 1 when one
fails, 2 when no CUDA device is present or an input is bad. Budget: under 5 minutes on one GPU.

Run: ``.venv/bin/python benchmarks/gpu_check.py [--submission DIR] [--limit N] [--tol T] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


def _compare(cpu: dict, gpu: dict, tol: float) -> tuple[list[tuple[str, float, float, float, bool]], int]:
    rows, bad = [], 0
    for k in sorted(set(cpu) & set(gpu)):
        a, b = cpu[k].get("value"), gpu[k].get("value")
        if a is None or b is None:
            continue
        d = abs(a - b)
        ok = d <= tol or d <= 0.01 * max(abs(a), abs(b))
        bad += not ok
        rows.append((k, a, b, d, ok))
    missing = sorted(set(cpu) ^ set(gpu))
    for k in missing:
        rows.append((k, math.nan, math.nan, math.nan, False))
        bad += 1
    return rows, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submission", default="submissions/dsvae-sprites")
    ap.add_argument("--dataset", default="sprites")
    ap.add_argument("--limit", type=int, default=512)
    ap.add_argument("--tol", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=Path(".benchmarks/gpu_check.json"))
    args = ap.parse_args(argv)

    import torch
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine (torch.cuda.is_available() is False); "
              "run it where a GPU is present")
        return 2
    if not Path(args.submission).is_dir():
        print(f"gpu-check: {args.submission}: not a submission folder; expected a folder with submission.yaml")
        return 2

    import msd_bench
    from msd_bench.datasets import open_dataset
    from msd_bench.harness.loader import load_submission
    from msd_bench.harness.timing import bench_model
    from msd_bench.judges import load_judge
    from msd_bench.judges.recipe import evaluate_judge

    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    failures = 0

    # 1. evaluate on cpu and cuda
    t = {}
    res = {}
    for dev in ("cpu", "cuda"):
        t0 = time.perf_counter()
        r = msd_bench.evaluate(args.submission, dataset=args.dataset, device=dev, limit=args.limit, seed=0,
                               trust_code=True, pictures=False)
        t[dev] = time.perf_counter() - t0
        res[dev] = {k: v.model_dump() for k, v in r.scores.items()}
        report[f"evaluate_{dev}"] = {"wall_s": round(t[dev], 2), "timing": r.timing.model_dump()}
    rows, bad = _compare(res["cpu"], res["cuda"], args.tol)
    failures += bad
    table = Table(title=f"evaluate {args.submission} on {args.dataset} (limit {args.limit}): cpu vs cuda")
    for c in ("score", "cpu", "cuda", "|diff|", "ok"):
        table.add_column(c)
    for k, a, b, d, ok in rows:
        table.add_row(k, f"{a:.4f}", f"{b:.4f}", f"{d:.2e}", "yes" if ok else "NO")
    console.print(table)
    console.print(f"evaluate wall: cpu {t['cpu']:.1f} s, cuda {t['cuda']:.1f} s")
    report["scores"] = [dict(zip(("score", "cpu", "cuda", "diff", "ok"), r, strict=True)) for r in rows]

    # 2. bench on cuda (CUDA-synchronised), peak memory
    model = load_submission(args.submission, dataset=args.dataset, trust_code=True, device="cuda")
    ds = open_dataset(args.dataset, size="small")
    b = bench_model(model, tuple(ds.shape), queries=200, warmup=10, batch_size=64, repeats=3)
    report["bench_cuda"] = b.to_dict()
    console.print(f"bench (cuda): {json.dumps(b.to_dict())[:600]}")

    # 3. the judge on cuda vs its card and vs cpu
    jt = Table(title=f"judge {args.dataset} on cuda")
    for c in ("backend", "providers", "max |logit cuda - cpu|", "heads within 0.5 pt of the card"):
        jt.add_column(c)
    x = torch.from_numpy(ds.read(ds.indices("test")[:64])[0]).float().div_(255.0)
    cpu_judge = load_judge(args.dataset, backend="torch", device="cpu")
    ref = cpu_judge(x).sequence
    for backend in ("torch", "onnx"):
        judge = load_judge(args.dataset, backend=backend, device="cuda")
        out = judge(x.cuda()).sequence
        diff = max(float((out[k].float().cpu() - ref[k].float()).abs().max()) for k in ref)
        acc, n = evaluate_judge(judge, ds, "test", 256)
        card = judge.card.score_for("small")
        within = all(abs(a.sequence - card.factors[f].sequence) <= 0.005 for f, a in acc.items())
        ok = within and diff <= 1e-3
        failures += not ok
        jt.add_row(backend, ",".join(getattr(judge, "providers", []) or ["torch"]), f"{diff:.2e}",
                   "yes" if within else "NO")
        report[f"judge_{backend}"] = {"max_logit_diff": diff, "within_card": within, "n": n}
    console.print(jt)
    report["peak_cuda_memory_bytes"] = int(torch.cuda.max_memory_allocated())
    console.print(f"peak CUDA memory: {report['peak_cuda_memory_bytes'] / 2**20:.0f} MiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(f"wrote {args.out}; {'all checks passed' if not failures else f'{failures} check(s) FAILED'}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
