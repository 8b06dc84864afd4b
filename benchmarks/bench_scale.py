"""Benchmark of the board's fan-out: a local Ray against the sequential in-process run, same run.

    .venv/bin/python benchmarks/bench_scale.py [--num-cpus 2] [--limit N] [--metrics all]

Two small submissions (the untrained ONNX and torch examples of ``msd_bench.harness.examples``, each
declaring sprites and dsprites-dynamic) x two datasets at ``--size small`` = four units, every metric
group, the benchmark report included: exactly what ``msd-bench submit`` does for each. First the
sequential in-process executor (torch on every core, as ``msd-bench submit`` runs today), then
``--executor ray`` on a local Ray of ``--num-cpus`` CPUs started by the run (one task per unit, one
thread each), each into its own temporary store. Prints one table: the sequential wall, the Ray wall
with Ray's start-up on its own line, the speed-up, the load average before and after, and whether
the stored scores of the two runs are byte-identical (they are when the sequential run has the
tasks' thread count, ``--seq-threads 1``; with more torch threads a few scores differ in the last
bits, e.g. ``temporal_consistency`` by 2e-18, from the order of torch's parallel sums).
Target (issue 16): Ray wall <= 0.65 x sequential.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

DATASETS = {"sprites": (8, 3, 64, 64), "dsprites-dynamic": (12, 3, 64, 64)}
VOLATILE = ("started_at", "finished_at", "timing", "benchmark", "environment", "git_sha")  # git_sha: HEAD at run time


def build_multi(folder: Path, fmt: str, seed: int = 0) -> Path:
    """An example submission of format ``fmt`` declaring every dataset of :data:`DATASETS`."""
    import yaml

    from msd_bench.harness.examples import build_example

    folder.mkdir(parents=True)
    manifest = None
    for i, (ds, shape) in enumerate(DATASETS.items()):
        sub = build_example(folder / ds, fmt, dataset=ds, shape=shape, seed=seed + i)
        m = yaml.safe_load((sub / "submission.yaml").read_text())
        entry = m["datasets"][ds]
        for k in ("encoder", "decoder", "prior_static", "prior_dynamic", "weights"):
            if k in entry:
                entry[k] = f"{ds}/{entry[k]}"
        if fmt == "torch":
            shutil.copy(sub / "model.py", folder / "model.py")
        (sub / "submission.yaml").unlink()
        if manifest is None:
            manifest = m
        manifest["datasets"][ds] = entry
    (folder / "submission.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def store_view(store: Path) -> dict:
    out = {}
    for p in sorted((store / "results").rglob("*.json")):
        if p.name != "result.json":
            d = json.loads(p.read_text())
            out[str(p.relative_to(store))] = {k: v for k, v in d.items() if k not in VOLATILE}
    return out


def max_diff(a, b, path: str = "", where: list | None = None) -> float:
    """Largest absolute difference between the numbers of two JSON trees (inf where they differ otherwise);
    the paths of the differing leaves are appended to ``where``."""
    where = [] if where is None else where
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            where.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
            return float("inf")
        return max((max_diff(a[k], b[k], f"{path}/{k}", where) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return max((max_diff(x, y, f"{path}[{i}]", where) for i, (x, y) in enumerate(zip(a, b, strict=True))),
                   default=0.0)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        d = abs(float(a) - float(b))
        if d:
            where.append(f"{path}: {a!r} vs {b!r}")
        return d
    if a != b:
        where.append(f"{path}: {str(a)[:80]!r} vs {str(b)[:80]!r}")
        return float("inf")
    return 0.0


def measure(num_cpus: int = 2, limit: int | None = None, metrics: str = "all", seq_threads: int | None = None,
            bench_queries: int = 700) -> dict:
    """Run both executors on the four units; the walls, Ray's start-up and the identity of the scores."""
    import torch

    from msd_bench.datasets import open_dataset
    from msd_bench.harness.executors import run_board

    for ds in DATASETS:  # preparing / first reading the datasets is not part of the measurement
        open_dataset(ds, size="small", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subs = [str(build_multi(root / "onnx", "onnx", seed=0)), str(build_multi(root / "torch", "torch", seed=10))]
        common = dict(size="small", limit=limit, metrics=metrics, trust_code=True, device="cpu",
                      bench_queries=bench_queries)
        before = torch.get_num_threads()
        torch.set_num_threads(seq_threads or os.cpu_count() or 1)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        seq = run_board(subs, root / "seq", executor="inprocess", **common)
        seq_wall = time.perf_counter() - t0
        seq_threads_used = torch.get_num_threads()
        torch.set_num_threads(before)
        load1 = os.getloadavg()
        t0 = time.perf_counter()
        par = run_board(subs, root / "ray", executor="ray", num_cpus=num_cpus, cpus_per_task=1, **common)
        ray_wall = time.perf_counter() - t0
        load2 = os.getloadavg()
        failures = seq.failure_lines() + par.failure_lines()
        views = store_view(root / "seq"), store_view(root / "ray")
        identical = views[0] == views[1]
        where: list[str] = []
        diff = max_diff(*views, where=where)
        task_walls = sorted(o.wall_s for o in par.outcomes)
    return {"units": len(seq.tasks), "seq_wall_s": seq_wall, "seq_threads": seq_threads_used,
            "ray_wall_s": ray_wall, "ray_startup_s": par.startup_s, "num_cpus": num_cpus,
            "ratio": ray_wall / seq_wall, "ratio_without_startup": (ray_wall - par.startup_s) / seq_wall,
            "identical": identical, "max_abs_diff": diff, "differences": where[:20], "failures": failures,
            "load": [load0, load1, load2],
            "ray_task_walls_s": task_walls}


def table(m: dict) -> Table:
    t = Table("measure", "value", title=f"board fan-out: {m['units']} units (2 submissions x 2 datasets, size "
              f"small), local Ray of {m['num_cpus']} CPUs vs sequential in-process", title_justify="left")
    t.add_row("sequential in-process wall", f"{m['seq_wall_s']:.1f} s (torch threads {m['seq_threads']})")
    t.add_row("Ray start-up (ray.init)", f"{m['ray_startup_s']:.1f} s")
    t.add_row("Ray wall (start-up included)", f"{m['ray_wall_s']:.1f} s")
    t.add_row("Ray wall / sequential wall", f"{m['ratio']:.2f} (target <= 0.65)")
    t.add_row("  without the start-up", f"{m['ratio_without_startup']:.2f}")
    t.add_row("speed-up", f"x{1 / m['ratio']:.2f}")
    t.add_row("Ray task walls", ", ".join(f"{w:.1f}" for w in m["ray_task_walls_s"]) + " s")
    t.add_row("load average (1 min) before / between / after", " / ".join(f"{x[0]:.2f}" for x in m["load"]))
    same = "yes" if m["identical"] else f"no: max |difference| {m['max_abs_diff']:.1e}"
    if not m["identical"] and m["seq_threads"] != 1:
        same += f" (torch threads {m['seq_threads']} vs 1 per task; --seq-threads 1 gives identical bytes)"
    t.add_row("stored scores byte-identical", same)
    for line in m.get("differences", [])[:8]:
        t.add_row("  differs", line)
    if m["failures"]:
        t.add_row("failures", "; ".join(m["failures"]))
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray (one task each)")
    parser.add_argument("--limit", type=int, default=None, help="score a seeded subset of N sequences per unit")
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--seq-threads", type=int, default=None, help="torch threads of the sequential run "
                        "[default: every core]")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    a = parser.parse_args()
    m = measure(a.num_cpus, a.limit, a.metrics, a.seq_threads)
    console = Console(width=140)
    console.print(f"Ray start-up: {m['ray_startup_s']:.1f} s")
    console.print(table(m))
    if a.json:
        a.json.write_text(json.dumps(m, indent=2))


if __name__ == "__main__":
    main()
