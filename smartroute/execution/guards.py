"""The limits on one attempt's stream: time to first token, stalls, the attempt timeout and the
call deadline, enforced by the router whatever the target does itself."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from smartroute.decision import Attempt
from smartroute.errors import ErrorKind, ProviderError, provider_error
from smartroute.execution.call import Call
from smartroute.plan import Candidate
from smartroute.request import ChatRequest
from smartroute.response import ChatChunk, ChatResponse

log = logging.getLogger("smartroute")


class Box:
    """Where a guarded stream leaves its time to first token."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float | None = None


async def aguard(
    call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: Box
) -> AsyncGenerator[ChatChunk, None]:
    """The target's stream, bounded by TTFT, stall, attempt timeout and the deadline."""
    start = call.t0 + att.started_s
    it = c.target.astream(request, call.options()).__aiter__()
    first = True
    try:
        while True:
            wait, kind = call.wait_limit(first, start)
            try:
                async with asyncio.timeout(wait) as cm:
                    chunk = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                if cm.expired():
                    raise timeout_error(kind, wait, c) from exc
                raise
            if first and chunk.has_output:
                first = False
                ttft.value = call.clock() - start
            yield chunk
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.debug("closing a stream of %s failed", c.name, exc_info=True)


def pump(
    call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: Box
) -> Iterator[ChatChunk]:
    """A sync stream read on a worker thread so TTFT and stalls can be enforced; on a
    timeout the worker is told to stop and closes the stream (releasing the connection)."""
    start = call.t0 + att.started_s
    items: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    opts = call.options()

    def run() -> None:
        gen = c.target.stream(request, opts)
        try:
            for chunk in gen:
                if stop.is_set():
                    break
                items.put((0, chunk))
            items.put((1, None))
        except BaseException as exc:
            items.put((2, exc))
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.debug("closing a stream of %s failed", c.name, exc_info=True)

    worker = threading.Thread(target=run, name=f"smartroute-{c.name}", daemon=True)
    worker.start()
    first = True
    try:
        while True:
            wait, kind = call.wait_limit(first, start)
            try:
                tag, value = items.get(timeout=wait)
            except queue.Empty:
                raise timeout_error(kind, wait or 0.0, c) from None
            if tag == 1:
                return
            if tag == 2:
                raise value
            if first and value.has_output:
                first = False
                ttft.value = call.clock() - start
            yield value
    finally:
        stop.set()


def timed(it: Iterator[ChatChunk], call: Call, att: Attempt, ttft: Box) -> Iterator[ChatChunk]:
    start = call.t0 + att.started_s
    first = True
    try:
        for chunk in it:
            if first and chunk.has_output:
                first = False
                ttft.value = call.clock() - start
            yield chunk
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def timeout_error(kind: ErrorKind, wait: float | None, c: Candidate) -> ProviderError:
    what = {
        ErrorKind.TTFT_TIMEOUT: "no first token",
        ErrorKind.STREAM_STALL: "stream stalled: no chunk",
        ErrorKind.DEADLINE: "call deadline reached",
        ErrorKind.TIMEOUT: "attempt timed out",
    }[kind]
    return provider_error(kind, f"{what} within {wait or 0:.3g}s", target=c.name, model=c.model)


def check_response(resp: ChatResponse, c: Candidate) -> None:
    if resp.finish_reason == "content_filter" and not resp.text and not resp.tool_calls:
        raise provider_error(
            ErrorKind.CONTENT_FILTER,
            "the provider's content filter blocked the answer",
            target=c.name,
            model=c.model,
        )
    if not resp.text and not resp.tool_calls and resp.finish_reason not in ("length",):
        raise provider_error(
            ErrorKind.MALFORMED_RESPONSE,
            "empty answer (no text, no tool calls)",
            target=c.name,
            model=c.model,
        )
