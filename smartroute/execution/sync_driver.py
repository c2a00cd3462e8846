"""The sync driver: one routed call on the caller's thread (streams with limits are read on a
worker thread, see :func:`smartroute.execution.guards.pump`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from smartroute.decision import Attempt
from smartroute.execution.call import Call
from smartroute.execution.guards import Box, check_response, pump, timed
from smartroute.execution.session import Started, StreamSession
from smartroute.plan import Candidate, RoutingPlan
from smartroute.request import ChatRequest
from smartroute.response import ChatChunk, ChatResponse
from smartroute.streaming import ChunkAccumulator

if TYPE_CHECKING:
    from smartroute.execution.executor import Executor


def complete(call: Call) -> ChatResponse:
    if call.policy.racing is not None:
        from smartroute.race import SyncRace

        return SyncRace(call, streaming=False).complete()
    c = call.next_candidate()
    while c is not None:
        att = call.begin(c)
        try:
            if call.guarded_streaming(c):
                acc = ChunkAccumulator()
                ttft = Box()
                for chunk in pump(call, c, call.request, att, ttft):
                    acc.add(chunk)
                resp, first = acc.response(), ttft.value
            else:
                resp, first = c.target.complete(call.request, call.options()), None
            check_response(resp, c)
        except Exception as exc:
            delay = call.fail(att, c, exc)
            if delay is not None:
                time.sleep(delay)
                continue
            c = call.next_candidate()
            continue
        return call.succeed(att, c, resp, first)
    raise call.exhausted()


def stream_once(
    call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: Box
) -> Iterator[ChatChunk]:
    p = call.policy
    if p.ttft_timeout_s or p.stall_timeout_s or p.deadline_s:
        return pump(call, c, request, att, ttft)
    return timed(c.target.stream(request, call.options()), call, att, ttft)


def stream(ex: Executor, plan: RoutingPlan) -> Iterator[ChatChunk]:
    call = Call(ex, plan)  # on the first next(): the deadline starts when reading does
    if call.policy.racing is not None:
        from smartroute.race import SyncRace

        yield from SyncRace(call, streaming=True).stream()
        return
    yield from stream_from(call, None)


def stream_from(call: Call, started: Started | None) -> Iterator[ChatChunk]:
    s = StreamSession(call, started)
    while s.c is not None:
        it = s.take_started() or stream_once(call, s.c, s.request, *s.begin())
        try:
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
        yield final
        return
    raise s.give_up()
