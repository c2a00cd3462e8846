"""Executing a plan: fallback, retries, deadlines, time-to-first-token and stall limits,
circuit breakers, hedged racing and streaming failover.

The bookkeeping of one routed call (which candidate is next, what an error means, backoff,
accounting, the final decision) lives in :class:`Call` and is shared by the sync and async
drivers; the drivers only differ in how they wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from smartroute.decision import Attempt, RoutingDecision
from smartroute.errors import (
    AllTargetsFailed,
    CircuitOpenError,
    ErrorKind,
    ProviderError,
    StreamInterrupted,
    provider_error,
)
from smartroute.feedback import Outcome
from smartroute.plan import Candidate, Exclusion, RoutingPlan
from smartroute.policy import ErrorAction, RoutingPolicy
from smartroute.request import ChatRequest, Message
from smartroute.response import ChatChunk, ChatResponse, Usage
from smartroute.streaming import ChunkAccumulator
from smartroute.target import AttemptOptions

if TYPE_CHECKING:
    from smartroute.router import Router

log = logging.getLogger("smartroute")

CONTINUE_PROMPT = (
    "Your previous answer was cut off. Continue exactly where it stopped, without repeating "
    "anything and without any preamble."
)


def _min(*values: float | None) -> float | None:
    vals = [v for v in values if v is not None]
    return min(vals) if vals else None


def attempt_options(policy: RoutingPolicy, remaining: float | None) -> AttemptOptions:
    """Per-attempt limits from the policy, the attempt timeout capped by the time left."""
    p = policy
    return AttemptOptions(
        timeout=_min(p.timeout_s, remaining),
        connect_timeout=p.connect_timeout_s,
        read_timeout=_min(max(p.ttft_timeout_s or 0, p.stall_timeout_s or 0) or None, p.timeout_s),
    )


def as_provider_error(exc: BaseException, c: Candidate) -> ProviderError:
    """Any exception from a target, classified; non-smartroute errors become UNKNOWN."""
    if isinstance(exc, ProviderError):
        if exc.target is None:
            exc.target = c.name
        if exc.model is None:
            exc.model = c.model
        return exc
    if isinstance(exc, TimeoutError):
        err = provider_error(ErrorKind.TIMEOUT, "attempt timed out", target=c.name, model=c.model)
    else:
        err = provider_error(
            ErrorKind.UNKNOWN, f"{type(exc).__name__}: {exc}", target=c.name, model=c.model
        )
    err.__cause__ = exc
    return err


class Call:
    """The state of one routed call, shared by every driver."""

    def __init__(self, ex: Executor, plan: RoutingPlan) -> None:
        self.ex = ex
        self.plan = plan
        self.policy = ex.router.policy
        self.clock = ex.router.clock
        self.t0 = self.clock() if plan.started_at is None else plan.started_at
        d = self.policy.deadline_s
        self.deadline = None if d is None else self.t0 + d
        self.queue = plan.candidates
        self.pos = 0
        self.attempts: list[Attempt] = []
        self.retries: dict[str, int] = {}
        self.min_context = 0
        self.decision_id = os.urandom(16).hex()
        self.request = plan.request
        self.started = 0

    # --- what next -----------------------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def next_candidate(self) -> Candidate | None:
        breakers = self.ex.breakers
        while self.pos < len(self.queue):
            c = self.queue[self.pos]
            self.pos += 1
            if c.profile.context <= self.min_context:
                continue
            if c.name == self.plan.forced_probe:
                breakers.force(c.name)
            elif not breakers.acquire(c.name):
                self.attempts.append(
                    Attempt(
                        target=c.name,
                        model=c.model,
                        provider=c.profile.provider,
                        started_s=self.clock() - self.t0,
                        error_kind=ErrorKind.CIRCUIT_OPEN,
                        message="skipped: circuit open",
                    )
                )
                continue
            return c
        return None

    def check_budget(self) -> None:
        rem = self.remaining()
        if rem is not None and rem <= 0:
            raise self.exhausted(f"deadline of {self.policy.deadline_s}s exceeded")
        if self.started >= self.policy.max_attempts:
            raise self.exhausted(f"max_attempts={self.policy.max_attempts} reached")

    def options(self) -> AttemptOptions:
        if self.deadline is None:
            return self.ex.fixed_options  # the same for every attempt: built once per router
        return attempt_options(self.policy, self.remaining())

    def guarded_streaming(self, c: Candidate) -> bool:
        """Whether a non-streaming call should stream underneath, to enforce TTFT/stall."""
        p = self.policy
        return (
            bool(p.ttft_timeout_s or p.stall_timeout_s) and c.profile.capability.supports_streaming
        )

    def wait_limit(self, first: bool, attempt_start: float) -> tuple[float | None, ErrorKind]:
        """How long to wait for the next chunk, and what it means if that time runs out."""
        p = self.policy
        now = self.clock()
        limits: list[tuple[float, ErrorKind]] = []
        chunk = p.ttft_timeout_s if first else p.stall_timeout_s
        if chunk is not None:
            limits.append((chunk, ErrorKind.TTFT_TIMEOUT if first else ErrorKind.STREAM_STALL))
        if p.timeout_s is not None:
            limits.append((attempt_start + p.timeout_s - now, ErrorKind.TIMEOUT))
        if self.deadline is not None:
            limits.append((self.deadline - now, ErrorKind.DEADLINE))
        if not limits:
            return None, ErrorKind.TIMEOUT
        wait, kind = min(limits, key=lambda x: x[0])
        return max(0.0, wait), kind

    # --- accounting ----------------------------------------------------------------------

    def begin(self, c: Candidate, *, hedge: bool = False) -> Attempt:
        self.check_budget()
        self.started += 1
        att = Attempt.start(c.name, c.model, c.profile.provider, self.clock() - self.t0, hedge)
        self.attempts.append(att)
        self.ex.router.feedback.started(c.name)
        return att

    def _close(self, att: Attempt, c: Candidate) -> float:
        self.ex.router.feedback.finished(c.name)
        latency = self.clock() - self.t0 - att.started_s
        att.latency_s = latency
        return latency

    def record_failure(
        self, att: Attempt, c: Candidate, exc: BaseException, partial: str = ""
    ) -> ProviderError:
        """Close a failed attempt: its error, the partial output it billed, the breaker and the
        outcome the learning strategies see."""
        err = as_provider_error(exc, c)
        latency = self._close(att, c)
        att.error_kind = err.kind
        att.status_code = err.status_code
        att.message = err.message[:300]
        att.error = err
        if partial:
            out = max(1, len(partial) // 4)
            att.usage = Usage(input_tokens=self.plan.features.prompt_tokens, output_tokens=out)
            att.cost_usd = c.profile.capability.cost(att.usage.input_tokens, out)
        self.ex.breakers.record_failure(c.name, err.kind)
        self.ex.router.feedback.record_outcome(
            Outcome(
                target=c.name,
                model=c.model,
                complexity_class=self.plan.features.complexity.label,
                ok=False,
                latency_s=latency,
                error_kind=err.kind,
                at=self.clock(),
            )
        )
        log.info("attempt failed: %s (%s) after %.0f ms", c.name, err.kind.value, latency * 1000)
        return err

    def fail(self, att: Attempt, c: Candidate, exc: BaseException) -> float | None:
        """Record a failed attempt; return a retry delay for the same target, ``None`` to fall
        back, or raise when the policy says stop."""
        err = self.record_failure(att, c, exc)
        action = self.policy.action_for(err.kind)
        if err.kind is ErrorKind.CONTEXT_LENGTH:
            self.min_context = max(self.min_context, c.profile.context)
        if err.kind is ErrorKind.DEADLINE:
            raise self.exhausted(f"deadline of {self.policy.deadline_s}s exceeded") from err
        if action is ErrorAction.STOP:
            err.attempts = self.attempts  # type: ignore[attr-defined]
            raise err
        if action is ErrorAction.RETRY:
            return self._retry_delay(c, err)
        return None

    def _retry_delay(self, c: Candidate, err: ProviderError) -> float | None:
        r = self.policy.retry
        n = self.retries.get(c.name, 0)
        if n >= r.max_retries:
            return None
        delay = min(r.backoff_max_s, r.backoff_base_s * 2.0**n)
        if r.jitter:
            delay *= 0.5 + random.random() / 2
        if err.retry_after is not None:
            if err.retry_after > r.retry_after_cap_s:
                return None
            delay = max(delay, err.retry_after)
        rem = self.remaining()
        if rem is not None and delay >= rem:
            return None
        self.retries[c.name] = n + 1
        return delay

    def cancel(self, att: Attempt, c: Candidate) -> None:
        """A hedge that lost: its prompt was sent, so its input cost is counted (estimated)."""
        self._close(att, c)
        att.cancelled = True
        att.error_kind = None
        att.message = "cancelled: another attempt won the race"
        att.usage = Usage(input_tokens=self.plan.features.prompt_tokens)
        att.cost_usd = c.profile.capability.cost(att.usage.input_tokens, 0)
        self.ex.breakers.release(c.name)

    def succeed(
        self, att: Attempt, c: Candidate, resp: ChatResponse, ttft: float | None
    ) -> ChatResponse:
        latency = self._close(att, c)
        usage = resp.usage
        cap = c.profile.capability
        att.ok = True
        att.ttft_s = ttft
        att.usage = usage
        att.cost_usd = cap.cost(usage.input_tokens, usage.output_tokens)
        self.ex.breakers.record_success(c.name)
        features = self.plan.features
        tps = None
        if ttft is not None and usage.output_tokens and latency > ttft:
            tps = usage.output_tokens / (latency - ttft)
        self.ex.router.feedback.record_outcome(
            Outcome(
                target=c.name,
                model=c.model,
                complexity_class=features.complexity.label,
                ok=True,
                latency_s=latency,
                ttft_s=ttft,
                output_tokens=usage.output_tokens,
                input_tokens=usage.input_tokens,
                tokens_per_s=tps,
                cost_usd=att.cost_usd,
                decision_id=self.decision_id,
                at=self.clock(),
            )
        )
        resp.decision = self.decision(c, att)
        quality = self.ex.router.feedback.score_automatically(self.request, resp, self.decision_id)
        if quality is not None:
            resp.decision.quality = quality
        return resp

    def decision(self, c: Candidate, att: Attempt) -> RoutingDecision:
        plan = self.plan
        scored, excluded = plan.summary(top=10)
        features = plan.features
        first = plan.candidates[0]
        if c is first:
            reason = f"ranked first of {len(plan.candidates)} by {plan.strategy}"
        else:
            failed = [a.target for a in self.attempts if not a.ok and not a.cancelled]
            reason = f"fallback (rank {plan.candidates.index(c) + 1}) after {', '.join(failed)}"
        total = sum(a.cost_usd for a in self.attempts)
        return RoutingDecision.build(
            decision_id=self.decision_id,
            target=c.name,
            model=c.model,
            provider=c.profile.provider,
            strategy=plan.strategy,
            reason=reason,
            complexity=round(features.complexity.score, 4),
            complexity_class=features.complexity.label,
            prompt_tokens_estimate=features.prompt_tokens,
            candidates=scored,
            excluded=excluded,
            attempts=self.attempts,
            latency_s=self.clock() - self.t0,
            ttft_s=None if att.ttft_s is None else att.started_s + att.ttft_s,
            usage=att.usage,
            cost_usd=total,
            explanation=plan.explanation,
        )

    def exhausted(self, why: str | None = None) -> AllTargetsFailed:
        if self.attempts and all(a.error_kind is ErrorKind.CIRCUIT_OPEN for a in self.attempts):
            # nothing was sent: every candidate's circuit refused (e.g. half-open, probe in flight)
            names = [a.target for a in self.attempts]
            exclusions = [Exclusion(a.target, a.model, a.message or "circuit open")
                          for a in self.attempts]
            return CircuitOpenError(
                exclusions, self.ex.breakers.retry_in(names), attempts=self.attempts
            )
        tried = [a for a in self.attempts if a.error_kind is not None or a.ok]
        head = why or f"all {len(tried)} attempt(s) failed"
        return AllTargetsFailed(self.attempts, head)

    def resumed_request(self, partial: str, c: Candidate, prefill: bool) -> ChatRequest:
        msgs = [*self.request.messages, Message(role="assistant", content=partial)]
        if not prefill:
            msgs.append(Message(role="user", content=CONTINUE_PROMPT))
        return self.request.model_copy(update={"messages": msgs})


def _strip(chunk: ChatChunk) -> ChatChunk:
    if chunk.usage is None and chunk.finish_reason is None:
        return chunk
    return chunk.model_copy(update={"usage": None, "finish_reason": None})


def _final_chunk(resp: ChatResponse) -> ChatChunk:
    return ChatChunk(
        usage=resp.usage,
        finish_reason=resp.finish_reason,
        model=resp.model,
        decision=resp.decision,
    )


class Executor:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.breakers = router.breakers
        self.fixed_options = attempt_options(router.policy, None)

    # ===================================================================== non-streaming

    def complete(self, plan: RoutingPlan) -> ChatResponse:
        call = Call(self, plan)
        if self.router.policy.racing is not None:
            return _SyncRace(call, streaming=False).complete()
        c = call.next_candidate()
        while c is not None:
            att = call.begin(c)
            try:
                if call.guarded_streaming(c):
                    acc = ChunkAccumulator()
                    ttft = _Box()
                    for chunk in self._pump(call, c, call.request, att, ttft):
                        acc.add(chunk)
                    resp, first = acc.response(), ttft.value
                else:
                    resp, first = c.target.complete(call.request, call.options()), None
                _check_response(resp, c)
            except Exception as exc:
                delay = call.fail(att, c, exc)
                if delay is not None:
                    time.sleep(delay)
                    continue
                c = call.next_candidate()
                continue
            return call.succeed(att, c, resp, first)
        raise call.exhausted()

    async def acomplete(self, plan: RoutingPlan) -> ChatResponse:
        call = Call(self, plan)
        if self.router.policy.racing is not None:
            return await _AsyncRace(call).complete()
        c = call.next_candidate()
        while c is not None:
            att = call.begin(c)
            try:
                resp, first = await self._acomplete_once(call, c, call.request, att)
            except Exception as exc:
                delay = call.fail(att, c, exc)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                c = call.next_candidate()
                continue
            return call.succeed(att, c, resp, first)
        raise call.exhausted()

    async def _acomplete_once(
        self, call: Call, c: Candidate, request: ChatRequest, att: Attempt
    ) -> tuple[ChatResponse, float | None]:
        if call.guarded_streaming(c):
            acc = ChunkAccumulator()
            ttft = _Box()
            async for chunk in self._aguard(call, c, request, att, ttft):
                acc.add(chunk)
            resp = acc.response()
            _check_response(resp, c)
            return resp, ttft.value
        if getattr(c.target, "enforces_attempt_timeout", False):
            # the target bounds itself by options.timeout (the same limit): one timer, not two
            resp = await c.target.acomplete(request, call.options())
            _check_response(resp, c)
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
        _check_response(resp, c)
        return resp, None

    # ===================================================================== guarded streams

    async def _aguard(
        self, call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: _Box
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
                        raise _timeout_error(kind, wait, c) from exc
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

    def _pump(
        self, call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: _Box
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
                    raise _timeout_error(kind, wait or 0.0, c) from None
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

    def _sync_stream_once(
        self, call: Call, c: Candidate, request: ChatRequest, att: Attempt, ttft: _Box
    ) -> Iterator[ChatChunk]:
        p = call.policy
        if p.ttft_timeout_s or p.stall_timeout_s or p.deadline_s:
            return self._pump(call, c, request, att, ttft)
        return _timed(c.target.stream(request, call.options()), call, att, ttft)

    # ===================================================================== streaming

    def stream(self, plan: RoutingPlan) -> Iterator[ChatChunk]:
        call = Call(self, plan)
        if self.router.policy.racing is not None:
            yield from _SyncRace(call, streaming=True).stream()
            return
        yield from self._stream_from(call, None)

    def _stream_from(self, call: Call, started: _Started | None) -> Iterator[ChatChunk]:
        s = _StreamSession(self, call, started)
        while s.c is not None:
            it = s.take_started() or self._sync_stream_once(call, s.c, s.request, *s.begin())
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

    async def astream(self, plan: RoutingPlan) -> AsyncIterator[ChatChunk]:
        call = Call(self, plan)
        if self.router.policy.racing is not None:
            async for chunk in _AsyncRace(call, streaming=True).stream():
                yield chunk
            return
        async for chunk in self._astream_from(call, None):
            yield chunk

    async def _astream_from(self, call: Call, started: _Started | None) -> AsyncIterator[ChatChunk]:
        s = _StreamSession(self, call, started)
        while s.c is not None:
            it = s.take_started() or self._aguard(call, s.c, s.request, *s.begin())
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

    def _after_stream_error(
        self,
        call: Call,
        c: Candidate,
        att: Attempt,
        exc: Exception,
        emitted: str,
        acc: ChunkAccumulator,
        original: StreamInterrupted | None,
        prefill_failed: set[str],
    ) -> float | tuple[StreamInterrupted | None, ChatRequest, Candidate | None]:
        """Decide what follows a failed stream: a retry delay, or (original error, request,
        next candidate). Before any text reached the caller this is plain fallback; after it,
        the stream is either resumed elsewhere or surfaces as :class:`StreamInterrupted`."""
        if not emitted:
            delay = call.fail(att, c, exc)
            if delay is not None:
                return delay
            return original, call.request, call.next_candidate()
        err = as_provider_error(exc, c)
        resuming = original is not None
        prefilled = (
            resuming and c.profile.capability.supports_prefill and c.name not in prefill_failed
        )
        if resuming and prefilled and err.kind is ErrorKind.INVALID_REQUEST:
            # the target rejected the assistant prefill: try it again with a clean restart
            prefill_failed.add(c.name)
            call.record_failure(att, c, err)
            att.message = "prefill rejected"
            call.pos -= 1
            nxt = call.next_candidate()
            if nxt is None:
                original.attempts = call.attempts  # type: ignore[union-attr]
                raise original  # type: ignore[misc]
            prefill = nxt.profile.capability.supports_prefill and nxt.name not in prefill_failed
            return original, call.resumed_request(emitted, nxt, prefill), nxt
        call.record_failure(att, c, err, partial=acc.text)
        if original is None:
            original = StreamInterrupted(
                f"stream from {c.name} broke after {len(emitted)} characters ({err.kind.value})",
                partial_text=emitted,
                target=c.name,
                model=c.model,
            )
            original.__cause__ = err
        if not call.policy.resumes_streams:
            original.attempts = call.attempts  # type: ignore[attr-defined]
            raise original
        nxt = call.next_candidate()
        if nxt is None:
            original.attempts = call.attempts  # type: ignore[attr-defined]
            raise original
        use_prefill = nxt.profile.capability.supports_prefill and nxt.name not in prefill_failed
        return original, call.resumed_request(emitted, nxt, use_prefill), nxt


# A stream already started by a race: (candidate, attempt, its chunks, ttft box[, buffered]).
_Started = tuple[Any, ...]


class _StreamSession:
    """The state of one streamed call across attempts; the sync and async drivers feed it."""

    def __init__(self, ex: Executor, call: Call, started: _Started | None) -> None:
        self.ex = ex
        self.call = call
        self.emitted = ""
        self.request = call.request
        self.original: StreamInterrupted | None = None
        self.prefill_failed: set[str] = set()
        self.acc = ChunkAccumulator()
        self.buffered: list[ChatChunk] = []
        self.started = started
        self.c: Candidate | None
        if started is not None:
            self.c, self.att, _, self.ttft = started[:4]
            self.buffered = list(started[4]) if len(started) > 4 else []
        else:
            self.c = call.next_candidate()

    def take_started(self) -> Any:
        if self.started is None:
            return None
        it, self.started = self.started[2], None
        return it

    def take_buffered(self) -> list[ChatChunk]:
        out, self.buffered = self.buffered, []
        return out

    def begin(self) -> tuple[Attempt, _Box]:
        assert self.c is not None
        self.att = self.call.begin(self.c)
        self.ttft = _Box()
        self.acc = ChunkAccumulator()
        return self.att, self.ttft

    def feed(self, chunk: ChatChunk) -> ChatChunk | None:
        self.acc.add(chunk)
        if not chunk.has_output:
            return None
        self.emitted += chunk.text
        return _strip(chunk)

    def finish(self) -> ChatChunk:
        assert self.c is not None
        resp = self.acc.response()
        if not self.emitted:
            _check_response(resp, self.c)
        resp.text = self.emitted
        return _final_chunk(self.call.succeed(self.att, self.c, resp, self.ttft.value))

    def fail(self, exc: Exception) -> float | None:
        """A retry delay for the same candidate, or ``None`` after moving to the next one."""
        assert self.c is not None
        step = self.ex._after_stream_error(
            self.call,
            self.c,
            self.att,
            exc,
            self.emitted,
            self.acc,
            self.original,
            self.prefill_failed,
        )
        self.acc = ChunkAccumulator()
        if isinstance(step, float):
            return step
        self.original, self.request, self.c = step
        return None

    def give_up(self) -> Exception:
        if self.original is not None:
            self.original.attempts = self.call.attempts  # type: ignore[attr-defined]
            return self.original
        return self.call.exhausted()


class _Box:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float | None = None


def _timed(it: Iterator[ChatChunk], call: Call, att: Attempt, ttft: _Box) -> Iterator[ChatChunk]:
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


def _timeout_error(kind: ErrorKind, wait: float | None, c: Candidate) -> ProviderError:
    what = {
        ErrorKind.TTFT_TIMEOUT: "no first token",
        ErrorKind.STREAM_STALL: "stream stalled: no chunk",
        ErrorKind.DEADLINE: "call deadline reached",
        ErrorKind.TIMEOUT: "attempt timed out",
    }[kind]
    return provider_error(kind, f"{what} within {wait or 0:.3g}s", target=c.name, model=c.model)


def _check_response(resp: ChatResponse, c: Candidate) -> None:
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


from smartroute.race import _AsyncRace, _SyncRace  # noqa: E402  (races drive Executor internals)
