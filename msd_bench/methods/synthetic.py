"""A tiny in-memory sequence dataset (moving coloured squares) for tests and examples of the methods.

It has the reading API of an opened H5 dataset (name, shape, factors, indices, labels, read). Each
sequence is a coloured square (static factor: colour, 3 classes) on a black background that moves by one
pixel per frame in one of 2 directions (dynamic factor: right / down), T=4 frames of 3x16x16.
"""

from __future__ import annotations

import numpy as np

from msd_bench.datasets import Factor

COLOURS = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255]], dtype=np.uint8)


class TinyDataset:
    name = "tiny"
    size = "small"

    def __init__(self, n: int = 48, frames: int = 4, side: int = 16, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.shape = (frames, 3, side, side)
        self.factors = [
            Factor("colour", 0, "static", 3, {"r": 0, "g": 1, "b": 2}),
            Factor("direction", 1, "dynamic", 2, {"right": 0, "down": 1}),
        ]
        labels = np.stack([rng.integers(0, 3, n), rng.integers(0, 2, n)], axis=1).astype(np.int64)
        data = np.zeros((n, frames, 3, side, side), dtype=np.uint8)
        for i in range(n):
            y, x = rng.integers(2, side - 4 - frames, 2)
            for t in range(frames):
                yy, xx = (y, x + t) if labels[i, 1] == 0 else (y + t, x)
                data[i, t, :, yy : yy + 4, xx : xx + 4] = COLOURS[labels[i, 0]][:, None, None]
        self.data, self._labels = data, labels
        self._splits = {"train": np.arange(0, n - 16), "val": np.arange(n - 16, n - 8), "test": np.arange(n - 8, n)}

    def indices(self, split: str) -> np.ndarray:
        return self._splits[split].copy()

    def labels(self, split: str) -> np.ndarray:
        return self._labels[self._splits[split]]

    def read(self, idx) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(idx, dtype=np.int64)
        return self.data[idx], self._labels[idx]
