"""torch ``Dataset`` view of one split (imports torch, so kept out of the format module)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class SplitDataset(Dataset):
    """Items ``(x float32 [T, C, H, W] in [0, 1], labels int64 [L])`` of one split.

    The underlying file is opened lazily per process, so the dataset works with DataLoader workers.
    """

    def __init__(self, ds: Any, indices: np.ndarray):
        self.ds = ds
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        data, lab = self.ds.read(self.indices[i : i + 1])
        return torch.from_numpy(data[0]).float().div_(255.0), torch.from_numpy(lab[0])
