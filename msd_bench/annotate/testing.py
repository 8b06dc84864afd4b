"""A fake OpenAI-compatible server for tests: answers from a dataset's true labels.

:class:`FakeVLMServer` listens on ``127.0.0.1`` (a free port), speaks ``POST /v1/chat/completions``
and recognises the sequence in each request by decoding the images it receives and matching the
shown frames against the dataset (exactly, else the nearest sequence by mean absolute difference, so
generated sequences get the labels of the real sequence they resemble). It answers

* exploration questions with the dataset's factors (names, types, value names, the sequence's values),
* annotation / judge questions with the sequence's true values,

with configurable ``noise`` (a wrong value, a flipped type, a dropped value or factor, a spurious
factor, a respelled name, each with that probability) and ``malformed`` answers (probability of one of
:data:`FAULTS`: invalid JSON, prose, a refusal, a fenced block, a value outside the enum, a missing
key, an empty answer, HTTP 429 / 500, an unreadable body, a timeout). Faults can also be scripted
with :meth:`FakeVLMServer.fail_next`, or an outage after ``outage_after`` requests. Randomness is
seeded by the request's content and the number of times it was seen, so a retried request can get a
different answer, and a run is reproducible.

>>> with FakeVLMServer.from_dataset(ds, ImageConfig(), noise=0.1) as server:
...     annotate(path, base_url=server.url, model="fake", out=tmp)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from .images import ImageConfig, decode_data_url, frame_indices, split_frames
from .schema import key

FAULTS = ("invalid_json", "prose", "refusal", "fenced", "wrong_value", "missing_key", "empty", "http_429",
          "http_500", "bad_body", "timeout")
CONTENT_FAULTS = ("invalid_json", "prose", "refusal", "fenced", "wrong_value", "missing_key", "empty")
SPURIOUS = {"name": "lighting", "type": "static", "values": ["bright", "dim"]}


class FakeVLMServer:
    """Chat completions from true labels, on ``127.0.0.1`` in a background thread.

    Parameters
    ----------
    videos : uint8 array [N, T, C, H, W]
    labels : int array [N, L]
    factors : list of Factor
    cfg : ImageConfig
        How the client lays frames out (to recognise them).
    noise, malformed : float
        Probabilities of a wrong answer (per factor / field) and of a malformed response (per request).
    faults : sequence of str
        The malformed kinds drawn from (default :data:`CONTENT_FAULTS`).
    seed : int
    timeout_sleep : float
        How long a ``timeout`` fault sleeps before answering.
    """

    def __init__(self, videos: np.ndarray, labels: np.ndarray, factors: list, cfg: ImageConfig, *, noise: float = 0.0,
                 malformed: float = 0.0, faults: tuple[str, ...] = CONTENT_FAULTS, seed: int = 0,
                 timeout_sleep: float = 2.0):
        self.videos, self.labels, self.factors, self.cfg = videos, np.asarray(labels), list(factors), cfg
        self.noise, self.malformed, self.faults, self.seed = float(noise), float(malformed), tuple(faults), seed
        self.timeout_sleep = timeout_sleep
        n, t, c, h, w = videos.shape
        self.t, self.hw = t, (h, w)
        idx = frame_indices(t, cfg.frames)
        shown = videos[:, idx]
        if c == 1:
            shown = np.repeat(shown, 3, axis=2)
        self.shown = np.ascontiguousarray(shown[:, :, :3].transpose(0, 1, 3, 4, 2))  # [N, k, H, W, 3]
        self.lookup: dict[str, int] = {}
        for i in range(n):
            self.lookup.setdefault(hashlib.sha256(self.shown[i].tobytes()).hexdigest(), i)
        self.requests = 0
        self.kinds: Counter = Counter()
        self.seen: Counter = Counter()
        self.scripted: list[str] = []
        #: after this many requests, answer every request with ``outage_kind`` (None: no outage)
        self.outage_after: int | None = None
        self.outage_kind = "http_429"
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_dataset(cls, ds: Any, cfg: ImageConfig, **kw: Any) -> FakeVLMServer:
        """From anything with ``read(indices)`` and ``factors`` (an opened dataset, ``tiny_dataset()``)."""
        n = len(ds)
        videos, labels = ds.read(np.arange(n))
        return cls(videos, labels, list(ds.factors), cfg, **kw)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeVLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                status, headers, body = server.handle(self.path, raw)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> FakeVLMServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def fail_next(self, kinds: list[str]) -> None:
        """Answer the next requests with these faults, in order."""
        with self._lock:
            self.scripted.extend(kinds)

    # ------------------------------------------------------------------ answering
    def identify(self, images: list[np.ndarray]) -> int:
        """The dataset row shown by one sequence's ``images`` (exact match, else the nearest sequence by
        mean absolute difference)."""
        frames = split_frames(images, self.cfg, self.t, self.hw)
        hit = self.lookup.get(hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest())
        if hit is not None:
            return hit
        d = np.abs(self.shown.astype(np.int16) - frames[None].astype(np.int16)).reshape(len(self.shown), -1).mean(1)
        return int(d.argmin())

    def handle(self, path: str, raw: bytes) -> tuple[int, dict, bytes]:
        if not path.rstrip("/").endswith("/chat/completions"):
            return 404, {"content-type": "application/json"}, b'{"error": {"message": "not found"}}'
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"content-type": "application/json"}, b'{"error": {"message": "bad request body"}}'
        h = hashlib.sha256(raw).hexdigest()
        with self._lock:
            self.requests += 1
            self.seen[h] += 1
            visit = self.seen[h]
            fault = self.scripted.pop(0) if self.scripted else None
            if self.outage_after is not None and self.requests > self.outage_after:
                fault = self.outage_kind
        rng = np.random.default_rng([self.seed, int(h[:12], 16), visit])
        if fault is None and self.faults and rng.random() < self.malformed:
            fault = self.faults[int(rng.integers(len(self.faults)))]
        with self._lock:
            self.kinds[fault or "ok"] += 1
        if fault == "http_429":
            return 429, {"content-type": "application/json", "retry-after": "0"}, \
                b'{"error": {"message": "rate limited", "type": "rate_limit"}}'
        if fault == "http_500":
            return 500, {"content-type": "application/json"}, b'{"error": {"message": "internal error"}}'
        if fault == "bad_body":
            return 200, {"content-type": "application/json"}, b'{"choices": [ not json'
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
        messages = body.get("messages", [])
        images, texts = [], []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):
                for p in content:
                    if p.get("type") == "image_url":
                        images.append(decode_data_url(p["image_url"]["url"]))
                    elif p.get("type") == "text":
                        texts.append(p["text"])
            elif isinstance(content, str):
                texts.append(content)
        per = 1 if self.cfg.layout == "grid" else len(frame_indices(self.t, self.cfg.frames))
        rows = [self.identify(images[g : g + per]) for g in range(0, max(len(images), 1), per)]
        rf = body.get("response_format") or {}
        schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
        explore = (schema is not None and "factors" in schema.get("properties", {})) or \
            any("factors of variation" in t for t in texts[:2])
        answer = self._explore(rows, rng) if explore else self._labels(rows[0], rng, schema, texts)
        content: str | None = json.dumps(answer)
        refusal = None
        if fault in CONTENT_FAULTS:
            content, refusal = self._malformed(fault, answer, explore, rng)
        usage = {"prompt_tokens": sum(len(t) for t in texts) // 4 + 85 * len(images),
                 "completion_tokens": len(content or refusal or "") // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        resp = {"id": f"chatcmpl-{h[:12]}-{visit}", "object": "chat.completion", "created": 0,
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal},
                             "finish_reason": "stop"}],
                "usage": usage}
        return 200, {"content-type": "application/json"}, json.dumps(resp).encode()

    def _explore(self, rows: list[int], rng: np.random.Generator) -> dict:
        out = []
        for f in self.factors:
            if f.ignore or rng.random() < self.noise / 2:
                continue
            names = f.value_names
            values = [v for v in names if rng.random() >= self.noise] or list(names)
            shown = [names[int(self.labels[row, f.index])] if rng.random() >= self.noise
                     else names[int(rng.integers(len(names)))] for row in rows]
            ftype = f.type if rng.random() >= self.noise else ("static" if f.type == "dynamic" else "dynamic")
            name = f.name if rng.random() >= self.noise else f.name.replace("_", " ").title()
            out.append({"name": name, "type": ftype, "values": values, "shown": shown})
        if rng.random() < self.noise:
            out.append({**SPURIOUS, "shown": [SPURIOUS["values"][0]] * len(rows)})
        return {"factors": out}

    def _labels(self, row: int, rng: np.random.Generator, schema: dict | None, texts: list[str]) -> dict:
        if schema is not None:
            asked = [(n, p.get("enum", [])) for n, p in schema.get("properties", {}).items()]
        else:  # no structured output: read the factor lines of the prompt
            asked = [(m.group(1), [v.strip() for v in m.group(2).split(",")])
                     for m in re.finditer(r"^- (\S+) \((?:static|dynamic)[^)]*\): (.+)$", "\n".join(texts[:2]), re.M)]
        by_key = {key(f.name): f for f in self.factors}
        out = {}
        for name, allowed in asked:
            f = by_key.get(key(name))
            choice = None
            if f is not None:
                true = key(f.value_names[int(self.labels[row, f.index])])
                choice = next((v for v in allowed if key(v) == true), None)
            if choice is None or (rng.random() < self.noise and len(allowed) > 1):
                others = [v for v in allowed if v != choice] or allowed
                choice = others[int(rng.integers(len(others)))]
            out[name] = choice
        return out

    def _malformed(self, fault: str, answer: dict, explore: bool,
                   rng: np.random.Generator) -> tuple[str | None, str | None]:
        text = json.dumps(answer)
        if fault == "invalid_json":
            return text[: max(1, len(text) // 2)], None
        if fault == "prose":
            return "Looking at the frames, I would say the answer is fairly clear.", None
        if fault == "refusal":
            return None, "I'm sorry, I can't help with that."
        if fault == "fenced":
            return f"Here you go:\n```json\n{text}\n```", None
        if fault == "empty":
            return "", None
        if fault == "wrong_value":
            if explore:
                bad = {"factors": [{**f, "type": "sometimes"} for f in answer["factors"]]} if answer["factors"] \
                    else {"factors": "none"}
                return json.dumps(bad), None
            k = next(iter(answer), None)
            return json.dumps({**answer, **({k: "something else"} if k else {})}), None
        if fault == "missing_key":
            if explore:
                return json.dumps({"items": answer["factors"]}), None
            return json.dumps(dict(list(answer.items())[1:])), None
        raise ValueError(fault)
