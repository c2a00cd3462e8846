"""The bookkeeping of one cascade call, shared by the sync and async drivers: the rungs, where
the ladder starts, what each rung cost and what its verifiers said, the plan pinned to one
rung, the checks handed to verifiers, and the final decision. No I/O here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from smartroute_llm.cascade.ladder import Rung, rungs
from smartroute_llm.cascade.stats import LadderStats, Start
from smartroute_llm.decision import Attempt, CascadeRecord, CascadeRung, RoutingDecision
from smartroute_llm.errors import (
    AllTargetsFailed,
    BudgetExceeded,
    ConfigurationError,
    NoCandidatesError,
    ProviderError,
)
from smartroute_llm.features import analyze
from smartroute_llm.plan import Candidate, Exclusion, RoutingPlan
from smartroute_llm.policy import ErrorAction
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta, Usage
from smartroute_llm.verifiers.base import Check, Verdict, Verifier

if TYPE_CHECKING:
    from smartroute_llm.router import Router

log = logging.getLogger("smartroute")

_SENTENCE_END = re.compile(r"[.!?](?:\s)|\n")
_MIN_SENTENCE = 20  # a "1." or "Hi!" is not yet a sentence worth judging
# errors after which the ladder moves to its next rung; any other error is the caller's
_RUNG_ERRORS = (ProviderError, AllTargetsFailed, NoCandidatesError, BudgetExceeded)


def _last_user_text(req: ChatRequest) -> str:
    for m in reversed(req.messages):
        if m.role == "user":
            return m.text
    return ""


def rung_label(rung: Rung, ladder: tuple[str, ...] | None, names: list[str]) -> str:
    """A rung's name in the decision and the statistics: its ladder entry, its deployment
    group, or its target."""
    if ladder:
        ids = {x for c in rung for x in (c.name, c.model)}
        return next((e for e in ladder if e in ids and e not in names), rung[0].name)
    return rung[0].name


class Run:
    """One cascade call."""

    def __init__(
        self,
        router: Router,
        verifiers: list[Verifier],
        stats: LadderStats,
        plan: RoutingPlan,
        tags: dict[str, str] | None,
        stream: str | None,
    ) -> None:
        cfg = router.policy.cascading
        assert cfg is not None
        self.router = router
        self.cfg = cfg
        self.verifiers = verifiers
        self.stats = stats
        self.tags = tags
        self.clock = router.clock
        self.t0 = plan.started_at if plan.started_at is not None else self.clock()
        plan.started_at = self.t0
        self.plan = plan
        self.rungs = rungs(plan, cfg.ladder)
        if not self.rungs:
            named = ", ".join(cfg.ladder or ())
            raise NoCandidatesError(
                [
                    *plan.excluded,
                    *(
                        Exclusion(c.name, c.model, f"not on the cascade's ladder ({named})")
                        for c in plan.candidates
                    ),
                ]
            )
        labels: list[str] = []
        for r in self.rungs:
            labels.append(rung_label(r, cfg.ladder, labels))
        self.labels = labels
        self.start: Start = stats.start(_last_user_text(plan.request), labels)
        self.record = CascadeRecord(
            ladder=labels,
            start=self.start.index,
            start_reason=self.start.reason,
            stream=stream,
        )
        self.attempts: list[Attempt] = []
        self.best: tuple[int, ChatResponse] | None = None
        self.errors: list[BaseException] = []
        self._verify_cost = 0.0

    # --- the ladder --------------------------------------------------------------------

    def order(self) -> range:
        return range(self.start.index, len(self.rungs))

    def is_last(self, i: int) -> bool:
        return i == len(self.rungs) - 1

    def remaining(self) -> float | None:
        d = self.router.policy.deadline_s
        return None if d is None else self.t0 + d - self.clock()

    def too_late(self, i: int) -> str | None:
        """Why rung ``i`` should not start now (the deadline cannot fit it), or None."""
        left = self.remaining()
        if left is None:
            return None
        if left <= self.cfg.min_rung_s:
            return f"deadline: {max(left, 0.0):.3g}s left"
        expected = self.router.feedback.latency_quantile(self.rungs[i][0].name, 0.5)
        if expected is not None and expected > left:
            return f"deadline: {left:.3g}s left, the rung's median latency is {expected:.3g}s"
        return None

    def skip(self, i: int, why: str) -> None:
        c = self.rungs[i][0]
        self._rung(i, c.name, c.model, "skipped", reason=why)

    def pinned(self, i: int) -> RoutingPlan:
        """The plan of rung ``i`` alone: the executor's retries, breakers, limits and leases
        apply to it as to any call, and its deadline counts from the cascade's start."""
        p = self.plan
        members = self.rungs[i]
        groups = {c.name: p.groups[c.name] for c in members if c.name in p.groups}
        return RoutingPlan(
            p.request, p.features, p.strategy, list(members), p.excluded, p.weights,
            p.explanation, self.t0, groups,
        )

    def side_plan(self, i: int, request: ChatRequest, model: str | None) -> RoutingPlan:
        """A verifier's own model call: on the rung's candidate(s), or on the target named."""
        if model is None:
            cands = list(self.rungs[i])
        else:
            prof = next(
                (p for p in self.router.profiles if model in (p.name, p.model)), None
            )
            if prof is None:
                names = sorted(p.name for p in self.router.profiles)
                raise ConfigurationError(
                    f"verifier call: model {model!r} names no target of this router "
                    f"(targets: {names}); add a target for it"
                )
            cands = [Candidate(prof, 1.0)]
        features = analyze(request, self.router.classifier)
        return RoutingPlan(request, features, self.plan.strategy, cands, [], started_at=self.t0)

    # --- accounting --------------------------------------------------------------------

    def _rung(
        self,
        i: int,
        target: str,
        model: str,
        verdict: str,
        *,
        verifier: str = "",
        reason: str = "",
        confidence: float | None = None,
        cost: float = 0.0,
        verify_cost: float = 0.0,
        started: float | None = None,
    ) -> None:
        self.record.rungs.append(
            CascadeRung(
                rung=i + 1,
                target=target,
                model=model,
                verdict=verdict,
                verifier=verifier,
                reason=reason[:300],
                confidence=confidence,
                cost_usd=cost + verify_cost,
                verify_cost_usd=verify_cost,
                latency_s=0.0 if started is None else self.clock() - started,
            )
        )

    def extra(self, attempts: list[Attempt]) -> None:
        """A verifier's model call (answered or failed): its attempts and cost are the call's."""
        self.attempts.extend(attempts)
        self._verify_cost += sum(a.cost_usd for a in attempts)

    def take_verify_cost(self) -> float:
        cost, self._verify_cost = self._verify_cost, 0.0
        return cost

    def error(self, i: int, exc: BaseException, started: float) -> None:
        """Rung ``i`` failed: record it and move on, or raise what is the caller's to see
        (bad input, a STOP error such as a content filter)."""
        if not isinstance(exc, _RUNG_ERRORS):
            raise exc
        if (
            isinstance(exc, ProviderError)
            and self.router.policy.action_for(exc.kind) is ErrorAction.STOP
        ):
            raise exc
        attempts = list(getattr(exc, "attempts", None) or [])
        self.attempts.extend(attempts)
        self.errors.append(exc)
        c = self.rungs[i][0]
        self._rung(
            i, c.name, c.model, "error", reason=str(exc).split("\n", 1)[0],
            cost=sum(a.cost_usd for a in attempts), started=started,
        )

    def answered(self, resp: ChatResponse) -> None:
        d = resp.decision
        if d is not None:
            self.attempts.extend(d.attempts)

    def judged(
        self, i: int, resp: ChatResponse, verdict: Verdict, started: float
    ) -> bool:
        """Record a verdict on rung ``i``'s whole answer; True when it is accepted."""
        d = resp.decision
        target, model = (d.target, d.model) if d is not None else (self.rungs[i][0].name, "")
        self.stats.record(self.start.cluster, self.labels[i], verdict.accepted)
        self._rung(
            i, target, model, "accepted" if verdict.accepted else "rejected",
            verifier=verdict.verifier, reason=verdict.reason, confidence=verdict.confidence,
            cost=0.0 if d is None else d.cost_usd, verify_cost=self.take_verify_cost(),
            started=started,
        )
        if not verdict.accepted:
            self.best = (i, resp)
        return verdict.accepted

    def prefix_rejected(
        self, i: int, verdict: Verdict, text: str, started: float
    ) -> None:
        """A streamed rung abandoned on its prefix: its prompt and the text read are billed
        (estimated: the stream never reached its usage)."""
        c = self.rungs[i][0]
        out = max(1, len(text) // 4)
        usage = Usage(input_tokens=self.plan.features.prompt_tokens, output_tokens=out)
        cost = c.profile.capability.cost(usage.input_tokens, out)
        self.attempts.append(
            Attempt(
                target=c.name, model=c.model, provider=c.profile.provider,
                started_s=started - self.t0, latency_s=self.clock() - started, cancelled=True,
                message=f"cancelled: prefix rejected by {verdict.verifier}"[:300],
                usage=usage, cost_usd=cost,
            )
        )
        self.stats.record(self.start.cluster, self.labels[i], False)
        self._rung(
            i, c.name, c.model, "rejected", verifier=verdict.verifier,
            reason=f"prefix: {verdict.reason}" if verdict.reason else "prefix",
            confidence=verdict.confidence, cost=cost, started=started,
        )

    # --- the end -----------------------------------------------------------------------

    def finish(
        self, i: int, decision: RoutingDecision | None, verdict: str, started: float | None,
        reason: str = "",
    ) -> RoutingDecision | None:
        """The call's decision, from the answering rung's: every rung's attempts and cost."""
        if decision is None:
            return None
        if verdict in ("final", "committed"):
            self.attempts.extend(decision.attempts)
            self._rung(
                i, decision.target, decision.model, verdict, reason=reason,
                cost=decision.cost_usd, started=started,
            )
        self.stats.answered(self.start.cluster, self.labels[i])
        scored, excluded = self.plan.summary(top=10)
        n = len(self.rungs)
        how = {
            "accepted": "accepted",
            "final": "the last rung, returned as is",
            "committed": "streamed once its prefix passed",
            "rejected": "rejected, but no later rung answered (best so far)",
        }[verdict]
        return decision.model_copy(
            update={
                "strategy": self.plan.strategy,
                "reason": f"cascade: rung {i + 1} of {n} ({self.labels[i]}) {how}",
                "candidates": scored,
                "excluded": excluded,
                "attempts": list(self.attempts),
                "latency_s": self.clock() - self.t0,
                "cost_usd": sum(a.cost_usd for a in self.attempts),
                "explanation": self.plan.explanation,
                "cascade": self.record,
            }
        )

    def accept(self, i: int, resp: ChatResponse) -> ChatResponse:
        resp.decision = self.finish(i, resp.decision, "accepted", None)
        return resp

    def last(self, i: int, resp: ChatResponse, started: float) -> ChatResponse:
        resp.decision = self.finish(i, resp.decision, "final", started)
        return resp

    def end(self) -> ChatResponse:
        """No rung was accepted and the last did not answer: the best answer so far, or the
        error."""
        if self.best is not None:
            i, resp = self.best
            resp.decision = self.finish(i, resp.decision, "rejected", None)
            return resp
        raise self.failure()

    def failure(self) -> BaseException:
        errors = self.errors
        skipped = [r.reason for r in self.record.rungs if r.verdict == "skipped"]
        if not skipped and errors and all(type(e) is type(errors[-1]) for e in errors) and (
            len(errors) == 1 or not isinstance(errors[-1], AllTargetsFailed)
        ):
            return errors[-1]  # what the same failure raises outside a cascade
        head = f"every rung of the cascade failed ({len(errors)})"
        if skipped:
            head = (
                f"{len(errors)} rung(s) of the cascade failed and {len(skipped)} could not "
                f"start ({skipped[0]})"
            )
        err = AllTargetsFailed(self.attempts, head)
        err.cascade = self.record  # type: ignore[attr-defined]
        return err

    # --- verification ------------------------------------------------------------------

    def check(
        self,
        i: int,
        resp: ChatResponse,
        call: Callable[[ChatRequest, str | None], ChatResponse] | None = None,
        acall: Any = None,
    ) -> Check:
        return Check(
            request=self.plan.request, response=resp, rung=self.labels[i],
            call_model=call, acall_model=acall,
        )

    def prefix_ready(self, text: str, done: bool) -> bool:
        """Enough streamed text to judge: ``prefix_chars`` of it, or a first sentence."""
        if done or len(text) >= self.cfg.prefix_chars:
            return True
        if len(text) < min(_MIN_SENTENCE, self.cfg.prefix_chars):
            return False
        return _SENTENCE_END.search(text, _MIN_SENTENCE - 1) is not None

    def prefix_verdict(self, text: str) -> Verdict | None:
        """The first rejection among the verifiers' opinions on a prefix, else None."""
        for v in self.verifiers:
            got = v.check_prefix(self.plan.request, text)
            if got is not None and not got.accepted:
                return got if got.verifier else Verdict(False, got.reason, got.confidence, v.name)
        return None


def combine(verdicts: list[Verdict], names: list[str]) -> Verdict:
    """All verifiers accepted: one verdict naming them, with the lowest confidence given."""
    confs = [v.confidence for v in verdicts if v.confidence is not None]
    reasons = "; ".join(v.reason for v in verdicts if v.reason)
    return Verdict(True, reasons, min(confs) if confs else None, ", ".join(names))


def could_not_verify(v: Verifier, exc: BaseException) -> Verdict:
    """A verifier whose own model call failed cannot vouch for the answer: a rejection."""
    log.info("verifier %s could not verify: %s", v.name, exc)
    return Verdict(False, f"could not verify: {str(exc).splitlines()[0][:200]}", verifier=v.name)


def as_chunks(resp: ChatResponse) -> Iterator[ChatChunk]:
    """A whole answer as a stream: its content, then the final chunk with the decision."""
    if resp.reasoning:
        yield ChatChunk(reasoning=resp.reasoning)
    if resp.text:
        yield ChatChunk(text=resp.text)
    for n, tc in enumerate(resp.tool_calls):
        import json

        yield ChatChunk(
            tool_call_deltas=[
                ToolCallDelta(index=n, id=tc.id, name=tc.name, arguments=json.dumps(tc.arguments))
            ]
        )
    yield ChatChunk(
        usage=resp.usage, finish_reason=resp.finish_reason, model=resp.model,
        decision=resp.decision,
    )


def with_decision(chunk: ChatChunk, decision: RoutingDecision | None) -> ChatChunk:
    return chunk.model_copy(update={"decision": decision})
