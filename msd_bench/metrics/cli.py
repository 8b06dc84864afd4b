"""`msd-bench metrics ...` commands: list the metric suite; score any model's codes."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .._cli_utils import console, handle_errors
from ..errors import MetricError

app = typer.Typer(
    no_args_is_help=True,
    help="The metric suite: list every metric, or score any codes against ground-truth factors.",
)


@app.command("list")
@handle_errors
def list_cmd(
    groups: bool = typer.Option(
        False, "--groups", help="List the evaluation's metric groups (what `evaluate --metrics` takes) and the "
        "scores each writes."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON instead of a table."),
) -> None:
    """List every metric: name, version, direction, what it needs, and what it measures.

    With --groups: the metric groups of `msd-bench evaluate` in run order, whether their numbers
    are randomised (seeded), and the scores each writes. `evaluate --metrics` takes group names or
    score names (a score name runs its whole group).

    Example: msd-bench metrics list
             msd-bench metrics list --groups
    """
    from rich.table import Table

    if groups:
        from ..harness.suite import GROUP_ALIASES, GROUP_METRICS, GROUPS, RANDOMISED

        rows = [{"group": g, "randomised": g in RANDOMISED, "metrics": list(GROUP_METRICS[g]),
                 "aliases": sorted(a for a, t in GROUP_ALIASES.items() if t == g)} for g in GROUPS]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="metric groups of msd-bench evaluate (--metrics takes a group or a score name)")
        table.add_column("group", no_wrap=True)
        table.add_column("seeded")
        table.add_column("scores", ratio=1)
        for r in rows:
            alias = f" (also {', '.join(r['aliases'])})" if r["aliases"] else ""
            table.add_row(r["group"] + alias, "yes" if r["randomised"] else "-", ", ".join(r["metrics"]))
        console.print(table)
        return

    from .base import list_metrics

    infos = list_metrics()
    if as_json:
        typer.echo(json.dumps([i.__dict__ for i in infos], indent=2))
        return
    table = Table(title="msd-bench metrics")
    table.add_column("name", no_wrap=True)
    table.add_column("ver")
    table.add_column("better")
    table.add_column("needs")
    table.add_column("description (range)", ratio=1)
    for i in infos:
        direction = {True: "higher", False: "lower", None: "-"}[i.higher_is_better]
        desc = f"{i.description} ({i.value_range})" if i.value_range else i.description
        table.add_row(i.name, i.version, direction, ", ".join(i.needs), desc)
    console.print(table)


def _load(path: Path, what: str, ndim: int):
    import numpy as np

    if not path.exists():
        raise MetricError(f"{what} file {path} does not exist; expected a .npy array")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise MetricError(f"{what} file {path} is not a readable .npy array ({type(exc).__name__})") from None
    if arr.ndim == 1 and ndim == 2 and what.endswith("factors"):
        arr = arr[:, None]
    if arr.ndim != ndim:
        raise MetricError(f"{what} file {path} has shape {arr.shape}; expected a {ndim}-D array")
    return arr


@app.command("score-codes")
@handle_errors
def score_codes_cmd(
    codes: Path = typer.Argument(..., help="Codes .npy, float [N, D] (one row per sequence)."),
    factors: Path = typer.Argument(..., help="Ground-truth factors .npy, int [N, K] (class indices)."),
    test_codes: Path = typer.Option(None, "--test-codes", help="Held-out codes .npy [M, D]."),
    test_factors: Path = typer.Option(None, "--test-factors", help="Held-out factors .npy [M, K]."),
    split_fraction: float = typer.Option(
        0.2, "--split-fraction", help="Without --test-*: fraction of rows held out as the test split (seeded)."
    ),
    estimator: str = typer.Option(
        "gbt", "--estimator",
        help="DCI estimator: 'gbt' (default: disentanglement_lib's GradientBoostingClassifier, exact fast "
             "reimplementation), 'sklearn' (scikit-learn itself, slow) or 'hist' (fast proxy, reported as "
             "dci_hist.*).",
    ),
    metrics: str = typer.Option("all", "--metrics", help="Comma-separated subset, e.g. 'mig,sap,dci'."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of every bootstrap."),
    n_boot: int = typer.Option(200, "--n-boot", help="Bootstrap resamples of test rows."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON results to this file (atomic)."),
) -> None:
    """Score any model's codes with every representation metric, without the harness.

    MIG, modularity, IRS, I_m, Gaussian total correlation on the train rows; SAP, explicitness and
    DCI fit on the train rows and scored on the test rows (disentanglement_lib definitions; DCI with
    GradientBoostingClassifier importances unless --estimator hist, whose proxy numbers are named
    dci_hist.*), so the codes of any model can be compared without running it through the harness.
    Each value comes with n and a 95 % interval (bootstrap or subsampling, see docs/metrics.md);
    a metric that does not apply to the codes (e.g. a factor with one class) is n/a with its reason.

    Example: msd-bench metrics score-codes codes.npy factors.npy --split-fraction 0.2 --json
    """
    import numpy as np
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .._io import atomic_write_json
    from .codes import ALL_CODE_METRICS, score_codes, split_rows

    c = _load(codes, "codes", 2)
    f = _load(factors, "factors", 2)
    if f.shape[0] != c.shape[0]:
        raise MetricError(f"factors file {factors} has {f.shape[0]} rows but codes file {codes} has {c.shape[0]}")
    if (test_codes is None) != (test_factors is None):
        raise MetricError("give both --test-codes and --test-factors, or neither (then --split-fraction is used)")
    if test_codes is not None:
        tc = _load(test_codes, "test codes", 2)
        tf = _load(test_factors, "test factors", 2)
        if tf.shape[0] != tc.shape[0]:
            raise MetricError(
                f"test factors file {test_factors} has {tf.shape[0]} rows but test codes have {tc.shape[0]}"
            )
    else:
        tr_idx, te_idx = split_rows(c.shape[0], split_fraction, seed)
        c, f, tc, tf = c[tr_idx], f[tr_idx], c[te_idx], f[te_idx]
    names = ALL_CODE_METRICS if metrics == "all" else tuple(m.strip() for m in metrics.split(",") if m.strip())
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json) as prog:
        task = prog.add_task("scoring", total=None)
        results = score_codes(c, f, tc, tf, metrics=names, estimator=estimator, n_boot=n_boot, seed=seed,
                              progress=lambda name: prog.update(task, description=f"scoring {name}"))
    payload = {
        "codes": str(codes),
        "n_train": int(c.shape[0]),
        "n_test": int(tc.shape[0]),
        "estimator": estimator,
        "seed": seed,
        "metrics": {k: v.to_dict() for k, v in results.items()},
    }
    if output is not None:
        atomic_write_json(output, payload)
    if as_json:
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    from rich.table import Table

    table = Table(title=f"codes {codes.name}: train {c.shape[0]} x {c.shape[1]}, test {tc.shape[0]} rows")
    for col in ("metric", "value", "95% CI", "n", "version", "direction"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, v in results.items():
        ci = f"[{v.ci_low:.3f}, {v.ci_high:.3f}]" if v.ci_low is not None and v.ci_high is not None else "-"
        value = "n/a" if v.value is None or not np.isfinite(v.value) else f"{v.value:.4f}"
        direction = {True: "higher", False: "lower", None: "-"}[v.higher_is_better]
        table.add_row(name, value, ci, str(v.n), v.version, direction)
    console.print(table)
