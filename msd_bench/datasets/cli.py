"""`msd-bench datasets ...` commands: list, prepare, info, verify, preview, import."""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_utils import console, handle_errors

app = typer.Typer(
    no_args_is_help=True,
    help="Built-in procedural datasets (generated locally, never downloaded) and importers of original files.",
)

SIZE_HELP = "small (a stratified subset for tests and demos) or full (the whole factor grid, see `info`)."


def _factor_str(factors) -> str:
    return ", ".join(f"{f.name} {f.n_classes} ({f.type[0]})" for f in factors)


def _file_modality(path: Path) -> str:
    """The ``modality`` attribute of a dataset file (video when absent, ``?`` when unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("modality", "video")
    except OSError:
        return "?"
    return v.decode() if isinstance(v, bytes) else str(v)


@app.command("list")
@handle_errors
def list_cmd() -> None:
    """List the built-in datasets: modality, shape (T × one step), factors (class count, s=static d=dynamic), sizes.

    Example: msd-bench datasets list
    """
    from rich.table import Table

    from .importers import imported_files
    from .registry import is_prepared, list_datasets

    table = Table(title="msd-bench datasets")
    for col in ("name", "version", "modality", "shape (T×step)", "factors", "sizes (small / full)", "prepared"):
        table.add_column(col)
    for spec in list_datasets():
        prepared = [s for s in ("small", "full") if is_prepared(spec.name, s)]
        table.add_row(spec.name, spec.version, spec.modality, "×".join(map(str, spec.shape)),
                      _factor_str(spec.factors), f"{spec.sizes['small']:,} / {spec.sizes['full']:,}",
                      ", ".join(prepared) or "no")
    for name, path in imported_files():
        table.add_row(name, "imported", _file_modality(path), "", f"[dim]{path}[/]", "", "yes")
    console.print(table)


@app.command("prepare")
@handle_errors
def prepare_cmd(
    name: str = typer.Argument(..., help="Dataset name (see `msd-bench datasets list`)."),
    size: str = typer.Option("full", "--size", help=SIZE_HELP),
    force: bool = typer.Option(False, "--force", help="Regenerate even if the file is already in the cache."),
) -> None:
    """Generate a built-in dataset into the cache ($MSD_BENCH_CACHE/datasets, default ~/.cache/msd-bench).

    Generation is deterministic: the content hash is checked against the registry before the file is
    renamed into place, so the cache never holds a partial or wrong file.

    Example: msd-bench datasets prepare sprites --size small
    """
    import time

    from .registry import get_spec, prepare

    spec = get_spec(name)
    t0 = time.perf_counter()
    path = prepare(spec.name, size, force=force)
    console.print(f"{spec.name} ({size}) ready at {path} [dim]({time.perf_counter() - t0:.1f} s)[/]",
                  soft_wrap=True)


def _open(name: str, size: str):
    """A registry name (prepared on demand) or a path to any dataset file."""
    from ._format import open_h5
    from .registry import get_spec, open_dataset

    p = Path(name)
    if p.suffix in (".h5", ".hdf5") or p.is_file():
        return open_h5(p)
    get_spec(name)
    return open_dataset(name, size)


@app.command("info")
@handle_errors
def info_cmd(
    name: str = typer.Argument(..., help="Dataset name, or the path of any dataset file (.h5)."),
    size: str = typer.Option("full", "--size", help=SIZE_HELP),
) -> None:
    """Show a dataset's factors (with value names), splits, shape, revision and file.

    Example: msd-bench datasets info sprites --size small
    """
    from rich.table import Table

    from .registry import get_spec

    ds = _open(name, size)
    spec = None
    try:
        spec = get_spec(ds.name)
    except Exception:
        pass
    console.print(f"[bold]{ds.name}[/] version {ds.version} size {ds.size}: {ds.n:,} sequences of "
                  f"{'T×C×H×W' if ds.modality == 'video' else 'T×F'} = {'×'.join(map(str, ds.shape))} "
                  f"({ds.modality}{f', {ds.sample_rate} Hz' if ds.sample_rate else ''})", soft_wrap=True)
    console.print(f"file {ds.path}  content hash {ds.content_hash}", soft_wrap=True)
    splits = ", ".join(f"{s} {ds.indices(s).size:,}" for s in ("train", "val", "test"))
    console.print(f"splits: {splits}", soft_wrap=True)
    if spec is not None:
        console.print(f"{spec.description}\nfull size: {spec.full_note}", soft_wrap=True)
    table = Table(title="factors")
    for col in ("column", "factor", "type", "classes", "values", "ignore"):
        table.add_column(col)
    for f in ds.factors:
        table.add_row(str(f.index), f.name, f.type, str(f.n_classes), ", ".join(f.value_names), str(f.ignore))
    console.print(table)


@app.command("verify")
@handle_errors
def verify_cmd(
    name: str = typer.Argument(..., help="Dataset name, or the path of any dataset file (.h5)."),
    size: str = typer.Option("full", "--size", help=SIZE_HELP),
) -> None:
    """Recompute the content hash from the decoded data and check it against the registry.

    For a file path, the hash is checked against the file's own `content_hash` attribute.

    Example: msd-bench datasets verify sprites --size full
    """
    from ._format import verify_file
    from .registry import get_spec, verify

    p = Path(name)
    if p.suffix in (".h5", ".hdf5") or p.is_file():
        got = verify_file(p)
        console.print(f"[green]ok[/] {p}: content hash {got}", soft_wrap=True)
        return
    spec = get_spec(name)
    got = verify(spec.name, size)
    console.print(f"[green]ok[/] {spec.name} version {spec.version} ({size}): content hash {got} matches the "
                  "registry", soft_wrap=True)


@app.command("preview")
@handle_errors
def preview_cmd(
    name: str = typer.Argument(..., help="Dataset name, or the path of any dataset file (.h5)."),
    out: Path = typer.Option(..., "--out", help="Output image: .png (grid of frames) or .gif (animation)."),
    size: str = typer.Option("small", "--size", help=SIZE_HELP),
    n: int = typer.Option(9, "--n", help="Number of sequences to show."),
    split: str = typer.Option("test", "--split", help="Split to draw the examples from."),
    seed: int = typer.Option(0, "--seed", help="Seed of the example choice."),
    scale: int = typer.Option(2, "--scale", help="Pixel magnification."),
) -> None:
    """Draw a grid of sequences labelled with their factor values, to check the data by eye.

    Example: msd-bench datasets preview sprites --out sprites.png
    """
    from ..errors import DatasetError
    from .preview import pick_examples, render_preview

    if out.suffix.lower() not in (".png", ".gif"):
        raise DatasetError(f"{out}: --out must end in .png or .gif")
    ds = _open(name, size)
    if ds.modality != "video":
        raise DatasetError(f"{ds.name} is {ds.modality}: `datasets preview` draws video frames; the evaluation "
                           "pictures show spectrograms / WAV files (audio) and line plots (time series)")
    idx = ds.indices(split)
    rows = idx[pick_examples(ds.labels(split), ds.factors, max(1, n), seed)]
    data, labels = ds.read(rows)
    render_preview(data, labels, ds.factors, out, scale=scale)
    console.print(f"wrote {out} ({len(rows)} sequences of {ds.name})", soft_wrap=True)


@app.command("import")
@handle_errors
def import_cmd(
    kind: str = typer.Argument(..., help="lpc-sprites | msd | dsprites | 3dshapes | mnist"),
    source: Path = typer.Option(..., "--from", help="The original file or folder you already have."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: $MSD_BENCH_CACHE/datasets/imported/)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits / sampled sequences."),
    limit: int = typer.Option(None, "--limit", help="mnist: the first N images of each MNIST split; dsprites / "
                              "3dshapes: at most N sequences per output (seeded, every factor value kept)."),
    sample_rate: int = typer.Option(None, "--sample-rate", help="msd: the sample rate (Hz) an audio file must "
                                    "have; another rate is refused (default 16000, that of dmelodies)."),
) -> None:
    """Convert original dataset files you already have into the msd-bench format (nothing is downloaded).

    Kinds: lpc-sprites (Li & Mandt npy folder) -> sprites-lpc; msd (MSD benchmark .h5, checked and
    copied as is; an audio file must be at --sample-rate, default 16 kHz); dsprites (dsprites npz) ->
    dsprites-static-real and dsprites-dynamic-real; 3dshapes (3dshapes.h5) -> 3dshapes-dynamic-real;
    mnist (idx or npz) -> moving-mnist.

    Imported files open with `msd_bench.datasets.open_h5(path)` or `open_dataset(NAME)`, and show in
    `msd-bench datasets list`.

    Example: msd-bench datasets import lpc-sprites --from ~/data/sprites/npy
    """
    from .importers import run_import

    paths = run_import(kind, source, out=out, seed=seed, limit=limit, sample_rate=sample_rate)
    for p in paths:
        console.print(f"wrote {p}", soft_wrap=True)
