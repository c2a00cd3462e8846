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
keep-alive are the session's. Streams, the ``transport="httpx"`` pool and a user's own client
still go through httpx.
"""

from __future__ import annotations

from collections.abc import Mapping

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


class DirectPost:
    """POST on ``transport``'s aiohttp session; ``client`` still owns (and closes) it."""

    __slots__ = (
        "_headers", "_own", "_timeout", "_timeouts", "_url_in", "_url_out", "client", "transport"
    )

    def __init__(self, client: httpx.AsyncClient, transport: AiohttpTransport) -> None:
        self.client = client
        self.transport = transport
        self._own: Mapping[str, str] | None = None
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._timeout: httpx.Timeout | None = None
        self._timeouts = aiohttp.ClientTimeout()
        self._url_in: httpx.URL | None = None
        self._url_out = URL()

    def _merged(self, headers: Mapping[str, str]) -> CIMultiDict[str]:
        if headers is not self._own:  # targets pass the same cached dict on every call
            merged = httpx.Headers(self.client.headers)
            merged.update(headers)
            self._own, self._headers = headers, CIMultiDict(merged.items())
        return self._headers

    def _client_timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        if timeout is not self._timeout:  # the transport's mapping of httpx's timeout phases
            self._timeout = timeout
            self._timeouts = aiohttp.ClientTimeout(
                sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
            )
        return self._timeouts

    def _url(self, url: httpx.URL) -> URL:
        if url is not self._url_in:  # targets pass the same parsed URL on every call
            self._url_in, self._url_out = url, URL(str(url))
        return self._url_out

    def _session(self) -> aiohttp.ClientSession:
        session = self.transport.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.transport.client = self.transport.get_client()
        return session

    async def post(
        self, url: httpx.URL, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout,
        limit: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> httpx.Response | Answer:
        """The answer, its body decoded as it arrives and refused past ``limit`` bytes."""
        if self.client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        try:
            async with self._session().request(
                "POST",
                self._url(url),
                headers=self._merged(headers),
                data=content,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._client_timeout(timeout),
            ) as response:
                status = response.status
                declared = response.content_length
                if declared is not None and declared > limit:
                    response.close()
                    raise too_large(limit)
                encoding = response.headers.get("Content-Encoding")
                try:
                    if declared is not None and not encoding:  # the common case: one read
                        parts = [await response.read()]
                    else:
                        decoder = Decoder(encoding, limit)
                        parts = []
                        async for raw in response.content.iter_any():
                            parts += decoder.feed(raw)
                        parts += decoder.flush()
                except ProviderError:
                    response.close()  # drop the connection: the rest is never read
                    raise
        except ProviderError:
            raise
        except Exception:
            assert map_aiohttp_exceptions is not None  # checked by direct_post
            with map_aiohttp_exceptions():  # the transport's mapping, paid only on failure
                raise
        body = b"".join(parts)
        if status >= 300:
            return as_response(status, response.raw_headers, body)  # type: ignore[arg-type]
        return Answer(status, body)
