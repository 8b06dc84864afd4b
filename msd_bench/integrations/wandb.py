"""Log msd-bench scores to Weights & Biases (``pip install 'msd-bench[wandb]'``).

Works offline (``mode="offline"`` or ``WANDB_MODE=offline``: the run is written under ``dir`` and can
be synced later with ``wandb sync``).

>>> logger = WandbLogger(project="my-project", mode="offline")   # doctest: +SKIP
>>> logger(ev(model), step=epoch)                                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from . import DEFAULT_PREFIX, require, scores_to_metrics

wandb = require("wandb", "wandb", "msd_bench.integrations.wandb")


class WandbLogger:
    """``run.log({<prefix><score>: value}, step=step)`` and the latest values in the run's summary.

    Parameters
    ----------
    run : wandb Run, optional
        An active run (e.g. the training script's); else one is started with ``wandb.init(**init)``
        and :meth:`close` finishes it.
    prefix : str
        Prepended to each score name.
    **init
        Keyword arguments of ``wandb.init`` (``project``, ``dir``, ``mode="offline"``, ...).
    """

    def __init__(self, run: Any = None, *, prefix: str = DEFAULT_PREFIX, **init: Any):
        self._owned = run is None
        self.run = run if run is not None else wandb.init(**init)
        self.prefix = prefix

    def __call__(self, result: Any, step: int) -> dict[str, float]:
        """Log the scores of ``result`` at ``step``; returns what was logged."""
        metrics = scores_to_metrics(result, self.prefix)
        self.run.log(metrics, step=step)
        self.run.summary.update({f"{self.prefix}protocol": result.protocol,
                                 f"{self.prefix}dataset": result.dataset.name})
        return metrics

    log = __call__

    def close(self) -> None:
        if self._owned:
            self.run.finish()


__all__ = ["WandbLogger"]
