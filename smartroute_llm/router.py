"""``Router``: plan a request over targets by policy, then execute the plan reliably."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smartroute_llm import catalog
from smartroute_llm.breaker import CircuitBreakers
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import (
    CircuitOpenError,
    ConfigurationError,
    NoCandidatesError,
    RateLimitExceeded,
)
from smartroute_llm.execution import Executor
from smartroute_llm.features import ComplexityClassifier, RequestFeatures, analyze
from smartroute_llm.feedback import FeedbackLoop, QualityScorer
from smartroute_llm.groups import DeploymentGroups, groups_explanation, session_key
from smartroute_llm.limits import Limiter, check_tags
from smartroute_llm.plan import Exclusion, Profile, RoutingPlan, settle_prices
from smartroute_llm.policy import RoutingPolicy, RoutingStrategy
from smartroute_llm.request import ChatRequest, RequestLike, to_request
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.state import FailSafeStore, InMemoryStateStore, StateStore
from smartroute_llm.strategies import build_strategy
from smartroute_llm.target import Target

if TYPE_CHECKING:
    from smartroute_llm.cascade import Cascade

Tags = Mapping[str, str] | None


class Router:
    """Routes chat calls over ``targets`` by ``policy``.

    ``targets`` are anything implementing :class:`~smartroute_llm.target.Target`. Without targets,
    the router builds HTTP provider targets for the policy's models (``allow`` or
    ``add_provider``), reading API keys from the environment.

    ``state`` is where circuits and learned statistics live (default: in this process); any
    store but the in-memory one is wrapped in :class:`~smartroute_llm.state.FailSafeStore`, so a
    failing store degrades routing to local state instead of failing calls. ``clock`` (monotonic
    seconds) and ``wall_clock`` (``time.time``) exist for tests; a given ``clock`` serves as both.
    """

    def __init__(
        self,
        targets: Sequence[Target] | None = None,
        policy: RoutingPolicy | None = None,
        *,
        classifier: ComplexityClassifier | None = None,
        state: StateStore | None = None,
        clock: Callable[[], float] | None = None,
        scorers: Sequence[QualityScorer] = (),
        scorer_sample_rate: float = 1.0,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.policy = policy or RoutingPolicy.balanced()
        self.classifier = classifier
        if state is None:
            state = InMemoryStateStore()
        elif not isinstance(state, InMemoryStateStore | FailSafeStore):
            state = FailSafeStore(state)
        self.state: StateStore = state
        self.clock: Callable[[], float] = clock or time.monotonic
        self.wall_clock: Callable[[], float] = wall_clock or clock or time.time
        if targets is None:
            targets = _targets_from_policy(self.policy)
        self.targets: list[Target] = list(targets)
        self._profiles = self._build_profiles()
        self._by_name = {p.name: p for p in self._profiles}
        self._open = [p for p in self._profiles if p.static_exclusion is None]
        self._closed = [p for p in self._profiles if p.static_exclusion is not None]
        # every open profile fits a plain request of up to this size: no per-profile check
        self._fits = (
            min(p.context for p in self._open),
            min(p.max_output for p in self._open),
        )
        self.feedback = FeedbackLoop(self, scorers=scorers, sample_rate=scorer_sample_rate)
        self.groups = DeploymentGroups(
            self._profiles, self.policy.groups, self.feedback.inflight, self.clock
        )
        if self.groups.active:
            self.feedback.subscribe(self.groups)
        # Learning strategies get their statistics through the feed (a protocol), never the
        # router; one that learns from the prompt's text ranks with it (rank_text).
        self.strategy = build_strategy(
            self.policy, state=self.state, clock=self.clock, feed=self.feedback
        )
        self._rank_text = getattr(self.strategy, "rank_text", None)
        self._explain = getattr(self.strategy, "explain", None)
        self.breakers = CircuitBreakers(self.policy.circuit, self.state, self.wall_clock)
        # rate limits and budgets: on the store's Redis when it offers one, else in-process
        self.limiter: Limiter | None = None
        if self.policy.rate_limits or self.policy.budgets:
            self.limiter = Limiter(self.policy, self._profiles, self.state, self.wall_clock)
        self.executor = Executor(self)
        self.cascade: Cascade | None = None
        if self.policy.strategy is RoutingStrategy.CASCADE:
            from smartroute_llm.cascade import Cascade

            self.cascade = Cascade(self)  # calls walk its ladder (smartroute_llm.cascade)

    def _build_profiles(self) -> list[Profile]:
        policy = self.policy
        names: set[str] = set()
        known: set[str] = set()
        profiles = []
        for i, t in enumerate(self.targets):
            if not isinstance(t, Target):
                raise ConfigurationError(
                    f"targets[{i}]: {type(t).__name__} is not a Target (needs name, model, "
                    "capability, complete/acomplete/stream/astream)"
                )
            if t.name in names:
                raise ConfigurationError(
                    f"targets[{i}]: duplicate target name {t.name!r}; give each target a "
                    "unique name="
                )
            names.add(t.name)
            known.update((t.name, t.model, catalog.canonical_name(t.model)))
            cap = policy.providers.get(t.name) or policy.providers.get(t.model) or t.capability
            profiles.append(Profile.build(i, t, cap, self._static_exclusion(t)))
        if not profiles:
            raise ConfigurationError(
                "Router: no targets; pass targets=[...] or a policy with allow([...]) / "
                "add_provider(...)"
            )
        for field, listed in (
            ("allow", policy.allowed or ()),
            ("fallback_chain", policy.fallback or ()),
        ):
            unknown = [m for m in listed if m not in known]
            if unknown:
                raise ConfigurationError(
                    f"policy.{field}: {unknown} match no target (targets: "
                    f"{sorted(t.name for t in self.targets)}); add a target for each model or "
                    f"remove it from {field}"
                )
        if all(p.static_exclusion for p in profiles):
            raise NoCandidatesError(
                [Exclusion(p.name, p.model, p.static_exclusion or "") for p in profiles]
            )
        settle_prices(profiles, stacklevel=3)  # never free: warn once, rank as dearest
        return profiles

    def _static_exclusion(self, t: Target) -> str | None:
        policy = self.policy
        ids = (t.name, t.model, catalog.canonical_name(t.model))
        if policy.allowed is not None and not any(i in policy.allowed for i in ids):
            return "not in the policy's allow list"
        if any(i in policy.denied for i in ids):
            return "denied by the policy"
        return None

    # --- planning ----------------------------------------------------------------------------

    def features(self, request: RequestLike) -> RequestFeatures:
        return analyze(to_request(request), self.classifier)

    def plan(
        self,
        request: RequestLike | None = None,
        /,
        *,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> RoutingPlan:
        """Rank the targets for ``request``; pure computation, no I/O.

        ``kwargs`` are request fields, ours or OpenAI's (``messages=``, ``max_tokens=``, ...).
        ``model=`` pins the target it names; a name that is no target's (a model written for
        another client) is ignored, and the plan says so in ``explanation["model"]``. ``tags``
        are the call's (e.g. ``{"team": "a"}``), which per-key budgets are kept by. ``session`` (or
        ``metadata={"session": ...}``) keeps the calls of one session on one member of a
        deployment group while that member is eligible."""
        session = ignored = None
        if kwargs:
            session = kwargs.pop("session", None)
            ignored = self._foreign_model(kwargs) if "model" in kwargs else None
            if ignored is not None:
                kwargs = {k: v for k, v in kwargs.items() if k != "model"}
        req = to_request(request, **kwargs) if kwargs else to_request(request)
        features = analyze(req, self.classifier)
        eligible, excluded = self._filter(features, None if tags is None else check_tags(tags))
        if not eligible:
            raise NoCandidatesError(excluded)
        if self._rank_text is not None:
            candidates, weights = self._rank_text(eligible, features, _last_user_text(req))
        else:
            candidates, weights = self.strategy.rank(eligible, features)
        fallback = self.policy.fallback
        if fallback and len(candidates) > 1:
            candidates = _apply_chain(candidates, fallback)
        picks = None
        if session is None and req.metadata:
            session = req.metadata.get("session")
        if session is not None:
            session = session_key(session)
        if self.groups.active:
            candidates, picks = self.groups.arrange(candidates, session)
        plan = RoutingPlan(req, features, self.strategy.name, candidates, excluded, weights, {})
        explain = self._explain
        if explain is not None:
            plan.explanation = explain(candidates)
        if ignored is not None:
            plan.explanation["model"] = f"{ignored!r} names no target: ignored, routed by policy"
        if picks:
            plan.groups = picks
            plan.explanation = {**plan.explanation, "groups": groups_explanation(picks)}
        return plan

    def _foreign_model(self, kwargs: dict[str, Any]) -> str | None:
        model = kwargs.get("model")
        if type(model) is not str or model == "auto" or model in self._by_name:
            return None
        if any(p.model == model for p in self._profiles):
            return None
        return model

    def _filter(
        self, f: RequestFeatures, tags: dict[str, str] | None = None
    ) -> tuple[list[Profile], list[Exclusion]]:
        eligible: list[Profile] = []
        excluded: list[Exclusion] = []
        requested_out = f.output_tokens if f.requested_output else 0
        need = f.prompt_tokens + requested_out
        tools, vision, json_ = f.needs_tools, f.needs_vision, f.needs_json
        pinned = f.pinned_model
        cap = self.policy.max_cost_per_request
        blocked = self.breakers.blocked()
        # the common request (nothing pinned, needed or capped) only asks the sizes to fit
        plain = not (pinned is not None or tools or vision or json_ or cap is not None or blocked)
        if plain and need <= self._fits[0] and requested_out <= self._fits[1]:
            eligible = self._open.copy()
            if self._closed:
                excluded = [
                    Exclusion(p.name, p.model, p.static_exclusion or "") for p in self._closed
                ]
            if self.limiter is None:
                return eligible, excluded
            return self._limited(eligible, excluded, f, tags, blocked)
        for p in self._profiles:
            reason = p.static_exclusion
            if plain and reason is None and p.context >= need and requested_out <= p.max_output:
                eligible.append(p)
                continue
            if reason is None:
                if pinned is not None and pinned not in (p.name, p.model):
                    reason = f"not the pinned model {pinned!r}"
                elif p.context < need:
                    reason = (
                        f"context window {p.context} < prompt ~{f.prompt_tokens} + "
                        f"requested output {requested_out} tokens"
                    )
                elif requested_out > p.max_output:
                    reason = f"max output {p.max_output} < requested {requested_out} tokens"
                elif tools and not p.tools:
                    reason = "lacks tool calling"
                elif vision and not p.vision:
                    reason = "lacks vision (image input)"
                elif json_ and not p.json:
                    reason = "lacks JSON output"
                elif (
                    cap is not None
                    and (
                        f.prompt_tokens * p.in_price + (requested_out or p.max_output) * p.out_price
                    )
                    > cap
                ):
                    reason = f"worst-case cost exceeds the cap ${cap:g} per request"
                elif blocked and p.name in blocked:
                    reason = blocked[p.name]
            if reason is None:
                eligible.append(p)
            else:
                excluded.append(Exclusion(p.name, p.model, reason))
        return self._limited(eligible, excluded, f, tags, blocked)

    def _limited(
        self,
        eligible: list[Profile],
        excluded: list[Exclusion],
        f: RequestFeatures,
        tags: dict[str, str] | None,
        blocked: dict[str, str],
    ) -> tuple[list[Profile], list[Exclusion]]:
        """The filter's last steps: rate limits and budgets, and every circuit open."""
        if self.limiter is not None and eligible:
            try:
                eligible, limited = self.limiter.filter(eligible, f, tags)
            except RateLimitExceeded as err:
                err.exclusions[:0] = excluded
                raise
            excluded.extend(limited)
        if not eligible and blocked:
            waiting = [p.name for p in self._profiles if _only_breaker(p, excluded)]
            if waiting:
                raise CircuitOpenError(excluded, self.breakers.retry_in(waiting))
        return eligible, excluded

    def explain(self, request: RequestLike | None = None, /, **kwargs: Any) -> str:
        return self.plan(request, **kwargs).explain()

    # --- calling -----------------------------------------------------------------------------

    def chat(
        self, request: RequestLike | None = None, /, *, tags: Tags = None, **kwargs: Any
    ) -> ChatResponse:
        """One answer. ``request`` is a prompt, messages or a :class:`ChatRequest`; or give
        OpenAI's ``chat.completions.create`` keywords as they are (``messages=``, ``tools=``,
        ``max_tokens=``, ...): ``router.chat(**kwargs_written_for_openai)``. ``tags`` (e.g.
        ``{"team": "a"}``) select per-key budgets."""
        t = check_tags(tags)
        if self.cascade is not None:
            return self.cascade.chat(request, t, kwargs)
        started = self.clock()
        while True:
            plan = self._plan_or_wait(request, kwargs, t, started)
            try:
                return self.executor.complete(plan, t)
            except RateLimitExceeded as err:  # another process took the last slot first
                delay = self._limit_wait(err, started)
                if delay is None:
                    raise
                time.sleep(delay)

    async def achat(
        self, request: RequestLike | None = None, /, *, tags: Tags = None, **kwargs: Any
    ) -> ChatResponse:
        t = check_tags(tags)
        if self.cascade is not None:
            return await self.cascade.achat(request, t, kwargs)
        started = self.clock()
        while True:
            plan = self._try_plan(request, kwargs, started, t)
            if isinstance(plan, float):  # every candidate waiting (circuit or rate limit)
                await asyncio.sleep(plan)
                continue
            try:
                return await self.executor.acomplete(plan, t)
            except RateLimitExceeded as err:
                delay = self._limit_wait(err, started)
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    def stream(
        self, request: RequestLike | None = None, /, *, tags: Tags = None, **kwargs: Any
    ) -> Iterator[ChatChunk]:
        """Chunks as they arrive; the last chunk carries the ``decision``. OpenAI's
        ``stream=True`` is accepted (and implied)."""
        kwargs.pop("stream", None)
        t = check_tags(tags)
        if self.cascade is not None:
            return self.cascade.stream(request, t, kwargs)
        return self.executor.stream(self._plan_or_wait(request, kwargs, t), t)

    def astream(
        self, request: RequestLike | None = None, /, *, tags: Tags = None, **kwargs: Any
    ) -> AsyncIterator[ChatChunk]:
        kwargs.pop("stream", None)
        t = check_tags(tags)
        if self.cascade is not None:
            return self.cascade.astream(request, t, kwargs)
        if self.policy.circuit.when_all_open == "wait" or self.policy.when_rate_limited_ == "wait":
            return self._astream_after_wait(request, kwargs, t)
        return self.executor.astream(self.plan(request, tags=t, **kwargs), t)

    async def _astream_after_wait(
        self, request: RequestLike | None, kwargs: dict[str, Any], tags: dict[str, str] | None
    ) -> AsyncIterator[ChatChunk]:
        plan = await self._aplan_or_wait(request, kwargs, tags)
        async for chunk in self.executor.astream(plan, tags):
            yield chunk

    # --- every circuit open: fail fast, or wait for the earliest recovery ----------------------

    def _wait_step(self, err: CircuitOpenError, started: float) -> float | None:
        """Every circuit open: how long to sleep before planning again (polling, since a
        half-open probe in flight may settle long before its lease runs out), or None to raise
        ``err`` now. Without a deadline a call waits at most ``max_cooldown_s``."""
        if self.policy.circuit.when_all_open != "wait":
            return None
        budget = self.policy.deadline_s or self.policy.circuit.max_cooldown_s
        return self._sleep_for(err.retry_after_s, started, budget, poll=0.25)

    def _limit_wait(self, err: RateLimitExceeded, started: float) -> float | None:
        """Every candidate at its rate limit: how long to wait for the earliest slot, or None
        to raise now (``when_rate_limited="fallback"``, or the deadline would not allow it;
        without a deadline a call waits at most 60 s)."""
        if self.policy.when_rate_limited_ != "wait":
            return None
        return self._sleep_for(err.retry_after_s, started, self.policy.deadline_s or 60.0, poll=1.0)

    def _sleep_for(
        self, retry_after: float | None, started: float, budget: float, poll: float
    ) -> float | None:
        """One sleep of a wait that must end within ``budget`` of ``started``; None when the
        earliest retry falls outside it."""
        left = started + budget - self.clock()
        if retry_after is None or retry_after >= left:
            return None
        return min(max(retry_after, 0.01), poll, left)

    def _try_plan(
        self,
        request: RequestLike | None,
        kwargs: dict[str, Any],
        started: float,
        tags: dict[str, str] | None = None,
    ) -> RoutingPlan | float:
        """The plan, or how long to wait before trying again (``when_all_open="wait"``, or
        ``when_rate_limited="wait"``)."""
        try:
            plan = self.plan(request, tags=tags, **kwargs)
        except CircuitOpenError as err:
            delay = self._wait_step(err, started)
            if delay is None:
                raise
            return delay
        except RateLimitExceeded as err:
            delay = self._limit_wait(err, started)
            if delay is None:
                raise
            return delay
        plan.started_at = started
        return plan

    def _plan_or_wait(
        self,
        request: RequestLike | None,
        kwargs: dict[str, Any],
        tags: dict[str, str] | None = None,
        started: float | None = None,
    ) -> RoutingPlan:
        started = self.clock() if started is None else started
        while isinstance(step := self._try_plan(request, kwargs, started, tags), float):
            time.sleep(step)
        return step

    async def _aplan_or_wait(
        self,
        request: RequestLike | None,
        kwargs: dict[str, Any],
        tags: dict[str, str] | None = None,
        started: float | None = None,
    ) -> RoutingPlan:
        started = self.clock() if started is None else started
        while isinstance(step := self._try_plan(request, kwargs, started, tags), float):
            await asyncio.sleep(step)
        return step

    # seed spelling
    chat_completion = chat
    achat_completion = achat

    # --- feedback ----------------------------------------------------------------------------

    def record_feedback(self, decision_id: str, quality: float) -> bool:
        """Quality in [0, 1] for an earlier decision; returns False if the id is unknown."""
        return self.feedback.record_feedback(decision_id, quality)

    def record_routing_decision(
        self, provider: str, latency: float, quality_score: float | None = None
    ) -> None:
        """The seed's feedback call: a target (or model) name, seconds, optional quality."""
        self.feedback.record_external(provider, latency, quality_score)

    def stats(self) -> dict[str, Any]:
        return self.feedback.stats()

    def save_stats(self, path: str) -> None:
        self.feedback.save(path)

    def load_stats(self, path: str) -> None:
        self.feedback.load(path)

    # --- lifecycle ---------------------------------------------------------------------------

    def profile(self, name: str) -> Profile:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no target named {name!r}") from None

    @property
    def profiles(self) -> list[Profile]:
        return list(self._profiles)

    def capability(self, name: str) -> ProviderCapability:
        return self.profile(name).capability

    def close(self) -> None:
        for t in self.targets:
            close = getattr(t, "close", None)
            if callable(close):
                close()

    async def aclose(self) -> None:
        for t in self.targets:
            aclose = getattr(t, "aclose", None)
            if callable(aclose):
                await aclose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self._profiles[:5])
        more = "" if len(self._profiles) <= 5 else f", +{len(self._profiles) - 5}"
        return f"Router(strategy={self.policy.strategy.value!r}, targets=[{names}{more}])"


def _last_user_text(req: ChatRequest) -> str:
    for m in reversed(req.messages):
        if m.role == "user":
            return m.text
    return ""


def _only_breaker(p: Profile, excluded: list[Exclusion]) -> bool:
    return any(e.target == p.name and e.reason.startswith("circuit ") for e in excluded)


def _apply_chain(candidates: list[Any], chain: tuple[str, ...]) -> list[Any]:
    first, rest = candidates[0], candidates[1:]
    pos = {n: i for i, n in enumerate(chain)}

    def key(c: Any) -> int:
        i = pos.get(c.name, pos.get(c.model))
        return len(chain) if i is None else i

    return [first, *sorted(rest, key=key)]


def _targets_from_policy(policy: RoutingPolicy) -> list[Target]:
    names = list(dict.fromkeys([*(policy.allowed or ()), *policy.providers]))
    if not names:
        raise ConfigurationError(
            "Router: no targets and the policy names no models; pass targets=[...] or use "
            "policy.allow([...])"
        )
    try:
        from smartroute_llm.providers import for_model
    except ImportError as exc:  # pragma: no cover
        raise ConfigurationError("HTTP providers are unavailable in this build") from exc
    return [for_model(n, policy.providers.get(n)) for n in names]
