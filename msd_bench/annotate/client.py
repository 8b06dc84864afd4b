"""A cached, retrying chat-completions client for any OpenAI-compatible endpoint (``openai`` package).

Transport failures (connection refused, timeouts, HTTP 429 / 408 / 409 / 5xx, an unreadable response
body) are retried ``max_retries`` times with exponential backoff (``backoff * 2**attempt`` seconds,
at most ``max_backoff``, or the server's ``Retry-After`` when it sends one, capped the same way), then
raise :class:`~msd_bench.annotate.errors.BackendError`. Other HTTP errors (400, 401, 403, 404, ...)
are not retried. Answers come from :class:`~msd_bench.annotate.cache.ResponseCache` when the same
request was answered before; the caller decides which answers are stored (see :meth:`VLMClient.store`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .cache import ResponseCache, request_key, summarize_messages
from .errors import AnnotateError, BackendError

RESPONSE_FORMATS = ("json_schema", "json_object", "none")
RETRY_STATUS = {408, 409, 429}


@dataclass
class Answer:
    """One response: its text (or refusal), token usage, and whether it came from the cache."""

    key: str
    content: str | None
    refusal: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    record: dict = field(repr=False, default_factory=dict)


@dataclass
class Stats:
    """Counters of one client (thread-safe through :meth:`add`)."""

    requests_sent: int = 0
    cache_hits: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_sent: int = 0
    completion_tokens_sent: int = 0

    def to_dict(self) -> dict:
        return {
            "requests_sent": self.requests_sent,
            "cache_hits": self.cache_hits,
            "retries": dict(sorted(self.retries.items())),
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens,
                       "total": self.prompt_tokens + self.completion_tokens},
            "tokens_this_run": {"prompt": self.prompt_tokens_sent, "completion": self.completion_tokens_sent,
                                "total": self.prompt_tokens_sent + self.completion_tokens_sent},
        }


def host_of(base_url: str) -> str:
    """``host[:port]`` of a base URL (what results record: never the path or credentials)."""
    p = urlparse(base_url)
    host = p.hostname or base_url
    return f"{host}:{p.port}" if p.port else host


class VLMClient:
    """Chat completions against ``base_url`` with model ``model``, cached and retried.

    Parameters
    ----------
    base_url : str
        OpenAI-compatible API root, e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:11434/v1``
        (Ollama), ``https://api.openai.com/v1``.
    model : str
        Model name as the server knows it.
    api_key_env : str, optional
        Environment variable holding the API key (default: ``OPENAI_API_KEY`` when set, else a placeholder,
        which local servers accept).
    cache_dir : path or None
        Response cache folder (``None`` disables caching).
    timeout : float
        Seconds per request.
    max_retries : int
        Retries after the first attempt for transport failures.
    backoff, max_backoff : float
        Exponential backoff base and cap in seconds.
    temperature : float
        Sampling temperature of the first query of a sequence (repeats may override it).
    max_tokens : int
        Completion token limit.
    response_format : {"json_schema", "json_object", "none"}
        Structured output mode: a strict JSON Schema (OpenAI, vLLM, recent Ollama), JSON mode, or none
        (the prompt alone asks for JSON).
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = None, cache_dir: Any = None,
                 timeout: float = 60.0, max_retries: int = 4, backoff: float = 1.0, max_backoff: float = 30.0,
                 temperature: float = 0.0, max_tokens: int = 1024, response_format: str = "json_schema"):
        if not base_url or urlparse(base_url).scheme not in ("http", "https"):
            raise AnnotateError(f"--base-url {base_url!r} is not an http(s) URL; expected e.g. http://localhost:8000/v1")
        if not model:
            raise AnnotateError("--model is empty; expected the model name the server serves")
        if response_format not in RESPONSE_FORMATS:
            raise AnnotateError(f"response format '{response_format}' is unknown; expected one of "
                                f"{', '.join(RESPONSE_FORMATS)}")
        if max_retries < 0 or timeout <= 0 or backoff < 0:
            raise AnnotateError(f"retry settings max_retries={max_retries}, timeout={timeout}, backoff={backoff}: "
                                "expected max_retries >= 0, timeout > 0, backoff >= 0")
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise AnnotateError(f"--api-key-env {api_key_env}: the environment variable is not set")
        else:
            key = os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.base_url = base_url.rstrip("/")
        self.host = host_of(base_url)
        self.model = model
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.response_format = response_format
        self.cache = ResponseCache(cache_dir)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._api_key = key
        self._client = None

    # ------------------------------------------------------------------------------------ plumbing
    def _openai(self):
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise AnnotateError("the 'openai' package is missing; install it with "
                                    "pip install 'msd-bench[annotate]'") from None
            self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout,
                                         max_retries=0)
        return self._client

    def _add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def _retry(self, kind: str) -> None:
        with self._lock:
            self.stats.retries[kind] = self.stats.retries.get(kind, 0) + 1

    def body(self, messages: list[dict], schema: dict | None, name: str, seed: int,
             temperature: float | None = None) -> dict:
        """The request body (also what the cache key is computed from)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature if temperature is None else float(temperature),
            "max_tokens": self.max_tokens,
            "seed": int(seed),
        }
        if self.response_format == "json_schema" and schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": name, "schema": schema, "strict": True}}
        elif self.response_format == "json_object" or (self.response_format == "json_schema" and schema is None):
            body["response_format"] = {"type": "json_object"}
        return body

    # ------------------------------------------------------------------------------------ public
    def complete(self, messages: list[dict], schema: dict | None = None, name: str = "answer", seed: int = 0,
                 temperature: float | None = None) -> Answer:
        """One answer: from the cache when this exact request was stored before, else from the server."""
        body = self.body(messages, schema, name, seed, temperature)
        key = request_key(body)
        rec = self.cache.get(key)
        if rec is not None:
            r = rec["response"]
            usage = r.get("usage") or {}
            self._add(cache_hits=1, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0))
            return Answer(key, r.get("content"), r.get("refusal"), r.get("finish_reason"),
                          int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), True, rec)
        response = self._send(body)
        usage = response["usage"]
        p, c = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        self._add(requests_sent=1, prompt_tokens=p, completion_tokens=c, prompt_tokens_sent=p,
                  completion_tokens_sent=c)
        rec = {"model": self.model, "request": {**{k: v for k, v in body.items() if k != "messages"},
                                                 "messages": summarize_messages(messages)},
               "response": response}
        return Answer(key, response["content"], response["refusal"], response["finish_reason"], p, c, False, rec)

    def store(self, answer: Answer) -> None:
        """Write a fresh answer into the cache (cached answers are already there)."""
        if not answer.cached:
            self.cache.put(answer.key, answer.record)

    def _send(self, body: dict) -> dict:
        import openai

        client = self._openai()
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = min(self.max_backoff, self.backoff * (2**attempt))
            try:
                resp = client.chat.completions.create(**body)
                choice = resp.choices[0]
                msg = choice.message
                usage = resp.usage
                return {
                    "content": msg.content,
                    "refusal": getattr(msg, "refusal", None),
                    "finish_reason": choice.finish_reason,
                    "usage": {"prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                              "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0)},
                }
            except openai.APITimeoutError:
                kind, last = "timeout", f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError as exc:
                kind, last = "connection", f"cannot connect ({_cause(exc)})"
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRY_STATUS and status < 500:
                    raise BackendError(f"{self.host}: HTTP {status} from the server for model '{self.model}' "
                                       f"(not retried): {_short(exc.message)}") from None
                kind = "rate_limit" if status == 429 else f"http_{status}"
                last = f"HTTP {status} ({_short(exc.message)})"
                after = _retry_after(exc)
                if after is not None:
                    wait = min(self.max_backoff, after)
            except (openai.APIError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
                kind, last = "bad_response", f"unreadable response ({type(exc).__name__}: {_short(str(exc))})"
            if attempt == self.max_retries:
                break
            self._retry(kind)
            time.sleep(wait)
        raise BackendError(f"{self.base_url}: {last}, after {self.max_retries + 1} attempts")


def _short(text: Any, n: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _cause(exc: BaseException) -> str:
    c = exc.__cause__ or exc.__context__
    return _short(f"{type(c).__name__}: {c}" if c else str(exc), 120)


def _retry_after(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
