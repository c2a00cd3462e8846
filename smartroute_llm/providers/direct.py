"""Non-streaming POSTs sent on the aiohttp session of a target's own httpx-aiohttp transport.

Measured under callgrind, a chat call through ``httpx.AsyncClient.post`` on that transport costs
about 1.3M client instructions, of which ~0.4M are the client's layers a target never uses (an
auth flow, redirect handling, event hooks, a cookie jar that rebuilds urllib request objects for
every response, a log record) and ~0.25M the transport's translation of an ``httpx.Request``
into an aiohttp call and of the body back through an async byte stream. Sending on the same
session does neither: the request carries the headers the httpx client would send (its
defaults merged case-insensitively), the transport's timeout mapping and exception mapping are
reused, and an error or a compressed body comes back as an ``httpx.Response`` built from the
status, raw headers and body (so error mapping and content decoding are httpx's as before); a
plain 2xx body, all the caller reads then, comes back as an :class:`Answer`. Bodies are
decoded here as they arrive, in bounded steps, and refused past the target's
``max_response_bytes`` (:mod:`smartroute_llm.providers.body`). Pool, limits and
keep-alive are the session's. Streams are sent on the same session (:meth:`DirectPost.stream`):
the caller reads raw bytes from the open answer and parses them with the same bounded decoder and
SSE reader as the httpx path; the stream's total time is aiohttp's ``total`` timeout, which bounds
every read without a timer per read. The ``transport="httpx"`` pool and a user's own client still
go through httpx.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDict
from yarl import URL

from smartroute_llm.errors import ProviderError
from smartroute_llm.providers.body import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Decoder,
    as_response,
    too_large,
)

try:  # the transport's own exception mapping; its module layout is not public API
    from httpx_aiohttp.transport import map_aiohttp_exceptions
except ImportError:  # pragma: no cover - another httpx-aiohttp layout: calls go through httpx
    map_aiohttp_exceptions = None  # type: ignore[assignment]


class Answer:
    """A 2xx answer with an unencoded body: its status and bytes."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content


def direct_post(client: httpx.AsyncClient, transport: AiohttpTransport) -> DirectPost | None:
    """A :class:`DirectPost` for this transport, or ``None`` when the installed httpx-aiohttp
    lacks the session hooks it relies on (then calls go through ``client.post`` as before)."""
    hooks = map_aiohttp_exceptions is not None and callable(getattr(transport, "get_client", None))
    if not hooks or not hasattr(transport, "client"):
        return None
    return DirectPost(client, transport)


_NO_HEADERS: tuple[Mapping[str, str] | None, CIMultiDict[str]] = (None, CIMultiDict())


