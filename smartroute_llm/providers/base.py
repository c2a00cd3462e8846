"""What every HTTP vendor target shares: clients, keys, timeouts, error mapping, SSE loops.

A vendor is a :class:`WireFormat` (pure functions: request body, response and stream parsing)
plus an :class:`HTTPTarget` subclass naming it. The sync and async paths below are the only I/O;
both hand the same bytes to the same wire functions, so the two can never disagree.

Clients are created lazily and reused: one ``httpx.Client`` per target, and one
``httpx.AsyncClient`` per target *and running event loop* (an aiohttp session is bound to the
loop it was created on). The async default transport is ``httpx-aiohttp``, whose connection pool
costs far less CPU per request under concurrency than httpx's own; ``transport="httpx"`` selects
the plain httpx pool. Non-streaming calls on a target's own aiohttp-transport client go straight
to the transport (:mod:`smartroute_llm.providers.direct`). Call :meth:`HTTPTarget.aclose` (or
``Router.aclose``) before a loop ends to release its connections.

API keys are :class:`pydantic.SecretStr`. A missing key is reported when a call is made, not at
construction, so targets can be built (and routes planned) on machines without keys. A vendor's
default key variable is only ever sent to that vendor's default host (:mod:`.keys`).

Every answer is read with bounds (:mod:`.body`): at most ``max_response_bytes`` decoded bytes
(32 MB by default; per SSE event for streams, four times that for a whole stream), decoded in
bounded steps, and within ``options.timeout`` as a *total* bound on both paths (the sync path
clips each phase's timeout to the time left and a watchdog shuts the socket down at the
deadline, :mod:`.watchdog`). After ``os.fork()`` a child drops the clients and locks it
inherited and builds its own (:mod:`.forks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import SecretStr

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError, ErrorKind, ProviderError, provider_error
from smartroute_llm.providers import forks, jsoncodec, keys, watchdog
from smartroute_llm.providers.body import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_BYTES,
    STREAM_FACTOR,
    AnswerSize,
    Decoder,
    Fold,
    SSEReader,
    as_response,
    check_limit,
    deadline_error,
    too_large,
)
from smartroute_llm.providers.direct import Answer, DirectPost, direct_post
from smartroute_llm.providers.errors import error_from_exception, error_from_response, malformed
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta
from smartroute_llm.streaming import ChunkAccumulator
from smartroute_llm.target import NO_LIMITS, AttemptOptions, TargetIdentity

logger = logging.getLogger("smartroute.providers")

TransportName = Literal["aiohttp", "httpx"]


DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(
    max_connections=1024, max_keepalive_connections=512, keepalive_expiry=30.0
)


def copy_options(request: ChatRequest, body: dict[str, Any], names: Mapping[str, str]) -> None:
    """Copy the request's optional generation settings that are set (``max_output_tokens``,
    ``stop``, ``temperature``, ``top_p``, ``seed``) into ``body`` under the vendor's names."""
    for field, key in names.items():
        value = getattr(request, field)
        if value is not None and value != []:
            body[key] = value


class StreamParser(Protocol):
    """Turns one vendor's SSE events into neutral chunks; one instance per stream. The
    built-in ones are :class:`StreamText` parsers, which can also fold their output into an
    answer being collected instead of returning chunks."""

    done: bool
    received_content: bool

    @property
    def text(self) -> str: ...

    def feed(self, event: str, data: str) -> list[ChatChunk]: ...

    def finish(self) -> ChatChunk: ...


