"""msd-bench: benchmark harness and leaderboard for multi-factor sequential disentanglement.

Score a model (a submission folder, or any object implementing the model interface) once with
:func:`evaluate`, or many times (e.g. during training) with an :class:`Evaluator`, which keeps the
dataset, the judge and the inputs open and gives the same scores. Score names: ``msd-bench metrics
list``; groups: ``msd-bench metrics list --groups``.

>>> import msd_bench
>>> from msd_bench.harness.example_model import TinyModel
>>> model = TinyModel(frames=8, channels=3, height=64, width=64)  # untrained: its scores mean nothing
>>> result = msd_bench.evaluate(model, "sprites", size="small", limit=32, metrics="reconstruction",
...                             device="cpu", pictures=False)
>>> result.status
'complete'
>>> score = result.scores["mse"]  # value, 95 % interval, n
>>> score.ci_low <= score.value <= score.ci_high, score.n
(True, 32)
>>> ev = msd_bench.Evaluator("sprites", size="small", limit=32, metrics="mse", device="cpu")
>>> ev(model).scores["mse"].value == result.scores["mse"].value
True
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The benchmark protocol version (datasets + judges + metric definitions). Bump on any change.
#: msd-bench-2: the standard Sprites (sprites 2.0) and its judge; DCI as disentanglement_lib defines it
#: (exact GBT), latent exploration fitted on train / scored on test, the `msd` and `cdsvae` groups,
#: MSD-clashing names of our own metrics renamed. msd-bench-1 results stay in their own table.
PROTOCOL = "msd-bench-2"

__all__ = ["PROTOCOL", "Evaluator", "__version__", "evaluate", "load_submission"]


def __getattr__(name: str) -> Any:  # lazy: `import msd_bench` stays light (no torch import)
    if name == "evaluate":
        from .harness.runner import evaluate

        return evaluate
    if name == "Evaluator":
        from .evaluator import Evaluator

        return Evaluator
    if name == "load_submission":
        from .harness.loader import load_submission

        return load_submission
    raise AttributeError(f"module 'msd_bench' has no attribute {name!r}")
