"""A real HTTP server on 127.0.0.1 that speaks vendor wire formats and injects faults on demand.

It lets tests (ours and users') exercise the whole HTTP path — connection pooling, SSE parsing,
timeouts, error mapping, retries and fallback — without network access or API keys. It serves:

- OpenAI chat completions: ``POST /v1/chat/completions`` (JSON or SSE),
- Anthropic Messages: ``POST /v1/messages`` (JSON or SSE),
- Gemini: ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``.

What a model answers is decided per request, in this order: the model's scripted sequence
(:meth:`FakeProvider.script`, one item per request), a flapping window (:meth:`FakeProvider.flap`),
the model's persistent fault (:meth:`FakeProvider.configure` ``fault=``), then its reply: the
``responder`` callable, or an echo of the last user message. Settings for the model name ``"*"``
apply to every model without its own. Every request is recorded in :attr:`FakeProvider.attempts`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar

from aiohttp import web

from smartroute_llm.testing import hostile

__all__ = [
    "AttemptRecord",
    "FakeProvider",
    "Fault",
    "FaultKind",
    "Reply",
    "heavy_tail",
    "main",
]

logger = logging.getLogger("smartroute.testing.fake_provider")


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    OVERLOADED = "overloaded"
    CONNECTION_RESET = "connection_reset"
    NO_RESPONSE = "no_response"
    SLOW_FIRST_TOKEN = "slow_first_token"
    STREAM_CUT = "stream_cut"
    STREAM_STALL = "stream_stall"
    MALFORMED_CHUNK = "malformed_chunk"
    MISSING_DONE = "missing_done"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    PREFILL_REJECTED = "prefill_rejected"
    AUTHENTICATION = "authentication"
    EMPTY_BODY = "empty_body"
    ERROR_BODY = "error_body"
    STATUS = "status"
    DRIP = "drip"
    KEEPALIVE_ONLY = "keepalive_only"
    OVERSIZED = "oversized"
    GZIP_BOMB = "gzip_bomb"
    UNTERMINATED_LINE = "unterminated_line"
    NEGATIVE_USAGE = "negative_usage"
    NON_NUMERIC_USAGE = "non_numeric_usage"
    DEEP_NESTING = "deep_nesting"
    TRUNCATED_TOOL_CALL = "truncated_tool_call"


_HOSTILE = frozenset({
    FaultKind.DRIP, FaultKind.KEEPALIVE_ONLY, FaultKind.OVERSIZED, FaultKind.GZIP_BOMB,
    FaultKind.UNTERMINATED_LINE, FaultKind.NEGATIVE_USAGE, FaultKind.NON_NUMERIC_USAGE,
    FaultKind.DEEP_NESTING, FaultKind.TRUNCATED_TOOL_CALL,
})


@dataclass(frozen=True)
class Fault:
    """One injected failure. Build it with the class methods, e.g. ``Fault.rate_limited(2)``.

    ``delay`` is seconds of silence (no response, slow first token, stall); ``after_chunks`` is
    how many content chunks a stream sends before the fault strikes.

    Hostile servers (what a client must survive without hanging or running out of memory;
    OpenAI, Anthropic and Gemini formats unless noted): :meth:`drip` (a body trickling a few
    bytes at a time), :meth:`keepalive_only` (an SSE stream of ``: keepalive`` comments and
    nothing else), :meth:`oversized` (a body of ``size`` bytes), :meth:`gzip_bomb` (tiny on
    the wire, ``size`` bytes decoded), :meth:`unterminated_line` (an SSE line with no newline),
    :meth:`negative_usage`, :meth:`non_numeric_usage`, :meth:`deep_nesting` (nested lists
    ``depth`` deep in the body) and :meth:`truncated_tool_call` (tool-call arguments that are
    not complete JSON). Big bodies are generated from one shared block, so the server stays
    small while it sends them (:mod:`smartroute_llm.testing.hostile`).
    """

    kind: FaultKind
    retry_after: float | str | None = None
    delay: float = 3600.0
    after_chunks: int = 1
    status: int = 0
    abort: bool = True
    mode: str = "error"
    interval: float = 0.0
    size: int = 0
    nbytes: int = 1
    payload: str = ""

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None) -> Fault:
        """HTTP 429; ``retry_after`` seconds (or an HTTP date string) go in ``Retry-After``."""
        return cls(FaultKind.RATE_LIMITED, retry_after=retry_after, status=429)

    @classmethod
    def server_error(cls) -> Fault:
        """HTTP 500."""
        return cls(FaultKind.SERVER_ERROR, status=500)

    @classmethod
    def overloaded(cls, status: int = 503) -> Fault:
        """HTTP 503 (Anthropic answers 529 for the same condition: pass ``status=529``)."""
        return cls(FaultKind.OVERLOADED, status=status)

    @classmethod
    def connection_reset(cls) -> Fault:
        """The connection is closed after the request is read, before any response header."""
        return cls(FaultKind.CONNECTION_RESET)

    @classmethod
    def no_response(cls, delay: float = 3600.0) -> Fault:
        """The request is read and nothing is answered for ``delay`` seconds, then the
        connection is closed."""
        return cls(FaultKind.NO_RESPONSE, delay=delay)

    @classmethod
    def slow_first_token(cls, delay: float) -> Fault:
        """Streams: headers at once, the first chunk after ``delay`` seconds, then normal.
        Non-streaming calls: the answer comes ``delay`` seconds late."""
        return cls(FaultKind.SLOW_FIRST_TOKEN, delay=delay)

    @classmethod
    def stream_cut(cls, after_chunks: int = 1, *, abort: bool = True) -> Fault:
        """A stream ends after ``after_chunks`` chunks with no final chunk: the connection is
        dropped mid-body (``abort=True``) or the body ends cleanly (``abort=False``).
        Non-streaming calls: the connection is dropped mid-body."""
        return cls(FaultKind.STREAM_CUT, after_chunks=after_chunks, abort=abort)

    @classmethod
    def stream_stall(cls, after_chunks: int = 1, delay: float = 3600.0) -> Fault:
        """A stream goes silent for ``delay`` seconds after ``after_chunks`` chunks."""
        return cls(FaultKind.STREAM_STALL, after_chunks=after_chunks, delay=delay)

    @classmethod
    def malformed_chunk(cls, after_chunks: int = 1) -> Fault:
        """A stream sends an SSE event whose data is not JSON after ``after_chunks`` chunks.
        Non-streaming calls: a 200 whose body is not JSON."""
        return cls(FaultKind.MALFORMED_CHUNK, after_chunks=after_chunks)

    @classmethod
    def missing_done(cls, delay: float = 0.0) -> Fault:
        """OpenAI streams: the final chunks (finish reason, usage) arrive, ``[DONE]`` never
        does; the body stays open ``delay`` seconds, then ends."""
        return cls(FaultKind.MISSING_DONE, delay=delay)

    @classmethod
    def context_length(cls) -> Fault:
        """HTTP 400 in the vendor's context-length-exceeded shape."""
        return cls(FaultKind.CONTEXT_LENGTH, status=400)

    @classmethod
    def content_filter(cls, mode: str = "error") -> Fault:
        """``mode="error"``: HTTP 400 ``content_policy_violation``; ``mode="finish"``: a 200
        with no content and the vendor's content-filter finish reason."""
        if mode not in ("error", "finish"):
            raise ValueError("Fault.content_filter: mode must be 'error' or 'finish'")
        return cls(FaultKind.CONTENT_FILTER, status=400, mode=mode)

    @classmethod
    def prefill_rejected(cls) -> Fault:
        """HTTP 400: the conversation must end with a user message."""
        return cls(FaultKind.PREFILL_REJECTED, status=400)

    @classmethod
    def authentication(cls) -> Fault:
        """HTTP 401."""
        return cls(FaultKind.AUTHENTICATION, status=401)

    @classmethod
    def empty_body(cls) -> Fault:
        """HTTP 200 with an empty body."""
        return cls(FaultKind.EMPTY_BODY, status=200)

    @classmethod
    def error_body(cls) -> Fault:
        """HTTP 200 whose JSON body is an error object."""
        return cls(FaultKind.ERROR_BODY, status=200)

    @classmethod
    def http_status(cls, status: int) -> Fault:
        """Any status with the vendor's generic error body."""
        return cls(FaultKind.STATUS, status=status)

    @classmethod
    def drip(cls, interval: float = 0.2, nbytes: int = 1, delay: float = 60.0) -> Fault:
        """Headers at once, then the body (JSON or SSE) ``nbytes`` every ``interval`` seconds
        for ``delay`` seconds (leading whitespace or blank lines pad it that long), then the
        rest at once. Per-read timeouts never fire; only a total bound ends it."""
        if interval <= 0 or nbytes < 1:
            raise ValueError("Fault.drip: interval must be > 0 and nbytes >= 1")
        return cls(FaultKind.DRIP, interval=interval, nbytes=nbytes, delay=delay)

    @classmethod
    def keepalive_only(cls, interval: float = 0.1, delay: float = 60.0) -> Fault:
        """Streams: a ``: keepalive`` SSE comment every ``interval`` seconds and no event, for
        ``delay`` seconds, then the connection is dropped. Non-streaming calls: a newline every
        ``interval`` seconds, then the drop."""
        if interval <= 0:
            raise ValueError("Fault.keepalive_only: interval must be > 0")
        return cls(FaultKind.KEEPALIVE_ONLY, interval=interval, delay=delay)

    @classmethod
    def oversized(cls, size: int = 64 << 20, *, declare_length: bool = True) -> Fault:
        """A valid answer whose text makes the body ``size`` bytes; with ``declare_length``
        the JSON body carries a ``Content-Length``, otherwise it is chunked. Streams: chunks
        of 64 KiB of text until ``size`` bytes were sent, then the normal end."""
        return cls(FaultKind.OVERSIZED, size=size, abort=declare_length)

    @classmethod
    def gzip_bomb(cls, size: int = 512 << 20) -> Fault:
        """``Content-Encoding: gzip``: about ``size / 1000`` bytes on the wire that decode to
        a valid answer (JSON, or one SSE event) of ``size`` bytes."""
        return cls(FaultKind.GZIP_BOMB, size=size)

    @classmethod
    def unterminated_line(cls, size: int = 256 << 20, delay: float = 0.0) -> Fault:
        """Streams: ``data: {...`` followed by ``size`` bytes and never a newline; the
        connection stays open ``delay`` seconds, then is dropped. Non-streaming calls: a JSON
        body that starts and never ends (``size`` bytes, chunked)."""
        return cls(FaultKind.UNTERMINATED_LINE, size=size, delay=delay)

    @classmethod
    def negative_usage(cls) -> Fault:
        """A normal answer whose usage counts are all negative (e.g. ``-1010``)."""
        return cls(FaultKind.NEGATIVE_USAGE)

    @classmethod
    def non_numeric_usage(cls, value: str = "lots") -> Fault:
        """A normal answer whose usage counts are the string ``value``."""
        return cls(FaultKind.NON_NUMERIC_USAGE, payload=value)

    @classmethod
    def deep_nesting(cls, depth: int = 100_000) -> Fault:
        """A normal answer with an extra field of ``depth`` nested lists (in the body, or in
        the first stream event): ``json.loads`` raises ``RecursionError`` on it."""
        return cls(FaultKind.DEEP_NESTING, size=depth)

    @classmethod
    def truncated_tool_call(
        cls, arguments: str = '{"city": "Par', name: str = "get_weather"
    ) -> Fault:
        """A tool call whose arguments are the text ``arguments`` (by default JSON cut short),
        streamed or not. Anthropic and Gemini send objects, so a non-streamed answer carries
        the string where the object belongs."""
        return cls(FaultKind.TRUNCATED_TOOL_CALL, payload=arguments, mode=name)


