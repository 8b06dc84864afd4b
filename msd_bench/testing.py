"""Public fixtures for msd-bench's own tests and for users' tests (no download, no trained model).

Everything here is small, deterministic and needs neither datasets on disk nor trained judges:

- :class:`SyntheticDataset` — moving coloured squares with the reading API of an opened dataset
  (``name``, ``version``, ``size``, ``shape``, ``factors``, ``content_hash``, ``indices``, ``labels``,
  ``read``, ``batches``): a static factor ``color`` (3 classes) and a dynamic factor ``motion``
  (right / down), known by construction, so a judge or a model can be trained on it in seconds.
  :func:`tiny_dataset` is the 48-sequence, 3x16x16 version the reference methods' tests train on.
- :func:`make_result`, :func:`make_score`, :func:`example_revisions` — schema-valid result records
  from a few numbers and the matching "current revisions", so that a results store can be written,
  checked and built without running a model (``msd_bench.leaderboard``).
- :class:`RandomJudge` — a stand-in for a frozen judge (a fixed random linear read-out of pooled
  frames, any dataset, any device) to test the runner's mechanics without a trained judge, e.g.
  ``monkeypatch.setattr(msd_bench.judges, "load_judge", lambda name, **kw: RandomJudge(factors))``.
- :func:`require_judge` — fail (not skip) a test when a committed judge it needs is missing.

Example (a user's own test)::

    from msd_bench.leaderboard import add_result, scan_store
    from msd_bench.testing import example_revisions, make_result

    def test_my_store(tmp_path):
        add_result(make_result("my-model", scores={"acc": 0.9}), tmp_path)
        entries, problems = scan_store(tmp_path, example_revisions())
        assert not problems and entries[0].result.scores["acc"].value == 0.9

This module does not import torch until a batch is asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import PROTOCOL
from .datasets import Factor
from .harness.results import DatasetRef, JudgeRef, Result, RunSettings, Score, SubmissionRef
from .leaderboard.store import DatasetRevision, Revisions

__all__ = [
    "CARD_SHA",
    "DATASET_VERSION",
    "JUDGE_SHA",
    "RandomJudge",
    "SyntheticDataset",
    "content_hash",
    "example_revisions",
    "make_result",
    "make_score",
    "require_judge",
    "tiny_dataset",
]


# ------------------------------------------------------------------------------------------ datasets
class SyntheticDataset:
    """Moving-square toy videos ``[N, T, 3, H, W]`` (uint8) with factors ``color`` and ``motion``.

    Each sequence shows one square on a black background: its colour (red / green / blue) is the
    static factor ``color``, its motion (right / down, ``image_size // (2 T)`` pixels per frame) the
    dynamic factor ``motion``.

    Parameters
    ----------
    n : int
        Number of sequences.
    frames, image_size : int
        ``T`` and ``H = W``.
    seed : int
        Generation seed (positions, labels, split).
    name, version, size : str
        Revision fields reported like a real dataset's.
    splits : (int, int, int), optional
        Sizes of the train / val / test splits (they must add up to ``n``); default 70 / 15 / 15 %
        of a seeded permutation.
    side, step : int, optional
        Square side and motion per frame in pixels (default ``image_size // 6`` and
        ``image_size // (2 T)``).
    palette : array [3, 3] of uint8, optional
        RGB of the three colours (default pure red, green, blue).
    """

    def __init__(
        self,
        n: int = 240,
        frames: int = 4,
        image_size: int = 32,
        seed: int = 0,
        name: str = "synthetic",
        version: str = "1",
        size: str = "full",
        splits: tuple[int, int, int] | None = None,
        side: int | None = None,
        step: int | None = None,
        palette: Any = None,
    ):
        rng = np.random.default_rng(seed)
        self.name, self.version, self.size = name, version, size
        self.shape = (frames, 3, image_size, image_size)
        self.factors = [
            Factor("color", 0, "static", 3, {"red": 0, "green": 1, "blue": 2}),
            Factor("motion", 1, "dynamic", 2, {"right": 0, "down": 1}),
        ]
        color = rng.integers(0, 3, n)
        motion = rng.integers(0, 2, n)
        side = side or max(2, image_size // 6)
        step = step or max(1, image_size // (2 * frames))
        rgb = np.eye(3, dtype=np.uint8) * 255 if palette is None else np.asarray(palette, dtype=np.uint8)
        span = image_size - side - step * (frames - 1)
        if span < 1:
            raise ValueError(f"a {side}-pixel square moving {step} pixels per frame does not fit {image_size} pixels")
        x0 = rng.integers(0, span, n)
        y0 = rng.integers(0, span, n)
        data = np.zeros((n, *self.shape), dtype=np.uint8)
        for i in range(n):
            for t in range(frames):
                dx, dy = (step * t, 0) if motion[i] == 0 else (0, step * t)
                y, x = y0[i] + dy, x0[i] + dx
                data[i, t, :, y : y + side, x : x + side] = rgb[color[i], :, None, None]
        self._data = data
        self._labels = np.stack([color, motion], axis=1).astype(np.int64)
        perm = rng.permutation(n)
        if splits is None:
            a, b = int(0.7 * n), int(0.85 * n)
        else:
            if len(splits) != 3 or sum(splits) != n or min(splits) < 0:
                raise ValueError(f"splits {splits} must be three sizes adding up to n={n}")
            a, b = splits[0], splits[0] + splits[1]
        self._splits = {"train": np.sort(perm[:a]), "val": np.sort(perm[a:b]), "test": np.sort(perm[b:])}
        self.content_hash = f"synthetic-{seed}-{n}-{frames}-{image_size}"
        self.path = f"<synthetic {name}>"

    def __len__(self) -> int:
        return len(self._data)

    @property
    def content_hashes(self) -> dict[str, str]:
        return {self.size: self.content_hash}

    def indices(self, split: str) -> np.ndarray:
        return self._splits[split].copy()

    def labels(self, split: str | None = None) -> np.ndarray:
        """Labels ``[N, L]`` of a split, in the order of :meth:`indices`; all rows when None."""
        if split is None:
            return self._labels.copy()
        return self._labels[self._splits[split]]

    def read(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return self._data[idx], self._labels[idx]

    def batches(self, split: str, batch_size: int = 256, limit: int | None = None, device: Any = "cpu") -> Iterator:
        """``(float32 [B, T, C, H, W] in [0, 1], int64 [B, L])`` torch batches of the first ``limit``."""
        import torch

        idx = self._splits[split]
        if limit is not None:
            idx = idx[:limit]
        for s in range(0, len(idx), batch_size):
            x, y = self.read(idx[s : s + batch_size])
            yield torch.from_numpy(x).float().div_(255.0).to(device), torch.from_numpy(y).to(device)


#: The tiny dataset's colours: saturated but not pure, so every channel carries signal.
TINY_PALETTE = ((255, 40, 40), (40, 255, 40), (40, 40, 255))


def tiny_dataset(seed: int = 0) -> SyntheticDataset:
    """48 sequences of 4 frames of 3x16x16 (a 4-pixel square moving 1 pixel per frame), named ``tiny``
    (size ``small``), split 32 / 8 / 8: what the reference methods' tests train on."""
    return SyntheticDataset(n=48, frames=4, image_size=16, seed=seed, name="tiny", size="small", splits=(32, 8, 8),
                            side=4, step=1, palette=TINY_PALETTE)


# ------------------------------------------------------------------------------------------- results
DATASET_VERSION = "1.0"
JUDGE_SHA = "a" * 64
CARD_SHA = "c" * 64


def content_hash(dataset: str, size: str = "small") -> str:
    """A stable fake content hash of ``dataset`` at ``size``."""
    return hashlib.sha256(f"{dataset}/{size}".encode()).hexdigest()


def make_score(value: float | None, higher_is_better: bool | None = True, ci: float | None = 0.01,
               status: str = "ok", version: str = "1", n: int = 100) -> Score:
    """A Score: ``value`` with the interval ``value ± ci`` (no interval when ``ci`` is None)."""
    if status != "ok" or value is None:
        return Score(value=None, version=version, higher_is_better=higher_is_better, status=status,
                     reason="made-up reason", n=0)
    lo = None if ci is None else value - ci
    hi = None if ci is None else value + ci
    return Score(value=value, ci_low=lo, ci_high=hi, n=n, version=version, higher_is_better=higher_is_better)


def make_result(
    submission: str = "model-a",
    version: str = "1.0",
    dataset: str = "sprites",
    scores: Mapping[str, float | Score | None] | None = None,
    directions: Mapping[str, bool | None] | None = None,
    protocol: str = PROTOCOL,
    latency_ms: float | None = 5.0,
    throughput: float | None = 1000.0,
    fingerprint: str = "machine-1",
    status: str = "complete",
    judge_sha: tuple[str, ...] = (JUDGE_SHA, CARD_SHA),
    dataset_version: str = DATASET_VERSION,
    size: str = "full",
    started_at: str = "2026-11-01T10:00:00+00:00",
    parameters: int | None = 12345,
    fmt: str = "onnx",
    static_dim: int = 8,
    dynamic_dim: int = 4,
    submission_hash: str | None = None,
    ceiling: Mapping[str, float] | None = None,
) -> Result:
    """A schema-valid result with the given scores (``float`` -> ok score with a ±0.01 interval).

    ``directions`` gives ``higher_is_better`` per metric (default True). ``latency_ms=None`` and
    ``throughput=None`` together give a result without a benchmark report.
    """
    scores = {"acc": 0.5, "mse": 0.1} if scores is None else scores
    directions = directions or {}
    built = {}
    for name, v in scores.items():
        if isinstance(v, Score):
            built[name] = v
        elif v is None:
            built[name] = make_score(None, directions.get(name, True), status="not_applicable")
        else:
            built[name] = make_score(float(v), directions.get(name, True))
    bench: dict[str, Any] | None = None
    if latency_ms is not None or throughput is not None:
        bench = {
            "device": "cpu",
            "latency": {"p50_ms": latency_ms, "p90_ms": None, "p99_ms": None, "mean_ms": latency_ms},
            "throughput": {"reconstruct_seq_per_s": throughput},
            "fingerprint": fingerprint,
            "verdict": "VALID",
            "parameters": parameters,
        }
    ceiling = {"colour": 0.99, "action": 1.0} if ceiling is None else ceiling
    files = ["judge.onnx", "card.json", "judge.safetensors"]
    return Result(
        protocol=protocol,
        harness_version="0.1.0",
        dataset=DatasetRef(
            name=dataset, version=dataset_version, content_hash=content_hash(dataset, size), size=size,
            split="test", n=100,
        ),
        judge=JudgeRef(
            backend="onnx",
            sha256=dict(zip(files, judge_sha, strict=False)),
            ceiling={f: {"sequence": a, "frame": a} for f, a in ceiling.items()},
        ),
        submission=SubmissionRef(
            name=submission,
            version=version,
            format=fmt,
            uri=f"submissions/{submission}",
            sha256={"encoder.onnx": "0" * 64},
            submission_hash=submission_hash or hashlib.sha256(f"{submission}@{version}".encode()).hexdigest(),
            static_dim=static_dim,
            dynamic_dim=dynamic_dim,
            parameters=parameters,
        ),
        settings=RunSettings(seed=0, batch_size=64, device="cpu", metrics=sorted(built)),
        environment={"fingerprint": fingerprint, "python": "3.11"},
        scores=built,
        benchmark=bench,
        status=status,
        started_at=started_at,
        finished_at=started_at,
    )


def example_revisions(datasets: tuple[str, ...] = ("sprites",), protocol: str = PROTOCOL) -> Revisions:
    """Current revisions matching :func:`make_result`'s defaults for ``datasets``."""
    return Revisions(
        protocol=protocol,
        datasets={
            d: DatasetRevision(DATASET_VERSION, {"small": content_hash(d, "small"), "full": content_hash(d, "full")})
            for d in datasets
        },
        judges={d: {JUDGE_SHA, CARD_SHA, "b" * 64} for d in datasets},
    )


# -------------------------------------------------------------------------------------------- judges
@dataclass
class _Artefact:
    sha256: str


@dataclass
class _Card:
    artefacts: dict = field(default_factory=lambda: {"judge.onnx": _Artefact("0" * 64)})


@dataclass
class JudgeOutput:
    """Logits per factor: ``sequence[name]`` ``[B, n_classes]``, ``frame[name]`` ``[B, T, n_classes]``."""

    sequence: dict
    frame: dict


class RandomJudge:
    """Logits = a fixed random linear map of 16x16-pooled frames (deterministic, any shape or device).

    It has the judge API the runner uses (``factors``, ``providers``, ``card.artefacts``, ``sha256``,
    ``ceiling()``, ``__call__``) and claims a ceiling of 1.0; its scores mean nothing.
    """

    def __init__(self, factors: list, channels: int = 3, seed: int = 0):
        import torch

        self.factors = list(factors)
        self.providers: list[str] = []
        self.card = _Card()
        self.sha256 = "f" * 64
        g = torch.Generator().manual_seed(seed)
        self.w = {f.name: torch.randn(channels * 16 * 16, f.n_classes, generator=g) for f in self.factors}

    def ceiling(self) -> dict:
        return {f.name: {"sequence": 1.0} for f in self.factors}

    def __call__(self, x: Any) -> JudgeOutput:
        import torch

        b, t = x.shape[:2]
        feats = torch.nn.functional.adaptive_avg_pool2d(x.flatten(0, 1), 16).reshape(b, t, -1)
        frame = {f.name: feats @ self.w[f.name].to(x.device) for f in self.factors}
        seq = {k: v.mean(1) for k, v in frame.items()}
        return JudgeOutput(seq, {f.name: frame[f.name] for f in self.factors if f.type == "static"})


def require_judge(name: str) -> None:
    """Raise ``AssertionError`` (a test failure, never a skip) when the committed judge ``name`` is missing.

    Use it in an autouse fixture of a test module that needs a frozen judge, so that a CI run without
    the artefact goes red instead of silently skipping the end-to-end tests.
    """
    from .judges import list_judges

    have = list_judges()
    if name not in have:
        raise AssertionError(
            f"the committed {name} judge is missing (msd_bench/judges/artifacts/{name}/); "
            f"judges present: {', '.join(have) or 'none'}; build it with `msd-bench judges train {name}`"
        )
