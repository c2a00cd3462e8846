"""Non-streaming POSTs handed straight to a target's own httpx-aiohttp transport.

``httpx.AsyncClient.send`` wraps the transport in layers a target's own client never uses (an
auth flow, redirect handling, event hooks, a cookie jar that rebuilds urllib request objects for
every response, a log record per request); measured under callgrind they cost about 30% of a
request's client CPU. The request sent here is the one the client would send (its default
headers merged in the same case-insensitive way, the same timeout extension), on the same
transport and pool, and the response and exceptions are the same httpx types. A user's own client
always goes through ``send``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class DirectPost:
    """POST through ``client``'s transport; the client still owns (and closes) the pool."""

    __slots__ = ("_ext", "_headers", "_own", "_timeout", "client", "transport")

    def __init__(self, client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport) -> None:
        self.client = client
        self.transport = transport
        self._own: Mapping[str, str] | None = None
        self._headers = httpx.Headers()
        self._timeout: httpx.Timeout | None = None
        self._ext: dict[str, float | None] = {}

    def _merged(self, headers: Mapping[str, str]) -> httpx.Headers:
        if headers is not self._own:  # targets pass the same cached dict on every call
            merged = httpx.Headers(self.client.headers)
            merged.update(headers)
            self._own, self._headers = headers, merged
        return self._headers

    def _timeout_ext(self, timeout: httpx.Timeout) -> dict[str, float | None]:
        if timeout is not self._timeout:
            self._timeout, self._ext = timeout, timeout.as_dict()
        return self._ext

    async def post(
        self, url: httpx.URL, content: bytes, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> httpx.Response:
        if self.client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request = httpx.Request(
            "POST", url, content=content, headers=self._merged(headers),
            extensions={"timeout": self._timeout_ext(timeout)},
        )
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response