@dataclass
class Reply:
    """A scripted answer. ``tool_calls`` items are ``{"id"?, "name", "arguments": dict}``;
    ``reasoning`` is sent the way each vendor sends thinking (``reasoning_content``, a thinking
    block, thought parts), before the text. ``logprobs`` are the log-probabilities of the text's
    tokens (its words, each with its leading space; the last value repeats when there are more
    words; default -0.05 each), sent when an OpenAI request asks for ``logprobs`` and the answer
    is not streamed.

    Token counts are ``input_tokens``/``output_tokens``/``cached_tokens``, or together as
    ``usage=`` (a dict with those keys, ``cached_input_tokens`` accepted, or a
    :class:`smartroute.Usage`); ``usage`` is folded into the three fields when built."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    reasoning: str = ""
    usage: Mapping[str, int] | Any = field(default=None, repr=False, compare=False)
    logprobs: list[float] | None = None

    def __post_init__(self) -> None:
        if self.usage is None:
            return
        usage, self.usage = self.usage, None
        if not isinstance(usage, Mapping):
            if not hasattr(usage, "input_tokens"):
                raise TypeError(
                    "Reply.usage: give a dict {input_tokens, output_tokens, cached_tokens} or "
                    f"a smartroute Usage, not {type(usage).__name__}"
                )
            usage = {k: getattr(usage, k) for k in ("input_tokens", "output_tokens",
                                                     "cached_input_tokens")}
        counts = dict(usage)
        if "cached_input_tokens" in counts:
            counts.setdefault("cached_tokens", counts.pop("cached_input_tokens"))
        unknown = set(counts) - {"input_tokens", "output_tokens", "cached_tokens"}
        if unknown:
            raise ValueError(
                f"Reply.usage: unknown keys {sorted(unknown)}; use input_tokens, "
                "output_tokens, cached_tokens"
            )
        for key, value in counts.items():
            setattr(self, key, int(value))

    @classmethod
    def coerce(cls, value: Reply | str | Mapping[str, Any]) -> Reply:
        if isinstance(value, Reply):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if isinstance(value, Mapping):
            data = dict(value)
            allowed = {"text", "tool_calls", "finish_reason", "input_tokens", "output_tokens",
                       "cached_tokens", "reasoning", "usage", "logprobs"}
            unknown = set(data) - allowed
            if unknown:
                raise ValueError(f"Reply: unknown keys {sorted(unknown)}; use {sorted(allowed)}")
            return cls(**data)
        raise TypeError(f"a reply must be a str, a dict or a Reply, not {type(value).__name__}")


ScriptItem = Reply | Fault | str | Mapping[str, Any]
Responder = Callable[[str, dict[str, Any]], Any]
Latency = float | Callable[[], float]


@dataclass(frozen=True)
class AttemptRecord:
    """One request the server saw. ``at`` is ``time.monotonic()`` when it arrived."""

    model: str
    path: str
    at: float
    stream: bool
    outcome: str
    api: str


@dataclass
class _ModelConfig:
    latency: Latency | None = None
    responder: Responder | None = None
    fault: Fault | None = None
    reject_prefill: bool = False
    chunk_chars: int | None = None
    chunk_delay: float | None = None


def heavy_tail(median: float, sigma: float = 1.0, *, rng: random.Random | None = None) -> Latency:
    """A log-normal latency distribution: most calls near ``median`` seconds, a long tail."""
    r = rng or random.Random()
    return lambda: r.lognormvariate(0.0, sigma) * median


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeProvider:
    """The fake vendor server. Use it as a context manager, or call :meth:`start`/:meth:`stop`.

    ``latency`` (seconds, or a zero-argument callable drawing them) delays every answer (the
    first chunk of a stream); ``chunk_delay`` spaces stream chunks. ``responder(model,
    request_json)`` returns the reply (text, a dict like :class:`Reply`, a :class:`Reply` or a
    :class:`Fault`); without it the server echoes the last user message.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: Latency = 0.0,
        responder: Responder | None = None,
        chunk_chars: int = 8,
        chunk_delay: float = 0.0,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self._defaults = _ModelConfig(
            latency=latency, responder=responder, chunk_chars=chunk_chars, chunk_delay=chunk_delay
        )
        self._models: dict[str, _ModelConfig] = {}
        self._scripts: dict[str, list[ScriptItem]] = {}
        self._flaps: dict[str, tuple[float, Fault]] = {}
        self._lock = threading.Lock()
        self.record = record
        self.attempts: list[AttemptRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._sleepers: set[asyncio.Future[None]] = set()
        # merged per-model settings, rebuilt after any change (read on every request)
        self._merged: dict[str, _ModelConfig] = {}
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # --- scripting ------------------------------------------------------------------------

    def configure(
        self,
        model: str = "*",
        *,
        latency: Latency | None = None,
        responder: Responder | None = None,
        fault: Fault | None = None,
        reject_prefill: bool | None = None,
        chunk_chars: int | None = None,
        chunk_delay: float | None = None,
    ) -> FakeProvider:
        """Set a model's behaviour; ``fault`` is persistent (every request) until cleared with
        :meth:`clear_fault`. ``reject_prefill=True`` answers 400 when the last message is an
        assistant message."""
        with self._lock:
            self._merged.clear()
            cfg = self._models.setdefault(model, _ModelConfig())
            if latency is not None:
                cfg.latency = latency
            if responder is not None:
                cfg.responder = responder
            if fault is not None:
                cfg.fault = fault
            if reject_prefill is not None:
                cfg.reject_prefill = reject_prefill
            if chunk_chars is not None:
                cfg.chunk_chars = chunk_chars
            if chunk_delay is not None:
                cfg.chunk_delay = chunk_delay
        return self

    def fail(self, model: str, fault: Fault) -> FakeProvider:
        """Make every request to ``model`` fail with ``fault`` (``"*"``: every model)."""
        return self.configure(model, fault=fault)

    def clear_fault(self, model: str | None = None) -> FakeProvider:
        """End persistent faults and flap windows: of every model (the default), or of
        ``model`` only (``"*"``: the fault set for every model, not per-model ones). Scripted
        queues are kept; :meth:`reset` forgets everything."""
        with self._lock:
            self._merged.clear()
            for name, cfg in self._models.items():
                if model is None or name == model:
                    cfg.fault = None
            if model is None:
                self._flaps.clear()
            else:
                self._flaps.pop(model, None)
        return self

    def script(self, model: str, items: ScriptItem | Sequence[ScriptItem]) -> FakeProvider:
        """Queue per-request outcomes for ``model``: each request takes the next item (a
        :class:`Fault`, a reply text, a :class:`Reply` or a dict). When the queue is empty the
        model behaves normally again, so ``script(m, [Fault.server_error()])`` is "500 once"."""
        seq = [items] if isinstance(items, Reply | Fault | str | Mapping) else list(items)
        for item in seq:
            if not isinstance(item, Fault):
                Reply.coerce(item)
        with self._lock:
            self._scripts.setdefault(model, []).extend(seq)
        return self

    def flap(self, model: str, down_for: float, fault: Fault | None = None) -> FakeProvider:
        """``model`` fails with ``fault`` (default 503) for ``down_for`` seconds from now, then
        is healthy."""
        with self._lock:
            self._flaps[model] = (time.monotonic() + down_for, fault or Fault.overloaded())
        return self

    def reset(self) -> FakeProvider:
        """Forget scripts, faults, flaps, per-model settings and recorded attempts."""
        with self._lock:
            self._merged.clear()
            self._models.clear()
            self._scripts.clear()
            self._flaps.clear()
            self.attempts.clear()
        return self

    def attempts_for(self, model: str) -> list[AttemptRecord]:
        with self._lock:
            return [a for a in self.attempts if a.model == model]

    def count(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if model is None or a.model == model)

    def gaps(self, model: str) -> list[float]:
        """Seconds between consecutive requests to ``model``: what backoff looked like."""
        times = [a.at for a in self.attempts_for(model)]
        return [b - a for a, b in itertools.pairwise(times)]

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (Anthropic's base URL shape)."""
        if not self.port:
            raise RuntimeError("FakeProvider is not started: call start() or use `with`")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def gemini_base_url(self) -> str:
        return self.url + "/v1beta"

    def start(self) -> FakeProvider:
        if self._thread is not None:
            return self
        self._started.clear()
        self._thread = threading.Thread(target=self._serve, name="fake-provider", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("FakeProvider did not start within 30 s")
        if self._start_error is not None:
            err, self._start_error = self._start_error, None
            self._thread = None
            raise RuntimeError(f"FakeProvider failed to start: {err}") from err
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            fut.result(15)
        thread.join(15)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port and self._thread else "stopped"
        return f"FakeProvider({where})"

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def app(self) -> web.Application:
        """The aiohttp application, for mounting in another server."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/{version}/models/{call}", self._gemini)
        return app

    async def _startup(self) -> None:
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=2048, reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._runner = runner

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for fut in self._sleepers:
            _wake(fut)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.stop)

    # --- request handling -----------------------------------------------------------------

    def _config(self, model: str) -> _ModelConfig:
        """The model's settings merged over ``"*"`` and the defaults (cached; read-only)."""
        merged = self._merged.get(model)
        if merged is None:
            merged = self._merged[model] = self._merge(model)
        return merged

    def _merge(self, model: str) -> _ModelConfig:
        own = self._models.get(model)
        star = self._models.get("*")
        merged = _ModelConfig()
        for name in ("latency", "responder", "fault", "chunk_chars", "chunk_delay"):
            value = None
            for src in (own, star, self._defaults):
                if src is not None and getattr(src, name) is not None:
                    value = getattr(src, name)
                    break
            setattr(merged, name, value)
        merged.reject_prefill = bool((own and own.reject_prefill) or (star and star.reject_prefill))
        return merged

    def _decide(self, model: str, body: dict[str, Any], last_role: str) -> tuple[Any, _ModelConfig]:
        """Pick this request's outcome: a Fault or a Reply."""
        with self._lock:
            cfg = self._config(model)
            queue = self._scripts.get(model) or self._scripts.get("*")
            if queue:
                item: Any = queue.pop(0)
                return (item if isinstance(item, Fault) else Reply.coerce(item)), cfg
            flap = self._flaps.get(model) or self._flaps.get("*")
            if flap is not None and time.monotonic() < flap[0]:
                return flap[1], cfg
        if cfg.reject_prefill and last_role == "assistant":
            return Fault.prefill_rejected(), cfg
        if cfg.fault is not None:
            return cfg.fault, cfg
        if cfg.responder is not None:
            out = cfg.responder(model, body)
            return (out if isinstance(out, Fault) else Reply.coerce(out)), cfg
        return _echo(model, body), cfg

    def _record(
        self, model: str, path: str, at: float, stream: bool, outcome: str, api: str
    ) -> None:
        if self.record:
            with self._lock:
                self.attempts.append(AttemptRecord(model, path, at, stream, outcome, api))

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until the server stops. One future and one timer: every answer
        with latency waits here, and a task per wait (``wait_for``) would double the server's
        cost per request in benchmarks."""
        if seconds <= 0:
            return
        if self._stopping is not None and self._stopping.is_set():
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, fut)
        self._sleepers.add(fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._sleepers.discard(fut)

    async def _handle(self, request: web.Request, api: str) -> web.StreamResponse:
        at = time.monotonic()
        raw = await request.read()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._record("", request.path, at, False, "bad_request", api)
            return _json(400, _WIRE[api].error(400, "invalid_request_error", "body is not JSON"))
        if api == "gemini":
            call = request.match_info["call"]
            model, _, method = call.partition(":")
            stream = method == "streamGenerateContent"
            body["model"] = model
        else:
            model = str(body.get("model", ""))
            stream = bool(body.get("stream"))
        wire = _WIRE[api]
        outcome, cfg = self._decide(model, body, wire.last_role(body))
        if self.record:
            self._record(
                model, request.path, at, stream,
                outcome.kind.value if isinstance(outcome, Fault) else "ok", api,
            )
        latency = cfg.latency() if callable(cfg.latency) else float(cfg.latency or 0.0)
        if isinstance(outcome, Fault):
            fault = outcome
            early = await self._early_fault(request, fault, wire, latency)
            if early is not None:
                return early
            reply = _echo(model, body)
            if fault.kind == FaultKind.CONTENT_FILTER:
                reply = Reply(text="", finish_reason="content_filter", output_tokens=0)
        else:
            fault = None
            reply = outcome
        reply = _complete_usage(reply, body)
        if fault is not None and fault.kind in _HOSTILE:
            await self._sleep(latency)
            try:
                return await self._hostile(request, model, body, reply, fault, cfg, stream, wire)
            except ConnectionError:
                return web.StreamResponse()
        if not stream:
            await self._sleep(latency)
            if fault is not None and fault.kind == FaultKind.SLOW_FIRST_TOKEN:
                await self._sleep(fault.delay)
            if fault is not None and fault.kind == FaultKind.STREAM_CUT:
                return await self._cut_json(request)
            if fault is not None and fault.kind == FaultKind.MALFORMED_CHUNK:
                return web.Response(status=200, body=b'{"id": "x", "choi',
                                    content_type="application/json")
            answer = wire.response(model, reply)
            if api == "openai" and (body.get("logprobs") or body.get("top_logprobs")):
                answer["choices"][0]["logprobs"] = _openai_logprobs(reply, body)
            return _json(200, answer)
        return await self._stream(request, model, body, reply, fault, cfg, latency, wire)

    async def _early_fault(
        self, request: web.Request, fault: Fault, wire: _Wire, latency: float
    ) -> web.StreamResponse | None:
        """Answer faults that happen before any content; ``None`` for in-stream faults."""
        kind = fault.kind
        if kind == FaultKind.CONNECTION_RESET:
            _abort(request)
            return web.Response(status=500)
        if kind == FaultKind.NO_RESPONSE:
            await self._sleep(fault.delay)
            _abort(request)
            return web.Response(status=500)
        if kind == FaultKind.EMPTY_BODY:
            await self._sleep(latency)
            return web.Response(status=200, body=b"", content_type="application/json")
        if kind == FaultKind.ERROR_BODY:
            await self._sleep(latency)
            return _json(200, wire.error(500, "server_error", "The server had an error"))
        if kind == FaultKind.CONTENT_FILTER and fault.mode == "finish":
            return None
        if fault.status and fault.status != 200:
            await self._sleep(latency)
            headers = {}
            if kind == FaultKind.RATE_LIMITED and fault.retry_after is not None:
                headers["Retry-After"] = str(
                    fault.retry_after if isinstance(fault.retry_after, str)
                    else _fmt_seconds(fault.retry_after)
                )
            return _json(fault.status, wire.fault_body(fault), headers)
        return None

    async def _cut_json(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = 4096
        await resp.prepare(request)
        await resp.write(b'{"id": "chatcmpl-cut", "choices": [')
        _abort(request)
        return resp

    async def _stream(
        self,
        request: web.Request,
        model: str,
        body: dict[str, Any],
        reply: Reply,
        fault: Fault | None,
        cfg: _ModelConfig,
        latency: float,
        wire: _Wire,
    ) -> web.StreamResponse:
        try:
            return await self._write_stream(request, model, body, reply, fault, cfg, latency, wire)
        except ConnectionResetError:
            return web.StreamResponse()

    async def _write_stream(
        self,
        request: web.Request,
        model: str,
        body: dict[str, Any],
        reply: Reply,
        fault: Fault | None,
        cfg: _ModelConfig,
        latency: float,
        wire: _Wire,
    ) -> web.StreamResponse:
        kind = fault.kind if fault is not None else None
        preamble, content, final = wire.stream_events(model, body, reply, cfg.chunk_chars or 8)
        resp = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await resp.prepare(request)
        await self._sleep(latency)
        if kind == FaultKind.SLOW_FIRST_TOKEN and fault is not None:
            await self._sleep(fault.delay)
        await resp.write(b"".join(preamble))
        delay = cfg.chunk_delay or 0.0
        for i, event in enumerate(content):
            if fault is not None and i == fault.after_chunks:
                if kind == FaultKind.STREAM_CUT:
                    if fault.abort:
                        _abort(request)
                    else:
                        await resp.write_eof()
                    return resp
                if kind == FaultKind.STREAM_STALL:
                    await self._sleep(fault.delay)
                    _abort(request)
                    return resp
                if kind == FaultKind.MALFORMED_CHUNK:
                    await resp.write(b'data: {"id": "x", "choices": [{"delta": {"content": \n\n')
            await resp.write(event)
            if delay:
                await self._sleep(delay)
        if fault is not None and len(content) <= fault.after_chunks and kind in (
            FaultKind.STREAM_CUT, FaultKind.STREAM_STALL, FaultKind.MALFORMED_CHUNK
        ):
            if kind == FaultKind.MALFORMED_CHUNK:
                await resp.write(b"data: {not json\n\n")
            elif kind == FaultKind.STREAM_STALL:
                await self._sleep(fault.delay)
                _abort(request)
                return resp
            else:
                if fault.abort:
                    _abort(request)
                else:
                    await resp.write_eof()
                return resp
        if kind == FaultKind.MISSING_DONE:
            final = final[:-1] if wire.terminal_event else final
            await resp.write(b"".join(final))
            if fault is not None:
                await self._sleep(fault.delay)
        else:
            await resp.write(b"".join(final))
        await resp.write_eof()
        return resp

    async def _hostile(
        self,
        request: web.Request,
        model: str,
        body: dict[str, Any],
        reply: Reply,
        fault: Fault,
        cfg: _ModelConfig,
        stream: bool,
        wire: _Wire,
    ) -> web.StreamResponse:
        """Serve a hostile answer (see :class:`Fault`): big, slow, compressed or broken."""
        kind = fault.kind
        size = cfg.chunk_chars or 8
        if kind == FaultKind.TRUNCATED_TOOL_CALL:
            reply = replace(reply, text="", tool_calls=[
                {"name": fault.mode, "arguments": fault.payload}], finish_reason="tool_calls")
        if kind in (FaultKind.NEGATIVE_USAGE, FaultKind.NON_NUMERIC_USAGE,
                    FaultKind.DEEP_NESTING, FaultKind.TRUNCATED_TOOL_CALL):
            edit = _body_edit(fault)
            if not stream:
                return web.Response(status=200, body=edit(wire.response(model, reply)),
                                    content_type="application/json")
            preamble, content, final = wire.stream_events(model, body, reply, size)
            events = _edit_events([*preamble, *content, *final], edit,
                                  first_only=kind == FaultKind.DEEP_NESTING)
            resp = await _open(request, "text/event-stream")
            await resp.write(b"".join(events))
            await resp.write_eof()
            return resp
        if kind == FaultKind.DRIP:
            if stream:
                preamble, content, final = wire.stream_events(model, body, reply, size)
                data = b"".join([*preamble, *content, *final])
                ctype, pad = "text/event-stream", b"\n"
            else:
                data, ctype, pad = _dumps(wire.response(model, reply)), "application/json", b" "
            want = int(fault.delay / fault.interval) * fault.nbytes
            data = pad * max(0, want - len(data)) + data
            resp = await _open(request, ctype)
            end, i = time.monotonic() + fault.delay, 0
            while i < len(data) and time.monotonic() < end and not self._stopped():
                await resp.write(data[i : i + fault.nbytes])
                i += fault.nbytes
                await self._sleep(fault.interval)
            await resp.write(data[i:])
            await resp.write_eof()
            return resp
        if kind == FaultKind.KEEPALIVE_ONLY:
            resp = await _open(request, "text/event-stream" if stream else "application/json")
            end = time.monotonic() + fault.delay
            while time.monotonic() < end and not self._stopped():
                await resp.write(b": keepalive\n\n" if stream else b"\n")
                await self._sleep(fault.interval)
            _abort(request)
            return resp
        if kind == FaultKind.UNTERMINATED_LINE:
            resp = await _open(request, "text/event-stream" if stream else "application/json")
            await resp.write(b'data: {"choices":[{"index":0,"delta":{"content":"' if stream
                             else b'{"id":"x","choices":[{"index":0,"message":{"content":"')
            for chunk in hostile.filler_chunks(fault.size):
                await resp.write(chunk)
            await self._sleep(fault.delay)
            _abort(request)
            return resp
        head, tail, event_head, event_tail = _split_answer(model, body, reply, stream, wire)
        if kind == FaultKind.GZIP_BOMB:
            payload = hostile.gzip_bomb(head, max(0, fault.size - len(head) - len(tail)), tail)
            return web.Response(
                status=200, body=payload,
                headers={"Content-Type": "text/event-stream" if stream else "application/json",
                         "Content-Encoding": "gzip"},
            )
        # OVERSIZED
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream" if stream else "application/json"})
        if stream:
            await resp.prepare(request)
            await resp.write(head[: len(head) - len(event_head)])
            piece = event_head + b"a" * (64 << 10) + event_tail
            for _ in range(max(1, fault.size // len(piece))):
                await resp.write(piece)
            await resp.write(tail[len(event_tail) :])
            await resp.write_eof()
            return resp
        chunks, total = hostile.spliced_json(head, fault.size - len(head) - len(tail), tail)
        if fault.abort:
            resp.content_length = total
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    def _stopped(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "anthropic")

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "gemini")


# --- wire formats ---------------------------------------------------------------------------


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


_MARK = "@@smartroute-fill@@"


def _split_answer(
    model: str, body: dict[str, Any], reply: Reply, stream: bool, wire: _Wire
) -> tuple[bytes, bytes, bytes, bytes]:
    """The answer's bytes before and after its text (text left out), and for streams the
    text event's own bytes before and after the text."""
    marked, mark = replace(reply, text=_MARK), _MARK.encode()
    if not stream:
        head, _, tail = _dumps(wire.response(model, marked)).partition(mark)
        return head, tail, b"", b""
    preamble, content, final = wire.stream_events(model, body, marked, len(_MARK))
    events = [*preamble, *content, *final]
    at = next(i for i, e in enumerate(events) if mark in e)
    event_head, _, event_tail = events[at].partition(mark)
    head = b"".join(events[:at]) + event_head
    tail = event_tail + b"".join(events[at + 1 :])
    return head, tail, event_head, event_tail


async def _open(request: web.Request, content_type: str) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type,
                                                   "Cache-Control": "no-cache"})
    await resp.prepare(request)
    return resp


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _body_edit(fault: Fault) -> Callable[[Any], bytes]:
    """How a hostile fault rewrites one JSON document (a body or an SSE event's data)."""
    kind = fault.kind
    if kind == FaultKind.NEGATIVE_USAGE:
        return lambda data: _dumps(hostile.mutate_usage(data, lambda v: -abs(v) - 1000))
    if kind == FaultKind.NON_NUMERIC_USAGE:
        return lambda data: _dumps(hostile.mutate_usage(data, lambda v: fault.payload))
    if kind == FaultKind.DEEP_NESTING:
        return lambda data: hostile.deep_nesting(data, fault.size)
    return _dumps


def _edit_events(
    events: list[bytes], edit: Callable[[Any], bytes], *, first_only: bool = False
) -> list[bytes]:
    out, done = [], False
    for event in events:
        lines = event.split(b"\n")
        for i, line in enumerate(lines):
            if line.startswith(b"data: ") and line != b"data: [DONE]" and not done:
                lines[i] = b"data: " + edit(json.loads(line[6:]))
                done = first_only
        out.append(b"\n".join(lines))
    return out


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json",
        headers=headers,
    )


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _last_user_text(body: Mapping[str, Any]) -> str:
    if "contents" in body:
        for c in reversed(body.get("contents") or []):
            if c.get("role", "user") == "user":
                return "".join(str(p.get("text", "")) for p in c.get("parts", []))
        return ""
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text_of(m.get("content"))
    return ""


