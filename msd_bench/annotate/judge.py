"""A vision-language model as the judge, for a dataset without a trained judge.

:class:`VLMJudge` has the call interface of the frozen judges (:class:`msd_bench.judges.judge.Judge`):
``judge(x)`` with ``x`` float32 ``[B, T, C, H, W]`` in ``[0, 1]`` returns a
:class:`~msd_bench.judges.judge.JudgeOutput` with logits per factor head. Each sequence is quantised to
uint8, shown to the model with the annotation prompt and the dataset's factors, and the answer becomes
log-probabilities: ``log(confidence)`` for the chosen class, the rest spread evenly over the others.
The per-frame heads of static factors repeat the sequence answer on every frame (the model is asked
once per sequence). Answers are cached by content like the annotation's, so rerunning an evaluation
costs nothing.

Use it through ``msd_bench.evaluate(model, dataset, judge=VLMJudge(...))`` or
``msd-bench evaluate --judge-backend vlm --vlm-model NAME --vlm-base-url URL``; the result then says
``judge.backend = "vlm"``, ``judge.providers = ["vlm:<model>@<host>"]``, ``judge.sha256`` holds the
prompt hash, and ``environment.judge`` the model, base-URL host, prompt and schema hashes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import JudgeError
from .cache import default_cache_dir
from .client import VLMClient
from .errors import BackendError
from .images import ImageConfig, frame_indices, image_parts
from .prompts import PROMPT_SHA256, annotate_text, labels_schema, schema_sha256
from .query import ask, run_all
from .schema import parse_labels


@dataclass
class _Artefact:
    sha256: str


@dataclass
class _Card:
    artefacts: dict = field(default_factory=dict)


class VLMJudge:
    """Score sequences with a vision-language model: logits per factor, like a trained judge.

    Parameters
    ----------
    factors : list of Factor
        The dataset's factors (label-column order); ignored factors get uniform logits.
    base_url, model, api_key_env
        The OpenAI-compatible endpoint and model (see :class:`~msd_bench.annotate.client.VLMClient`).
    frames_per_query, layout, min_side
        What each query shows (:class:`~msd_bench.annotate.images.ImageConfig`).
    context : str, optional
        A sentence about the data added to the prompt.
    confidence : float
        Probability given to the chosen class.
    on_failure : {"error", "uniform"}
        A sequence without a valid answer after the repairs: raise :class:`JudgeError` (the metric group
        becomes an error entry), or give it uniform logits (counted in :attr:`failures`).
    cache_dir, timeout, max_retries, backoff, max_repairs, concurrency, response_format, seed
        Request settings.
    """

    backend = "vlm"

    def __init__(self, factors: list, *, base_url: str, model: str, api_key_env: str | None = None,
                 frames_per_query: int = 4, layout: str = "grid", min_side: int = 128, context: str | None = None,
                 confidence: float = 0.999, on_failure: str = "error", cache_dir: Any = None, timeout: float = 60.0,
                 max_retries: int = 4, backoff: float = 1.0, max_repairs: int = 2, concurrency: int = 4,
                 response_format: str = "json_schema", seed: int = 0):
        if on_failure not in ("error", "uniform"):
            raise JudgeError(f"on_failure '{on_failure}' is unknown; expected error or uniform")
        if not 0 < confidence < 1:
            raise JudgeError(f"confidence {confidence} must be in (0, 1)")
        self.factors = list(factors)
        self._asked = [f for f in self.factors if not f.ignore]
        self._schema = [(f.name, f.type, list(f.value_names)) for f in self._asked]
        self.cfg = ImageConfig(frames=frames_per_query, layout=layout, min_side=min_side)
        self.client = VLMClient(base_url, model, api_key_env=api_key_env,
                                cache_dir=Path(cache_dir) if cache_dir is not None else default_cache_dir(),
                                timeout=timeout, max_retries=max_retries, backoff=backoff,
                                response_format=response_format)
        self.model, self.host = model, self.client.host
        self.context, self.confidence, self.on_failure = context, float(confidence), on_failure
        self.max_repairs, self.concurrency, self.seed = max_repairs, concurrency, seed
        self.schema_sha256 = schema_sha256(self._schema)
        ident = "\x00".join([model, self.host, PROMPT_SHA256, self.schema_sha256,
                             repr(sorted(self.cfg.to_dict().items())), context or "", repr(confidence)])
        self.sha256 = hashlib.sha256(ident.encode()).hexdigest()
        self.card = _Card({"prompt": _Artefact(PROMPT_SHA256), "schema": _Artefact(self.schema_sha256)})
        self.providers = [f"vlm:{model}@{self.host}"]
        self.failures = 0
        self.sequences = 0

    def __repr__(self) -> str:
        return f"VLMJudge(model={self.model!r}, host={self.host!r})"

    def ceiling(self) -> dict:
        """No card, so no measured ceiling: ``{}`` (results carry no oracle row for a VLM judge)."""
        return {}

    def record(self) -> dict:
        """What a result records about this judge (``environment.judge``)."""
        return {"kind": "vlm", "model": self.model, "base_url_host": self.host, "prompt_sha256": PROMPT_SHA256,
                "schema_sha256": self.schema_sha256, "judge_sha256": self.sha256, "images": self.cfg.to_dict(),
                "confidence": self.confidence, "on_failure": self.on_failure,
                "frame_heads": "the sequence answer repeated on every frame"}

    def predict_labels(self, videos: np.ndarray) -> np.ndarray:
        """Class index per factor ``[B, L]`` (``-1`` where no valid answer) of uint8 ``[B, T, C, H, W]``."""
        t = videos.shape[1]
        k = len(frame_indices(t, self.cfg.frames))
        text = annotate_text(self.cfg.order_text(k), k, self._schema, self.context)
        lschema = labels_schema(self._schema)

        def job(i: int):
            return lambda: ask(self.client, text, image_parts(videos[i], self.cfg), lschema, "labels",
                               lambda obj: parse_labels(obj, self._schema), self.seed, max_repairs=self.max_repairs)

        try:
            outs = run_all([job(i) for i in range(len(videos))], self.concurrency, lambda: None)
        except BackendError as exc:
            raise JudgeError(f"VLM judge: {exc}") from None
        pred = np.full((len(videos), len(self.factors)), -1, dtype=np.int64)
        cols = [f.index for f in self._asked]
        for i, o in enumerate(outs):
            self.sequences += 1
            if o.ok:
                pred[i, cols] = o.value
            elif self.on_failure == "error":
                raise JudgeError(f"VLM judge: no valid answer for a sequence after {o.attempts} attempts "
                                 f"({o.reasons[-1] if o.reasons else 'no answer'})")
            else:
                self.failures += 1
        return pred

    def __call__(self, x):
        """Logits of every head for ``x`` (float32 ``[B, T, C, H, W]`` in ``[0, 1]``, any device)."""
        import torch

        from ..judges.judge import JudgeOutput

        if not isinstance(x, torch.Tensor) or x.dim() != 5:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise JudgeError(f"VLM judge input has shape {got}, expected a [B, T, C, H, W] tensor")
        videos = (x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())
        pred = self.predict_labels(videos)
        b, t = videos.shape[:2]
        seq, frame = {}, {}
        for f in self.factors:
            n = int(f.n_classes)
            col = pred[:, f.index]
            logits = torch.zeros(b, n, dtype=torch.float32)
            if n > 1:
                hit, miss = math.log(self.confidence), math.log((1 - self.confidence) / (n - 1))
                ok = torch.from_numpy(col >= 0)
                rows = torch.nonzero(ok).flatten()
                logits[rows] = miss
                logits[rows, torch.from_numpy(col[ok.numpy()])] = hit
            seq[f.name] = logits.to(x.device)
            if f.type == "static":
                frame[f.name] = seq[f.name].unsqueeze(1).expand(b, t, n).contiguous()
        return JudgeOutput(sequence=seq, frame=frame)


def vlm_judge_for(dataset: str, *, size: str = "full", **options: Any) -> VLMJudge:
    """A :class:`VLMJudge` for a built-in or imported dataset (its factors from the dataset file)."""
    from ..datasets import open_dataset

    return VLMJudge(list(open_dataset(dataset, size=size).factors), **options)
