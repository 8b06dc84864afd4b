"""The metric groups run by :func:`msd_bench.harness.runner.evaluate` and their shared context.

A group is a function ``group(ctx) -> list[MetricValue]``. The :class:`EvalContext` owns the data of
one run (the evaluation subset of the split, its labels, the cached encodings, seeded generators)
so that every group reuses the same encodings and the same random choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import MetricError
from .interface import Latents

#: sequences of the train split encoded to fit the latent exploration (channel map) and the
#: representation metrics' classifiers
EXPLORE_TRAIN = 4000


@dataclass
class EvalContext:
    model: Any  # TimedModel
    judge: Any  # TimedJudge
    dataset: Any  # H5Dataset
    split: str
    limit: int | None
    batch_size: int
    seed: int
    repeats: int
    device: torch.device
    pictures_dir: Path | None = None
    progress: Callable[[str, int, int], None] | None = None
    explore_train: int = EXPLORE_TRAIN
    cache: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------ data
    def subset(self, split: str | None = None, limit: int | None = None) -> np.ndarray:
        """Dataset indices evaluated: the whole split, or a seeded random subset of ``limit``, sorted."""
        split = split or self.split
        limit = self.limit if limit is None and split == self.split else limit
        key = f"subset:{split}:{limit}"
        if key not in self.cache:
            idx = self.dataset.indices(split)
            if limit is not None and limit < idx.size:
                rng = np.random.default_rng(self.seed)
                idx = np.sort(rng.choice(idx, size=limit, replace=False))
            self.cache[key] = idx
        return self.cache[key]

    @property
    def n(self) -> int:
        return int(self.subset().size)

    def labels(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        idx = self.subset(split, limit)
        return torch.from_numpy(self.dataset.labels()[idx]).to(self.device)

    def videos(self, positions: np.ndarray | torch.Tensor, split: str | None = None) -> torch.Tensor:
        """Float videos ``[B, T, C, H, W]`` of the given positions within the evaluated subset."""
        pos = positions.cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions)
        data, _ = self.dataset.read(self.subset(split)[pos])
        return torch.from_numpy(data).to(self.device).float().div_(255.0)

    def iter_videos(self, split: str | None = None, limit: int | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(slice of positions, videos)`` over the evaluated subset in batches."""
        idx = self.subset(split, limit)
        for start in range(0, idx.size, self.batch_size):
            stop = min(start + self.batch_size, idx.size)
            data, _ = self.dataset.read(idx[start:stop])
            yield slice(start, stop), torch.from_numpy(data).to(self.device).float().div_(255.0)

    # ------------------------------------------------------------------------------ model
    def encode_split(self, split: str | None = None, limit: int | None = None) -> Latents:
        """Encodings of the evaluated subset (cached)."""
        key = f"latents:{split or self.split}:{limit}"
        if key not in self.cache:
            parts = [self.model.encode(x) for _, x in self.iter_videos(split, limit)]
            z = Latents.cat(parts)
            bad = [k for k, v in (("static", z.static), ("dynamic", z.dynamic)) if not torch.isfinite(v).all()]
            if bad:
                raise MetricError(f"the model's encode returned NaN or Inf in {', '.join(bad)} latents")
            self.cache[key] = z
        return self.cache[key]

    def latents(self) -> Latents:
        return self.encode_split()

    def train_latents(self) -> tuple[Latents, torch.Tensor]:
        """Encodings and labels of a seeded subset of the train split (exploration / classifier fits)."""
        z = self.encode_split("train", self.explore_train)
        return z, self.labels("train", self.explore_train)

    def decode(self, z: Latents) -> Iterator[tuple[slice, torch.Tensor]]:
        """Decode ``z`` in batches: ``(slice, videos)``."""
        for start in range(0, z.batch_size, self.batch_size):
            sl = slice(start, min(start + self.batch_size, z.batch_size))
            yield sl, self.model.decode(z[sl])

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator on the device, seeded with ``seed + offset`` (one offset per use)."""
        return torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + offset)

    def judge_sequence_predictions(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Arg-max sequence-level predictions ``{factor: [B]}``."""
        out = self.judge(videos)
        return {k: v.argmax(-1) for k, v in out.sequence.items()}

    @property
    def factor_names(self) -> list[str]:
        return [f.name for f in self.dataset.factors]

    @property
    def factors(self) -> list[Any]:
        return list(self.dataset.factors)
