"""A training-loop evaluator: the dataset, the judge and the inputs stay open across calls.

:func:`msd_bench.evaluate` opens the dataset and the judge (hash checks, an ONNX Runtime session),
reads the evaluated sequences and converts them to float on every call. :class:`Evaluator` does that
once and then scores a model as often as asked, e.g. every few epochs of a training run::

    ev = msd_bench.Evaluator("sprites", preset="quick")
    for epoch in range(epochs):
        train_one_epoch(model)
        result = ev(model)            # model.eval() + no grad inside; training mode restored after
        log(result.scores["mse"].value)

Both run the same code (:func:`msd_bench.harness.runner.run_session`): an Evaluator's scores equal
those of a cold ``msd_bench.evaluate`` / ``msd-bench evaluate`` with the same settings
(:meth:`Evaluator.evaluate_kwargs`), exactly.

Presets (:data:`PRESETS`):

- ``quick``: the groups ``reconstruction``, ``static_dynamic_swap``, ``generation`` and ``cdsvae``
  on a seeded subset of 128 test sequences. None of them needs the train split (no latent
  exploration), so a call costs a few forward passes of 128 sequences: affordable every epoch.
- ``full``: every group (the leaderboard's suite) on the whole test split, as ``msd-bench evaluate``
  runs it by default (the exploration encodes 4,000 train sequences, kept as float on the device:
  about 390 MB for sprites).

``limit`` and ``metrics`` given explicitly override the preset's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import MsdBenchError

#: preset name -> (metric groups, limit). ``None`` limit: the whole split.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"metrics": ["reconstruction", "static_dynamic_swap", "generation", "cdsvae"], "limit": 128},
    "full": {"metrics": "all", "limit": None},
}


class Evaluator:
    """Score models repeatedly on one dataset with its judge and inputs kept open.

    Parameters
    ----------
    dataset : str
        Built-in dataset name (or, with ``judge``, an imported one).
    preset : {"quick", "full"}
        Default groups and limit (see :data:`PRESETS`).
    limit : int, optional
        Number of sequences of the split scored (a seeded subset); overrides the preset's.
    metrics : str or list of str, optional
        Groups or metric names (as ``msd_bench.evaluate``); overrides the preset's.
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``. A torch model must be on it.
    seed : int
        Seed of the subset and of every random choice (fixed for the Evaluator's life).
    size, split, batch_size, repeats, judge_backend, judge
        As :func:`msd_bench.evaluate`.
    progress, batch_progress : callable, optional
        As :func:`msd_bench.evaluate` (per group, per forward pass; after the first call the passes
        of each group are known, so ``batch_progress`` then gets totals).

    Examples
    --------
    >>> import msd_bench
    >>> from msd_bench.harness.example_model import TinyModel
    >>> ev = msd_bench.Evaluator("sprites", size="small", preset="quick", limit=32, metrics="reconstruction",
    ...                          device="cpu")
    >>> result = ev(TinyModel(frames=8, channels=3, height=64, width=64))
    >>> sorted(result.groups)
    ['reconstruction']
    >>> 0.0 <= result.scores["reconstruction.judge_accuracy.mean"].value <= 1.0
    True
    """

    def __init__(
        self,
        dataset: str = "sprites",
        *,
        preset: str = "quick",
        limit: int | None = None,
        metrics: str | list[str] | None = None,
        device: str = "auto",
        seed: int = 0,
        size: str = "full",
        split: str = "test",
        batch_size: int = 128,
        repeats: int = 1,
        judge_backend: str = "onnx",
        judge: Any = None,
        progress: Callable[[str, int, int], None] | None = None,
        batch_progress: Callable[[str, int, int | None], None] | None = None,
    ):
        from .harness.device import resolve_device
        from .harness.runner import check_settings, get_spec_checked, open_session
        from .harness.suite import resolve_groups

        if preset not in PRESETS:
            raise MsdBenchError(f"unknown preset {preset!r}; expected one of: {', '.join(PRESETS)}")
        self.preset = preset
        chosen = PRESETS[preset]
        self.metrics = resolve_groups(chosen["metrics"] if metrics is None else metrics)
        self.limit = chosen["limit"] if limit is None else limit
        check_settings(batch_size=batch_size, limit=self.limit, repeats=repeats, seed=seed)
        self.dataset, self.size, self.split = dataset, size, split
        self.batch_size, self.seed, self.repeats = batch_size, seed, repeats
        self.judge_backend = judge_backend
        self.device = resolve_device(device)
        self.progress, self.batch_progress = progress, batch_progress
        spec = get_spec_checked(dataset, judge)
        self._session = open_session(dataset, size=size, device=self.device, judge_backend=judge_backend,
                                     judge=judge, spec=spec, keep_inputs=True)
        self._explicit_judge = judge is not None
        self._passes: dict[str, int] = {}
        self.calls = 0

    # ---------------------------------------------------------------------------------------- API
    def evaluate_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`msd_bench.evaluate` that give the same scores cold."""
        kw: dict[str, Any] = {"size": self.size, "split": self.split, "metrics": list(self.metrics),
                              "device": str(self.device), "batch_size": self.batch_size, "limit": self.limit,
                              "seed": self.seed, "repeats": self.repeats, "judge_backend": self.judge_backend}
        if self._explicit_judge:
            kw["judge"] = self._session.judge
        return kw

    def cli_args(self) -> list[str]:
        """The ``msd-bench evaluate`` options that give the same scores (besides ``--submission``)."""
        args = ["--dataset", self.dataset, "--size", self.size, "--split", self.split,
                "--metrics", ",".join(self.metrics), "--device", str(self.device),
                "--batch-size", str(self.batch_size), "--seed", str(self.seed), "--repeats", str(self.repeats),
                "--judge-backend", self.judge_backend]
        return args + (["--limit", str(self.limit)] if self.limit is not None else [])

    def evaluate(self, model: Any, *, out: str | Path | None = None, pictures: bool = False,
                 trust_code: bool = False):
        """Score ``model`` (a model object in any state of training, or a submission folder).

        A ``torch.nn.Module`` is put in eval mode for the call and every submodule gets its own
        training flag back afterwards; the forward passes run without autograd. Returns the
        :class:`~msd_bench.harness.results.Result` (written to ``out/result.json`` when given).
        """
        import torch

        from .harness.loader import load_submission
        from .harness.results import now_iso
        from .harness.runner import RESULT_FILE, _check_writable, _remove_if_empty, run_session
        from .harness.timing import PhaseTimer

        if self._session is None:
            raise MsdBenchError("this Evaluator is closed; create a new one")
        started, t_start = now_iso(), time.perf_counter()
        timer = PhaseTimer(self.device)
        out_dir = Path(out) if out is not None else None
        created = _check_writable(out_dir) if out_dir is not None else []
        modes: list[tuple[torch.nn.Module, bool]] = []
        try:
            with timer("load"):
                if isinstance(model, str | Path):
                    model = load_submission(model, dataset=self.dataset, device=self.device, trust_code=trust_code)
            if isinstance(model, torch.nn.Module):
                modes = [(m, m.training) for m in model.modules()]
                model.eval()
            with torch.no_grad():
                result = run_session(self._session, model, timer, list(self.metrics), started, t_start,
                                     split=self.split, batch_size=self.batch_size, limit=self.limit, seed=self.seed,
                                     repeats=self.repeats, out_dir=out_dir, pictures=pictures,
                                     progress=self.progress, batch_progress=self.batch_progress,
                                     passes=self._passes)
        except BaseException:
            if out_dir is not None and not (out_dir / RESULT_FILE).exists():
                _remove_if_empty(created)
            raise
        finally:
            for m, was_training in modes:
                m.training = was_training
        self.calls += 1
        return result

    __call__ = evaluate

    def close(self) -> None:
        """Drop the dataset, the judge and the kept inputs (the Evaluator cannot be used after)."""
        if self._session is not None:
            close = getattr(self._session.ds, "close", None)
            if callable(close):
                close()
            self._session = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._session is None else f"{self.calls} call(s)"
        return (f"Evaluator({self.dataset!r}, preset={self.preset!r}, metrics={self.metrics}, limit={self.limit}, "
                f"device='{self.device}', seed={self.seed}; {state})")


__all__ = ["PRESETS", "Evaluator"]
