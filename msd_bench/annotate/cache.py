"""On-disk cache of requests and responses, keyed by the sha256 of the request's content.

``<root>/<key[:2]>/<key>.json`` holds the response (content, refusal, finish reason, token usage) and
a summary of the request (images replaced by their sha256). Files are written atomically; a file that
cannot be read is treated as missing (and rewritten by the next answer).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write_json


def default_cache_dir() -> Path:
    """``$MSD_BENCH_CACHE/vlm`` (default ``~/.cache/msd-bench/vlm``)."""
    root = os.environ.get("MSD_BENCH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "msd-bench") / "vlm"


def request_key(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request body (model, messages, format, sampling settings)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def summarize_messages(messages: list[dict]) -> list[dict]:
    """Messages with every image data URL replaced by ``sha256:<hex>`` (what the cache stores)."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image_url":
                    url = p["image_url"]["url"]
                    parts.append({"type": "image_url", "sha256": hashlib.sha256(url.encode()).hexdigest()})
                else:
                    parts.append(p)
            content = parts
        out.append({**m, "content": content})
    return out


class ResponseCache:
    """Responses by request key; ``root=None`` disables caching."""

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None

    def path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        p = self.path(key)
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and rec.get("key") == key and "response" in rec else None

    def put(self, key: str, record: dict) -> None:
        if self.root is None:
            return
        atomic_write_json(self.path(key), {**record, "key": key})

    def count(self) -> int:
        """Number of cached responses."""
        if self.root is None or not self.root.is_dir():
            return 0
        return sum(1 for _ in self.root.glob("*/*.json"))
