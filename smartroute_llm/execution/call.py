"""The state of one routed call, shared by every driver: which candidate is next, what an
error means (retry, fall back, stop), backoff, accounting, the final decision."""

from __future__ import annotations

import logging
import os
import random
import time
from functools import partial
from typing import TYPE_CHECKING

from smartroute_llm.decision import Attempt, RoutingDecision, assign
from smartroute_llm.errors import (
    AllTargetsFailed,
    CircuitOpenError,
    ErrorKind,
    ProviderError,
    RateLimitExceeded,
    provider_error,
)
from smartroute_llm.execution.lease import Lease
from smartroute_llm.feedback import CONTEXT_PARTS, Outcome
from smartroute_llm.limits import Hold as Hold_
from smartroute_llm.plan import Candidate, Exclusion, RoutingPlan, summarize, summary_rows
from smartroute_llm.policy import ErrorAction, RoutingPolicy
from smartroute_llm.request import ChatRequest, Message
from smartroute_llm.response import ChatResponse, Usage
from smartroute_llm.target import AttemptOptions

if TYPE_CHECKING:
    from smartroute_llm.execution.executor import Executor
    from smartroute_llm.limits import Hold, Refusal

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
    timeout = _min(p.timeout_s, remaining)
    return AttemptOptions(
        timeout=timeout,
        connect_timeout=p.connect_timeout_s,
        read_timeout=_min(max(p.ttft_timeout_s or 0, p.stall_timeout_s or 0) or None, p.timeout_s),
        deadline=None if remaining is None or timeout is None else time.monotonic() + timeout,
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

    __slots__ = (
        "attempts", "clock", "deadline", "decision_id", "ex", "held", "holds", "leases",
        "limiter", "min_context", "plan", "policy", "pos", "queue", "refusals", "request",
        "retries", "started", "t0", "tags",
    )

    def __init__(
        self, ex: Executor, plan: RoutingPlan, tags: dict[str, str] | None = None
    ) -> None:
        router = ex.router
        self.ex = ex
        self.tags = tags
        self.limiter = router.limiter
        self.holds: dict[str, Hold] = {}  # reserved for an admitted candidate, not begun yet
        self.refusals: list[Refusal] = []
        self.plan = plan
        self.policy = policy = router.policy
        self.clock = router.clock
        self.t0 = self.clock() if plan.started_at is None else plan.started_at
        d = policy.deadline_s
        self.deadline = None if d is None else self.t0 + d
        self.queue = plan.candidates
        self.pos = 0
        self.attempts: list[Attempt] = []
        self.retries: dict[str, int] = {}
        self.min_context = 0
        self.decision_id = os.urandom(16).hex()
        self.request = plan.request
        self.started = 0
        self.held: list[str] = []  # admitted by the breaker, attempt not begun yet
        self.leases: list[Lease] = []

    # --- what next -----------------------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def next_candidate(self) -> Candidate | None:
        """The next candidate the breaker admits; its slot is held until the attempt ends."""
        breakers = self.ex.breakers
        while self.pos < len(self.queue):
            c = self.queue[self.pos]
            self.pos += 1
            if c.profile.context <= self.min_context:
                continue
            if not breakers.acquire(c.name):
                self._skipped(c)
                continue
            self.held.append(c.name)
            if self.limiter is not None and not self._reserve(c):
                continue
            return c
        return None

    def _reserve(self, c: Candidate) -> bool:
        """Reserve ``c``'s rate limits and budgets for one attempt (one round trip); refused,
        its breaker slot is given back and the call moves on."""
        assert self.limiter is not None
        got = self.limiter.reserve(c.profile, self.plan.features, self.tags)
        if isinstance(got, Hold_):
            self.holds[c.name] = got
            return True
        self.refusals.append(got)
        self._give_back(c.name)
        self.attempts.append(
            Attempt(
                target=c.name,
                model=c.model,
                provider=c.profile.provider,
                started_s=self.clock() - self.t0,
                error_kind=ErrorKind.RATE_LIMITED if got.error is None else None,
                message=f"skipped: {got.reason}"[:300],
            )
        )
        return False

    def readmit(self, c: Candidate) -> bool:
        """Before retrying ``c``: the breaker decides again (the failure just recorded may have
        opened it, and a half-open probe is one request, not one plus retries)."""
        if not self.ex.breakers.acquire(c.name):
            self._skipped(c)
            return False
        self.held.append(c.name)
        return self.limiter is None or self._reserve(c)

    def _skipped(self, c: Candidate) -> None:
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

    def limits(
        self, first: bool, start: float, *, chunks: bool = True
    ) -> tuple[float | None, ErrorKind, float | None]:
        """How long to wait for the next chunk (or, ``chunks=False``, for the whole answer),
        what it means if that time runs out, and the part of it that is the caller's hard
        bound (attempt timeout or deadline), all from now; ``start`` is when the attempt's
        request was made."""
        p = self.policy
        now = self.clock()
        hard: tuple[float, ErrorKind] | None = None
        if p.timeout_s is not None:
            hard = (start + p.timeout_s - now, ErrorKind.TIMEOUT)
        if self.deadline is not None and (hard is None or self.deadline - now < hard[0]):
            hard = (self.deadline - now, ErrorKind.DEADLINE)
        chunk = (p.ttft_timeout_s if first else p.stall_timeout_s) if chunks else None
        if chunk is not None and (hard is None or chunk < hard[0]):
            kind = ErrorKind.TTFT_TIMEOUT if first else ErrorKind.STREAM_STALL
            return chunk, kind, None if hard is None else max(0.0, hard[0])
        if hard is None:
            return None, ErrorKind.TIMEOUT, None
        wait = max(0.0, hard[0])
        return wait, hard[1], wait

    # --- accounting ----------------------------------------------------------------------

    def begin(self, c: Candidate, *, hedge: bool = False) -> Lease:
        """Start an attempt on ``c`` (admitted by :meth:`next_candidate` or :meth:`readmit`):
        its breaker slot passes to the returned lease."""
        try:
            self.check_budget()
        except BaseException:
            self._give_back(c.name)
            raise
        self.held.remove(c.name)
        self.started += 1
        att = Attempt.start(c.name, c.model, c.profile.provider, self.clock() - self.t0, hedge)
        self.attempts.append(att)
        hold = self.holds.pop(c.name, None) if self.holds else None
        lease = Lease(c, att, self.ex.breakers, self.ex.router.feedback, hold)
        self.leases.append(lease)
        return lease

    def _give_back(self, name: str) -> None:
        if name in self.held:
            self.held.remove(name)
            self.ex.breakers.release(name)
            hold = self.holds.pop(name, None) if self.holds else None
            if hold is not None:
                hold.settle(None, "unused")

    def close(self) -> None:
        """The call is over, however it ended: release every slot and attempt still held."""
        while self.held:
            self._give_back(self.held[-1])
        for lease in self.leases:
            if lease.open:
                att = lease.att
                assign(
                    att,
                    latency_s=self._elapsed(att),
                    cancelled=True,
                    message=att.message or "cancelled by the caller",
                )
                lease.released()
        self.leases.clear()

    def _elapsed(self, att: Attempt, now: float | None = None) -> float:
        """The attempt's latency so far."""
        return (self.clock() if now is None else now) - self.t0 - att.started_s

    def record_failure(self, lease: Lease, exc: BaseException, partial: str = "") -> ProviderError:
        """Close a failed attempt: its error, the partial output it billed, the breaker and the
        outcome the learning strategies see. A limit that fired because this process was too
        busy (``client_side``) is no verdict on the target: nothing is learned from it."""
        c, att = lease.c, lease.att
        err = as_provider_error(exc, c)
        latency = self._elapsed(att)
        assign(
            att,
            latency_s=latency,
            error_kind=err.kind,
            status_code=err.status_code,
            message=err.message[:300],
            error=err,
        )
        if partial:
            out = max(1, len(partial) // 4)
            usage = Usage(input_tokens=self.plan.features.prompt_tokens, output_tokens=out)
            cost = c.profile.capability.cost(usage.input_tokens, out)
            assign(att, usage=usage, cost_usd=cost)
        if err.client_side:
            lease.released()
            log.info("attempt on %s: %s (client side)", c.name, err.message)
            return err
        lease.failed(err.kind)
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

    def fail(self, lease: Lease, exc: BaseException) -> float | None:
        """Record a failed attempt; return a retry delay for the same target (whose breaker
        slot is then held again), ``None`` to fall back, or raise when the policy says stop."""
        c = lease.c
        err = self.record_failure(lease, exc)
        action = self.policy.action_for(err.kind)
        if err.kind is ErrorKind.CONTEXT_LENGTH:
            self.min_context = max(self.min_context, c.profile.context)
        if err.kind is ErrorKind.DEADLINE:
            raise self.exhausted(f"deadline of {self.policy.deadline_s}s exceeded") from err
        if action is ErrorAction.STOP:
            err.attempts = self.attempts  # type: ignore[attr-defined]
            raise err
        if action is ErrorAction.RETRY or err.client_side:
            delay = self._retry_delay(c, err)
            if delay is not None and self.readmit(c):
                return delay
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

    def cancel(self, lease: Lease) -> None:
        """A hedge that lost: its prompt was sent, so its input cost is counted (estimated)."""
        if not lease.open:
            return
        c, att = lease.c, lease.att
        usage = Usage(input_tokens=self.plan.features.prompt_tokens)
        assign(
            att,
            latency_s=self._elapsed(att),
            cancelled=True,
            error_kind=None,
            message="cancelled: another attempt won the race",
            usage=usage,
            cost_usd=c.profile.capability.cost(usage.input_tokens, 0),
        )
        lease.released()

    def succeed(self, lease: Lease, resp: ChatResponse, ttft: float | None) -> ChatResponse:
        """Close the winning attempt and attach the call's decision to its answer. Everything
        here is the router's own data: nothing is validated again, and the clock is read once."""
        c, att = lease.c, lease.att
        now = self.clock()
        latency = self._elapsed(att, now)
        usage = resp.usage
        cost = c.profile.capability.cost(usage.input_tokens, usage.output_tokens)
        assign(att, latency_s=latency, ok=True, ttft_s=ttft, usage=usage, cost_usd=cost)
        lease.succeeded()
        tps = None
        if ttft is not None and usage.output_tokens and latency > ttft:
            tps = usage.output_tokens / (latency - ttft)
        feedback = self.ex.router.feedback
        feedback.record_outcome(
            Outcome(
                target=c.name,
                model=c.model,
                complexity_class=self.plan.features.complexity.label,
                ok=True,
                latency_s=latency,
                ttft_s=ttft,
                output_tokens=usage.output_tokens,
                input_tokens=usage.input_tokens,
                tokens_per_s=tps,
                cost_usd=cost,
                decision_id=self.decision_id,
                at=now,
            ),
            context=self._context(c),
        )
        decision = self.decision(c, att, now)
        assign(resp, decision=decision)
        if feedback.scorers:
            quality = feedback.score(self.request, resp, self.decision_id)
            if quality is not None:
                decision.quality = quality
        return resp

    def _context(self, c: Candidate) -> tuple[int, ...] | None:
        """The prompt context a strategy reported in the winner's parts (``CONTEXT_PARTS``),
        as the decision's summary shows it (the top 10 candidates)."""
        extra = c.extra
        if not extra:
            return None
        ctx = tuple(int(extra[k]) for k in CONTEXT_PARTS if k in extra)
        if not ctx or not any(x.name == c.name for x in self.plan.candidates[:10]):
            return None
        return ctx

    def decision(self, c: Candidate, att: Attempt, now: float | None = None) -> RoutingDecision:
        plan = self.plan
        candidates = plan.candidates
        features = plan.features
        attempts = self.attempts
        if c is candidates[0]:
            reason = f"ranked first of {len(candidates)} by {plan.strategy}"
        else:
            failed = [a.target for a in attempts if not a.ok and not a.cancelled]
            reason = f"fallback (rank {candidates.index(c) + 1}) after {', '.join(failed)}"
        return RoutingDecision.deferred(
            {
                "decision_id": self.decision_id,
                "created_at": time.time(),
                "target": c.name,
                "model": c.model,
                "provider": c.profile.provider,
                "strategy": plan.strategy,
                "reason": reason,
                "complexity": round(features.complexity.score, 4),
                "complexity_class": features.complexity.label,
                "prompt_tokens_estimate": features.prompt_tokens,
                "attempts": attempts,
                "latency_s": (self.clock() if now is None else now) - self.t0,
                "ttft_s": None if att.ttft_s is None else att.started_s + att.ttft_s,
                "usage": att.usage,
                "cost_usd": sum([a.cost_usd for a in attempts]),
                "quality": None,
                "explanation": plan.explanation,
                "cascade": None,
            },
            partial(summarize, summary_rows(candidates[:10]), plan.excluded[:10]),
        )

    def exhausted(self, why: str | None = None) -> Exception:
        if self.refusals and not self.started:
            # nothing was sent: every candidate left was at a limit when its turn came
            budget = next((r.error for r in self.refusals if r.error is not None), None)
            waits = [r.frees_in_s for r in self.refusals if r.frees_in_s is not None]
            if budget is not None and not waits:
                return budget
            exclusions = [
                *self.plan.excluded,
                *(Exclusion(r.target, r.model, r.reason) for r in self.refusals),
            ]
            return RateLimitExceeded(exclusions, min(waits) if waits else None)
        if self.attempts and all(a.error_kind is ErrorKind.CIRCUIT_OPEN for a in self.attempts):
            # nothing was sent: every candidate's circuit refused (e.g. half-open, probe in flight)
            exclusions = [
                Exclusion(a.target, a.model, a.message or "circuit open") for a in self.attempts
            ]
            retry = self.ex.breakers.retry_in([a.target for a in self.attempts])
            return CircuitOpenError(exclusions, retry, attempts=self.attempts)
        tried = [a for a in self.attempts if a.error_kind is not None or a.ok]
        head = why or f"all {len(tried)} attempt(s) failed"
        return AllTargetsFailed(self.attempts, head)

    def resumed_request(self, partial: str, c: Candidate, prefill: bool) -> ChatRequest:
        msgs = [*self.request.messages, Message(role="assistant", content=partial)]
        if not prefill:
            msgs.append(Message(role="user", content=CONTINUE_PROMPT))
        return self.request.model_copy(update={"messages": msgs})
