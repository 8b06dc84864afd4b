"""User-facing errors.

Every error that a user can cause (bad file, wrong shape, unknown name, ...) is raised as a
:class:`MsdBenchError` subclass whose message is **one line** that names what was wrong and what was
expected. The CLI prints that line and exits with code 2 (see :mod:`msd_bench._cli_utils`); a Python
caller gets the exception. The one exception to one line: a manifest with several problems
(:class:`msd_bench.harness.manifest.ManifestProblems`) names them all at once, a header line plus one
line per problem, so a user fixes them in one pass.
"""

from __future__ import annotations


class MsdBenchError(Exception):
    """Base class of every user-facing error (one-line message, CLI exit code 2)."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep the message on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class ManifestError(MsdBenchError):
    """`submission.yaml` is missing, unparsable or does not match the schema."""


class SubmissionError(MsdBenchError):
    """A submission's artefacts are missing, unsafe or do not implement the interface."""


class DatasetError(MsdBenchError):
    """A dataset is unknown, missing, corrupt or does not follow the on-disk format."""


class JudgeError(MsdBenchError):
    """A judge is missing, its hash does not match, or it belongs to another dataset revision."""


class MetricError(MsdBenchError):
    """A metric got inputs it cannot score (wrong shapes, NaNs, unknown name)."""


class DeviceError(MsdBenchError):
    """The requested device is not available."""

