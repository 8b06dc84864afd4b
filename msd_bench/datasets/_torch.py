"""torch ``Dataset`` view of one split (imports torch, so kept out of the format module)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ._format import to_model_input


class SplitDataset(Dataset):
    """Items ``(x float32 [T, *F], labels int64 [L])`` of one split (``x`` = ``to_model_input`` of the data).

    The underlying file is opened lazily per process, so the dataset works with DataLoader workers.
    """

    def __init__(self, ds: Any, indices: np.ndarray):
        self.ds = ds
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        data, lab = self.ds.read(self.indices[i : i + 1])
        return to_model_input(data[0], self.ds.modality), torch.from_numpy(lab[0])
