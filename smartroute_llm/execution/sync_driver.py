"""The sync driver: one routed call on the caller's thread. Limits are enforced like async:
streams with a limit, and targets that do not bound themselves, are read on a worker thread
(:mod:`smartroute_llm.execution.guards`). Every path out of a call, including the caller breaking
out of a stream and ``KeyboardInterrupt``, ends in :meth:`Call.close`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from smartroute_llm.execution.call import Call
from smartroute_llm.execution.guards import Box, bounded, check_response, collect, pump, timed
from smartroute_llm.execution.lease import Lease
from smartroute_llm.execution.session import Started, StreamSession
from smartroute_llm.plan import RoutingPlan
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from smartroute_llm.execution.executor import Executor


def complete(call: Call) -> ChatResponse:
    try:
        if call.policy.racing is not None:
            from smartroute_llm.race import SyncRace

            return SyncRace(call, streaming=False).complete()
        c = call.next_candidate()
        while c is not None:
            lease = call.begin(c)
            try:
                resp, first = complete_once(call, lease, call.request)
            except Exception as exc:
                delay = call.fail(lease, exc)
                if delay is not None:
                    time.sleep(delay)
                    continue
                c = call.next_candidate()
                continue
            return call.succeed(lease, resp, first)
        raise call.exhausted()
    finally:
        call.close()


def complete_once(
    call: Call, lease: Lease, request: ChatRequest
) -> tuple[ChatResponse, float | None]:
    c = lease.c
    if call.guarded_streaming(c):
        return collect(call, lease, request)
    opts = call.options()
    if getattr(c.target, "enforces_attempt_timeout", False):
        resp = c.target.complete(request, opts)  # bounds itself by opts.timeout
    else:
        resp = bounded(call, lease, lambda: c.target.complete(request, opts))
    check_response(resp, c)
    return resp, None


def stream_once(call: Call, lease: Lease, request: ChatRequest, ttft: Box) -> Iterator[ChatChunk]:
    p = call.policy
    if (
        p.ttft_timeout_s
        or p.stall_timeout_s
        or p.deadline_s
        or (p.timeout_s and not getattr(lease.c.target, "enforces_attempt_timeout", False))
    ):
        return pump(call, lease, request, ttft)
    return timed(lease.c.target.stream(request, call.options()), call, ttft)


def stream(
    ex: Executor, plan: RoutingPlan, tags: dict[str, str] | None = None
) -> Iterator[ChatChunk]:
    call = Call(ex, plan, tags)  # on the first next(): the deadline starts when reading does
    try:
        if call.policy.racing is not None:
            from smartroute_llm.race import SyncRace

            yield from SyncRace(call, streaming=True).stream()
            return
        yield from stream_from(call, None)
    finally:
        call.close()


def stream_from(call: Call, started: Started | None) -> Iterator[ChatChunk]:
    s = StreamSession(call, started)
    while s.c is not None:
        it = s.take_started()
        if it is None:
            lease, ttft = s.begin()
            it = stream_once(call, lease, s.request, ttft)
        try:
            for chunk in s.take_buffered():
                out = s.feed(chunk)
                if out is not None:
                    yield out
            for chunk in it:
                out = s.feed(chunk)
                if out is not None:
                    yield out
            final = s.finish()
        except Exception as exc:
            delay = s.fail(exc)
            if delay is not None:
                time.sleep(delay)
            continue
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        yield final
        return
    raise s.give_up()
