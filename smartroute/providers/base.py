"""What every HTTP vendor target shares: clients, keys, timeouts, error mapping, SSE loops.

A vendor is a :class:`WireFormat` (pure functions: request body, response and stream parsing)
plus an :class:`HTTPTarget` subclass naming it. The sync and async paths below are the only I/O;
both hand the same bytes to the same wire functions, so the two can never disagree.

Clients are created lazily and reused: one ``httpx.Client`` per target, and one
``httpx.AsyncClient`` per target *and running event loop* (an aiohttp session is bound to the
loop it was created on). The async default transport is ``httpx-aiohttp``, whose connection pool
costs far less CPU per request under concurrency than httpx's own; ``transport="httpx"`` selects
the plain httpx pool. Non-streaming calls on a target's own aiohttp-transport client go straight
to the transport (:mod:`smartroute.providers.direct`). Call :meth:`HTTPTarget.aclose` (or
``Router.aclose``) before a loop ends to release its connections.

API keys are :class:`pydantic.SecretStr`. A missing key is reported when a call is made, not at
construction, so targets can be built (and routes planned) on machines without keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Any, ClassVar, Literal, Protocol

import httpx
from httpx_sse import EventSource
from pydantic import SecretStr

from smartroute import catalog
from smartroute.capability import ProviderCapability
from smartroute.errors import ConfigurationError, ErrorKind, ProviderError, provider_error
from smartroute.providers.direct import Answer, DirectPost, direct_post
from smartroute.providers.errors import error_from_exception, error_from_response, malformed
from smartroute.request import ChatRequest
from smartroute.response import ChatChunk, ChatResponse
from smartroute.target import NO_LIMITS, AttemptOptions, TargetIdentity

logger = logging.getLogger("smartroute.providers")

TransportName = Literal["aiohttp", "httpx"]

# json.dumps with non-default options builds an encoder per call; this one is built once
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

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
    """Turns one vendor's SSE events into neutral chunks; one instance per stream."""

    done: bool
    text: str
    received_content: bool

    def feed(self, event: str, data: str) -> list[ChatChunk]: ...

    def finish(self) -> ChatChunk: ...


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
    ``extra_body`` adds vendor fields the neutral request has no name for to every request body
    (e.g. Anthropic's ``{"thinking": {"type": "enabled", "budget_tokens": 2048}}``); nested
    objects are merged with the ones built from the request, other values replace them.
    """

    # acomplete() wraps the request in asyncio.timeout(options.timeout), so the router need not
    enforces_attempt_timeout: ClassVar[bool] = True

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
    ) -> None:
        if not model or not isinstance(model, str):
            raise ConfigurationError(f"{type(self).__name__}: model must be a non-empty string")
        if transport not in ("aiohttp", "httpx"):
            raise ConfigurationError(
                f"{type(self).__name__}: transport={transport!r}; use 'aiohttp' (default) or "
                "'httpx'"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{type(self).__name__}: base_url={base_url!r} must start with http:// or https://"
            )
        self._model = model
        self._name = name or model
        self.base_url = base_url.rstrip("/")
        self._api_key = resolve_key(api_key)
        self.api_key_env = api_key_env
        self.key_required = key_required
        self.provider = provider or self.vendor
        self._capability = (
            capability or catalog.lookup(model) or ProviderCapability(provider=self.provider)
        )
        self.extra_headers = dict(headers or {})
        self.timeout = (
            timeout if isinstance(timeout, httpx.Timeout)
            else DEFAULT_TIMEOUT if timeout is None
            else httpx.Timeout(timeout)
        )
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
        self._headers: dict[str, str] | None = None
        self._timeouts: dict[AttemptOptions, httpx.Timeout] = {}
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

    def _request_headers(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            headers = {
                "content-type": "application/json",
                **self.wire.headers(self._key()),
                **self.extra_headers,
            }
            self._headers = headers
        return headers

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
        t = httpx.Timeout(connect=connect, read=read, write=d.write, pool=d.pool)
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
            pool = self._new_async_pool()
            self._aclients[loop] = pool
            self._closers[loop] = _close_at_loop_shutdown(pool[0])
        return pool

    def _new_async_pool(self) -> _AsyncPool:
        if self.transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=self.limits)
            client = httpx.AsyncClient(transport=transport, timeout=self.timeout)
            return client, direct_post(client, transport)
        return httpx.AsyncClient(timeout=self.timeout, limits=self.limits), None

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
        headers = self._request_headers()
        body = self.wire.body(request, self._model, stream)
        if self.extra_body:
            _merge(body, self.extra_body)
        content = _ENCODE(body).encode()
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
            data = json.loads(content)
        except ValueError:
            raise self._scrub(
                malformed(f"body is not JSON (HTTP {status})", status=status)
            ) from None
        try:
            resp = self.wire.parse(data)
        except ProviderError as err:
            err.status_code = err.status_code or status
            raise self._scrub(err) from None
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
                    self.wire.parse(json.loads(content))
                except ProviderError as err:
                    err.status_code = err.status_code or response.status_code
                    return self._scrub(err)
                except ValueError:
                    pass
            return self._scrub(
                malformed(f"expected an event stream, got content-type {ctype!r}",
                          status=response.status_code)
            )
        raise AssertionError("unreachable")

    def _transport_error(
        self, exc: BaseException, *, streaming: bool = False, parser: StreamParser | None = None
    ) -> ProviderError:
        return self._scrub(
            error_from_exception(
                exc, streaming=streaming,
                received_content=parser.received_content if parser else False,
                partial_text=parser.text if parser else "",
            )
        )

    def _deadline_error(self, parser: StreamParser, limit: float) -> ProviderError:
        return self._scrub(provider_error(
            ErrorKind.TIMEOUT, f"attempt exceeded its {limit:g} s limit while streaming"
        ))

    # --- sync -----------------------------------------------------------------------------

    def complete(self, request: ChatRequest, options: AttemptOptions = NO_LIMITS) -> ChatResponse:
        url, content, headers = self._prepare(request, False)
        client = self._sync_client()
        started = time.perf_counter()
        try:
            response = client.post(
                url, content=content, headers=headers, timeout=self._timeout_for(options)
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self._parse(response, started)

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> Iterator[ChatChunk]:
        url, content, headers = self._prepare(request, True)
        client = self._sync_client()
        parser = self.wire.stream_parser(self._model)
        deadline = time.monotonic() + options.timeout if options.timeout is not None else None
        try:
            with client.stream(
                "POST", url, content=content, headers={**headers, "accept": "text/event-stream"},
                timeout=self._timeout_for(options),
            ) as response:
                if response.status_code >= 300 or "text/event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    response.read()
                    raise self._stream_error(response)
                for sse in EventSource(response).iter_sse():
                    try:
                        chunks = parser.feed(sse.event, sse.data)
                    except ProviderError as err:
                        raise self._scrub(err) from None
                    yield from chunks
                    if parser.done:
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        raise self._deadline_error(parser, options.timeout or 0.0)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, streaming=True, parser=parser) from exc
        try:
            yield parser.finish()
        except ProviderError as err:
            raise self._scrub(err) from None

    # --- async ----------------------------------------------------------------------------

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse:
        url, content, headers = self._prepare(request, False)
        client, direct = self._async_pool()
        timeout = self._timeout_for(options)
        started = time.perf_counter()
        try:
            post: Awaitable[httpx.Response | Answer] = (
                direct.post(url, content, headers, timeout) if direct is not None
                else client.post(url, content=content, headers=headers, timeout=timeout)
            )
            if options.timeout is None:
                response = await post
            else:
                async with asyncio.timeout(options.timeout):
                    response = await post
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc
        return self._parse(response, started)

    async def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> AsyncIterator[ChatChunk]:
        url, content, headers = self._prepare(request, True)
        client = self._async_client()
        parser = self.wire.stream_parser(self._model)
        deadline = time.monotonic() + options.timeout if options.timeout is not None else None
        try:
            async with client.stream(
                "POST", url, content=content, headers={**headers, "accept": "text/event-stream"},
                timeout=self._timeout_for(options),
            ) as response:
                if response.status_code >= 300 or "text/event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    await response.aread()
                    raise self._stream_error(response)
                events = EventSource(response).aiter_sse()
                try:
                    async for sse in events:
                        try:
                            chunks = parser.feed(sse.event, sse.data)
                        except ProviderError as err:
                            raise self._scrub(err) from None
                        for chunk in chunks:
                            yield chunk
                        if parser.done:
                            break
                        if deadline is not None and time.monotonic() > deadline:
                            raise self._deadline_error(parser, options.timeout or 0.0)
                finally:
                    await events.aclose()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, streaming=True, parser=parser) from exc
        try:
            yield parser.finish()
        except ProviderError as err:
            raise self._scrub(err) from None


_AsyncPool = tuple[httpx.AsyncClient, DirectPost | None]


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """``extra`` into ``body``: nested objects are merged, any other value replaces."""
    for key, value in extra.items():
        mine = body.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            mine = body[key] = dict(mine)
            _merge(mine, value)
        else:
            body[key] = value


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
