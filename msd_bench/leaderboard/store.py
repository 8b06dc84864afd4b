"""The results store: one JSON result per (protocol, submission, version, dataset), and its checks.

Layout under a store root (default ``leaderboard/`` in the current directory)::

    <root>/results/<protocol>/<submission>/<version>/<dataset>.json   the result (harness.results.Result)
    <root>/results/<protocol>/<submission>/<version>/<dataset>/*.png  pictures saved by `msd-bench evaluate`
    <root>/<protocol>/...                                              built leaderboards (see build.py)
    <root>/config.yaml                                                 optional: key scores per dataset

Results are keyed by protocol on disk, so the results of one submission version on one dataset under
two protocols (before and after a protocol bump) both stay in the store, each in its own board.
Every path component is a name of the one rule :data:`msd_bench.harness.manifest.NAME_PATTERN`,
checked by the result schema itself (a stored result with another protocol or name is malformed).

:func:`add_result` writes a result atomically at its place. :func:`scan_store` reads every result,
never crashes on a bad file, and returns the usable entries plus one-line :class:`Problem` reports:
malformed JSON or schema-invalid files, misplaced files, duplicates, and results whose protocol,
judge hashes or dataset revision no longer match the current ones ("needs rerun", with the command).
The current revisions come from :func:`current_revisions` (datasets registry and judge cards), which
tolerates a missing judge or dataset; tests inject a :class:`Revisions` explicitly.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import PROTOCOL
from .._io import sha256_file
from ..errors import MsdBenchError
from ..harness.manifest import NAME_RULE, is_name
from ..harness.results import Result, read_result, write_result

RESULTS_DIR = "results"
DEFAULT_ROOT = Path("leaderboard")
PICTURE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg", ".wav")  # .wav: audio pictures

ProblemKind = Literal["malformed", "misplaced", "duplicate", "needs_rerun", "unchecked", "stray"]


class LeaderboardError(MsdBenchError):
    """A store or a build is missing or unusable (one-line message, CLI exit code 2)."""


# ----------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Problem:
    """One store problem, reported in one line.

    Attributes
    ----------
    kind : str
        ``malformed`` (unreadable / not a result), ``misplaced`` (content does not match its path),
        ``duplicate``, ``needs_rerun`` (protocol / judge / dataset revision changed), ``unchecked``
        (the current judge or dataset revision could not be looked up), ``stray`` (a file where no
        result belongs).
    path : Path
        The file concerned.
    message : str
        What is wrong and what to do, one line.
    skipped : bool
        Whether the file was left out of the tables.
    """

    kind: ProblemKind
    path: Path
    message: str
    skipped: bool = True

    def line(self) -> str:
        """``<kind>: <path>: <message>`` (one line; ``(skipped)`` when left out of the tables)."""
        tail = " (skipped)" if self.skipped else ""
        return f"{self.kind}: {self.path}: {self.message}{tail}"


@dataclass(frozen=True)
class StoreEntry:
    """A readable result and where it lives."""

    path: Path
    result: Result
    needs_rerun: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        """``(protocol, submission, version, dataset)``."""
        r = self.result
        return (r.protocol, r.submission.name, r.submission.version, r.dataset.name)

    @property
    def pictures_dir(self) -> Path:
        """Folder of this result's pictures (``<dataset>/`` next to the JSON)."""
        return self.path.with_suffix("")

    def pictures(self) -> list[Path]:
        """Picture files saved next to the result (sorted; empty when none)."""
        d = self.pictures_dir
        if not d.is_dir():
            return []
        return sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)


