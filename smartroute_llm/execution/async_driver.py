"""The async driver: one routed call on the event loop, complete or streamed. Every path out
of it (an answer, an error, cancellation, the caller closing the stream) ends in
:meth:`Call.close`, which releases whatever an attempt still holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from smartroute_llm.errors import ErrorKind, provider_error
from smartroute_llm.execution.call import Call
from smartroute_llm.execution.guards import _Limit, acollect, aguard, check_response
from smartroute_llm.execution.lease import Lease
from smartroute_llm.execution.looplag import LoopLag
from smartroute_llm.execution.session import Started, StreamSession
from smartroute_llm.plan import RoutingPlan
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from smartroute_llm.execution.executor import Executor


async def acomplete(call: Call) -> ChatResponse:
    try:
        if call.policy.racing is not None:
            from smartroute_llm.race import AsyncRace

            return await AsyncRace(call).complete()
        c = call.next_candidate()
        while c is not None:
            lease = call.begin(c)
            try:
                resp, first = await acomplete_once(call, lease, call.request)
            except Exception as exc:
                delay = call.fail(lease, exc)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                c = call.next_candidate()
                continue
            return call.succeed(lease, resp, first)
        raise call.exhausted()
    finally:
        call.close()


async def acomplete_once(
    call: Call, lease: Lease, request: ChatRequest
) -> tuple[ChatResponse, float | None]:
    c = lease.c
    if call.guarded_streaming(c):
        return await acollect(call, lease, request)
    if getattr(c.target, "enforces_attempt_timeout", False):
        # the target bounds itself by options.timeout (the same limit): one timer, not two
        resp = await c.target.acomplete(request, call.options())
        check_response(resp, c)
        return resp, None
    wait, kind, _ = call.limits(False, call.clock(), chunks=False)
    if wait is None:
        resp = await c.target.acomplete(request, call.options())
    else:
        try:
            async with _Limit(LoopLag.current(), wait, kind, wait) as limit:
                resp = await c.target.acomplete(request, call.options())
        except TimeoutError as exc:
            if limit.fired:
                err = provider_error(
                    kind, f"no answer within {wait:.3g}s", target=c.name, model=c.model
                )
                err.client_side = limit.lagged and kind is not ErrorKind.DEADLINE
                raise err from exc
            raise
    check_response(resp, c)
    return resp, None


async def astream(
    ex: Executor, plan: RoutingPlan, tags: dict[str, str] | None = None
) -> AsyncIterator[ChatChunk]:
    call = Call(ex, plan, tags)  # on the first anext(): the deadline starts when reading does
    try:
        if call.policy.racing is not None:
            from smartroute_llm.race import AsyncRace

            async for chunk in AsyncRace(call, streaming=True).stream():
                yield chunk
            return
        async for chunk in astream_from(call, None):
            yield chunk
    finally:
        call.close()


async def astream_from(call: Call, started: Started | None) -> AsyncIterator[ChatChunk]:
    s = StreamSession(call, started)
    while s.c is not None:
        it = s.take_started()
        if it is None:
            lease, ttft = s.begin()
            it = aguard(call, lease, s.request, ttft)
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
            await it.aclose()
        yield final
        return
    raise s.give_up()
