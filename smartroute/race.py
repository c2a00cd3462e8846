"""Hedged racing (the seed's race strategy).

The first candidate starts alone; when it has produced nothing after the hedge delay (fixed, or a
learned latency percentile of that target), the next candidate starts too, up to ``top_k`` at
once. The first complete answer (or, when streaming, the first token) wins; the others are
cancelled and their connections released, and the input cost of every started attempt is counted
in the decision. A racer that fails is replaced by the next candidate, so racing never gives up
before sequential fallback would. Async races run tasks; sync races run worker threads.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from smartroute.capability import SPEED_PRIOR_TPS, SPEED_PRIOR_TTFT_S
from smartroute.decision import Attempt
from smartroute.errors import ErrorKind
from smartroute.execution.guards import Box, aguard, check_response, timeout_error
from smartroute.plan import Candidate
from smartroute.response import ChatChunk, ChatResponse
from smartroute.streaming import ChunkAccumulator

if TYPE_CHECKING:
    from smartroute.execution.call import Call

_QUANTILES = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}


class _Race:
    def __init__(self, call: Call, streaming: bool) -> None:
        self.call = call
        self.ex = call.ex
        cfg = call.policy.racing
        assert cfg is not None
        self.cfg = cfg
        self.streaming = streaming

    def hedge_delay(self, c: Candidate, att: Attempt) -> float:
        """Seconds from now until the next hedge should start behind ``c``."""
        cfg = self.cfg
        if isinstance(cfg.hedge_after, str):
            q = _QUANTILES[cfg.hedge_after]
            learned = self.ex.router.feedback.latency_quantile(c.name, q, ttft=self.streaming)
            if learned is None:
                cap = c.profile.capability
                learned = SPEED_PRIOR_TTFT_S[cap.speed_tier]
                if not self.streaming:
                    learned += (
                        self.call.plan.features.output_tokens / SPEED_PRIOR_TPS[cap.speed_tier]
                    )
            after = max(cfg.min_hedge_after_s, learned)
        else:
            after = cfg.hedge_after
        elapsed = self.call.clock() - self.call.t0 - att.started_s
        return max(0.0, after - elapsed)

    def more(self) -> bool:
        return self.call.pos < len(self.call.queue)

    def wait_for(self, running: dict[Any, tuple[Candidate, Attempt]]) -> tuple[float | None, bool]:
        """How long to wait for a result, and whether a hedge starts when that time is up."""
        rem = self.call.remaining()
        if len(running) < self.cfg.top_k and self.more():
            leader = min(running.values(), key=lambda ca: ca[1].started_s)
            hedge = self.hedge_delay(*leader)
            if rem is None or hedge < rem:
                return hedge, True
        return (None if rem is None else max(0.0, rem)), False


class AsyncRace(_Race):
    def __init__(self, call: Call, streaming: bool = False) -> None:
        super().__init__(call, streaming)

    async def _first_chunks(
        self, c: Candidate, att: Attempt, ttft: Box
    ) -> tuple[list[ChatChunk], AsyncGenerator[ChatChunk, None]]:
        it = aguard(self.call, c, self.call.request, att, ttft)
        got: list[ChatChunk] = []
        try:
            async for chunk in it:
                got.append(chunk)
                if chunk.has_output:
                    return got, it
        except BaseException:
            await it.aclose()
            raise
        return got, it

    async def _run(self) -> tuple[Candidate, Attempt, Any, Box]:
        call = self.call
        running: dict[asyncio.Task[Any], tuple[Candidate, Attempt]] = {}
        boxes: dict[asyncio.Task[Any], Box] = {}

        from smartroute.execution.async_driver import acomplete_once

        def launch(hedge: bool) -> bool:
            c = call.next_candidate()
            if c is None:
                return False
            att = call.begin(c, hedge=hedge)
            box = Box()
            if self.streaming:
                coro: Any = self._first_chunks(c, att, box)
            else:
                coro = acomplete_once(call, c, call.request, att)
            task = asyncio.ensure_future(coro)
            running[task] = (c, att)
            boxes[task] = box
            return True

        try:
            if not launch(False):
                raise call.exhausted()
            while running:
                timeout, hedge = self.wait_for(running)
                done, _ = await asyncio.wait(
                    running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    if hedge:
                        launch(True)
                        continue
                    raise call.exhausted(f"deadline of {call.policy.deadline_s}s exceeded")
                for task in done:
                    c, att = running.pop(task)
                    exc = task.exception()
                    if exc is None:
                        return c, att, task.result(), boxes[task]
                    call.fail(att, c, exc)
                if not running and not launch(False):
                    break
            raise call.exhausted()
        finally:
            for task, (c, att) in running.items():
                task.cancel()
                call.cancel(att, c)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                for task in running:
                    if not task.cancelled() and task.exception() is None and self.streaming:
                        await task.result()[1].aclose()

    async def complete(self) -> ChatResponse:
        c, att, (resp, ttft), _ = await self._run()
        return self.call.succeed(att, c, resp, ttft)

    async def stream(self) -> AsyncIterator[ChatChunk]:
        c, att, (first, it), box = await self._run()
        from smartroute.execution.async_driver import astream_from

        async for chunk in astream_from(self.call, (c, att, it, box, first)):
            yield chunk


class SyncRace(_Race):
    """Racers are threads that push ``(racer, tag, value)`` into one queue."""

    def _start(
        self,
        items: queue.SimpleQueue[tuple[int, int, Any]],
        rid: int,
        c: Candidate,
        att: Attempt,
        stops: dict[int, threading.Event],
    ) -> None:
        call = self.call
        stop = threading.Event()
        stops[rid] = stop
        opts = call.options()

        def run() -> None:
            try:
                if self.streaming or call.guarded_streaming(c):
                    gen = c.target.stream(call.request, opts)
                    try:
                        for chunk in gen:
                            if stop.is_set():
                                break
                            items.put((rid, 0, chunk))
                    finally:
                        close = getattr(gen, "close", None)
                        if close is not None:
                            close()
                    items.put((rid, 1, None))
                else:
                    items.put((rid, 3, c.target.complete(call.request, opts)))
            except BaseException as exc:
                items.put((rid, 2, exc))

        threading.Thread(target=run, name=f"smartroute-race-{c.name}", daemon=True).start()

    def _run(
        self,
    ) -> tuple[
        Candidate, Attempt, Any, Box, int, queue.SimpleQueue[Any], dict[int, threading.Event]
    ]:
        call = self.call
        items: queue.SimpleQueue[tuple[int, int, Any]] = queue.SimpleQueue()
        running: dict[int, tuple[Candidate, Attempt]] = {}
        stops: dict[int, threading.Event] = {}
        accs: dict[int, ChunkAccumulator] = {}
        boxes: dict[int, Box] = {}
        firsts: dict[int, list[ChatChunk]] = {}
        counter = iter(range(1 << 30))

        def launch(hedge: bool) -> bool:
            c = call.next_candidate()
            if c is None:
                return False
            att = call.begin(c, hedge=hedge)
            rid = next(counter)
            running[rid] = (c, att)
            accs[rid] = ChunkAccumulator()
            boxes[rid] = Box()
            firsts[rid] = []
            self._start(items, rid, c, att, stops)
            return True

        winner: int | None = None
        try:
            if not launch(False):
                raise call.exhausted()
            while running:
                timeout, hedge = self.wait_for(running)
                ttft_wait = call.policy.ttft_timeout_s
                wait = timeout if ttft_wait is None else min(timeout or ttft_wait, ttft_wait)
                try:
                    rid, tag, value = items.get(timeout=wait)
                except queue.Empty:
                    if hedge and (ttft_wait is None or (timeout or 0) <= ttft_wait):
                        launch(True)
                        continue
                    if ttft_wait is not None:
                        # the oldest racer produced nothing within the TTFT window
                        rid = min(running, key=lambda r: running[r][1].started_s)
                        c, att = running.pop(rid)
                        stops[rid].set()
                        call.fail(att, c, timeout_error(ErrorKind.TTFT_TIMEOUT, ttft_wait, c))
                        if not running and not launch(False):
                            break
                        continue
                    raise call.exhausted(
                        f"deadline of {call.policy.deadline_s}s exceeded"
                    ) from None
                if rid not in running:
                    continue  # a cancelled racer still talking
                c, att = running[rid]
                if tag == 2:
                    running.pop(rid)
                    call.fail(att, c, value)
                    if not running and not launch(False):
                        break
                    continue
                if tag == 3:
                    winner = rid
                    return c, att, value, boxes[rid], rid, items, stops
                if tag == 1:
                    if self.streaming:
                        winner = rid
                        return c, att, firsts[rid], boxes[rid], rid, items, stops
                    winner = rid
                    resp = accs[rid].response()
                    return c, att, resp, boxes[rid], rid, items, stops
                accs[rid].add(value)
                firsts[rid].append(value)
                if value.has_output and boxes[rid].value is None:
                    boxes[rid].value = call.clock() - call.t0 - att.started_s
                    if self.streaming:
                        winner = rid
                        return c, att, firsts[rid], boxes[rid], rid, items, stops
            raise call.exhausted()
        finally:
            for rid, (c, att) in list(running.items()):
                if rid != winner:
                    stops[rid].set()
                    call.cancel(att, c)

    def complete(self) -> ChatResponse:
        c, att, value, box, rid, items, stops = self._run()
        if isinstance(value, ChatResponse):
            resp = value
        else:
            acc = ChunkAccumulator()
            for chunk in value:
                acc.add(chunk)
            for chunk in self._drain(rid, items, stops, c):
                acc.add(chunk)
            resp = acc.response()
        check_response(resp, c)
        return self.call.succeed(att, c, resp, box.value)

    def _drain(
        self,
        rid: int,
        items: queue.SimpleQueue[tuple[int, int, Any]],
        stops: dict[int, threading.Event],
        c: Candidate,
    ) -> Iterator[ChatChunk]:
        try:
            while True:
                stall = self.call.policy.stall_timeout_s
                try:
                    r, tag, value = items.get(timeout=stall)
                except queue.Empty:
                    raise timeout_error(ErrorKind.STREAM_STALL, stall, c) from None
                if r != rid:
                    continue
                if tag == 1:
                    return
                if tag == 2:
                    raise value
                yield value
        finally:
            stops[rid].set()

    def stream(self) -> Iterator[ChatChunk]:
        c, att, first, box, rid, items, stops = self._run()

        def rest() -> Iterator[ChatChunk]:
            yield from first
            yield from self._drain(rid, items, stops, c)

        from smartroute.execution.sync_driver import stream_from

        yield from stream_from(self.call, (c, att, rest(), box))
