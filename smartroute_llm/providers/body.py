"""Reading a vendor's answer with bounds: bytes decoded, bytes per SSE event, and time.

A hostile or broken server can send a 256 MB body, a 0.5 MB gzip body that expands to 512 MB,
or an SSE line that never ends. Everything here counts *decoded* bytes as they are produced
(decompression is done in bounded steps, never in one call on a whole body) and refuses the
answer as ``malformed_response`` as soon as a limit is passed, so memory stays near the limit
whatever the server sends. Only ``identity``, ``gzip`` and ``deflate`` are accepted (targets ask
for exactly these in ``Accept-Encoding``): a decoder that cannot bound its output is not used.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from smartroute_llm.errors import ErrorKind, ProviderError, provider_error
from smartroute_llm.providers.errors import malformed

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "STREAM_FACTOR",
    "Decoder",
    "Fold",
    "SSEReader",
    "as_response",
    "check_limit",
    "deadline_error",
    "too_large",
]

DEFAULT_MAX_RESPONSE_BYTES = 32 << 20
# a stream may carry this many times max_response_bytes in total (SSE framing is verbose: a
# 100k-token answer is ~25 MB of events); each event alone is bounded by max_response_bytes
STREAM_FACTOR = 4
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 1 << 16
_LINE_END = re.compile(rb"\r\n|\r|\n")


def check_limit(value: object, where: str) -> int:
    """A ``max_response_bytes`` value, or a :class:`ConfigurationError` naming ``where``."""
    from smartroute_llm.errors import ConfigurationError

    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigurationError(
            f"{where}: max_response_bytes={value!r} must be an integer number of bytes >= 1024 "
            f"(default {DEFAULT_MAX_RESPONSE_BYTES}, 32 MB)"
        )
    return value


class Fold(Protocol):
    """Where a collected answer's output goes when no chunk is built for it: what
    :meth:`ChunkAccumulator.fold <smartroute_llm.streaming.ChunkAccumulator.fold>` takes."""

    def fold(
        self, text: str = "", reasoning: str = "", tool_call_deltas: Sequence[Any] = ()
    ) -> None: ...


class AnswerSize:
    """The streamed answer's own size (text, reasoning, tool-call arguments), bounded by
    ``max_response_bytes`` like a whole body: the stream's framing may be larger, the answer may
    not. Set ``into``, it is also a :class:`Fold`: output a parser folds rather than returns
    as chunks is counted the same way on its way there."""

    __slots__ = ("into", "limit", "used")

    def __init__(self, limit: int, into: Fold | None = None) -> None:
        self.limit = limit
        self.used = 0
        self.into = into

    def take(self, chunks: list[Any]) -> list[Any]:
        for c in chunks:
            self.used += len(c.text) + len(c.reasoning)
            for d in c.tool_call_deltas:
                self.used += len(d.arguments)
        if self.used > self.limit:
            raise too_large(self.limit, "streamed answer")
        return chunks

    def fold(
        self, text: str = "", reasoning: str = "", tool_call_deltas: Sequence[Any] = ()
    ) -> None:
        self.used += len(text) + len(reasoning)
        for d in tool_call_deltas:
            self.used += len(d.arguments)
        if self.used > self.limit:
            raise too_large(self.limit, "streamed answer")
        assert self.into is not None
        self.into.fold(text, reasoning, tool_call_deltas)


def too_large(limit: int, what: str = "response body") -> ProviderError:
    return malformed(
        f"{what} exceeds max_response_bytes={limit} (decoded); the answer was refused and "
        "the connection closed"
    )


def deadline_error(limit: float | None, streaming: bool = False) -> ProviderError:
    where = " while streaming" if streaming else ""
    return provider_error(
        ErrorKind.TIMEOUT, f"attempt exceeded its {limit or 0:g} s limit{where}"
    )


class Decoder:
    """Decodes a body as its raw bytes arrive; more than ``limit`` decoded (or raw) bytes in
    total raise :func:`too_large`."""

    __slots__ = ("_deflate", "_z", "limit", "raw", "total")

    def __init__(self, encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.raw = 0
        self._deflate = False
        self._z: zlib._Decompress | None = None
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise malformed(
                f"unsupported Content-Encoding {encoding!r}; smartroute accepts {ACCEPT_ENCODING}"
            )
        if codings[0] == "deflate":
            self._deflate = True  # zlib-wrapped or raw: decided on the first bytes
        else:
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)

    @property
    def identity(self) -> bool:
        return self._z is None and not self._deflate

    def feed(self, data: bytes) -> list[bytes]:
        self.raw += len(data)
        if self.raw > self.limit:
            raise too_large(self.limit)
        if self._deflate:
            self._deflate = False
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (
                (data[0] << 8) | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        z = self._z
        if z is None:
            self.total += len(data)
            if self.total > self.limit:
                raise too_large(self.limit)
            return [data]
        out = []
        try:
            while data:
                piece = z.decompress(data, _STEP)
                self.total += len(piece)
                if self.total > self.limit:
                    raise too_large(self.limit)
                if piece:
                    out.append(piece)
                data = z.unconsumed_tail
                if z.eof:
                    break
        except zlib.error:
            raise malformed("the compressed body is corrupt") from None
        return out

    def flush(self) -> list[bytes]:
        z = self._z
        if z is None:
            return []
        try:
            rest = z.flush(_STEP)
        except zlib.error:
            raise malformed("the compressed body is corrupt") from None
        self.total += len(rest)
        if self.total > self.limit:
            raise too_large(self.limit)
        return [rest] if rest else []


class SSEReader:
    """Server-sent events from decoded bytes, as ``(event, data)`` pairs. Comments (``:
    keepalive``) and ``id``/``retry`` fields give nothing. A pending line plus the event's data
    longer than ``limit`` bytes raise :func:`too_large`: a line without a newline cannot grow
    past it."""

    __slots__ = ("_buf", "_data", "_event", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if not self._buf and b"\r" not in chunk:  # whole lines, LF only: the common case
            lines = chunk.split(b"\n")
            rest = lines.pop()
            out: list[tuple[str, str]] = []
            line = self._line
            for raw in lines:
                # an event's end and "data: " lines (nearly all of them) without a call
                if not raw:
                    if self._data:
                        out.append((self._event or "message", "\n".join(self._data)))
                        self._event, self._data, self._size = "", [], 0
                    elif self._event:
                        self._event = ""
                elif raw[:6] == b"data: " and self._size + len(raw) - 5 <= self.limit:
                    self._data.append(raw[6:].decode("utf-8", "replace"))
                    self._size += len(raw) - 5
                else:
                    line(raw, out)
            if rest:
                self._buf += rest
                if len(rest) + self._size > self.limit:
                    raise too_large(self.limit, "an SSE event")
            return out
        return self._feed(chunk)

    def _feed(self, chunk: bytes) -> list[tuple[str, str]]:
        buf = self._buf
        scan = max(0, len(buf) - 1)  # the unfinished line was searched already (but a CR)
        buf += chunk
        out: list[tuple[str, str]] = []
        pos = 0
        while True:
            m = _LINE_END.search(buf, scan)
            if m is None or (m.group() == b"\r" and m.end() == len(buf)):
                break  # a lone CR at the end may be half of CRLF: wait for the next byte
            self._line(bytes(buf[pos : m.start()]), out)
            pos = scan = m.end()
        if pos:
            del buf[:pos]
        if len(buf) + self._size > self.limit:
            raise too_large(self.limit, "an SSE event")
        return out

    def _line(self, line: bytes, out: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                out.append((self._event or "message", "\n".join(self._data)))
            self._event, self._data, self._size = "", [], 0
            return
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
            self._size += len(value) + 1
            if self._size > self.limit:
                raise too_large(self.limit, "an SSE event")
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


def as_response(status: int, headers: Mapping[str, str] | httpx.Headers, body: bytes) -> (
    httpx.Response
):
    """An ``httpx.Response`` holding an already decoded ``body`` (for error mapping)."""
    kept = [(k, v) for k, v in httpx.Headers(headers).multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(status, headers=kept, content=body)


def left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (a ``time.monotonic()`` value), at least a millisecond."""
    return None if deadline is None else max(0.001, deadline - time.monotonic())