@dataclass(frozen=True)
class DatasetRevision:
    """The current revision of a dataset: its version and content hash per size."""

    version: str
    content_hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class Revisions:
    """What results are checked against: the protocol, and per dataset its revision and judge hashes.

    Attributes
    ----------
    protocol : str
        The current benchmark protocol.
    datasets : dict
        ``name -> DatasetRevision``; a name absent here is reported as ``unchecked``.
    judges : dict
        ``name -> set of sha256`` (the judge's artefacts and its card); absent = unknown judge.
    missing : dict
        ``name -> one-line reason`` why a dataset's revision or judge could not be looked up.
    """

    protocol: str = PROTOCOL
    datasets: dict[str, DatasetRevision] = field(default_factory=dict)
    judges: dict[str, set[str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def current_revisions(datasets: list[str] | tuple[str, ...] | set[str]) -> Revisions:
    """Look up the current dataset revisions and judge hashes of ``datasets``.

    Never raises for a missing dataset or judge: the reason lands in ``Revisions.missing`` and the
    results of that dataset are reported as ``unchecked`` (kept in the tables).

    Parameters
    ----------
    datasets : iterable of str
        Dataset names found in the store.
    """
    rev = Revisions(protocol=PROTOCOL)
    for name in sorted(set(datasets)):
        reasons = []
        try:
            from ..datasets import get_spec

            spec = get_spec(name)
            rev.datasets[name] = DatasetRevision(str(spec.version), dict(getattr(spec, "content_hashes", {}) or {}))
        except (ImportError, AttributeError, MsdBenchError) as exc:
            reasons.append(f"dataset revision unknown ({exc})")
        try:
            from ..judges import judge_dir, read_card

            card = read_card(name)
            hashes = {a.sha256 for a in card.artefacts.values()}
            card_path = judge_dir(name) / "card.json"
            hashes.add(sha256_file(card_path))
            rev.judges[name] = hashes
        except (ImportError, AttributeError, OSError, MsdBenchError) as exc:
            reasons.append(f"judge unknown ({exc})")
        if reasons:
            rev.missing[name] = "; ".join(reasons)
    return rev


# ------------------------------------------------------------------------------------------ layout
def _safe_component(value: str, what: str) -> str:
    if not is_name(value):
        raise LeaderboardError(f"{what} {value!r} cannot be a folder name in the store; expected {NAME_RULE}")
    return value


def result_path(
    root: str | os.PathLike, submission: str, version: str, dataset: str, protocol: str = PROTOCOL
) -> Path:
    """Where the result of ``(protocol, submission, version, dataset)`` lives under store ``root``."""
    return (
        Path(root)
        / RESULTS_DIR
        / _safe_component(protocol, "protocol")
        / _safe_component(submission, "submission name")
        / _safe_component(version, "submission version")
        / f"{_safe_component(dataset, 'dataset name')}.json"
    )


def pictures_dir(
    root: str | os.PathLike, submission: str, version: str, dataset: str, protocol: str = PROTOCOL
) -> Path:
    """Folder where `evaluate` saves a result's pictures (linked from the HTML board)."""
    return result_path(root, submission, version, dataset, protocol).with_suffix("")


def add_result(result: Result, root: str | os.PathLike = DEFAULT_ROOT) -> Path:
    """Write ``result`` at ``<root>/results/<protocol>/<submission>/<version>/<dataset>.json``.

    The write is atomic (temporary file + rename); an existing result of the same key is replaced.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    LeaderboardError
        When a name cannot be a folder name (contains '/', starts with '.').
    """
    r = result
    path = result_path(root, r.submission.name, r.submission.version, r.dataset.name, r.protocol)
    return write_result(result, path)


def rerun_command(result: Result) -> str:
    """The command that re-evaluates ``result``'s submission and stores the new results."""
    uri = result.submission.uri
    if result.submission.hub_commit and uri.startswith("hf://") and "@" not in uri:
        uri = f"{uri}@{result.submission.hub_commit}"
    return f"msd-bench submit {uri}"


# ------------------------------------------------------------------------------------------- scan
def _judge_matches(result: Result, current: set[str]) -> bool:
    recorded = set((result.judge.sha256 if result.judge else {}).values())
    return bool(recorded) and recorded <= current


def _dataset_matches(result: Result, current: DatasetRevision) -> str | None:
    d = result.dataset
    if d.version != current.version:
        return f"dataset {d.name} version {d.version}, current {current.version}"
    expected = current.content_hashes.get(d.size)
    if expected is not None and expected != d.content_hash:
        return f"dataset {d.name} ({d.size}) content hash {d.content_hash[:12]}, current {expected[:12]}"
    if expected is None and current.content_hashes and d.content_hash not in current.content_hashes.values():
        return f"dataset {d.name} size {d.size!r} is not a current size ({', '.join(sorted(current.content_hashes))})"
    return None


def _check_revision(entry: StoreEntry, rev: Revisions) -> Problem | None:
    r = entry.result
    cmd = rerun_command(r)
    if r.protocol != rev.protocol:
        return Problem(
            "needs_rerun",
            entry.path,
            f"scored under protocol {r.protocol}, current is {rev.protocol}; it stays in the {r.protocol} table;"
            f" rerun: `{cmd}`",
            skipped=False,
        )
    name = r.dataset.name
    if name in rev.datasets:
        why = _dataset_matches(r, rev.datasets[name])
        if why:
            return Problem("needs_rerun", entry.path, f"{why}; rerun: `{cmd}`")
    if name in rev.judges and r.judge is not None and not _judge_matches(r, rev.judges[name]):
        recorded = ", ".join(sorted(v[:12] for v in r.judge.sha256.values())) or "none"
        return Problem(
            "needs_rerun", entry.path, f"judge hashes {recorded} do not match the current {name} judge; rerun: `{cmd}`"
        )
    if name in rev.missing:
        return Problem("unchecked", entry.path, f"cannot check its revision: {rev.missing[name]}", skipped=False)
    return None


def scan_store(
    root: str | os.PathLike = DEFAULT_ROOT, revisions: Revisions | None = None
) -> tuple[list[StoreEntry], list[Problem]]:
    """Read every result of the store; report and skip the bad ones.

    Parameters
    ----------
    root : path
        Store root (holding ``results/``).
    revisions : Revisions, optional
        Current protocol, dataset revisions and judge hashes; looked up with :func:`current_revisions`
        when omitted.

    Returns
    -------
    entries : list of StoreEntry
        Usable results, sorted by key. Results of an older protocol are kept (their own table) and
        reported as ``needs_rerun``; results of the current protocol whose judge or dataset revision
        changed are reported and left out.
    problems : list of Problem
        One per bad file, sorted by path.

    Raises
    ------
    LeaderboardError
        When ``root`` does not exist or is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise LeaderboardError(
            f"leaderboard store {root} does not exist or is not a folder; expected"
            f" {root}/{RESULTS_DIR}/<protocol>/<submission>/<version>/<dataset>.json"
            " (pass --store DIR, or run `msd-bench submit`)"
        )
    results_root = root / RESULTS_DIR
    problems: list[Problem] = []
    readable: list[StoreEntry] = []
    files = sorted(p for p in results_root.rglob("*.json")) if results_root.is_dir() else []
    for path in files:
        rel = path.relative_to(results_root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # temporary files of an atomic write in progress, hidden folders
        if len(rel.parts) > 4:
            continue  # inside a result's own folder: pictures, an evaluation's resumable working copy
        if len(rel.parts) != 4:
            problems.append(
                Problem("stray", path, "not at results/<protocol>/<submission>/<version>/<dataset>.json; left alone")
            )
            continue
        try:
            result = read_result(path)
        except MsdBenchError as exc:
            msg = str(exc)
            prefix = f"{path}: "
            problems.append(Problem("malformed", path, msg[len(prefix) :] if msg.startswith(prefix) else msg))
            continue
        readable.append(StoreEntry(path, result))

    # Misplaced files and duplicates: the file at the canonical path of a key wins.
    by_key: dict[tuple[str, str, str, str], list[StoreEntry]] = defaultdict(list)
    for e in readable:
        by_key[e.key].append(e)
    kept: list[StoreEntry] = []
    for key, group in sorted(by_key.items()):
        r0 = group[0].result
        try:
            canonical = result_path(root, r0.submission.name, r0.submission.version, r0.dataset.name, r0.protocol)
        except LeaderboardError as exc:
            for e in group:
                problems.append(Problem("misplaced", e.path, str(exc)))
            continue
        winners = [e for e in group if e.path == canonical]
        for e in group:
            if winners and e is not winners[0]:
                problems.append(
                    Problem("duplicate", e.path, f"holds {'/'.join(key[1:])} ({key[0]}), already at {canonical}")
                )
            elif not winners:
                problems.append(
                    Problem(
                        "misplaced",
                        e.path,
                        f"holds {'/'.join(key[1:])} ({key[0]}); expected at {canonical}",
                    )
                )
        if winners:
            kept.append(winners[0])

    # The same artefacts (submission hash) under another name or version: the earliest run wins and
    # the later ones are reported and skipped (a re-submission under a new name). Results that tie on
    # the start time too cannot be told apart (a copied file, edited to sit at another canonical path):
    # all of them stay on the board, each reported, so a copy never knocks the real entry off.
    by_hash: dict[tuple[str, str, str], list[StoreEntry]] = defaultdict(list)
    for e in kept:
        r = e.result
        by_hash[(r.protocol, r.dataset.name, r.submission.submission_hash)].append(e)
    dropped: set[Path] = set()
    for group in by_hash.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda e: (e.result.started_at, str(e.path)))
        first = [e for e in group if e.result.started_at == group[0].result.started_at]
        digest = group[0].result.submission.submission_hash[:12]
        if len(first) > 1:
            for e in first:
                others = ", ".join(str(o.path) for o in first if o is not e)
                problems.append(
                    Problem(
                        "duplicate",
                        e.path,
                        f"same submission hash {digest} and start time {e.result.started_at} as {others}"
                        " (a copied result?); all are kept until the copy is removed",
                        skipped=False,
                    )
                )
        for e in group[len(first) :]:
            dropped.add(e.path)
            problems.append(
                Problem("duplicate", e.path, f"same submission hash {digest} as {first[0].path}, which ran earlier")
            )
    kept = [e for e in kept if e.path not in dropped]

    rev = revisions if revisions is not None else current_revisions({e.result.dataset.name for e in kept})
    entries: list[StoreEntry] = []
    for e in kept:
        problem = _check_revision(e, rev)
        if problem is not None:
            problems.append(problem)
            if problem.skipped:
                continue
            if problem.kind == "needs_rerun":
                e = StoreEntry(e.path, e.result, needs_rerun=True)
        entries.append(e)
    entries.sort(key=lambda e: e.key)
    problems.sort(key=lambda p: (str(p.path), p.kind))
    return entries, problems
