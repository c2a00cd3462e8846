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
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

from smartroute_llm.capability import SPEED_PRIOR_TPS, SPEED_PRIOR_TTFT_S
from smartroute_llm.errors import ErrorKind, ProviderError
from smartroute_llm.execution.guards import Box, aguard, check_response, timeout_error
from smartroute_llm.plan import Candidate
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.streaming import ChunkAccumulator

if TYPE_CHECKING:
    from smartroute_llm.execution.call import Call
    from smartroute_llm.execution.lease import Lease

_QUANTILES = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}


class _Race:
    def __init__(self, call: Call, streaming: bool) -> None:
        self.call = call
        self.ex = call.ex
        cfg = call.policy.racing
        assert cfg is not None
        self.cfg = cfg
        self.streaming = streaming

    def hedge_delay(self, lease: Lease) -> float:
        """Seconds from now until the next hedge should start behind ``lease``'s attempt."""
        c = lease.c
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
        elapsed = self.call.clock() - self.call.t0 - lease.att.started_s
        return max(0.0, after - elapsed)

    def more(self) -> bool:
        return self.call.pos < len(self.call.queue)

    def wait_for(self, running: dict[Any, Lease]) -> tuple[float | None, bool]:
        """How long to wait for a result, and whether a hedge starts when that time is up."""
        rem = self.call.remaining()
        if len(running) < self.cfg.top_k and self.more():
            leader = min(running.values(), key=lambda lease: lease.att.started_s)
            hedge = self.hedge_delay(leader)
            if rem is None or hedge < rem:
                return hedge, True
        return (None if rem is None else max(0.0, rem)), False


class AsyncRace(_Race):
    def __init__(self, call: Call, streaming: bool = False) -> None:
        super().__init__(call, streaming)

    async def _first_chunks(
        self, lease: Lease, ttft: Box
    ) -> tuple[list[ChatChunk], AsyncGenerator[ChatChunk, None]]:
        it = aguard(self.call, lease, self.call.request, ttft)
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

    async def _run(self) -> tuple[Lease, Any, Box]:
        from smartroute_llm.execution.async_driver import acomplete_once

        call = self.call
        running: dict[asyncio.Task[Any], Lease] = {}
        boxes: dict[asyncio.Task[Any], Box] = {}

        def launch(hedge: bool) -> bool:
            c = call.next_candidate()
            if c is None:
                return False
            lease = call.begin(c, hedge=hedge)
            box = Box()
            if self.streaming:
                coro: Any = self._first_chunks(lease, box)
            else:
                coro = acomplete_once(call, lease, call.request)
            task = asyncio.ensure_future(coro)
            running[task] = lease
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
                    lease = running.pop(task)
                    exc = task.exception()
                    if exc is None:
                        return lease, task.result(), boxes[task]
                    call.fail(lease, exc)
                if not running and not launch(False):
                    break
            raise call.exhausted()
        finally:
            # the losers (or every racer, when the caller cancelled us): cancelled and released
            for task, lease in running.items():
                task.cancel()
                call.cancel(lease)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                for task in running:
                    if not task.cancelled() and task.exception() is None and self.streaming:
                        await task.result()[1].aclose()

    async def complete(self) -> ChatResponse:
        lease, (resp, ttft), _ = await self._run()
        return self.call.succeed(lease, resp, ttft)

    async def stream(self) -> AsyncIterator[ChatChunk]:
        from smartroute_llm.execution.async_driver import astream_from

        lease, (first, it), box = await self._run()
        async for chunk in astream_from(self.call, (lease, it, box, first)):
            yield chunk


