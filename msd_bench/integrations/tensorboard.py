"""Log msd-bench scores to TensorBoard (``pip install 'msd-bench[tensorboard]'``).

>>> logger = TensorBoardLogger("runs/my-model")     # doctest: +SKIP
>>> logger(ev(model), step=epoch)                    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import DEFAULT_PREFIX, require, scores_to_metrics

require("tensorboard", "tensorboard", "msd_bench.integrations.tensorboard")


class TensorBoardLogger:
    """Scalars ``<prefix><score>`` at ``step`` in an event file under ``log_dir`` (or into ``writer``).

    Parameters
    ----------
    log_dir : path, optional
        Folder of a new ``torch.utils.tensorboard.SummaryWriter``.
    writer : SummaryWriter, optional
        An existing writer (e.g. the one a training script already has); then ``log_dir`` is unused
        and :meth:`close` leaves it open.
    prefix : str
        Prepended to each score name (``msd/mse``).
    """

    def __init__(self, log_dir: str | Path | None = None, *, writer: Any = None, prefix: str = DEFAULT_PREFIX):
        if writer is None:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=None if log_dir is None else str(log_dir))
            self._owned = True
        else:
            self._owned = False
        self.writer = writer
        self.prefix = prefix

    def __call__(self, result: Any, step: int) -> dict[str, float]:
        """Write the scores of ``result`` at ``step``; returns what was written."""
        metrics = scores_to_metrics(result, self.prefix)
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()
        return metrics

    log = __call__

    def close(self) -> None:
        if self._owned:
            self.writer.close()


__all__ = ["TensorBoardLogger"]
