"""Log msd-bench scores to MLflow (``pip install 'msd-bench[mlflow]'``; ``mlflow-skinny`` is enough).

>>> logger = MlflowLogger(tracking_uri="file:./mlruns", experiment="my-model")   # doctest: +SKIP
>>> logger(ev(model), step=epoch)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

from . import DEFAULT_PREFIX, require, scores_to_metrics

require("mlflow", "mlflow", "msd_bench.integrations.mlflow")


class MlflowLogger:
    """Metrics ``<prefix><score>`` at ``step`` in an MLflow run, through ``MlflowClient.log_batch``.

    Parameters
    ----------
    run_id : str, optional
        An existing run (e.g. ``mlflow.active_run().info.run_id``); else a run is created in
        ``experiment`` and :meth:`close` ends it.
    tracking_uri : str, optional
        ``file:/path/mlruns`` for a local file store (recent MLflow versions want
        ``MLFLOW_ALLOW_FILE_STORE=true`` for it), ``sqlite:///mlflow.db`` (full ``mlflow``), or a
        server URI (default: MLflow's own).
    experiment : str
        Experiment name of a new run (created when missing).
    prefix : str
        Prepended to each score name.
    """

    def __init__(self, run_id: str | None = None, *, tracking_uri: str | None = None,
                 experiment: str = "msd-bench", prefix: str = DEFAULT_PREFIX, run_name: str | None = None):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.prefix = prefix
        self._owned = run_id is None
        if run_id is None:
            exp = self.client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(experiment)
            run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id
        self.run_id = run_id

    def __call__(self, result: Any, step: int) -> dict[str, float]:
        """Log the scores of ``result`` at ``step``; returns what was logged."""
        from mlflow.entities import Metric

        metrics = scores_to_metrics(result, self.prefix)
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, int(step)) for k, v in metrics.items()])
        return metrics

    log = __call__

    def close(self) -> None:
        if self._owned:
            self.client.set_terminated(self.run_id)


__all__ = ["MlflowLogger"]