class DirectPost:
    """POST on ``transport``'s aiohttp session; ``client`` still owns (and closes) it."""

    __slots__ = (
        "_headers", "_timeout", "_timeouts", "_total_timeouts", "_url_in", "_url_out",
        "client", "transport",
    )

    def __init__(self, client: httpx.AsyncClient, transport: AiohttpTransport) -> None:
        self.client = client
        self.transport = transport
        self._headers: dict[int, tuple[Mapping[str, str], CIMultiDict[str]]] = {}
        self._timeout: httpx.Timeout | None = None
        self._timeouts = aiohttp.ClientTimeout()
        self._url_in: httpx.URL | None = None
        self._url_out = URL()
        self._total_timeouts: dict[
            tuple[int, float | None], tuple[httpx.Timeout | None, aiohttp.ClientTimeout | None]
        ] = {}

    def _merged(self, headers: Mapping[str, str]) -> CIMultiDict[str]:
        # targets pass one of two cached dicts (plain, streaming) on every call
        own, merged = self._headers.get(id(headers), _NO_HEADERS)
        if own is not headers:
            full = httpx.Headers(self.client.headers)
            full.update(headers)
            merged = CIMultiDict(full.items())
            if len(self._headers) >= 8:
                self._headers.clear()
            self._headers[id(headers)] = (headers, merged)
        return merged

    def _client_timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        if timeout is not self._timeout:  # the transport's mapping of httpx's timeout phases
            self._timeout = timeout
            self._timeouts = aiohttp.ClientTimeout(
                sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
            )
        return self._timeouts

    def _total_timeout(self, timeout: httpx.Timeout, total: float | None) -> aiohttp.ClientTimeout:
        """The phases of ``timeout`` plus ``total``, never rounded up (aiohttp rounds totals of
        5 s or more to a whole second by default). A read timeout no shorter than the total
        could never fire first (it starts later): it is left out, which spares aiohttp a timer
        rescheduled on every read."""
        key = (id(timeout), total)  # targets pass the same Timeout per set of options
        seen, cached = self._total_timeouts.get(key, (None, None))
        if seen is not timeout or cached is None:
            read = timeout.read
            if total is not None and read is not None and read >= total:
                read = None
            cached = aiohttp.ClientTimeout(
                total=total, sock_connect=timeout.connect, sock_read=read,
                connect=timeout.pool, ceil_threshold=math.inf,
            )
            if len(self._total_timeouts) >= 64:  # a call deadline makes totals vary
                self._total_timeouts.clear()
            self._total_timeouts[key] = (timeout, cached)
        return cached

    def _url(self, url: httpx.URL) -> URL:
        if url is not self._url_in:  # targets pass the same parsed URL on every call
            self._url_in, self._url_out = url, URL(str(url))
        return self._url_out

    def _session(self) -> aiohttp.ClientSession:
        session = self.transport.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.transport.client = self.transport.get_client()
        return session

    def _send(
        self, url: httpx.URL, content: bytes, headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> Any:
        """The POST as aiohttp's request context: awaited for a stream, entered for a body.
        Bodies are passed through as they come (decoded by ``body.py`` within its limits)."""
        return self._session().request(
            "POST",
            self._url(url),
            headers=self._merged(headers),
            data=content,
            allow_redirects=False,
            auto_decompress=False,
            compress=False,
            timeout=timeout,
        )

    async def post(
        self, url: httpx.URL, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout,
        limit: int = DEFAULT_MAX_RESPONSE_BYTES, total: float | None = None,
    ) -> httpx.Response | Answer:
        """The answer, its body decoded as it arrives and refused past ``limit`` bytes, all
        within ``total`` seconds (aiohttp's own timer; it raises ``TimeoutError``, as
        ``asyncio.timeout`` would)."""
        if self.client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        try:
            limits = (
                self._client_timeout(timeout) if total is None
                else self._total_timeout(timeout, total)
            )
            async with self._send(url, content, headers, limits) as response:
                status = response.status
                body = await _read(response, limit)
        except ProviderError:
            raise
        except Exception:
            assert map_aiohttp_exceptions is not None  # checked by direct_post
            with map_aiohttp_exceptions():  # the transport's mapping, paid only on failure
                raise
        if status >= 300:
            return as_response(status, response.raw_headers, body)
        return Answer(status, body)

    async def stream(
        self, url: httpx.URL, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout,
        total: float | None, limit: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> AsyncGenerator[httpx.Response | str | bytes, None]:
        """An event stream: first its content coding (a ``str``, ``""`` for none), then the raw
        body as it arrives; or, when the answer is not a 2xx event stream, only the answer as
        an ``httpx.Response`` (its body read within ``limit``, for error mapping). All within
        ``total`` seconds from now; transport errors are httpx's, as for :meth:`post`. Closing
        the generator releases the connection (or drops it when the body was not read to its
        end)."""
        if self.client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response: aiohttp.ClientResponse | None = None
        try:
            try:
                response = await self._send(
                    url, content, headers, self._total_timeout(timeout, total)
                )
                rh = response.headers
                if response.status >= 300 or "text/event-stream" not in rh.get("Content-Type", ""):
                    yield await self._full(response, limit)
                    return
                yield rh.get("Content-Encoding", "")
                read = response.content.readany
                while raw := await read():
                    yield raw
            except (ProviderError, GeneratorExit):
                raise
            except Exception:
                assert map_aiohttp_exceptions is not None  # checked by direct_post
                with map_aiohttp_exceptions():
                    raise
        finally:
            if response is not None:
                response.release()

    async def _full(self, response: aiohttp.ClientResponse, limit: int) -> httpx.Response:
        body = await _read(response, limit)
        return as_response(response.status, response.raw_headers, body)  # type: ignore[arg-type]


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, decoded in bounded steps; past ``limit`` the connection is dropped."""
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        raise too_large(limit)
    encoding = response.headers.get("Content-Encoding")
    try:
        if declared is not None and not encoding:  # the common case: one read
            return await response.read()
        decoder = Decoder(encoding, limit)
        parts: list[bytes] = []
        async for raw in response.content.iter_any():
            parts += decoder.feed(raw)
        parts += decoder.flush()
    except ProviderError:
        response.close()  # drop the connection: the rest is never read
        raise
    return b"".join(parts)
