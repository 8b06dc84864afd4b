"""Datasets: the on-disk HDF5 format, the registry of built-in procedural datasets, importers.

>>> from msd_bench.datasets import get_spec, open_dataset
>>> ds = open_dataset("sprites", size="small")      # prepares into $MSD_BENCH_CACHE/datasets if missing
>>> for x, y in ds.batches("test", batch_size=256):  # float32 [B, T, *F] (to_model_input), int64 [B, L]
...     ...

See docs/datasets.md.
"""

from __future__ import annotations

from ._format import (
    AUDIO_SCALE,
    MODALITIES,
    SPLITS,
    DatasetWriter,
    Factor,
    H5Dataset,
    classes_json,
    open_h5,
    parse_classes,
    stored_dtype,
    to_model_input,
    verify_file,
    write_h5,
)
from .registry import (
    SIZES,
    DatasetSpec,
    cache_root,
    dataset_path,
    datasets_dir,
    get_spec,
    is_prepared,
    list_datasets,
    open_dataset,
    prepare,
    verify,
)

__all__ = [
    "AUDIO_SCALE",
    "MODALITIES",
    "SIZES",
    "SPLITS",
    "DatasetSpec",
    "DatasetWriter",
    "Factor",
    "H5Dataset",
    "cache_root",
    "classes_json",
    "dataset_path",
    "datasets_dir",
    "get_spec",
    "is_prepared",
    "list_datasets",
    "open_dataset",
    "open_h5",
    "parse_classes",
    "prepare",
    "stored_dtype",
    "to_model_input",
    "verify",
    "verify_file",
    "write_h5",
]
