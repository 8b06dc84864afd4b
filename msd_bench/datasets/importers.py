"""Importers: convert original dataset files a user already has into the msd-bench format."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .._io import atomic_path
from ..errors import DatasetError
from ._format import open_h5, verify_file
from .registry import datasets_dir


def imported_dir() -> Path:
    """``$MSD_BENCH_CACHE/datasets/imported``."""
    return datasets_dir() / "imported"


def imported_files() -> list[tuple[str, Path]]:
    """(name, path) of every imported file in the cache."""
    d = imported_dir()
    return [(p.stem, p) for p in sorted(d.glob("*.h5"))] if d.is_dir() else []


def import_msd(source: Path, out: Path | None = None, seed: int = 0) -> list[Path]:
    """Check an MSD benchmark h5 file (structure and labels) and copy it as is into the cache."""
    ds = open_h5(source)
    ds.close()
    dest = Path(out) if out else imported_dir() / f"{Path(source).stem}.h5"
    with atomic_path(dest, suffix=".h5.tmp") as tmp:
        shutil.copyfile(source, tmp)
        verify_file(tmp)  # decodes every chunk: a truncated source fails here, before the rename
    return [dest]


IMPORTERS: dict[str, Callable[..., list[Path]]] = {
    "msd": import_msd,
}


def run_import(kind: str, source: str | os.PathLike, out: str | os.PathLike | None = None,
               seed: int = 0) -> list[Path]:
    """Run the importer ``kind`` on ``source``; returns the written files."""
    if kind not in IMPORTERS:
        raise DatasetError(f"unknown import kind {kind!r}; expected one of {', '.join(IMPORTERS)}")
    source = Path(source).expanduser()
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder to import")
    return IMPORTERS[kind](source, Path(out) if out else None, seed=seed)
