"""Errors of the annotation pipeline (one line each, exit code 2 on the command line)."""

from __future__ import annotations

from ..errors import MsdBenchError


class AnnotateError(MsdBenchError):
    """Bad annotation input or settings, or answers that never became valid labels."""


class BackendError(AnnotateError):
    """The vision-language-model endpoint failed (unreachable, timeouts, rate limits, HTTP errors)
    after the bounded retries."""


class InvalidAnswer(Exception):
    """An answer that is not the expected JSON (internal: triggers a repair request)."""
