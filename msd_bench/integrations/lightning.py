"""A PyTorch Lightning callback that scores the model with an :class:`msd_bench.Evaluator` every N epochs.

``pip install 'msd-bench[lightning]'`` (``lightning``; the older ``pytorch_lightning`` package works too).

>>> ev = msd_bench.Evaluator("sprites", preset="quick")                        # doctest: +SKIP
>>> trainer = Trainer(max_epochs=20, callbacks=[MsdBenchCallback(ev, every_n_epochs=5)])  # doctest: +SKIP

The scores go through ``LightningModule.log_dict`` (so every logger of the Trainer — CSV,
TensorBoard, W&B, MLflow — records them, at the epoch's global step) and to any extra msd-bench
loggers given; each epoch's :class:`~msd_bench.harness.results.Result` is kept in ``callback.results``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from . import DEFAULT_PREFIX, MissingExtraError, scores_to_metrics


def _callback_base() -> type:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name).Callback
        except ImportError:
            continue
    raise MissingExtraError("msd_bench.integrations.lightning needs the 'lightning' package, which is not "
                            "installed: pip install 'msd-bench[lightning]'")


Callback = _callback_base()


class MsdBenchCallback(Callback):
    """Score the model at the end of every ``every_n_epochs``-th training epoch (and log the scores).

    Parameters
    ----------
    evaluator : msd_bench.Evaluator
        Opened once, before the Trainer starts (its device must be the model's).
    every_n_epochs : int
        Score after epochs ``N, 2N, ...`` (counted from 1).
    model : callable(LightningModule) -> model, optional
        The object that implements the model interface (default: the LightningModule itself), e.g.
        ``lambda m: m.net``.
    prefix : str
        Prepended to each score name in the logs.
    loggers : sequence of callables, optional
        Extra msd-bench loggers (``logger(result, step)``, e.g. :class:`~.tensorboard.TensorBoardLogger`).
    log_to_trainer : bool
        Also log through ``LightningModule.log_dict`` (the Trainer's own loggers).
    """

    def __init__(self, evaluator: Any, every_n_epochs: int = 1, *, model: Callable[[Any], Any] | None = None,
                 prefix: str = DEFAULT_PREFIX, loggers: Sequence[Callable[[Any, int], Any]] = (),
                 log_to_trainer: bool = True):
        if int(every_n_epochs) < 1:
            from ..errors import MsdBenchError

            raise MsdBenchError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.evaluator = evaluator
        self.every_n_epochs = int(every_n_epochs)
        self.model = model
        self.prefix = prefix
        self.loggers = list(loggers)
        self.log_to_trainer = log_to_trainer
        self.results: list[tuple[int, Any]] = []  # (epoch, Result)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        epoch = int(trainer.current_epoch) + 1
        if epoch % self.every_n_epochs:
            return
        target = self.model(pl_module) if self.model is not None else pl_module
        result = self.evaluator(target)
        self.results.append((epoch, result))
        metrics = scores_to_metrics(result, self.prefix)
        if self.log_to_trainer and metrics:
            pl_module.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=False, logger=True)
        for logger in self.loggers:
            logger(result, trainer.global_step)


__all__ = ["MsdBenchCallback"]
