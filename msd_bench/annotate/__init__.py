"""Annotate a new dataset with a vision-language model, and a VLM judge (docs/annotate.md).

>>> from msd_bench.annotate import annotate
>>> res = annotate("my_videos/", base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct",
...                out="annotated/", n_explore=16)
>>> res.dataset_path, res.report["agreement"], res.report["requests"]["tokens"]

Any OpenAI-compatible chat-completions server works (OpenAI, vLLM, Ollama, llama.cpp, ...) through
the ``openai`` package (``pip install 'msd-bench[annotate]'``), imported only when a request is sent.
"""

from __future__ import annotations

from .client import VLMClient
from .errors import AnnotateError, BackendError
from .images import ImageConfig, frame_indices
from .judge import VLMJudge, vlm_judge_for
from .pipeline import AnnotationResult, annotate
from .prompts import PROMPT_SHA256
from .schema import FactorSchema, Schema, merge

__all__ = [
    "PROMPT_SHA256",
    "AnnotateError",
    "AnnotationResult",
    "BackendError",
    "FactorSchema",
    "ImageConfig",
    "Schema",
    "VLMClient",
    "VLMJudge",
    "annotate",
    "frame_indices",
    "merge",
    "vlm_judge_for",
]
