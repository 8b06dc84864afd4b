"""`msd-bench judges ...` commands: list, card, verify, train."""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_utils import console, err_console, fail, handle_errors

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Frozen judge classifiers: one per built-in dataset, trained by a deterministic recipe, "
        "hash-verified before use.\n\n"
        "A judge classifies every ground-truth factor of a video (sequence heads) and every static "
        "factor of each frame (frame heads); the metrics score generated videos with it.\n\n"
        "Example: msd-bench judges list;  msd-bench judges verify sprites --size small"
    ),
)

ROOT_HELP = "Artefact root holding <dataset>/{judge.onnx, judge.safetensors, card.json} (default: the package's)."


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _known_datasets() -> list[str]:
    try:
        from ..datasets import list_datasets
    except ImportError:  # the datasets registry has not landed
        return []
    out = []
    for d in list_datasets():
        out.append(d if isinstance(d, str) else getattr(d, "name", str(d)))
    return out


def _score_text(factors: dict, order: list[str] | None = None) -> str:
    parts = []
    for name in order or list(factors):
        a = factors[name]
        s = f"{name} {_pct(a.sequence)}"
        if a.frame is not None:
            s += f"/{_pct(a.frame)}"
        parts.append(s)
    return ", ".join(parts)


@app.command("list")
@handle_errors
def list_cmd(
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """List the judges: dataset, revision, test accuracy per factor, and whether hashes check out.

    Accuracy is 'sequence/frame' in percent on the test split (frame only for static factors).
    'hash ok' means the artefacts match the card's sha256 and the card matches the dataset registry.

    Example: msd-bench judges list
    """
    from rich.table import Table

    from ..errors import MsdBenchError
    from .judge import check_hashes, check_revision, list_judges, read_card, train_command

    known = _known_datasets()
    names = known + sorted(set(list_judges(root)) - set(known))
    table = Table(title="msd-bench judges")
    for col in ("dataset", "version", "test accuracy % (sequence/frame)", "target met", "hash ok"):
        table.add_column(col)
    for name in names:
        try:
            card = read_card(name, root)
        except MsdBenchError:
            table.add_row(name, "-", f"missing: build with `{train_command(name)}`", "-", "-")
            continue
        status = "[green]ok[/]"
        try:
            check_hashes(name, card, root)
            check_revision(name, card)
        except MsdBenchError as exc:
            status = f"[red]no[/]: {exc}"
        met = "[green]yes[/]" if card.quality_met else f"[red]no[/] ({', '.join(card.below_target)})"
        order = [f.name for f in card.factors]
        table.add_row(name, card.dataset.version, _score_text(card.test.factors, order), met, status)
    console.print(table)


@app.command("card")
@handle_errors
def card_cmd(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. sprites."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw card.json instead of a summary."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Show a judge's card: dataset revision, artefact hashes, per-factor accuracy, recipe.

    The card is the judge's provenance: what it was trained on (dataset name, version, content hash),
    how (the full recipe), how well (test accuracy of every head) and the sha256 of its artefacts.

    Example: msd-bench judges card sprites --json
    """
    from rich.table import Table

    from .judge import read_card

    card = read_card(dataset, root)
    if as_json:
        typer.echo(card.to_json(), nl=False)
        return
    d = card.dataset
    console.print(f"[bold]judge {d.name}[/]  protocol {card.protocol}")
    console.print(f"dataset version {d.version}, trained on size '{d.size}', content hash {d.content_hash}")
    console.print(f"{d.modality}, shape {tuple(d.shape)}, {card.parameters:,} parameters, best epoch {card.best_epoch}")
    console.print(f"training {card.training_seconds:.0f} s; versions {card.versions}")
    for fname, art in sorted(card.artefacts.items()):
        console.print(f"{fname}: sha256 {art.sha256} ({art.bytes:,} bytes)")
    table = Table(title=f"test accuracy % ({card.test.n} sequences, size '{card.test.size}')")
    for col in ("factor", "type", "classes", "sequence", "frame", "val sequence", "val frame"):
        table.add_column(col)
    for f in card.factors:
        a, v = card.test.factors[f.name], card.val.factors[f.name]
        table.add_row(
            f.name, f.type, str(f.n_classes), _pct(a.sequence), _pct(a.frame), _pct(v.sequence), _pct(v.frame)
        )
    console.print(table)
    order = [f.name for f in card.factors]
    for s in card.extra_tests:
        console.print(f"test on size '{s.size}' ({s.n} sequences): {_score_text(s.factors, order)}")
    for name, why in sorted(card.left_out.items()):
        console.print(f"[yellow]left out[/] {name}: {why}", soft_wrap=True)
    if card.quality_met:
        console.print("[green]quality target met[/] (sequence >= 99 %, static frame >= 98 %, factors left out "
                      "excepted)")
    else:
        console.print(f"[red]quality target NOT met[/]: {', '.join(card.below_target)}")
        for line in confusion_lines(card):
            console.print("  " + line)


@app.command("verify")
@handle_errors
def verify_cmd(
    dataset: str = typer.Argument(None, help="Dataset name; all built-in datasets when omitted."),
    size: str = typer.Option(None, "--size", help="Dataset size to recompute accuracy on: full or small "
                             "(default: the size the judge was trained on)."),
    backend: str = typer.Option("onnx", "--backend", help="onnx or torch."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sequences per judge call."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Verify judges: artefact hashes, dataset revision, and test accuracy recomputed vs the card.

    For every judge: checks the sha256 of judge.onnx / judge.safetensors against the card and the card
    against the dataset registry, then recomputes the test accuracy of every head on the dataset
    (generated into the cache if needed) and compares it with the card (tolerance 0.5 points).
    Exit code 0 when all pass, 1 when a check fails, 2 on bad input.

    Example: msd-bench judges verify sprites --size small
    """
    from rich.progress import Progress

    from ..errors import JudgeError
    from .judge import _get_spec, list_judges, load_judge
    from .recipe import evaluate_judge

    if size is not None and size not in ("full", "small"):
        raise JudgeError(f"--size is '{size}'; expected 'full' or 'small'")
    if dataset is not None:
        _get_spec(dataset)  # an unknown name is bad input (exit 2), not a failed verification
        names = [dataset]
    else:
        names = sorted(set(_known_datasets()) | set(list_judges(root)))
        if not names:
            raise JudgeError("no datasets registered and no judges found; nothing to verify")
    from rich.table import Table

    from ..datasets import open_dataset

    rows, failures = [], []
    for name in names:
        try:
            judge = load_judge(name, backend=backend, root=root)
        except JudgeError as exc:
            rows.append((name, "-", "[red]FAIL[/]", str(exc)))
            failures.append(f"{name}: {exc}")
            continue
        sz = size or judge.card.dataset.size
        ref = judge.card.score_for(sz)
        if ref is None:
            msg = f"card has no test accuracy for size '{sz}' (has: {judge.card.dataset.size})"
            rows.append((name, sz, "[red]FAIL[/]", msg))
            failures.append(f"{name}: {msg}")
            continue
        ds = open_dataset(name, size=sz)
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task(f"verify {name} ({sz})", total=len(ds.indices("test")))
            acc, n = evaluate_judge(
                judge, ds, "test", batch_size, progress=lambda k, t=task: bar.advance(t, k)
            )
        bad = []
        for f, a in acc.items():
            r = ref.factors[f]
            if abs(a.sequence - r.sequence) > 0.005:
                bad.append(f"{f}/sequence {_pct(a.sequence)} vs card {_pct(r.sequence)}")
            if a.frame is not None and r.frame is not None and abs(a.frame - r.frame) > 0.005:
                bad.append(f"{f}/frame {_pct(a.frame)} vs card {_pct(r.frame)}")
        if n != ref.n:
            bad.append(f"{n} test sequences vs card {ref.n}")
        detail = _score_text(acc, [f.name for f in judge.card.factors])
        if bad:
            rows.append((name, sz, "[red]FAIL[/]", "; ".join(bad)))
            failures.append(f"{name}: {'; '.join(bad)}")
        else:
            rows.append((name, sz, "[green]ok[/]", f"hashes ok; {detail}"))
    table = Table(title=f"judges verify ({backend})")
    for col in ("dataset", "size", "result", "details (test accuracy % sequence/frame)"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if failures:
        raise fail(f"{len(failures)} of {len(names)} judge(s) failed verification: " + " | ".join(failures), code=1)


@app.command("train")
@handle_errors
def train_cmd(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. sprites."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs (default: the dataset's recipe)."),
    seed: int = typer.Option(None, "--seed", help="Seed of weights, data order and augmentation (default 0)."),
    size: str = typer.Option("full", "--size", help="Train on the 'full' (default) or 'small' dataset."),
    threads: int = typer.Option(None, "--threads", min=1, help="torch threads (default 1; part of the recipe)."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP + " The judge is written to ROOT/DATASET."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a dataset's judge with the frozen recipe and write judge.onnx, judge.safetensors, card.json.

    Trains on the train split, keeps the epoch with the best validation accuracy, reports the test
    accuracy of every head, exports ONNX (checked against torch) and writes the card. Deterministic:
    the same dataset revision, seed and thread count give the same judge. 2 to 10 minutes on 2 CPU cores;
    about an hour for each dsprites judge (full resolution, 1,800-2,400 steps).

    Example: msd-bench judges train sprites --epochs 6 --seed 0
    """
    import torch

    from ..datasets import get_spec, open_dataset
    from ..errors import JudgeError
    from .judge import judge_dir
    from .recipe import recipe_for, train_judge

    if size not in ("full", "small"):
        raise JudgeError(f"--size is '{size}'; expected 'full' or 'small'")
    spec = get_spec(dataset)
    cfg = recipe_for(dataset, epochs=epochs, seed=seed, threads=threads)
    torch.set_num_threads(cfg.threads)
    ds = open_dataset(dataset, size=size)
    extra = [open_dataset(dataset, size="small")] if size == "full" else []
    out = judge_dir(dataset, root)
    card = train_judge(
        ds, dict(spec.content_hashes), out, cfg, extra_test=extra, progress=not quiet,
        log=(lambda line: err_console.print(line)) if not quiet else None,
    )
    _print_result(card, out)


def _print_result(card, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"judge {card.dataset.name}: test accuracy % ({card.test.n} sequences)")
    for col in ("factor", "type", "sequence", "frame"):
        table.add_column(col)
    types = {f.name: f.type for f in card.factors}
    for name, a in card.test.factors.items():
        table.add_row(name, types[name], _pct(a.sequence), _pct(a.frame))
    console.print(table)
    console.print(f"wrote {out} (best epoch {card.best_epoch}, {card.training_seconds:.0f} s, "
                  f"ONNX max |diff| {card.onnx_max_abs_diff:.1e})")
    if card.quality_met:
        console.print("[green]quality target met[/]")
        return
    console.print(f"[red]quality target NOT met[/]: {', '.join(card.below_target)}")
    for line in confusion_lines(card):
        console.print("  " + line)


def confusion_lines(card, top: int = 6) -> list[str]:
    """For every head below target: its most confused (true -> predicted) class pairs on test."""
    import numpy as np

    lines = []
    factors = {f.name: f for f in card.factors}
    for item in card.below_target:
        name, head = item.split("/")
        matrices = card.confusion if head == "sequence" else card.frame_confusion
        if name not in matrices:
            continue
        inv = {v: k for k, v in factors[name].values.items()}
        m = np.asarray(matrices[name])
        off = m.copy()
        np.fill_diagonal(off, 0)
        pairs = sorted(((int(off[i, j]), int(i), int(j)) for i, j in np.argwhere(off > 0)), reverse=True)[:top]
        text = ", ".join(f"{inv.get(i, i)}->{inv.get(j, j)}: {c}" for c, i, j in pairs) or "none"
        lines.append(f"{item}: most confused (true->predicted: count of {int(m.sum())}) {text}")
    return lines
