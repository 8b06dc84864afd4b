"""Registry of the built-in datasets, the cache, ``prepare`` and ``open_dataset``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DatasetError
from ._format import DatasetWriter, Factor, H5Dataset, open_h5, verify_file
from .generators._common import Plan

SIZES = ("small", "full")


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset: its factor structure, version, sizes and expected content hashes.

    Attributes
    ----------
    name, version : str
    modality : {"video", "audio", "timeseries"}
        Fixes the stored dtype and the model input (:func:`msd_bench.datasets.to_model_input`).
    shape : tuple
        One sequence: ``(T, C, H, W)`` (video), ``(T, F)`` (audio), ``(T, V)`` (timeseries).
    factors : list[Factor]
        Label columns in order.
    sizes : dict
        Number of sequences per size (``small``, ``full``).
    content_hashes : dict
        Expected content hash per size (the dataset revision that judges are trained on).
    seed : int
        Seed of the generator.
    description, full_note : str
        What the dataset is, and how its ``full`` size is defined.
    sample_rate : int or None
        Hz, for audio (stored as the file attribute ``sample_rate``).
    attrs_fn : callable, optional
        ``attrs_fn(seed)`` -> extra file attributes (e.g. air-quality's normalisation statistics).
    """

    name: str
    version: str
    modality: str
    shape: tuple[int, ...]
    factors: list[Factor]
    sizes: dict[str, int]
    content_hashes: dict[str, str]
    seed: int
    description: str
    full_note: str
    plan_fn: Callable[[str, int], Plan] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    sample_rate: int | None = None
    attrs_fn: Callable[[int], dict[str, Any]] | None = field(repr=False, compare=False, default=None)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one step: ``(C, H, W)``, ``(F,)`` or ``(V,)`` (``shape[1:]``)."""
        return tuple(self.shape[1:])

    @property
    def static_factors(self) -> list[Factor]:
        return [f for f in self.factors if f.type == "static"]

    @property
    def dynamic_factors(self) -> list[Factor]:
        return [f for f in self.factors if f.type == "dynamic"]

    def factor(self, name: str) -> Factor:
        for f in self.factors:
            if f.name == name:
                return f
        raise DatasetError(f"dataset {self.name} has no factor {name!r}; factors are "
                           f"{', '.join(f.name for f in self.factors)}")

    def plan(self, size: str) -> Plan:
        return self.plan_fn(_check_size(size), self.seed)


def _factors(spec: list[tuple[str, str, list[str]]], ignore: tuple[str, ...] = ()) -> list[Factor]:
    return [Factor(name, i, ftype, len(vals), {v: j for j, v in enumerate(vals)}, ignore=name in ignore)
            for i, (name, ftype, vals) in enumerate(spec)]


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise DatasetError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    return size


# ------------------------------------------------------------------------------------------- built-ins
# Expected content hashes (sha256 over the decoded content, see _format.py), computed once with
# `msd-bench datasets prepare NAME --size small|full` and checked by `verify` and by every prepare.
# Changing a generator changes these: bump the dataset version (and the protocol) when you do.
CONTENT_HASHES: dict[str, dict[str, str]] = {
    "sprites": {
        "small": "92a3bde4a29a9e3ec72d33fd5a78b71e10c70565ef445c14ec30a1f1d6144432",
        "full": "7cacb08e2aa2d10171595596fa1ec07ecbeb356489a9279b289e7a46a082655d",
    },
    "dsprites-static": {
        "small": "94f59bab794a8023c5b37f42b0e0c5edb794a93d936ff3ce4319d0427d4ab7c8",
        "full": "5d9ed37492c382ec9088f065b0bfdd02e15775127c4a126924efc00a2a783669",
    },
    "dsprites-dynamic": {
        "small": "ef44ba59c8ef66b9ca4d271e9c10773ee9cc1a2a0ec2a8f987761f1b031d6735",
        "full": "425b120b478f0a91eb11eb6f420d0f8824ec9a6cfc3583dc253c091de16bccfb",
    },
    "3dshapes-dynamic": {
        "small": "1a892581ccf7707861b84d9a4b75e3ff6632ff699a90e4d8c992b69f6ab1bcb5",
        "full": "6b043be17a0644408f309eb2cd139478df4bfd23e6e8a3db81ca0691b3f51890",
    },
    "moving-digits": {
        "small": "43b97cb10ddcf73402f1ce2de6f8cf3849cbddc18c3371a314c9081a21224d05",
        "full": "098a2d636f3e40582979b49d930b7033497a071bd916f8baffb7bcde7bc59586",
    },
    "dmelodies": {
        "small": "d2aa2a64e745d296d2bed7ccbe39aea4aaa7e69aa17ba985bba9590cf8cc7529",
        "full": "e86ff508da86b159d7caf857c41e2f8d6bf7f85aba8d343ef8c2c6319b79aab4",
    },
    "air-quality": {
        "small": "2908c091cdb1e52e3eb1ed6c7d557c34296e6482288ea978c364326a12ea47c7",
        "full": "065fa3999370ea5aed02316388bf688aa006c8d3aab8691ca4352f86ae70f1df",
    },
}


def _builtin_specs() -> dict[str, DatasetSpec]:
    from .generators import air_quality, digits, dmelodies, dsprites, shapes3d, sprites

    def spec(name: str, version: str, shape: tuple[int, int, int, int], factors: list, sizes: dict[str, int],
             description: str, full_note: str, plan_fn: Callable[[str, int], Plan]) -> DatasetSpec:
        return DatasetSpec(name=name, version=version, modality="video", shape=shape, factors=_factors(factors),
                           sizes=sizes, content_hashes=CONTENT_HASHES.setdefault(name, {}), seed=0,
                           description=description, full_note=full_note, plan_fn=plan_fn)

    specs = [
        spec("sprites", "2.0", (sprites.T, 3, sprites.H, sprites.W), sprites.factors_spec(),
             {"small": 9 * sum(sprites.SMALL_CHARACTERS.values()), "full": 9 * sprites.N_CHARACTERS},
             "The standard Sprites (Li & Mandt, ICML 2018), rebuilt bit-exactly from the shipped LPC layers: "
             "body, bottom, top, hair (6 each) x 9 movements ({walk, spellcast, slash} x {front, left, right}), "
             "T=8, 3x64x64",
             "all 1,296 characters x 9 movements; the standard split (RandomState(423): 1,000 training / 296 test "
             "characters), 100 of the training characters (seeded) held out as val; small keeps 100/22/22 "
             "characters of the same splits", sprites.plan),
        spec("dsprites-static", "1.0", (dsprites.STATIC_T, 3, 64, 64), dsprites.static_factors(),
             {"small": dsprites.SMALL_N, "full": 9 * 3 * 8 * 8 * 6 * 3},
             "Coloured dSprites shapes at a fixed position that grow/shrink and rotate, T=16, 3x64x64",
             "the whole grid, one sequence per combination (9*3*8*8*6*3 = 31,104); small is a seeded subset "
             "covering every value", dsprites.plan_static),
        spec("dsprites-dynamic", "1.0", (dsprites.DYN_T, 3, 64, 64), dsprites.dynamic_factors(),
             {"small": dsprites.SMALL_N, "full": 9 * 3 * 6 * 5 * 6 * 6},
             "Coloured dSprites shapes of fixed scale and orientation moving in x and y (bouncing), T=12, 3x64x64",
             "the whole grid, one sequence per combination (9*3*6*5*6*6 = 29,160) from a seeded start; small is "
             "a seeded subset covering every value", dsprites.plan_dynamic),
        spec("3dshapes-dynamic", "1.0", (shapes3d.T, 3, 64, 64), shapes3d.factors(),
             {"small": shapes3d.SMALL_N, "full": 14400},
             "3D-shapes scenes (floor, wall, object hues; cube/cylinder/sphere/capsule) whose object grows/"
             "shrinks while the camera turns, T=10, 3x64x64",
             "a balanced 14,400-sequence design of the 72,000-combination grid: every (shape, scale_dynamic, "
             "orientation_dynamic) x every (floor, wall) pair x 2 object hues from orthogonal Latin squares, so "
             "every value and every pair of values appears", shapes3d.plan),
        spec("moving-digits", "1.0", (digits.T, 1, 64, 64), digits.factors(),
             {"small": 720 * digits.REPEATS["small"], "full": 720 * digits.REPEATS["full"]},
             "Moving-MNIST-style stroke digits (3 stroke styles) bouncing in 8 directions at 3 speeds, T=16, "
             "1x64x64",
             "every one of the 720 factor combinations with 20 seeded start positions (14,400); small has 2",
             digits.plan),
        DatasetSpec(
            name="dmelodies", version="1.0", modality="audio", shape=(dmelodies.T, dmelodies.FRAME),
            factors=_factors(dmelodies.factors_spec(), ignore=("octave",)),
            sizes={"small": sum(dmelodies.SMALL_PER_SPLIT.values()), "full": dmelodies.N_FULL},
            content_hashes=CONTENT_HASHES.setdefault("dmelodies", {}), seed=0, sample_rate=dmelodies.SAMPLE_RATE,
            description="MSD's dMelodies-WAV: one bar of arpeggiated chords I and IV (eight eighth-note slots, six "
                        "sounding) by our own additive synthesiser (violin, trumpet, saxophone, flute), int16 PCM at "
                        "16 kHz, T=12 frames x 4,000 samples (3 s)",
            full_note="every combination of instrument 4 x tonic 12 x scale 3 x rhythm 28 x arpeggio directions "
                      "2 x 2 (16,128), seeded 70/15/15 split covering every value; small is a seeded 480-sequence "
                      "subset of the same splits covering every value",
            plan_fn=dmelodies.plan),
        DatasetSpec(
            name="air-quality", version="1.0", modality="timeseries", shape=(air_quality.T, air_quality.V),
            factors=_factors(air_quality.factors_spec(), ignore=air_quality.IGNORED),
            sizes={"small": 12 * sum(air_quality.SMALL_DATES.values()), "full": air_quality.N_FULL},
            content_hashes=CONTENT_HASHES.setdefault("air-quality", {}), seed=0,
            description="MSD's bms_air_quality from the real Beijing Multi-Site Air-Quality data (UCI 501, CC BY 4.0, "
                        "shipped and sha256-checked): one sequence per station and day, T=24 hours x 13 features "
                        "(pollutants, weather, wind as sin/cos), gap-filled, log1p + train-split z-scores",
            full_note="every station x day of 2013-03-01..2017-02-28 (12 x 1,461 = 17,532), split by date 70/15/15 "
                      "(seeded; every year, month and season in every split); small keeps 84/24/24 of those dates",
            plan_fn=air_quality.plan,
            attrs_fn=lambda seed: {"feature_stats": air_quality.feature_stats_json(seed),
                                   "source": "Beijing Multi-Site Air-Quality Data, UCI ML Repository 501 (CC BY 4.0)"}),
    ]
    return {s.name: s for s in specs}


_SPECS: dict[str, DatasetSpec] | None = None


def _specs() -> dict[str, DatasetSpec]:
    global _SPECS
    if _SPECS is None:
        _SPECS = _builtin_specs()
    return _SPECS


def list_datasets() -> list[DatasetSpec]:
    """Specs of every built-in dataset, in registry order."""
    return list(_specs().values())


def get_spec(name: str) -> DatasetSpec:
    """The spec of a built-in dataset; an unknown name raises DatasetError listing the known ones."""
    specs = _specs()
    if name not in specs:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(specs)}")
    return specs[name]


# ------------------------------------------------------------------------------------------- cache


def cache_root() -> Path:
    """``$MSD_BENCH_CACHE`` (default ``~/.cache/msd-bench``)."""
    root = os.environ.get("MSD_BENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "msd-bench"


def datasets_dir() -> Path:
    """Where dataset files live: ``$MSD_BENCH_CACHE/datasets``."""
    return cache_root() / "datasets"


def imported_dir() -> Path:
    """Where importers write: ``$MSD_BENCH_CACHE/datasets/imported``."""
    return datasets_dir() / "imported"


def dataset_path(name: str, size: str = "full") -> Path:
    """Cache path of a built-in dataset file (name, version and size in the file name)."""
    spec = get_spec(name)
    return datasets_dir() / f"{spec.name}-v{spec.version}-{_check_size(size)}.h5"


def is_prepared(name: str, size: str = "full") -> bool:
    return dataset_path(name, size).is_file()


def _progress_bar(description: str, total: int, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .._cli_utils import err_console

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not enabled)


def prepare(name: str, size: str = "full", force: bool = False, progress: bool = True,
            path: str | os.PathLike | None = None) -> Path:
    """Generate a built-in dataset into the cache (atomically) and return its path.

    The content hash of the generated file is checked against the registry before the file is
    renamed into place: a mismatch raises DatasetError and leaves nothing behind.

    Parameters
    ----------
    name : str
    size : {"small", "full"}
    force : bool
        Regenerate even if the file exists.
    progress : bool
        Show a rich progress bar (on stderr).
    path : path-like, optional
        Write there instead of the cache.
    """
    spec = get_spec(name)
    _check_size(size)
    out = Path(path) if path is not None else dataset_path(name, size)
    if out.is_file() and not force:
        return out
    plan = spec.plan(size)
    expected = spec.content_hashes.get(size) or None
    attrs: dict[str, Any] = {"name": spec.name, "version": spec.version, "seed": spec.seed, "size": size,
                             "msd_bench_version": __version__, "modality": spec.modality}
    if spec.sample_rate is not None:
        attrs["sample_rate"] = int(spec.sample_rate)
    if spec.attrs_fn is not None:
        attrs.update(spec.attrs_fn(spec.seed))
    with _progress_bar(f"prepare {name} ({size})", plan.n, progress) as bar:
        task = bar.add_task(f"prepare {name} ({size})", total=plan.n)
        with DatasetWriter(out, plan.n, spec.shape, spec.factors, attrs, modality=spec.modality) as w:
            for done, block in plan.blocks():
                w.write(block)
                bar.update(task, completed=done)
            got = w.finish(plan.labels, plan.splits)
            if expected is not None and got != expected:
                raise DatasetError(f"prepared {name} ({size}) has content hash {got[:16]}…, but the registry "
                                   f"expects {expected[:16]}… for version {spec.version}; nothing was written")
    return out


def open_dataset(name: str, size: str = "full", progress: bool = True) -> H5Dataset:
    """Open a built-in dataset from the cache, preparing it first when missing.

    The file's declared revision (version and content hash attributes) is checked against the registry.
    Names of imported datasets (``msd-bench datasets import``) open the imported file instead.
    """
    if name not in _specs() and (imported_dir() / f"{name}.h5").is_file():
        return open_h5(imported_dir() / f"{name}.h5")
    spec = get_spec(name)
    path = prepare(name, size, progress=progress)
    ds = open_h5(path)
    expected = spec.content_hashes.get(size) or None
    if ds.version != spec.version or (expected and ds.declared_content_hash != expected):
        raise DatasetError(f"{path}: holds {ds.name} version {ds.version} hash {str(ds.declared_content_hash)[:16]}…,"
                           f" expected version {spec.version} hash {str(expected)[:16]}…; run `msd-bench datasets "
                           f"prepare {name} --size {size} --force`")
    return ds


def verify(name: str, size: str = "full", progress: bool = True) -> str:
    """Recompute the content hash of a prepared built-in and compare it with the registry's."""
    spec = get_spec(name)
    path = dataset_path(name, size)
    if not path.is_file():
        raise DatasetError(f"{name} ({size}) is not prepared at {path}; run `msd-bench datasets prepare {name} "
                           f"--size {size}`")
    n = spec.sizes.get(size, 0)
    with _progress_bar(f"verify {name} ({size})", n, progress) as bar:
        task = bar.add_task(f"verify {name} ({size})", total=n)
        return verify_file(path, spec.content_hashes.get(size) or None,
                           progress=lambda done, total: bar.update(task, completed=done, total=total))
