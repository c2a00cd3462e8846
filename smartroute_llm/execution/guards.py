"""The limits on one attempt: time to first token, stalls, the attempt timeout and the call
deadline, enforced by the router whatever the target does itself.

Async waits use :class:`_Limit`, which forgives time the event loop itself lost (see
:mod:`smartroute_llm.execution.looplag`): a chunk that sat unread because this process was busy is
not the provider's slowness. Sync waits run the target on a worker thread and wait on a queue;
when a limit fires the worker is told to stop and the target's own bound (``AttemptOptions``
``timeout``/``deadline``, which every built-in target honours) ends it soon after.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from types import TracebackType
from typing import Any, TypeVar

from smartroute_llm.errors import ErrorKind, ProviderError, provider_error
from smartroute_llm.execution.call import Call
from smartroute_llm.execution.lease import Lease
from smartroute_llm.execution.looplag import LoopLag
from smartroute_llm.plan import Candidate
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.streaming import ChunkAccumulator

log = logging.getLogger("smartroute")

T = TypeVar("T")

# Per-chunk limits (TTFT, stall) forgive lost loop time; the caller's own bounds do not.
_SOFT = (ErrorKind.TTFT_TIMEOUT, ErrorKind.STREAM_STALL)


class Box:
    """Where a guarded stream leaves its time to first token."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float | None = None


class _Limit:
    """``asyncio.timeout`` for one wait, except that a TTFT or stall limit is pushed back by
    the time the event loop lost meanwhile (never past the attempt timeout or deadline), and
    a limit that fires after lost loop time is marked as the client's (``lagged``). With no
    hard bound, the time given back is capped at ten times the limit."""

    __slots__ = (
        "_cancelling",
        "_handle",
        "_task",
        "fired",
        "given",
        "hard_at",
        "kind",
        "lag",
        "lagged",
        "mark",
        "wait",
        "when",
    )

    def __init__(self, lag: LoopLag, wait: float, kind: ErrorKind, hard: float | None) -> None:
        now = lag.loop.time()
        self.lag = lag
        self.kind = kind
        self.wait = wait
        self.given = 0.0
        self.when = now + wait
        self.hard_at = None if hard is None else now + hard
        self.mark = lag.mark()
        self.fired = False
        self.lagged = False

    async def __aenter__(self) -> _Limit:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = self.lag.loop.call_at(self.when, self._fire)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        if (
            self.fired
            and et is asyncio.CancelledError
            and self._task.uncancel() <= self._cancelling
        ):
            raise TimeoutError from e

    def _fire(self) -> None:
        lost = self.lag.lost_since(self.mark)
        self.lagged = lost > self.lag.tolerance
        capped = self.hard_at is None and self.given >= 10 * self.wait
        if self.lagged and self.kind in _SOFT and not capped:
            # the provider did not get its full window: give back the time the client lost
            self.mark = self.lag.mark()
            self.given += lost
            when = self.lag.loop.time() + lost
            if self.hard_at is None or when < self.hard_at:
                self.when = when
                self._handle = self.lag.loop.call_at(when, self._fire)
                return
        self.fired = True
        self._task.cancel()


async def _anext(
    it: AsyncIterator[ChatChunk], call: Call, lag: LoopLag, c: Candidate, first: bool, start: float,
    own: bool = False,
) -> ChatChunk | None:
    """The next chunk within its limit; ``None`` at the end of the stream. ``own``: the target
    bounds itself by the attempt timeout, so that limit needs no timer here."""
    wait, kind, hard = call.limits(first, start)
    try:
        if wait is None or (own and kind is ErrorKind.TIMEOUT):
            return await it.__anext__()
        try:
            async with _Limit(lag, wait, kind, hard) as limit:
                return await it.__anext__()
        except TimeoutError as exc:
            if limit.fired:
                raise timeout_error(limit.kind, wait, c, limit.lagged) from exc
            raise
    except StopAsyncIteration:
        return None


async def _aclose(it: AsyncIterator[ChatChunk], c: Candidate) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.debug("closing a stream of %s failed", c.name, exc_info=True)


async def aguard(
    call: Call, lease: Lease, request: ChatRequest, ttft: Box
) -> AsyncGenerator[ChatChunk, None]:
    """The target's stream, bounded by TTFT, stall, attempt timeout and the deadline."""
    c = lease.c
    it = c.target.astream(request, call.options()).__aiter__()
    lag = LoopLag.current()
    lag.enter()
    start = call.clock()  # from the request being made, not from queueing for the loop
    first = True
    own = getattr(c.target, "enforces_attempt_timeout", False)
    p = call.policy
    # after the first token only the attempt timeout may apply, and the target bounds itself
    unguarded = own and p.stall_timeout_s is None and call.deadline is None
    try:
        while (chunk := await _anext(it, call, lag, c, first, start, own)) is not None:
            if first and chunk.has_output:
                first = False
                ttft.value = call.clock() - start
                yield chunk
                if unguarded:
                    async for chunk in it:
                        yield chunk
                    return
                continue
            yield chunk
    finally:
        lag.exit()
        await _aclose(it, c)


