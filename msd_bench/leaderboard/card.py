"""A result's scores as the ``model-index`` of a Hugging Face model card, with huggingface_hub's own API.

``msd-bench leaderboard card RESULT.json --repo-id ORG/NAME [--out README.md] [--push]``:

- :func:`eval_results` turns every scored metric of a result (``status == "ok"``) into a
  :class:`huggingface_hub.EvalResult` (task ``sequential-disentanglement``, dataset
  ``msd-bench/<dataset>`` with its size as the config, its split and content hash, the metric's value,
  and the protocol, its 95 % interval, ``n`` and definition version as ``metric_args``);
- :func:`card_for` builds a :class:`huggingface_hub.ModelCard` from them (``ModelCardData`` writes the
  YAML header), or merges them into an existing card file, keeping its text and other metadata
  (results of the same task, dataset and metric are replaced, others kept);
- :func:`push_card` loads the repo's card from the Hub (``ModelCard.load``), merges the results the
  same way and pushes it (``ModelCard.push_to_hub``), within a deadline: no token, offline mode, a network failure
  or a deadline passed is one line (:class:`CardError`, exit 2), never a hang.

Nothing here imports torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import MsdBenchError
from ..harness.results import Result

TASK_TYPE = "sequential-disentanglement"
TASK_NAME = "Multi-factor sequential disentanglement"
DEFAULT_PUSH_TIMEOUT_S = 60.0


class CardError(MsdBenchError):
    """A model card cannot be written or pushed (one line, exit 2)."""


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is a valid Hub model id of the form ``org/name``, else a :class:`CardError`."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise CardError(f"--repo-id {repo_id!r} is not of the form ORG/NAME (e.g. my-lab/dsvae-sprites)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise CardError(f"--repo-id {repo_id!r} is not a valid Hub repo id: {' '.join(str(exc).split())}") from None
    return repo_id


def model_name(result: Result) -> str:
    """The model-index name of a result's submission: ``<name>-<version>`` (as in the board's model-index)."""
    return f"{result.submission.name}-{result.submission.version}"


def eval_results(result: Result, source_url: str | None = None) -> list[Any]:
    """One :class:`huggingface_hub.EvalResult` per scored metric of ``result``, in metric-name order.

    Metrics that are not applicable or failed (no value) are left out: a model card states numbers.
    """
    from huggingface_hub import EvalResult

    ds = result.dataset
    out = []
    for name, s in sorted(result.scores.items()):
        if s.status != "ok" or s.value is None:
            continue
        args: dict[str, Any] = {"protocol": result.protocol, "metric_version": s.version}
        if s.n is not None:
            args["n"] = s.n
        if s.ci_low is not None and s.ci_high is not None:
            args["ci95"] = [s.ci_low, s.ci_high]
        if s.higher_is_better is not None:
            args["higher_is_better"] = s.higher_is_better
        out.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=f"msd-bench/{ds.name}",
                dataset_name=ds.name,
                dataset_config=ds.size,
                dataset_split=ds.split,
                dataset_revision=ds.content_hash,
                dataset_args={"version": ds.version, "n": ds.n},
                metric_type=name,
                metric_name=name,
                metric_value=s.value,
                metric_args=args,
                source_name=f"msd-bench (protocol {result.protocol})" if source_url else None,
                source_url=source_url,
            )
        )
    return out


def _body(result: Result, repo_id: str) -> str:
    from .ranking import HEADLINES

    sub, ds, st = result.submission, result.dataset, result.settings
    lines = [
        f"# {sub.name} {sub.version}",
        "",
        f"A multi-factor sequential disentanglement model scored by msd-bench under protocol "
        f"`{result.protocol}` on `{ds.name}` ({ds.size} size, {ds.split} split, {ds.n} sequences). Every number "
        "below and in this card's `model-index` comes from the result record of that run.",
        "",
        "| headline score | value | 95 % interval |",
        "|---|---:|---|",
    ]
    for h in HEADLINES:
        s = result.scores.get(h.name)
        if s is None or s.status != "ok" or s.value is None:
            continue
        ci = f"[{s.ci_low:.4f}, {s.ci_high:.4f}]" if s.ci_low is not None and s.ci_high is not None else ""
        lines.append(f"| `{h.name}` ({h.idea}) | {s.value:.4f} | {ci} |")
    lines += [
        "",
        "Reproduce (same seed, same scores):",
        "",
        "```bash",
        f"msd-bench evaluate --dataset {ds.name} --size {ds.size} --split {ds.split} --submission hf://{repo_id}"
        f" --seed {st.seed}" + (f" --limit {st.limit}" if st.limit is not None else "")
        + (" --trust-code" if sub.format == "torch" else ""),
        "```",
        "",
        f"Submission hash `{sub.submission_hash}`, dataset `{ds.name}` {ds.version} (content hash "
        f"`{ds.content_hash}`), harness {result.harness_version}.",
        "",
    ]
    return "\n".join(lines)


def same_slot(a: Any, b: Any) -> bool:
    """Whether two eval results report the same metric of the same task, dataset, size and split
    (a newer run of it replaces the older, whatever its value, interval or dataset revision)."""
    keys = ("task_type", "dataset_type", "dataset_config", "dataset_split", "metric_type")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def card_for(result: Result, repo_id: str, existing: Any = None, source_url: str | None = None) -> Any:
    """The :class:`huggingface_hub.ModelCard` with ``result``'s eval results.

    Parameters
    ----------
    existing : a card to update: a file path (used when the file exists) or a ``ModelCard``; its text
        and other metadata are kept, its eval results of the same slot (:func:`same_slot`) replaced.
    """
    from huggingface_hub import ModelCard, ModelCardData

    check_repo_id(repo_id)
    new = eval_results(result, source_url)
    if not new:
        raise CardError(f"result of {model_name(result)} on {result.dataset.name} has no scored metric for a card")
    if existing is not None and not isinstance(existing, str | os.PathLike):
        return merge_into(existing, result, new)
    if existing is not None and Path(existing).is_file():
        try:
            card = ModelCard.load(Path(existing))
        except Exception as exc:  # a broken YAML header, not UTF-8 ...
            raise CardError(f"{existing}: not a readable model card ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})") from None
        return merge_into(card, result, new)
    data = ModelCardData(model_name=model_name(result), eval_results=new, tags=["msd-bench", TASK_TYPE])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(result, repo_id)}")


def merge_into(card: Any, result: Result, new: list[Any]) -> Any:
    """``card`` with ``new`` eval results: those of the same slot (:func:`same_slot`) replaced, others kept."""
    kept = [old for old in (card.data.eval_results or []) if not any(same_slot(old, n) for n in new)]
    card.data.eval_results = kept + new
    if not card.data.model_name:
        card.data.model_name = model_name(result)
    tags = list(card.data.tags or [])
    card.data.tags = tags + [t for t in ("msd-bench", TASK_TYPE) if t not in tags]
    return card


def write_card(card: Any, path: str | os.PathLike) -> Path:
    """Write ``card`` to ``path`` atomically (the same text ``ModelCard.load`` reads back)."""
    from .._io import atomic_write_text

    atomic_write_text(path, str(card))
    return Path(path)


def hub_token(token: str | None = None) -> str:
    """The token to push with: ``token``, else ``HF_TOKEN`` / the stored login; a :class:`CardError` if none."""
    if token:
        return token
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise CardError("--push needs a Hugging Face token with write access: set HF_TOKEN, pass --token, or run "
                        "`hf auth login` (nothing was pushed)")
    return found


def check_push(token: str | None = None) -> str:
    """Everything ``--push`` needs that can be checked without the network: a token, no offline mode."""
    token = hub_token(token)
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise CardError("--push cannot reach the Hub: HF_HUB_OFFLINE is set (unset it, or write the card with --out)")
    return token


def push_card(result: Result, repo_id: str, token: str | None = None, timeout_s: float = DEFAULT_PUSH_TIMEOUT_S,
              source_url: str | None = None) -> str:
    """Merge ``result``'s eval results into the Hub repo's card and push it; returns the commit URL.

    ``metadata_update`` would append a re-run whose interval changed as a second result of the same
    metric (it matches on every field but the value); the merge here replaces it (:func:`same_slot`).

    Raises :class:`CardError` (one line) with no token, in offline mode, on any Hub or network error,
    or when ``timeout_s`` passes (the upload thread is abandoned, the command never hangs).
    """
    check_repo_id(repo_id)
    token = check_push(token)
    if not eval_results(result, source_url):
        raise CardError(f"result of {model_name(result)} on {result.dataset.name} has no scored metric to push")
    box: dict[str, Any] = {}

    def run() -> None:
        import logging

        from huggingface_hub import ModelCard
        from huggingface_hub.errors import EntryNotFoundError

        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # its retry notes would break the one line
        try:
            try:
                existing = ModelCard.load(repo_id, token=token)  # the repo's README.md, text and metadata kept
            except EntryNotFoundError:
                existing = None  # no card yet: a new one
            card = card_for(result, repo_id, existing=existing, source_url=source_url)
            box["url"] = card.push_to_hub(
                repo_id, token=token, commit_message=f"msd-bench: {model_name(result)} on {result.dataset.name}"
            )
        except BaseException as exc:  # reported on the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="msd-bench-card-push", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise CardError(f"pushing the card to {repo_id} took longer than {timeout_s:g} s (no answer from the Hub; "
                        "check the network, or write the card with --out and upload it yourself)")
    if "error" in box:
        exc = box["error"]
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise CardError(f"pushing the card to {repo_id} failed: {type(exc).__name__}: {first}")
    return str(box["url"])
