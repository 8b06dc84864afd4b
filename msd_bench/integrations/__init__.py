"""Optional integrations of :class:`msd_bench.Evaluator` with training and tracking libraries.

Each submodule imports its library only when it is imported itself, and says which extra to
install when the library is missing (one line; :class:`MissingExtraError`):

- :mod:`msd_bench.integrations.lightning` — ``MsdBenchCallback``: a PyTorch Lightning callback that
  scores the model every N epochs and logs the scores through the Trainer's loggers
  (``pip install 'msd-bench[lightning]'``);
- :mod:`msd_bench.integrations.tensorboard` — ``TensorBoardLogger`` (``msd-bench[tensorboard]``);
- :mod:`msd_bench.integrations.wandb` — ``WandbLogger`` (``msd-bench[wandb]``; offline mode works
  without a network);
- :mod:`msd_bench.integrations.mlflow` — ``MlflowLogger`` (``msd-bench[mlflow]``; a local file store
  or any tracking URI).

A logger is called with a :class:`~msd_bench.harness.results.Result` and a step:
``logger(result, step)``. What is logged is :func:`scores_to_metrics`: every score that has a value,
under ``<prefix><score name>`` (default prefix ``msd/``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ..errors import MsdBenchError

DEFAULT_PREFIX = "msd/"


class MissingExtraError(MsdBenchError, ImportError):
    """An integration's library is not installed (one line naming the extra to install)."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``pip install 'msd-bench[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs the {module.split('.')[0]!r} package, which is not installed: "
            f"pip install 'msd-bench[{extra}]'"
        ) from None


def scores_to_metrics(result: Any, prefix: str = DEFAULT_PREFIX) -> dict[str, float]:
    """``{prefix + score name: value}`` for every score of ``result`` that has a value (status ``ok``).

    Not applicable and failed scores are left out (a tracker would draw them as zeros).
    """
    return {f"{prefix}{name}": float(s.value) for name, s in sorted(result.scores.items())
            if s.status == "ok" and s.value is not None}


__all__ = ["DEFAULT_PREFIX", "MissingExtraError", "require", "scores_to_metrics"]