async def acollect(
    call: Call, lease: Lease, request: ChatRequest
) -> tuple[ChatResponse, float | None]:
    """A non-streaming answer read as a stream so TTFT and stalls are enforced. Its reader
    is the only code on this task, so once the first token is in and no stall limit applies,
    one timer bounds the rest of the answer instead of one timer per chunk, and a target that
    can (:func:`collecting`) folds the rest into the answer itself, without a chunk per
    event."""
    c = lease.c
    acc = ChunkAccumulator()
    ttft: float | None = None
    into = collecting(call, c)
    if into:
        it = c.target.astream(request, call.options(), into=acc).__aiter__()  # type: ignore[call-arg]
    else:
        it = c.target.astream(request, call.options()).__aiter__()
    lag = LoopLag.current()
    lag.enter()
    start = call.clock()
    try:
        done = False
        while not done and (ttft is None or call.policy.stall_timeout_s is not None):
            chunk = await _anext(it, call, lag, c, ttft is None, start)
            if chunk is None:
                done = True
                break
            if not into:
                acc.add(chunk)
            if ttft is None and chunk.has_output:
                ttft = call.clock() - start
        wait, kind, hard = call.limits(False, start)
        if not done and wait is None:
            async for chunk in it:
                if not into:
                    acc.add(chunk)
        elif not done and wait is not None:
            try:
                async with _Limit(lag, wait, kind, hard) as limit:  # the rest of the answer
                    async for chunk in it:
                        if not into:
                            acc.add(chunk)
            except TimeoutError as exc:
                if limit.fired:
                    raise timeout_error(limit.kind, wait, c, limit.lagged) from exc
                raise
    finally:
        lag.exit()
        await _aclose(it, c)
    resp = acc.response()
    check_response(resp, c, acc)
    return resp, ttft


def pump(
    call: Call, lease: Lease, request: ChatRequest, ttft: Box,
    into: ChunkAccumulator | None = None,
) -> Generator[ChatChunk, None, None]:
    """A sync stream read on a worker thread so TTFT, stalls and the deadline are enforced
    like async; on a limit (or when the caller stops reading) the worker is told to stop and
    closes the stream, releasing the connection and its thread. ``into``: the target folds
    the answer there (:func:`collecting`) and hands out only its first chunks."""
    c = lease.c
    items: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    opts = call.options()

    def run() -> None:
        gen = (
            c.target.stream(request, opts) if into is None
            else c.target.stream(request, opts, into=into)  # type: ignore[call-arg]
        )
        try:
            for chunk in gen:
                items.put((0, chunk))
                if stop.is_set():
                    break
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

    start = call.clock()
    threading.Thread(target=run, name=f"smartroute-{c.name}", daemon=True).start()
    first = True
    try:
        while True:
            wait, kind, _ = call.limits(first, start)
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


def collect(call: Call, lease: Lease, request: ChatRequest) -> tuple[ChatResponse, float | None]:
    """:func:`acollect` for sync calls: the stream read by :func:`pump`."""
    acc = ChunkAccumulator()
    ttft = Box()
    into = collecting(call, lease.c)
    it = pump(call, lease, request, ttft, acc if into else None)
    try:
        for chunk in it:
            if not into:
                acc.add(chunk)
    finally:
        it.close()
    resp = acc.response()
    check_response(resp, lease.c, acc)
    return resp, ttft.value


def collecting(call: Call, c: Candidate) -> bool:
    """Whether ``c``'s answer, read as a stream for a non-streaming call, may be folded into
    one by the target after its first token: no stall limit needs each chunk timed, and the
    target's stream methods take ``into=`` (``collects_into``, as HTTP targets do)."""
    return call.policy.stall_timeout_s is None and getattr(c.target, "collects_into", False)


def bounded(call: Call, lease: Lease, fn: Callable[[], T]) -> T:
    """``fn()`` on a worker thread, waited for no longer than the attempt timeout or the
    deadline: for a sync target that does not bound itself by ``AttemptOptions.timeout``."""
    wait, kind, _ = call.limits(False, call.clock(), chunks=False)
    if wait is None:
        return fn()
    box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:
            box.put((False, exc))

    threading.Thread(target=run, name=f"smartroute-{lease.c.name}", daemon=True).start()
    try:
        ok, value = box.get(timeout=wait)
    except queue.Empty:
        raise timeout_error(kind, wait, lease.c) from None
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def timed(it: Iterator[ChatChunk], call: Call, ttft: Box) -> Iterator[ChatChunk]:
    start = call.clock()
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


def timeout_error(
    kind: ErrorKind, wait: float | None, c: Candidate, lagged: bool = False
) -> ProviderError:
    what = {
        ErrorKind.TTFT_TIMEOUT: "no first token",
        ErrorKind.STREAM_STALL: "stream stalled: no chunk",
        ErrorKind.DEADLINE: "call deadline reached",
        ErrorKind.TIMEOUT: "attempt timed out",
    }[kind]
    why = " while this process was too busy to read it (event-loop lag)" if lagged else ""
    err = provider_error(kind, f"{what} within {wait or 0:.3g}s{why}", target=c.name, model=c.model)
    err.client_side = lagged
    return err


def check_response(resp: ChatResponse, c: Candidate, acc: ChunkAccumulator | None = None) -> None:
    """An answer that cannot be a success: filtered, empty, or (when streamed) tool-call
    arguments that are not complete JSON, which the non-streaming path rejects as well."""
    if acc is not None and acc.broken_tool_calls():
        raise provider_error(
            ErrorKind.MALFORMED_RESPONSE,
            f"tool call arguments are not valid JSON (cut off?): {acc.broken_tool_calls()}",
            target=c.name,
            model=c.model,
        )
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