class StreamText:
    """What the stream parsers share: decoding one event's JSON, where their output goes
    (chunks, or folded into ``into``), and the text seen so far, kept as pieces (``text +=
    piece`` on an attribute copies the whole text per event, quadratic on a long or hostile
    stream). A parser implements :meth:`take` for one decoded event."""

    _pieces: list[str]
    done: bool
    into: Fold | None = None
    # data that ends the stream without being JSON (OpenAI's "[DONE]")
    terminator: ClassVar[str | None] = None
    not_json: ClassVar[str] = "stream event is not JSON"

    def feed(self, event: str, data: str) -> list[ChatChunk]:
        end = self.terminator
        if end is not None and data.startswith(end):
            self.done = True
            return []
        if not data or data.isspace():
            return []
        try:
            obj = jsoncodec.loads(data)
        except (ValueError, RecursionError):
            raise malformed(self.not_json) from None
        return self.take(event, obj)

    def take(self, event: str, obj: Any) -> list[ChatChunk]:
        """The chunks of one event, decoded from JSON."""
        raise NotImplementedError

    # Output goes out through these: as a chunk appended to ``out`` (built with the same fields
    # as always), or folded into ``into`` when set. A value a chunk would refuse (a text that is
    # not a string) goes through a chunk even then, so a collected answer fails where a
    # streamed one does.

    def emit(
        self, out: list[ChatChunk], text: Any, reasoning: str, deltas: list[ToolCallDelta]
    ) -> None:
        into = self.into
        if into is None or type(text) is not str:
            chunk = ChatChunk(text=text, reasoning=reasoning, tool_call_deltas=deltas)
            if into is None:
                out.append(chunk)
                return
            text = chunk.text
        into.fold(text, reasoning, deltas)

    def emit_text(self, out: list[ChatChunk], text: str) -> None:
        if self.into is None:
            out.append(ChatChunk(text=text))
        else:
            self.into.fold(text)

    def emit_reasoning(self, out: list[ChatChunk], reasoning: str) -> None:
        if self.into is None:
            out.append(ChatChunk(reasoning=reasoning))
        else:
            self.into.fold("", reasoning)

    def emit_tools(self, out: list[ChatChunk], deltas: list[ToolCallDelta]) -> None:
        if self.into is None:
            out.append(ChatChunk(tool_call_deltas=deltas))
        else:
            self.into.fold("", "", deltas)

    def _add_text(self, piece: str) -> None:
        try:
            self._pieces.append(piece)
        except AttributeError:
            self._pieces = [piece]

    @property
    def text(self) -> str:
        pieces: list[str] | None = getattr(self, "_pieces", None)
        if not pieces:
            return ""
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0]


class WireFormat(Protocol):
    """One vendor's HTTP dialect, as pure functions shared by the sync and async paths."""

    def url(self, base_url: str, model: str, stream: bool) -> str: ...

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, request: ChatRequest, model: str, stream: bool) -> dict[str, Any]: ...

    def parse(self, data: Any) -> ChatResponse: ...

    def stream_parser(self, model: str) -> StreamParser: ...


class MissingAPIKeyError(ProviderError, ConfigurationError):
    """No API key for a target. It is a :class:`ConfigurationError` for callers, and an
    authentication failure for the router, which falls back to targets that have keys."""

    kind = ErrorKind.AUTHENTICATION