def _prompt_chars(body: Mapping[str, Any]) -> int:
    system = body.get("system") or body.get("systemInstruction")
    return len(json.dumps(body.get("messages") or body.get("contents") or [])) + (
        len(json.dumps(system)) if system else 2  # len('""')
    )


def _echo(model: str, body: Mapping[str, Any]) -> Reply:
    """The default answer: the last user message, with estimated usage."""
    text = f"[{model}] {_last_user_text(body)}"
    return Reply(text=text, input_tokens=max(1, _prompt_chars(body) // 4),
                 output_tokens=_estimate_tokens(text))


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _hex(nbytes: int) -> str:
    return os.urandom(nbytes).hex()


def _complete_usage(reply: Reply, body: Mapping[str, Any]) -> Reply:
    if reply.input_tokens is not None and reply.output_tokens is not None:
        return reply
    return Reply(
        text=reply.text,
        tool_calls=reply.tool_calls,
        finish_reason=reply.finish_reason,
        input_tokens=reply.input_tokens if reply.input_tokens is not None
        else max(1, _prompt_chars(body) // 4),
        output_tokens=reply.output_tokens if reply.output_tokens is not None
        else _estimate_tokens(reply.text) + 10 * len(reply.tool_calls),
        cached_tokens=reply.cached_tokens,
        reasoning=reply.reasoning,
        logprobs=reply.logprobs,
    )


def _tool_calls(reply: Reply) -> list[tuple[str, str, Any]]:
    """(id, name, arguments): arguments are a dict, or a str sent verbatim (hostile faults)."""
    out = []
    for i, tc in enumerate(reply.tool_calls):
        args = tc.get("arguments")
        out.append((str(tc.get("id") or f"call_{i}_{_hex(4)}"), str(tc["name"]),
                    args if isinstance(args, str) else dict(args or {})))
    return out


def _args_text(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)


def _openai_logprobs(reply: Reply, body: Mapping[str, Any]) -> dict[str, Any]:
    """``choice.logprobs`` for the reply's words; alternatives are ``alt1``... each less likely."""
    tokens = re.findall(r"\s*\S+", reply.text)
    given = reply.logprobs or [-0.05]
    top = int(body.get("top_logprobs") or 0)

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    content = []
    for i, token in enumerate(tokens):
        lp = float(given[min(i, len(given) - 1)])
        alts = [entry(token, lp)] + [entry(f" alt{k}", lp - k) for k in range(1, top)]
        content.append({**entry(token, lp), "top_logprobs": alts[:top]})
    return {"content": content, "refusal": None}


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Wire:
    terminal_event = True

    def last_role(self, body: Mapping[str, Any]) -> str:
        msgs = body.get("messages") or []
        return str(msgs[-1].get("role", "")) if msgs and isinstance(msgs[-1], dict) else ""

    def error(self, status: int, etype: str, message: str, code: str | None = None) -> Any:
        raise NotImplementedError

    def fault_body(self, fault: Fault) -> Any:
        k = fault.kind
        if k == FaultKind.RATE_LIMITED:
            return self.error(429, "rate_limit_error", "Rate limit reached", "rate_limit_exceeded")
        if k == FaultKind.OVERLOADED:
            return self.error(fault.status, "overloaded_error", "Overloaded")
        if k == FaultKind.CONTEXT_LENGTH:
            return self.error(
                400, "invalid_request_error",
                "This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in 9000 tokens. Please reduce the length of the messages.",
                "context_length_exceeded",
            )
        if k == FaultKind.CONTENT_FILTER:
            return self.error(
                400, "invalid_request_error",
                "Your request was rejected as a result of our safety system.",
                "content_policy_violation",
            )
        if k == FaultKind.PREFILL_REJECTED:
            return self.error(
                400, "invalid_request_error",
                "This model does not support assistant message prefill. The conversation "
                "must end with a user message.",
            )
        if k == FaultKind.AUTHENTICATION:
            return self.error(401, "authentication_error", "invalid x-api-key", "invalid_api_key")
        return self.error(fault.status or 500, "server_error", "The server had an error")

    def response(self, model: str, reply: Reply) -> Any:
        raise NotImplementedError

    def stream_events(
        self, model: str, body: Mapping[str, Any], reply: Reply, size: int
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(preamble, content events, final events) of a stream; faults count content events."""
        raise NotImplementedError


class _OpenAIWire(_Wire):
    def error(self, status: int, etype: str, message: str, code: str | None = None) -> Any:
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}

    def _usage(self, reply: Reply) -> dict[str, Any]:
        i, o = reply.input_tokens or 0, reply.output_tokens or 0
        return {
            "prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        }

    def _finish(self, reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def response(self, model: str, reply: Reply) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                                   "refusal": None}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        calls = _tool_calls(reply)
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function",
                 "function": {"name": name, "arguments": _args_text(args)}}
                for cid, name, args in calls
            ]
        return {
            "id": f"chatcmpl-{_hex(6)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": self._finish(reply)}],
            "usage": self._usage(reply),
        }

    def stream_events(
        self, model: str, body: Mapping[str, Any], reply: Reply, size: int
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        rid, created = f"chatcmpl-{_hex(6)}", int(time.time())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = None
            return _sse(data)

        preamble = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"reasoning_content": p}) for p in _split(reply.reasoning, size)]
        content += [chunk({"content": piece}) for piece in _split(reply.text, size)]
        for idx, (cid, name, args) in enumerate(_tool_calls(reply)):
            content.append(chunk({"tool_calls": [{"index": idx, "id": cid, "type": "function",
                                                  "function": {"name": name, "arguments": ""}}]}))
            for piece in _split(_args_text(args), max(size, 4)):
                content.append(chunk({"tool_calls": [{"index": idx,
                                                      "function": {"arguments": piece}}]}))
        final = [chunk({}, self._finish(reply))]
        if include_usage:
            final.append(_sse({"id": rid, "object": "chat.completion.chunk", "created": created,
                               "model": model, "choices": [], "usage": self._usage(reply)}))
        final.append(b"data: [DONE]\n\n")
        return preamble, content, final


class _AnthropicWire(_Wire):
    _FINISH: ClassVar[dict[str, str]] = {
        "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
        "content_filter": "refusal",
    }

    def error(self, status: int, etype: str, message: str, code: str | None = None) -> Any:
        etype = {
            429: "rate_limit_error", 401: "authentication_error", 403: "permission_error",
            404: "not_found_error", 413: "request_too_large", 500: "api_error",
            529: "overloaded_error", 503: "overloaded_error",
        }.get(status, etype if status != 400 else "invalid_request_error")
        if code == "context_length_exceeded":
            message = "prompt is too long: 208310 tokens > 200000 maximum"
        return {"type": "error", "error": {"type": etype, "message": message}}

    def _stop(self, reply: Reply) -> str:
        reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return self._FINISH.get(reason, reason)

    def _usage(self, reply: Reply, output: int | None = None) -> dict[str, Any]:
        return {
            "input_tokens": (reply.input_tokens or 0) - reply.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": reply.output_tokens if output is None else output,
        }

    def response(self, model: str, reply: Reply) -> Any:
        content: list[dict[str, Any]] = []
        if reply.reasoning:
            content.append({"type": "thinking", "thinking": reply.reasoning,
                            "signature": _hex(16)})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        for cid, name, args in _tool_calls(reply):
            content.append({"type": "tool_use", "id": cid, "name": name, "input": args})
        return {
            "id": f"msg_{_hex(10)}", "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": self._stop(reply),
            "stop_sequence": None, "usage": self._usage(reply),
        }

    def stream_events(
        self, model: str, body: Mapping[str, Any], reply: Reply, size: int
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        start = {
            "type": "message_start",
            "message": {
                "id": f"msg_{_hex(10)}", "type": "message", "role": "assistant",
                "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": self._usage(reply, output=1),
            },
        }
        preamble = [_sse(start, "message_start")]
        content: list[bytes] = []
        index = 0
        if reply.reasoning:
            preamble.append(_sse({"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "thinking", "thinking": ""}},
                                 "content_block_start"))
            for piece in _split(reply.reasoning, size):
                content.append(_sse({"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "thinking_delta", "thinking": piece}},
                                    "content_block_delta"))
            content.append(_sse({"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": _hex(16)}},
                                "content_block_delta"))
            content.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
            index = 1
        if reply.text:
            opening = _sse({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}}, "content_block_start")
            (content if index else preamble).append(opening)
            if not index:
                preamble.append(_sse({"type": "ping"}, "ping"))
            for piece in _split(reply.text, size):
                content.append(_sse({"type": "content_block_delta", "index": index,
                                     "delta": {"type": "text_delta", "text": piece}},
                                    "content_block_delta"))
            content.append(_sse({"type": "content_block_stop", "index": index},
                                "content_block_stop"))
            index += 1
        for cid, name, args in _tool_calls(reply):
            content.append(_sse({"type": "content_block_start", "index": index,
                                 "content_block": {"type": "tool_use", "id": cid, "name": name,
                                                   "input": {}}}, "content_block_start"))
            for piece in _split(_args_text(args), max(size, 4)):
                content.append(_sse({"type": "content_block_delta", "index": index,
                                     "delta": {"type": "input_json_delta",
                                               "partial_json": piece}},
                                    "content_block_delta"))
            content.append(_sse({"type": "content_block_stop", "index": index},
                                "content_block_stop"))
            index += 1
        final = [
            _sse({"type": "message_delta",
                  "delta": {"stop_reason": self._stop(reply), "stop_sequence": None},
                  "usage": {"output_tokens": reply.output_tokens}}, "message_delta"),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return preamble, content, final


class _GeminiWire(_Wire):
    terminal_event = False
    _FINISH: ClassVar[dict[str, str]] = {
        "stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY",
    }
    _STATUS: ClassVar[dict[int, str]] = {
        400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
        404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }

    def last_role(self, body: Mapping[str, Any]) -> str:
        contents = body.get("contents") or []
        role = str(contents[-1].get("role", "user")) if contents else ""
        return "assistant" if role == "model" else role

    def error(self, status: int, etype: str, message: str, code: str | None = None) -> Any:
        if code == "context_length_exceeded":
            message = ("The input token count (1200000) exceeds the maximum number of tokens "
                       "allowed (1048576).")
        return {"error": {"code": status, "message": message,
                          "status": self._STATUS.get(status, "UNKNOWN")}}

    def _usage(self, reply: Reply) -> dict[str, Any]:
        i, o = reply.input_tokens or 0, reply.output_tokens or 0
        usage = {"promptTokenCount": i, "candidatesTokenCount": o, "totalTokenCount": i + o}
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        return usage

    def _parts(self, reply: Reply, text: str, thought: str = "") -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [{"text": thought, "thought": True}] if thought else []
        parts += [{"text": text}] if text else []
        parts += [{"functionCall": {"name": name, "args": args}}
                  for _, name, args in _tool_calls(reply)]
        return parts

    def response(self, model: str, reply: Reply) -> Any:
        reason = reply.finish_reason or "stop"
        return {
            "candidates": [{
                "content": {"role": "model",
                            "parts": self._parts(reply, reply.text, reply.reasoning)},
                "finishReason": self._FINISH.get(reason, reason.upper()), "index": 0,
            }],
            "usageMetadata": self._usage(reply),
            "modelVersion": model, "responseId": _hex(8),
        }

    def stream_events(
        self, model: str, body: Mapping[str, Any], reply: Reply, size: int
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        rid = _hex(8)

        def event(parts: list[dict[str, Any]], finish: str | None = None,
                  usage: bool = False) -> bytes:
            cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if finish:
                cand["finishReason"] = finish
            data: dict[str, Any] = {"candidates": [cand], "modelVersion": model,
                                    "responseId": rid}
            if usage:
                data["usageMetadata"] = self._usage(reply)
            return _sse(data)

        content = [event([{"text": p, "thought": True}]) for p in _split(reply.reasoning, size)]
        content += [event([{"text": p}]) for p in _split(reply.text, size)]
        calls = self._parts(reply, "")
        if calls:
            content.append(event(calls))
        reason = reply.finish_reason or "stop"
        final = [event([], self._FINISH.get(reason, reason.upper()), usage=True)]
        return [], content, final


_WIRE: dict[str, _Wire] = {
    "openai": _OpenAIWire(),
    "anthropic": _AnthropicWire(),
    "gemini": _GeminiWire(),
}


# --- command line -----------------------------------------------------------------------------


def _parse_fault(spec: str) -> tuple[str, Fault]:
    model, sep, rest = spec.partition("=")
    if not sep or not model or not rest:
        raise argparse.ArgumentTypeError(
            f"--fault {spec!r}: use MODEL=KIND[:ARG], e.g. gpt-4o=rate_limited:2"
        )
    kind, _, arg = rest.partition(":")
    makers: dict[str, Callable[[], Fault]] = {
        "rate_limited": lambda: Fault.rate_limited(float(arg) if arg else None),
        "server_error": Fault.server_error,
        "overloaded": lambda: Fault.overloaded(int(arg) if arg else 503),
        "connection_reset": Fault.connection_reset,
        "no_response": Fault.no_response,
        "slow_first_token": lambda: Fault.slow_first_token(float(arg or 5)),
        "stream_cut": lambda: Fault.stream_cut(int(arg or 1)),
        "stream_stall": lambda: Fault.stream_stall(int(arg or 1)),
        "malformed_chunk": lambda: Fault.malformed_chunk(int(arg or 1)),
        "missing_done": Fault.missing_done,
        "context_length": Fault.context_length,
        "content_filter": lambda: Fault.content_filter(arg or "error"),
        "prefill_rejected": Fault.prefill_rejected,
        "authentication": Fault.authentication,
        "empty_body": Fault.empty_body,
        "error_body": Fault.error_body,
    }
    if kind not in makers:
        raise argparse.ArgumentTypeError(
            f"--fault {spec!r}: unknown fault {kind!r}; use one of {sorted(makers)}"
        )
    try:
        return model, makers[kind]()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--fault {spec!r}: bad argument: {exc}") from exc


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeProvider]:
    """``with running(latency=0.05) as fp:`` — a started server, stopped on exit."""
    fp = FakeProvider(**kwargs)
    with fp:
        yield fp


def main(argv: Sequence[str] | None = None) -> int:
    """``smartroute fake-provider``: serve until interrupted, printing the base URL."""
    parser = argparse.ArgumentParser(
        prog="smartroute fake-provider",
        description="A local fake OpenAI/Anthropic/Gemini server with fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0,
                        help="seconds between stream chunks")
    parser.add_argument("--fault", action="append", default=[], type=_parse_fault,
                        metavar="MODEL=KIND[:ARG]",
                        help="a persistent fault for a model ('*' for all); repeatable")
    parser.add_argument("--flap", action="append", default=[], metavar="MODEL=SECONDS",
                        help="the model answers 503 for SECONDS after start; repeatable")
    parser.add_argument("--no-record", action="store_true",
                        help="do not keep a record of attempts (for long benchmarks)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    fp = FakeProvider(host=args.host, port=args.port, latency=args.latency,
                      chunk_delay=args.chunk_delay, record=not args.no_record)
    for model, fault in args.fault:
        fp.fail(model, fault)
    for spec in args.flap:
        model, _, secs = spec.partition("=")
        try:
            fp.flap(model, float(secs))
        except ValueError:
            parser.error(f"--flap {spec!r}: use MODEL=SECONDS")
    fp.start()
    serve_forever(fp)
    return 0


def serve_forever(fp: FakeProvider) -> None:
    """Announce a started server's URLs (one line, which scripts wait for) and serve until
    interrupted; then stop it."""
    print(f"fake provider listening: OpenAI base_url={fp.base_url} "
          f"Anthropic base_url={fp.anthropic_base_url} Gemini base_url={fp.gemini_base_url}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fp.stop()


if __name__ == "__main__":
    raise SystemExit(main())
