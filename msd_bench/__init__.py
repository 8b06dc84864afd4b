"""msd-bench: benchmark harness and leaderboard for multi-factor sequential disentanglement.

>>> import msd_bench
>>> result = msd_bench.evaluate("submissions/dsvae-sprites", dataset="sprites", trust_code=True)
>>> result.scores["swap.static_dynamic"].value
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The benchmark protocol version (datasets + judges + metric definitions). Bump on any change.
#: msd-bench-2: the standard Sprites (sprites 2.0) and its judge; DCI as disentanglement_lib defines it
#: (exact GBT), latent exploration fitted on train / scored on test, the `msd` and `cdsvae` groups,
#: MSD-clashing names of our own metrics renamed. msd-bench-1 results stay in their own table.
PROTOCOL = "msd-bench-2"

__all__ = ["PROTOCOL", "__version__", "evaluate", "load_submission"]


def __getattr__(name: str) -> Any:  # lazy: `import msd_bench` stays light (no torch import)
    if name == "evaluate":
        from .harness.runner import evaluate

        return evaluate
    if name == "load_submission":
        from .harness.loader import load_submission

        return load_submission
    raise AttributeError(f"module 'msd_bench' has no attribute {name!r}")
