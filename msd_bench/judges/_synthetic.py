"""A tiny in-memory dataset with the ``msd_bench.datasets`` reading API, for tests and benchmarks.

Every sequence shows one square on a black background: its colour (red / green / blue) is a static
factor and its motion (right / down) a dynamic factor, so a judge can learn both in one short epoch.
The labels are known by construction, which lets tests assert real accuracies without real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SynthFactor:
    name: str
    index: int
    type: str
    n_classes: int
    values: dict = field(default_factory=dict)
    ignore: bool = False


class SyntheticDataset:
    """Square-moving toy videos ``[N, T, 3, H, W]`` with factors ``color`` (static) and ``motion``.

    Parameters
    ----------
    n : int
        Number of sequences (split 70/15/15 into train/val/test).
    frames, image_size : int
        ``T`` and ``H = W``.
    seed : int
        Generation seed.
    version, size, name : str
        Revision fields reported like a real dataset.
    """

    def __init__(
        self,
        n: int = 240,
        frames: int = 4,
        image_size: int = 32,
        seed: int = 0,
        name: str = "synthetic",
        version: str = "1",
        size: str = "full",
    ):
        rng = np.random.default_rng(seed)
        self.name, self.version, self.size = name, version, size
        self.shape = (frames, 3, image_size, image_size)
        self.factors = [
            SynthFactor("color", 0, "static", 3, {"red": 0, "green": 1, "blue": 2}),
            SynthFactor("motion", 1, "dynamic", 2, {"right": 0, "down": 1}),
        ]
        color = rng.integers(0, 3, n)
        motion = rng.integers(0, 2, n)
        side = max(2, image_size // 6)
        step = max(1, image_size // (2 * frames))
        span = image_size - side - step * (frames - 1)
        x0 = rng.integers(0, span, n)
        y0 = rng.integers(0, span, n)
        data = np.zeros((n, *self.shape), dtype=np.uint8)
        for i in range(n):
            for t in range(frames):
                dx, dy = (step * t, 0) if motion[i] == 0 else (0, step * t)
                data[i, t, color[i], y0[i] + dy : y0[i] + dy + side, x0[i] + dx : x0[i] + dx + side] = 255
        self._data = data
        self._labels = np.stack([color, motion], axis=1).astype(np.int64)
        perm = rng.permutation(n)
        a, b = int(0.7 * n), int(0.85 * n)
        self._splits = {"train": np.sort(perm[:a]), "val": np.sort(perm[a:b]), "test": np.sort(perm[b:])}
        self.content_hash = f"synthetic-{seed}-{n}-{frames}-{image_size}"
        self.path = f"<synthetic {name}>"

    @property
    def content_hashes(self) -> dict[str, str]:
        return {self.size: self.content_hash}

    def indices(self, split: str) -> np.ndarray:
        return self._splits[split].copy()

    def labels(self, split: str) -> np.ndarray:
        return self._labels[self._splits[split]]

    def read(self, indices) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return self._data[idx], self._labels[idx]

    def batches(self, split: str, batch_size: int = 256, limit: int | None = None, device="cpu"):
        import torch

        idx = self._splits[split]
        if limit is not None:
            idx = idx[:limit]
        for s in range(0, len(idx), batch_size):
            x, y = self.read(idx[s : s + batch_size])
            yield (
                torch.from_numpy(x).float().div_(255.0).to(device),
                torch.from_numpy(y).to(device),
            )