def check_base_url(value: object, where: str) -> str:
    """A base URL, or a :class:`ConfigurationError` naming the field."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{where}: base_url={value!r} must be a string starting with http:// or https://"
        )
    return value


def check_timeout(value: object, where: str) -> httpx.Timeout:
    """A target's default timeout: ``None`` (the default), seconds, or an ``httpx.Timeout``
    whose phases are each ``None`` or finite and positive."""
    if value is None:
        return DEFAULT_TIMEOUT
    phases: dict[str, Any] = (
        dict(value.as_dict()) if isinstance(value, httpx.Timeout) else {"timeout": value}
    )
    for phase, seconds in phases.items():
        ok = seconds is None or (
            isinstance(seconds, int | float) and not isinstance(seconds, bool)
            and math.isfinite(seconds) and seconds > 0
        )
        if not ok:
            field = "timeout" if phase == "timeout" else f"timeout.{phase}"
            raise ConfigurationError(
                f"{where}: {field}={seconds!r} must be a finite number of seconds > 0 "
                "(or an httpx.Timeout of such values)"
            )
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)  # type: ignore[arg-type]


def resolve_key(api_key: str | SecretStr | None) -> SecretStr | None:
    if api_key is None or isinstance(api_key, SecretStr):
        return api_key
    if not isinstance(api_key, str):
        raise ConfigurationError("api_key: must be a string or pydantic.SecretStr")
    return SecretStr(api_key)


class HTTPTarget(TargetIdentity):
    """A model served over HTTP. Subclasses set ``wire`` and ``vendor``.

    ``limits`` sizes the connection pool (default: up to 1,024 connections, enough for a few
    hundred concurrent calls); ``timeout`` is the default per-request ``httpx.Timeout``, narrowed
    per attempt by the router's :class:`AttemptOptions`. ``client``/``async_client`` let callers
    bring their own configured clients (proxies, mTLS); those are never closed here.
    ``log_bodies=True`` logs request and response bodies at DEBUG (never headers or keys).
    ``max_response_bytes`` bounds a decoded answer (default 32 MB; see :mod:`.body`).
    ``extra_body`` adds vendor fields the neutral request has no name for to every request body
    (e.g. Anthropic's ``{"thinking": {"type": "enabled", "budget_tokens": 2048}}``); nested
    objects are merged with the ones built from the request, other values replace them.
    """

    # acomplete() bounds the request by options.timeout itself (aiohttp's total timer on the
    # direct path, asyncio.timeout on httpx's), so the router need not
    enforces_attempt_timeout: ClassVar[bool] = True
    # stream()/astream() take into= (the router's non-streaming calls read as streams fold
    # the answer there); off for a subclass that replaces either without saying it takes it
    collects_into: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if ("stream" in own or "astream" in own) and "collects_into" not in own:
            cls.collects_into = False

    wire: WireFormat
    vendor: ClassVar[str] = ""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        name: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        key_required: bool = True,
        capability: ProviderCapability | None = None,
        provider: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
        limits: httpx.Limits | None = None,
        transport: TransportName = "aiohttp",
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        log_bodies: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        vendor_key_env: str | None = None,
        vendor_base_url: str | None = None,
    ) -> None:
        where = type(self).__name__
        if not model or not isinstance(model, str):
            raise ConfigurationError(f"{where}: model must be a non-empty string")
        if transport not in ("aiohttp", "httpx"):
            raise ConfigurationError(
                f"{type(self).__name__}: transport={transport!r}; use 'aiohttp' (default) or "
                "'httpx'"
            )
        check_base_url(base_url, where)
        self._model = model
        self._name = name or model
        self.base_url = base_url.rstrip("/")
        self._api_key = resolve_key(api_key)
        self.key_required = key_required
        self.api_key_env = keys.bind(
            where, self.base_url, api_key_set=self._api_key is not None,
            api_key_env=api_key_env, vendor_key_env=vendor_key_env,
            vendor_base_url=vendor_base_url, key_required=key_required,
        )
        self.max_response_bytes = check_limit(max_response_bytes, where)
        self.provider = provider or self.vendor
        self._capability = (
            capability or catalog.lookup(model) or ProviderCapability(provider=self.provider)
        )
        self.extra_headers = dict(headers or {})
        self.timeout = check_timeout(timeout, where)
        self.limits = limits or DEFAULT_LIMITS
        self.transport = transport
        self.log_bodies = log_bodies
        if extra_body is not None and not isinstance(extra_body, Mapping):
            raise ConfigurationError(
                f"{type(self).__name__}: extra_body must be a mapping of body fields, "
                f"got {type(extra_body).__name__}"
            )
        self.extra_body = dict(extra_body or {})
        self._own_client = client is None
        self._own_async = async_client is None
        self._client = client
        self._user_async = async_client
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncPool]
        self._aclients = weakref.WeakKeyDictionary()
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]
        self._closers = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._headers: keys.SecretHeaders | None = None
        self._stream_headers = keys.SecretHeaders()
        self._timeouts: dict[AttemptOptions, httpx.Timeout] = {}
        self._finalizers: list[weakref.finalize[Any, Any]] = []
        forks.register(self)
        # parsed once: httpx re-parses a str URL on every request
        self._urls = (
            httpx.URL(self.wire.url(self.base_url, model, False)),
            httpx.URL(self.wire.url(self.base_url, model, True)),
        )

    # --- identity -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, model={self._model!r}, "
            f"base_url={self.base_url!r})"
        )

    # --- configuration resolved at call time ----------------------------------------------

    def _key(self) -> str | None:
        if self._api_key is None and self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value:
                self._api_key = SecretStr(value)
        if self._api_key is None:
            if self.key_required:
                where = (
                    f"set the {self.api_key_env} environment variable or pass api_key="
                    if self.api_key_env else "pass api_key="
                )
                raise MissingAPIKeyError(
                    f"{type(self).__name__} target {self._name!r}: no API key; {where}",
                    target=self._name, model=self._model,
                )
            return None
        return self._api_key.get_secret_value()

    def _request_headers(self, stream: bool = False) -> keys.SecretHeaders:
        """The headers of a request (one cached dict each for plain and streamed calls)."""
        headers = self._headers
        if headers is None:
            headers = keys.SecretHeaders({
                "content-type": "application/json",
                "accept-encoding": ACCEPT_ENCODING,
                **self.wire.headers(self._key()),
                **self.extra_headers,
            })
            self._stream_headers = keys.SecretHeaders({**headers, "accept": "text/event-stream"})
            self._headers = headers
        return self._stream_headers if stream else headers

    def _timeout_for(self, options: AttemptOptions) -> httpx.Timeout:
        cached = self._timeouts.get(options)
        if cached is not None:
            return cached
        d = self.timeout
        read = options.read_timeout if options.read_timeout is not None else d.read
        if options.timeout is not None:
            read = options.timeout if read is None else min(read, options.timeout)
        connect = options.connect_timeout if options.connect_timeout is not None else d.connect
        if options.timeout is not None and connect is not None:
            connect = min(connect, options.timeout)
        pool = d.pool
        if options.timeout is not None:
            pool = options.timeout if pool is None else min(pool, options.timeout)
        t = httpx.Timeout(connect=connect, read=read, write=d.write, pool=pool)
        if len(self._timeouts) < 64:
            self._timeouts[options] = t
        return t

    # --- clients --------------------------------------------------------------------------

    def _sync_client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(timeout=self.timeout, limits=self.limits)
                client = self._client
        return client

    def _async_client(self) -> httpx.AsyncClient:
        return self._async_pool()[0]

    def _async_pool(self) -> _AsyncPool:
        """This loop's client, and its direct POST when the target built the client."""
        if self._user_async is not None:
            return self._user_async, None
        loop = asyncio.get_running_loop()
        pool = self._aclients.get(loop)
        if pool is None:
            for dead in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[dead]
            self._finalizers = [f for f in self._finalizers if _pending(f)]
            pool = self._new_async_pool()
            self._aclients[loop] = pool
            self._closers[loop] = _close_at_loop_shutdown(pool[0])
            self._finalizers.append(
                weakref.finalize(self, _close_when_dropped, weakref.ref(loop), pool[0])
            )
        return pool

    def _new_async_pool(self) -> _AsyncPool:
        if self.transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=self.limits)
            client = httpx.AsyncClient(transport=transport, timeout=self.timeout)
            return client, direct_post(client, transport)
        return httpx.AsyncClient(timeout=self.timeout, limits=self.limits), None

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's clients and locks (never close them: the
        sockets are the parent's). A client the caller passed in is kept: it is theirs."""
        self._lock = threading.Lock()
        if self._own_client:
            self._client = None
        self._aclients = weakref.WeakKeyDictionary()
        self._closers = weakref.WeakKeyDictionary()
        for fin in self._finalizers:
            fin.detach()
        self._finalizers = []

    def close(self) -> None:
        """Close the sync client (if this target created it)."""
        client, self._client = self._client, None
        if client is not None and self._own_client:
            client.close()
        elif client is not None:
            self._client = client

    async def aclose(self) -> None:
        """Close this loop's async client (if this target created it) and the sync client."""
        self.close()
        if self._user_async is not None:
            return
        loop = asyncio.get_running_loop()
        pool = self._aclients.pop(loop, None)
        if pool is not None:
            await pool[0].aclose()

    def __enter__(self) -> HTTPTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> HTTPTarget:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- shared steps ---------------------------------------------------------------------

    def _scrub(self, err: ProviderError) -> ProviderError:
        """Vendors sometimes quote the key back in an auth error; never pass it on."""
        err.target = self._name
        err.model = err.model or self._model
        key = self._api_key.get_secret_value() if self._api_key is not None else ""
        if key:
            for attr in ("message", "provider_message"):
                value = getattr(err, attr)
                if value and key in value:
                    setattr(err, attr, value.replace(key, "***"))
            err.args = (err.message,)
        return err

    def _prepare(
        self, request: ChatRequest, stream: bool
    ) -> tuple[httpx.URL, bytes, dict[str, str]]:
        headers = self._request_headers(stream)
        err: ProviderError | None = None
        try:
            body = self.wire.body(request, self._model, stream)
            if self.extra_body:
                _merge(body, self.extra_body)
            content = jsoncodec.dumps(body)
        except ProviderError:
            raise
        except Exception as exc:  # the caller's input, not the provider: neutral to breakers
            err = self._scrub(provider_error(
                ErrorKind.INVALID_REQUEST,
                f"cannot build the request body: {type(exc).__name__}: {exc}"[:500],
            ))
        if err is not None:
            raise err
        if self.log_bodies and logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s request body: %s", self._name, content.decode())
        return self._urls[stream], content, headers

    def _parse(self, response: httpx.Response | Answer, started: float) -> ChatResponse:
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s POST %s -> HTTP %d in %.1f ms", self._name, self._urls[0].path, status,
                (time.perf_counter() - started) * 1000,
            )
        if status >= 300:
            assert isinstance(response, httpx.Response)  # DirectPost answers errors in full
            raise self._scrub(error_from_response(response))
        content = response.content
        if self.log_bodies and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s response body: %s", self._name, content[:4000].decode("utf-8", "replace")
            )
        if not content.strip():
            raise self._scrub(malformed(f"empty body with HTTP {status}", status=status))
        try:
            data = jsoncodec.loads(content)
        except (ValueError, RecursionError) as exc:
            bad: ProviderError | None = malformed(
                f"body is not JSON (HTTP {status}): {type(exc).__name__}", status=status
            )
        else:
            bad = None
        if bad is not None:
            raise self._scrub(bad)
        try:
            resp = self.wire.parse(data)
        except ProviderError as err:
            err.status_code = err.status_code or status
            raise self._scrub(err) from None
        except (ValueError, TypeError, RecursionError) as exc:
            bad = malformed(f"unexpected answer shape: {type(exc).__name__}: {exc}"[:300],
                            status=status)
        if bad is not None:
            raise self._scrub(bad)
        if resp.model is None:
            resp.model = self._model
        return resp

    def _stream_error(self, response: httpx.Response) -> ProviderError:
        if response.status_code >= 300:
            return self._scrub(error_from_response(response))
        ctype = response.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            content = response.content
            if content.strip():
                try:
                    self.wire.parse(jsoncodec.loads(content))
                except ProviderError as err:
                    err.status_code = err.status_code or response.status_code
                    return self._scrub(err)
                except (ValueError, TypeError, RecursionError):
                    pass
            return self._scrub(
                malformed(f"expected an event stream, got content-type {ctype!r}",
                          status=response.status_code)
            )
        raise AssertionError("unreachable")

    def _transport_error(
        self, exc: BaseException, *, streaming: bool = False, parser: StreamParser | None = None,
        options: AttemptOptions = NO_LIMITS, deadline: float | None = None,
    ) -> ProviderError:
        """The error for a transport failure; its chain is cut (raise it outside the
        ``except``): httpx and aiohttp exceptions hold the request and its headers."""
        if deadline is not None and time.monotonic() >= deadline:
            return self._scrub(deadline_error(options.timeout, streaming))
        return self._scrub(
            error_from_exception(
                exc, streaming=streaming,
                received_content=parser.received_content if parser else False,
                partial_text=parser.text if parser else "",
            )
        )

    @property
    def _stream_limit(self) -> int:
        return self.max_response_bytes * STREAM_FACTOR

    def _check_declared(self, response: httpx.Response, limit: int) -> None:
        """Refuse at once a body whose declared length is over the limit."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise self._scrub(too_large(limit))

    def _read_sync(
        self, response: httpx.Response, options: AttemptOptions, deadline: float | None
    ) -> bytes:
        limit = self.max_response_bytes
        self._check_declared(response, limit)
        if response.is_stream_consumed:  # a transport that answered in memory (mock, custom)
            return self._in_memory(response, limit)
        decoder = Decoder(response.headers.get("content-encoding"), limit)
        parts: list[bytes] = []
        for raw in response.iter_raw():
            parts += decoder.feed(raw)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._scrub(deadline_error(options.timeout))
        parts += decoder.flush()
        if deadline is not None and time.monotonic() >= deadline:
            raise self._scrub(deadline_error(options.timeout))
        return b"".join(parts)

    async def _read_async(self, response: httpx.Response) -> bytes:
        """The body of an ``httpx`` response, bounded (the caller bounds the time)."""
        limit = self.max_response_bytes
        self._check_declared(response, limit)
        if response.is_stream_consumed:
            return self._in_memory(response, limit)
        decoder = Decoder(response.headers.get("content-encoding"), limit)
        parts: list[bytes] = []
        async for raw in response.aiter_raw():
            parts += decoder.feed(raw)
        parts += decoder.flush()
        return b"".join(parts)

    def _in_memory(self, response: httpx.Response, limit: int) -> bytes:
        content = response.content
        if len(content) > limit:
            raise self._scrub(too_large(limit))
        return content

    def _answer(self, response: httpx.Response, body: bytes) -> httpx.Response | Answer:
        if response.status_code >= 300:
            return as_response(response.status_code, response.headers, body)
        return Answer(response.status_code, body)

    @contextlib.contextmanager
    def _exchange(
        self, client: httpx.Client, url: httpx.URL, content: bytes, headers: Mapping[str, str],
        options: AttemptOptions, deadline: float | None,
    ) -> Iterator[httpx.Response]:
        """A sync POST whose phases together end by ``deadline``: each phase's timeout is
        clipped to the time left when it starts, and the socket is shut down at the deadline
        while the body is read. The response is always closed."""
        req = client.build_request(
            "POST", url, content=content, headers=headers, timeout=self._timeout_for(options)
        )
        if deadline is not None:
            req.extensions["timeout"] = _TimeLeft(req.extensions["timeout"], deadline)
        response = client.send(req, stream=True)
        watch = None
        try:
            if deadline is not None:
                sock = watchdog.socket_of(response.extensions)
                if sock is not None:
                    watch = watchdog.watch(deadline, sock)
            yield response
        finally:
            if watch is not None:
                watch.cancel()
            response.close()

    # --- sync -----------------------------------------------------------------------------

    def complete(self, request: ChatRequest, options: AttemptOptions = NO_LIMITS) -> ChatResponse:
        url, content, headers = self._prepare(request, False)
        client = self._sync_client()
        started = time.perf_counter()
        deadline = _deadline_of(options)
        failed: ProviderError | None = None
        try:
            with self._exchange(client, url, content, headers, options, deadline) as response:
                answer = self._answer(response, self._read_sync(response, options, deadline))
        except httpx.HTTPError as exc:
            failed = self._transport_error(exc, options=options, deadline=deadline)
        except ProviderError as err:  # its frames may hold a body up to the limit: drop them
            failed = self._scrub(err).with_traceback(None)
        if failed is not None:
            raise failed
        return self._parse(answer, started)

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS, *,
        into: ChunkAccumulator | None = None,
    ) -> Iterator[ChatChunk]:
        """The answer as chunks; with ``into``, an answer collected rather than streamed
        (see :class:`_Events`)."""
        url, content, headers = self._prepare(request, True)
        client = self._sync_client()
        parser = self.wire.stream_parser(self._model)
        deadline = _deadline_of(options)
        failed: ProviderError | None = None
        try:
            with self._exchange(client, url, content, headers, options, deadline) as response:
                if not _is_event_stream(response):
                    body = self._read_sync(response, options, deadline)
                    raise self._stream_error(self._as_full(response, body))
                events = _Events(self, parser, _encoding(response), into)
                for raw in _raw(response):
                    yield from events.chunks(raw)
                    if parser.done:
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        raise self._scrub(deadline_error(options.timeout, True))
                if not parser.done and deadline is not None and time.monotonic() >= deadline:
                    raise self._scrub(deadline_error(options.timeout, True))
        except httpx.HTTPError as exc:
            failed = self._transport_error(
                exc, streaming=True, parser=parser, options=options, deadline=deadline
            )
        except ProviderError as err:  # its frames may hold a body up to the limit: drop them
            failed = self._scrub(err).with_traceback(None)
        if failed is not None:
            raise failed
        try:
            final = parser.finish()
        except ProviderError as err:
            raise self._scrub(err) from None
        if into is None:
            yield final
        else:
            into.add(final)

    def _feed(
        self, parser: StreamParser, event: str, data: str, size: AnswerSize
    ) -> list[ChatChunk]:
        try:
            return size.take(parser.feed(event, data))
        except ProviderError as err:
            raise self._scrub(err) from None
        except (ValueError, TypeError, RecursionError) as exc:
            bad = malformed(f"unexpected stream event: {type(exc).__name__}: {exc}"[:300])
        raise self._scrub(bad)

    def _as_full(self, response: httpx.Response, body: bytes) -> httpx.Response:
        return as_response(response.status_code, response.headers, body)

    # --- async ----------------------------------------------------------------------------

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse:
        url, content, headers = self._prepare(request, False)
        client, direct = self._async_pool()
        timeout = self._timeout_for(options)
        started = time.perf_counter()
        failed: ProviderError | None = None
        try:
            if direct is not None:  # bounded by aiohttp's own total timer: one timer, not two
                response = await direct.post(
                    url, content, headers, timeout, self.max_response_bytes, options.timeout
                )
            elif options.timeout is None:
                response = await self._apost(client, url, content, headers, timeout)
            else:
                async with asyncio.timeout(options.timeout):
                    response = await self._apost(client, url, content, headers, timeout)
        except (httpx.HTTPError, TimeoutError) as exc:
            failed = self._transport_error(exc)
        except ProviderError as err:  # its frames may hold a body up to the limit: drop them
            failed = self._scrub(err).with_traceback(None)
        if failed is not None:
            raise failed
        return self._parse(response, started)

    async def _apost(
        self, client: httpx.AsyncClient, url: httpx.URL, content: bytes,
        headers: Mapping[str, str], timeout: httpx.Timeout,
    ) -> httpx.Response | Answer:
        req = client.build_request("POST", url, content=content, headers=headers,
                                   timeout=timeout)
        response = await client.send(req, stream=True)
        try:
            return self._answer(response, await self._read_async(response))
        finally:
            await response.aclose()

    async def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS, *,
        into: ChunkAccumulator | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """The answer as chunks; with ``into``, an answer collected rather than streamed
        (see :class:`_Events`)."""
        url, content, headers = self._prepare(request, True)
        client, direct = self._async_pool()
        parser = self.wire.stream_parser(self._model)
        deadline = _deadline_of(options)
        failed: ProviderError | None = None
        timeout = self._timeout_for(options)
        try:
            src = (
                direct.stream(url, content, headers, timeout, options.timeout,
                              self.max_response_bytes)
                if direct is not None
                else self._ahttpx_stream(client, url, content, headers, timeout, deadline)
            )
            try:
                head = await anext(src)
                if isinstance(head, httpx.Response):  # not an event stream: the whole answer
                    raise self._stream_error(head)
                events = _Events(self, parser, head or None, into)  # type: ignore[arg-type]
                async for raw in src:
                    for chunk in events.chunks(raw):  # type: ignore[arg-type]
                        yield chunk
                    if parser.done:
                        break
            finally:
                await src.aclose()
        except (httpx.HTTPError, TimeoutError) as exc:
            failed = self._transport_error(
                exc, streaming=True, parser=parser, options=options, deadline=deadline
            )
        except ProviderError as err:  # its frames may hold a body up to the limit: drop them
            failed = self._scrub(err).with_traceback(None)
        if failed is not None:
            raise failed
        try:
            final = parser.finish()
        except ProviderError as err:
            raise self._scrub(err) from None
        if into is None:
            yield final
        else:
            into.add(final)

    async def _ahttpx_stream(
        self, client: httpx.AsyncClient, url: httpx.URL, content: bytes,
        headers: Mapping[str, str], timeout: httpx.Timeout, deadline: float | None,
    ) -> AsyncGenerator[httpx.Response | str | bytes, None]:
        """A stream through ``client``, in :meth:`DirectPost.stream`'s shape: the content
        coding then raw bytes, or the whole answer when it is not an event stream. Each read
        (never a yield) ends by ``deadline``."""
        req = client.build_request("POST", url, content=content, headers=headers,
                                   timeout=timeout)
        async with _until(deadline):
            response = await client.send(req, stream=True)
        raws: AsyncGenerator[bytes, None] | None = None
        try:
            if not _is_event_stream(response):
                async with _until(deadline):
                    body = await self._read_async(response)
                yield self._as_full(response, body)
                return
            yield _encoding(response) or ""
            raws = _araw(response)
            while True:
                async with _until(deadline):
                    raw = await anext(raws, None)
                if raw is None:
                    return
                yield raw
        finally:
            if raws is not None:
                await raws.aclose()
            await response.aclose()


_AsyncPool = tuple[httpx.AsyncClient, DirectPost | None]


class _Events:
    """One event stream's body as it is read, for :meth:`HTTPTarget.stream` and
    :meth:`HTTPTarget.astream` alike: raw bytes in, decoded and bounded, chunks out.

    Given ``into`` (an answer collected, not streamed), every chunk goes there, and only
    those up to the first with output are also handed out: the caller times the first token
    by them, and needs nothing after it but the end. From then on the wire's parser (when it
    is a :class:`StreamText`) folds its output into ``into`` itself, so the rest of the
    answer costs no chunk, no generator step and no timer per event; what ends the stream,
    bounds it or fails it is the same, event by event."""

    __slots__ = ("decoder", "feed", "folding", "into", "parser", "size", "sse")

    def __init__(
        self, target: HTTPTarget, parser: StreamParser, encoding: str | None,
        into: ChunkAccumulator | None,
    ) -> None:
        self.parser = parser
        self.decoder = Decoder(encoding, target._stream_limit)
        self.sse = SSEReader(target.max_response_bytes)
        self.size = AnswerSize(target.max_response_bytes)
        self.feed = target._feed
        self.into = into
        self.folding = False

    def chunks(self, raw: bytes) -> Iterator[ChatChunk]:
        """The chunks in ``raw`` to hand out; stops early when the answer is done."""
        parser, feed, size, into = self.parser, self.feed, self.size, self.into
        for piece in self.decoder.feed(raw):
            for event, data in self.sse.feed(piece):
                for chunk in feed(parser, event, data, size):
                    if into is None:
                        yield chunk
                        continue
                    into.add(chunk)
                    if not self.folding:
                        yield chunk
                        if chunk.has_output:
                            self._fold(into)
                if parser.done:
                    return

    def _fold(self, into: ChunkAccumulator) -> None:
        self.folding = True
        self.size.into = into
        if isinstance(self.parser, StreamText):
            self.parser.into = self.size


class _TimeLeft(dict[str, Any]):
    """httpx's per-phase timeouts, each clipped to the time left before ``deadline`` when
    httpcore reads it (as it starts waiting for a pool slot, connecting, writing, reading)."""

    __slots__ = ("_deadline",)

    def __init__(self, phases: Mapping[str, Any], deadline: float) -> None:
        super().__init__(phases)
        self._deadline = deadline

    def get(self, key: str, default: Any = None) -> Any:
        value = super().get(key, default)
        left = max(0.001, self._deadline - time.monotonic())
        return left if value is None else min(value, left)


def _encoding(response: httpx.Response) -> str | None:
    """The body's content coding as we will see it (none once httpx has decoded it)."""
    return None if response.is_stream_consumed else response.headers.get("content-encoding")