class SyncRace(_Race):
    """Racers are threads that push ``(racer, tag, value)`` into one queue."""

    def _start(
        self,
        items: queue.SimpleQueue[tuple[int, int, Any]],
        rid: int,
        c: Candidate,
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
    ) -> tuple[Lease, Any, Box, int, queue.SimpleQueue[Any], dict[int, threading.Event]]:
        call = self.call
        items: queue.SimpleQueue[tuple[int, int, Any]] = queue.SimpleQueue()
        running: dict[int, Lease] = {}
        stops: dict[int, threading.Event] = {}
        accs: dict[int, ChunkAccumulator] = {}
        boxes: dict[int, Box] = {}
        firsts: dict[int, list[ChatChunk]] = {}
        counter = iter(range(1 << 30))

        def launch(hedge: bool) -> bool:
            c = call.next_candidate()
            if c is None:
                return False
            lease = call.begin(c, hedge=hedge)
            rid = next(counter)
            running[rid] = lease
            accs[rid] = ChunkAccumulator()
            boxes[rid] = Box()
            firsts[rid] = []
            self._start(items, rid, c, stops)
            return True

        winner: int | None = None
        try:
            if not launch(False):
                raise call.exhausted()
            while running:
                timeout, hedge = self.wait_for(running)
                if timeout is not None and timeout <= 0 and not hedge:
                    raise call.exhausted(f"deadline of {call.policy.deadline_s}s exceeded")
                ttft_wait = call.policy.ttft_timeout_s
                wait = timeout if ttft_wait is None else min(timeout or ttft_wait, ttft_wait)
                try:
                    rid, tag, value = items.get(timeout=wait)
                except queue.Empty:
                    if hedge and (ttft_wait is None or (timeout or 0) <= ttft_wait):
                        launch(True)
                        continue
                    rem = call.remaining()
                    if ttft_wait is not None and (rem is None or rem > 0):
                        # the oldest racer produced nothing within the TTFT window
                        rid = min(running, key=lambda r: running[r].att.started_s)
                        lease = running.pop(rid)
                        stops[rid].set()
                        err = timeout_error(ErrorKind.TTFT_TIMEOUT, ttft_wait, lease.c)
                        call.fail(lease, err)
                        if not running and not launch(False):
                            break
                        continue
                    raise call.exhausted(
                        f"deadline of {call.policy.deadline_s}s exceeded"
                    ) from None
                if rid not in running:
                    continue  # a cancelled racer still talking
                lease = running[rid]
                if tag == 2:
                    running.pop(rid)
                    call.fail(lease, value)
                    if not running and not launch(False):
                        break
                    continue
                if tag == 1 and self.streaming:
                    winner = rid
                    return lease, firsts[rid], boxes[rid], rid, items, stops
                if tag in (1, 3):
                    resp = value if tag == 3 else accs[rid].response()
                    try:
                        check_response(resp, lease.c, None if tag == 3 else accs[rid])
                    except ProviderError as exc:
                        running.pop(rid)
                        call.fail(lease, exc)
                        if not running and not launch(False):
                            break
                        continue
                    winner = rid
                    return lease, resp, boxes[rid], rid, items, stops
                accs[rid].add(value)
                firsts[rid].append(value)
                if value.has_output and boxes[rid].value is None:
                    boxes[rid].value = call.clock() - call.t0 - lease.att.started_s
                    if self.streaming:
                        winner = rid
                        return lease, firsts[rid], boxes[rid], rid, items, stops
            raise call.exhausted()
        finally:
            for rid, lease in list(running.items()):
                if rid != winner:
                    stops[rid].set()
                    call.cancel(lease)

    def complete(self) -> ChatResponse:
        lease, resp, box, _, _, _ = self._run()  # an answer already checked
        return self.call.succeed(lease, resp, box.value)

    def _drain(
        self,
        lease: Lease,
        rid: int,
        items: queue.SimpleQueue[tuple[int, int, Any]],
        stops: dict[int, threading.Event],
    ) -> Generator[ChatChunk, None, None]:
        """The winner's remaining chunks, bounded by the stall limit, the attempt timeout and
        the deadline, like any other stream."""
        call = self.call
        start = call.t0 + lease.att.started_s
        try:
            while True:
                wait, kind, _ = call.limits(False, start)
                try:
                    r, tag, value = items.get(timeout=wait)
                except queue.Empty:
                    raise timeout_error(kind, wait, lease.c) from None
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
        from smartroute_llm.execution.sync_driver import stream_from

        lease, first, box, rid, items, stops = self._run()
        rest = self._drain(lease, rid, items, stops)
        yield from stream_from(self.call, (lease, rest, box, first))
