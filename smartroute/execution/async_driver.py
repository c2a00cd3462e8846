"""The async driver: one routed call on the event loop, complete or streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from smartroute.decision import Attempt
from smartroute.errors import ErrorKind, provider_error
from smartroute.execution.call import Call, _min
from smartroute.execution.guards import Box, aguard, check_response
from smartroute.execution.session import Started, StreamSession
from smartroute.plan import Candidate, RoutingPlan
from smartroute.request import ChatRequest
from smartroute.response import ChatChunk, ChatResponse
from smartroute.streaming import ChunkAccumulator

if TYPE_CHECKING:
    from smartroute.execution.executor import Executor


async def acomplete(call: Call) -> ChatResponse:
    if call.policy.racing is not None:
        from smartroute.race import AsyncRace

        return await AsyncRace(call).complete()
    c = call.next_candidate()
    while c is not None:
        att = call.begin(c)
        try:
            resp, first = await acomplete_once(call, c, call.request, att)
        except Exception as exc:
            delay = call.fail(att, c, exc)
            if delay is not None:
                await asyncio.sleep(delay)
                continue
            c = call.next_candidate()
            continue
        return call.succeed(att, c, resp, first)
    raise call.exhausted()


async def acomplete_once(
    call: Call, c: Candidate, request: ChatRequest, att: Attempt
) -> tuple[ChatResponse, float | None]:
    if call.guarded_streaming(c):
        acc = ChunkAccumulator()
        ttft = Box()
        async for chunk in aguard(call, c, request, att, ttft):
            acc.add(chunk)
        resp = acc.response()
        check_response(resp, c)
        return resp, ttft.value
    if getattr(c.target, "enforces_attempt_timeout", False):
        # the target bounds itself by options.timeout (the same limit): one timer, not two
        resp = await c.target.acomplete(request, call.options())
        check_response(resp, c)
        return resp, None
    wait, kind = call.wait_limit(False, call.t0 + att.started_s)
    if call.policy.stall_timeout_s is not None:
        wait = _min(call.policy.timeout_s, call.remaining())
    try:
        async with asyncio.timeout(wait) as cm:
            resp = await c.target.acomplete(request, call.options())
    except TimeoutError as exc:
        if cm.expired():
            raise provider_error(
                ErrorKind.DEADLINE if kind is ErrorKind.DEADLINE else ErrorKind.TIMEOUT,
                f"no answer within {wait:.3g}s",
                target=c.name,
                model=c.model,
            ) from exc
        raise
    check_response(resp, c)
    return resp, None


async def astream(ex: Executor, plan: RoutingPlan) -> AsyncIterator[ChatChunk]:
    call = Call(ex, plan)  # on the first anext(): the deadline starts when reading does
    if call.policy.racing is not None:
        from smartroute.race import AsyncRace

        async for chunk in AsyncRace(call, streaming=True).stream():
            yield chunk
        return
    async for chunk in astream_from(call, None):
        yield chunk


async def astream_from(call: Call, started: Started | None) -> AsyncIterator[ChatChunk]:
    s = StreamSession(call, started)
    while s.c is not None:
        it = s.take_started() or aguard(call, s.c, s.request, *s.begin())
        try:
            for chunk in s.take_buffered():
                out = s.feed(chunk)
                if out is not None:
                    yield out
            async for chunk in it:
                out = s.feed(chunk)
                if out is not None:
                    yield out
            final = s.finish()
        except Exception as exc:
            delay = s.fail(exc)
            if delay is not None:
                await asyncio.sleep(delay)
            continue
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
        yield final
        return
    raise s.give_up()