def _raw(response: httpx.Response) -> Iterator[bytes]:
    return iter((response.content,)) if response.is_stream_consumed else response.iter_raw()


async def _araw(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    if response.is_stream_consumed:  # answered in memory (a mock or custom transport)
        yield response.content
        return
    async for raw in response.aiter_raw():
        yield raw


def _deadline_of(options: AttemptOptions) -> float | None:
    return None if options.timeout is None else time.monotonic() + options.timeout


def _is_event_stream(response: httpx.Response) -> bool:
    return response.status_code < 300 and "text/event-stream" in response.headers.get(
        "content-type", ""
    )


def _until(deadline: float | None) -> Any:
    """``asyncio.timeout`` at ``deadline`` (a ``time.monotonic()`` value), or no bound."""
    if deadline is None:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    return asyncio.timeout_at(loop.time() + (deadline - time.monotonic()))


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """``extra`` into ``body``: nested objects are merged, any other value replaces."""
    for key, value in extra.items():
        mine = body.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            mine = body[key] = dict(mine)
            _merge(mine, value)
        else:
            body[key] = value


_CLOSING: set[asyncio.Task[None]] = set()


def _pending(fin: weakref.finalize[Any, Any]) -> bool:
    """Whether a drop-finalizer still has an open client on a live loop (else detach it)."""
    info = fin.peek()
    if info is None:
        return False
    loop, client = info[2][0](), info[2][1]
    if loop is None or loop.is_closed() or client.is_closed:
        fin.detach()
        return False
    return True


def _close_when_dropped(
    loop_ref: weakref.ref[asyncio.AbstractEventLoop], client: httpx.AsyncClient
) -> None:
    """A target dropped without ``aclose()`` while its loop runs: close its client on that
    loop. Called by ``weakref.finalize`` before the garbage cycle holding the target is freed,
    and the finalizer (not the target) holds the client, so aiohttp never finds its session
    unclosed (which it reports as "Unclosed client session")."""
    loop = loop_ref()
    if loop is None or loop.is_closed() or client.is_closed:
        return

    def start() -> None:
        task = loop.create_task(client.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        if running is loop:
            start()
        else:
            loop.call_soon_threadsafe(start)
    except RuntimeError:  # the loop closed meanwhile; its shutdown closed the client
        pass


def _close_at_loop_shutdown(client: httpx.AsyncClient) -> Any:
    """Close ``client`` when its event loop shuts down (``asyncio.run`` ends), so a user who never
    calls ``aclose()`` gets no unclosed-session warnings and no leaked sockets.

    An async generator started on the loop is finalised by ``loop.shutdown_asyncgens()``; its
    ``finally`` closes the client. The caller keeps the generator alive (the loop holds it
    weakly), and the task that starts it."""

    async def closer() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    gen = closer()
    return gen, asyncio.ensure_future(gen.__anext__())
