"""The cascade's drivers: walk the ladder, sync and async, complete and streamed.

Every rung runs through the router's executor on a plan pinned to that rung, so retries,
fallback among a deployment group's members, breakers, rate limits, budgets, leases and the
deadline (counted from the cascade's start) apply to it as to any call. The two drivers differ
only in how they wait; the bookkeeping is :class:`~smartroute_llm.cascade.run.Run`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from smartroute_llm.cascade.ladder import entry_index
from smartroute_llm.cascade.resolve import resolve
from smartroute_llm.cascade.run import (
    _RUNG_ERRORS,
    Run,
    as_chunks,
    combine,
    could_not_verify,
    with_decision,
)
from smartroute_llm.cascade.stats import LadderStats
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.plan import RoutingPlan
from smartroute_llm.request import ChatRequest, RequestLike
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.streaming import ChunkAccumulator
from smartroute_llm.verifiers.base import Check, Verdict, Verifier

if TYPE_CHECKING:
    from smartroute_llm.router import Router


class Cascade:
    """The CASCADE strategy's execution for one router (``router.cascade``)."""

    def __init__(self, router: Router) -> None:
        cfg = router.policy.cascading
        if cfg is None:  # pragma: no cover - the policy validates this
            raise ConfigurationError("policy.cascade: missing for strategy cascade")
        self.router = router
        self.cfg = cfg
        try:
            self.verifiers: list[Verifier] = [
                resolve(v, f"policy.cascade.verifiers[{i}]") for i, v in enumerate(cfg.verifiers)
            ]
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if cfg.ladder:
            unknown = [
                e for e in cfg.ladder
                if not any(entry_index((e,), p.name, p.model) is not None for p in router.profiles)
            ]
            if unknown:
                raise ConfigurationError(
                    f"policy.cascade.ladder: {unknown} match no target (targets: "
                    f"{sorted(p.name for p in router.profiles)}); name targets or their models"
                )
        self.stats = LadderStats(cfg.start_higher_after, cfg.reprobe_every)

    def statistics(self) -> dict[str, Any]:
        """Per prompt cluster: each rung's accepted/rejected counts, its current rejection
        streak, and which rung answered how often."""
        return self.stats.snapshot()

    # --- complete --------------------------------------------------------------------------

    def chat(
        self, request: RequestLike | None, tags: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> ChatResponse:
        router = self.router
        run = self._run(router._plan_or_wait(request, kwargs, tags), tags, None)
        for i in run.order():
            if (why := run.too_late(i)) is not None:
                run.skip(i, why)
                continue
            t = run.clock()
            try:
                resp = router.executor.complete(run.pinned(i), tags)
            except Exception as exc:
                run.error(i, exc, t)
                continue
            if run.is_last(i):
                return run.last(i, resp, t)
            run.answered(resp)
            if run.judged(i, resp, self._verify(run, i, resp), t):
                return run.accept(i, resp)
        return run.end()

    async def achat(
        self, request: RequestLike | None, tags: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> ChatResponse:
        router = self.router
        run = self._run(await router._aplan_or_wait(request, kwargs, tags), tags, None)
        for i in run.order():
            if (why := run.too_late(i)) is not None:
                run.skip(i, why)
                continue
            t = run.clock()
            try:
                resp = await router.executor.acomplete(run.pinned(i), tags)
            except Exception as exc:
                run.error(i, exc, t)
                continue
            if run.is_last(i):
                return run.last(i, resp, t)
            run.answered(resp)
            if run.judged(i, resp, await self._averify(run, i, resp), t):
                return run.accept(i, resp)
        return run.end()

    # --- streamed --------------------------------------------------------------------------

    def stream(
        self, request: RequestLike | None, tags: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> Iterator[ChatChunk]:
        # planned now, as a routed stream is: a request no rung can serve fails at the call
        return self._stream(self.router._plan_or_wait(request, kwargs, tags), tags)

    def astream(
        self, request: RequestLike | None, tags: dict[str, str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[ChatChunk]:
        router = self.router
        policy = router.policy
        if policy.circuit.when_all_open == "wait" or policy.when_rate_limited_ == "wait":
            return self._astream(None, tags, (request, kwargs))
        return self._astream(router.plan(request, tags=tags, **kwargs), tags, None)

    def _stream(self, plan: RoutingPlan, tags: dict[str, str] | None) -> Iterator[ChatChunk]:
        ex = self.router.executor
        run = self._run(plan, tags, self.cfg.stream)
        first = self.cfg.stream == "first"
        for i in run.order():
            if (why := run.too_late(i)) is not None:
                run.skip(i, why)
                continue
            t = run.clock()
            if run.is_last(i):
                it = ex.stream(run.pinned(i), tags)
                sent = False
                try:
                    for chunk in it:
                        if chunk.decision is not None:
                            chunk = with_decision(chunk, run.finish(i, chunk.decision, "final", t))
                        sent = sent or chunk.has_output
                        yield chunk
                    return
                except _RUNG_ERRORS as exc:
                    if sent:
                        raise
                    run.error(i, exc, t)
                    break
                finally:
                    _close(it)
            if not first:
                try:
                    resp = ex.complete(run.pinned(i), tags)
                except Exception as exc:
                    run.error(i, exc, t)
                    continue
                run.answered(resp)
                if run.judged(i, resp, self._verify(run, i, resp), t):
                    yield from as_chunks(run.accept(i, resp))
                    return
                continue
            it = ex.stream(run.pinned(i), tags)
            try:
                acc, buf, final = ChunkAccumulator(), [], None
                try:
                    for chunk in it:
                        acc.add(chunk)
                        buf.append(chunk)
                        if chunk.decision is not None:
                            final = chunk
                            break
                        if run.prefix_ready(acc.text, False):
                            break
                except Exception as exc:
                    run.error(i, exc, t)
                    continue
                if final is not None:  # the whole answer came within the prefix
                    resp = _folded(acc, final)
                    run.answered(resp)
                    if not run.judged(i, resp, self._verify(run, i, resp), t):
                        continue
                    decision = run.finish(i, resp.decision, "accepted", None)
                    yield from (_settled(c, decision) for c in buf)
                    return
                verdict = run.prefix_verdict(acc.text)
                if verdict is not None:
                    run.prefix_rejected(i, verdict, acc.text, t)
                    continue
                yield from (c for c in buf if c.has_output)
                for chunk in it:
                    if chunk.decision is not None:
                        chunk = with_decision(
                            chunk, run.finish(i, chunk.decision, "committed", t, "prefix passed")
                        )
                    yield chunk
                return
            finally:
                _close(it)
        yield from as_chunks(run.end())

    async def _astream(
        self,
        plan: RoutingPlan | None,
        tags: dict[str, str] | None,
        wait: tuple[RequestLike | None, dict[str, Any]] | None,
    ) -> AsyncIterator[ChatChunk]:
        router = self.router
        ex = router.executor
        if plan is None:
            assert wait is not None
            plan = await router._aplan_or_wait(wait[0], wait[1], tags)
        run = self._run(plan, tags, self.cfg.stream)
        first = self.cfg.stream == "first"
        for i in run.order():
            if (why := run.too_late(i)) is not None:
                run.skip(i, why)
                continue
            t = run.clock()
            if run.is_last(i):
                ait = ex.astream(run.pinned(i), tags)
                sent = False
                try:
                    async for chunk in ait:
                        if chunk.decision is not None:
                            chunk = with_decision(chunk, run.finish(i, chunk.decision, "final", t))
                        sent = sent or chunk.has_output
                        yield chunk
                    return
                except _RUNG_ERRORS as exc:
                    if sent:
                        raise
                    run.error(i, exc, t)
                    break
                finally:
                    await _aclose(ait)
            if not first:
                try:
                    resp = await ex.acomplete(run.pinned(i), tags)
                except Exception as exc:
                    run.error(i, exc, t)
                    continue
                run.answered(resp)
                if run.judged(i, resp, await self._averify(run, i, resp), t):
                    for c in as_chunks(run.accept(i, resp)):
                        yield c
                    return
                continue
            ait = ex.astream(run.pinned(i), tags)
            try:
                acc, buf, final = ChunkAccumulator(), [], None
                try:
                    async for chunk in ait:
                        acc.add(chunk)
                        buf.append(chunk)
                        if chunk.decision is not None:
                            final = chunk
                            break
                        if run.prefix_ready(acc.text, False):
                            break
                except Exception as exc:
                    run.error(i, exc, t)
                    continue
                if final is not None:
                    resp = _folded(acc, final)
                    run.answered(resp)
                    if not run.judged(i, resp, await self._averify(run, i, resp), t):
                        continue
                    decision = run.finish(i, resp.decision, "accepted", None)
                    for c in buf:
                        yield _settled(c, decision)
                    return
                verdict = run.prefix_verdict(acc.text)
                if verdict is not None:
                    run.prefix_rejected(i, verdict, acc.text, t)
                    continue
                for c in buf:
                    if c.has_output:
                        yield c
                async for chunk in ait:
                    if chunk.decision is not None:
                        chunk = with_decision(
                            chunk, run.finish(i, chunk.decision, "committed", t, "prefix passed")
                        )
                    yield chunk
                return
            finally:
                await _aclose(ait)
        for c in as_chunks(run.end()):
            yield c

    # --- verification ----------------------------------------------------------------------

    def _run(self, plan: RoutingPlan, tags: dict[str, str] | None, stream: str | None) -> Run:
        return Run(self.router, self.verifiers, self.stats, plan, tags, stream)

    def _verify(self, run: Run, i: int, resp: ChatResponse) -> Verdict:
        ex = self.router.executor

        def call(request: ChatRequest, model: str | None) -> ChatResponse:
            try:
                out = ex.complete(run.side_plan(i, request, model), run.tags)
            except Exception as exc:
                run.extra(list(getattr(exc, "attempts", None) or []))
                raise
            run.extra(out.decision.attempts if out.decision is not None else [])
            return out

        check = run.check(i, resp, call=call)
        verdicts = []
        for v in self.verifiers:
            try:
                got = v.verify(check)
            except _RUNG_ERRORS as exc:
                got = could_not_verify(v, exc)
            got = _named(got, v)
            if not got.accepted:
                return got
            verdicts.append(got)
        return combine(verdicts, [v.name for v in self.verifiers])

    async def _averify(self, run: Run, i: int, resp: ChatResponse) -> Verdict:
        ex = self.router.executor

        async def acall(request: ChatRequest, model: str | None) -> ChatResponse:
            try:
                out = await ex.acomplete(run.side_plan(i, request, model), run.tags)
            except Exception as exc:
                run.extra(list(getattr(exc, "attempts", None) or []))
                raise
            run.extra(out.decision.attempts if out.decision is not None else [])
            return out

        check: Check = run.check(i, resp, acall=acall)
        verdicts = []
        for v in self.verifiers:
            try:
                got = await v.averify(check)
            except _RUNG_ERRORS as exc:
                got = could_not_verify(v, exc)
            got = _named(got, v)
            if not got.accepted:
                return got
            verdicts.append(got)
        return combine(verdicts, [v.name for v in self.verifiers])


def _named(v: Verdict, verifier: Verifier) -> Verdict:
    if not isinstance(v, Verdict):
        raise TypeError(
            f"verifier {verifier.name!r} returned {type(v).__name__}, not a Verdict"
        )
    return v if v.verifier else Verdict(v.accepted, v.reason, v.confidence, verifier.name)


def _folded(acc: ChunkAccumulator, final: ChatChunk) -> ChatResponse:
    resp = acc.response()
    resp.decision = final.decision
    return resp


def _settled(chunk: ChatChunk, decision: Any) -> ChatChunk:
    return with_decision(chunk, decision) if chunk.decision is not None else chunk


def _close(it: Iterator[ChatChunk]) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def _aclose(it: AsyncIterator[ChatChunk]) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        await close()
