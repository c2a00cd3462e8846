"""``RoutingPolicy``: what to optimise and how to stay reliable, as a builder or as data.

Builder calls return a new policy (policies are immutable and safe to share), so chains read
like the seed's Rust API::

    RoutingPolicy.balanced().allow(["gpt-4o", "claude-3-haiku"]).cost_aware(True)

The same policy is plain data: ``RoutingPolicy(strategy="balanced", allow=[...])``, and
``policy.to_json()`` / ``RoutingPolicy.from_json()`` (and ``to_yaml`` / ``from_yaml``) round-trip.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Concatenate, Generic, Literal, ParamSpec

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError, ErrorKind
from smartroute_llm.groups import GroupConfig, SpreadMode


class RoutingStrategy(StrEnum):
    BALANCED = "balanced"
    ADAPTIVE = "adaptive"
    CHEAPEST = "cheapest"
    FASTEST = "fastest"
    HIGHEST_QUALITY = "highest_quality"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    CASCADE = "cascade"


class ErrorAction(StrEnum):
    RETRY = "retry"  # retry the same target (bounded by RetryPolicy), then fall back
    FALLBACK = "fallback"  # go to the next candidate
    STOP = "stop"  # raise now, surfacing the provider's reason


DEFAULT_ERROR_ACTIONS: dict[ErrorKind, ErrorAction] = {
    ErrorKind.RATE_LIMITED: ErrorAction.RETRY,
    ErrorKind.OVERLOADED: ErrorAction.RETRY,
    ErrorKind.MALFORMED_RESPONSE: ErrorAction.RETRY,
    ErrorKind.TIMEOUT: ErrorAction.FALLBACK,
    ErrorKind.CONNECT_TIMEOUT: ErrorAction.FALLBACK,
    ErrorKind.TTFT_TIMEOUT: ErrorAction.FALLBACK,
    ErrorKind.STREAM_STALL: ErrorAction.FALLBACK,
    ErrorKind.STREAM_INTERRUPTED: ErrorAction.FALLBACK,
    ErrorKind.CONNECTION: ErrorAction.FALLBACK,
    ErrorKind.CONTEXT_LENGTH: ErrorAction.FALLBACK,
    ErrorKind.AUTHENTICATION: ErrorAction.FALLBACK,
    ErrorKind.NOT_FOUND: ErrorAction.FALLBACK,
    ErrorKind.CIRCUIT_OPEN: ErrorAction.FALLBACK,
    ErrorKind.UNKNOWN: ErrorAction.FALLBACK,
    ErrorKind.CONTENT_FILTER: ErrorAction.STOP,
    ErrorKind.INVALID_REQUEST: ErrorAction.STOP,
    ErrorKind.DEADLINE: ErrorAction.STOP,
}


# Every float of a policy is a finite number: an infinite backoff or cap overflows or hangs
# the executor, and a NaN compares false everywhere (a NaN hedge delay hedges at once).
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class BalancedWeights(_Frozen):
    """Base weights of the BALANCED score; see the README for the formula."""

    quality: float = Field(0.5, ge=0)
    speed: float = Field(0.25, ge=0)
    cost: float = Field(0.25, ge=0)
    complexity_shift: float = Field(0.6, ge=0, le=5)
    # USD the caller would pay for +1 expected quality; when set, BALANCED scores
    # w_q*(Q - cost_usd / willingness_to_pay) + w_s*S in place of the log cost score.
    willingness_to_pay: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_weight(self) -> BalancedWeights:
        if self.quality + self.speed + self.cost <= 0:
            raise ValueError("weights: quality + speed + cost must be > 0")
        return self


class RetryPolicy(_Frozen):
    """Retries on the same target for RETRY errors: jittered exponential backoff."""

    max_retries: int = Field(2, ge=0, le=10)
    backoff_base_s: float = Field(0.25, ge=0)
    backoff_max_s: float = Field(8.0, ge=0)
    retry_after_cap_s: float = Field(30.0, ge=0)
    jitter: bool = True


class CircuitBreakerConfig(_Frozen):
    """Opens after ``failure_threshold`` consecutive failures, or when the failure rate over the
    last ``window`` calls reaches ``failure_rate`` (after ``min_calls``); stays open for
    ``cooldown_s``, then lets a single probe through (half-open); each failed probe doubles the
    cooldown, up to ``max_cooldown_s``. ``when_all_open`` says what a call does when every
    candidate's circuit is open (see docs/reliability.md)."""

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    window: int = Field(20, ge=2)
    min_calls: int = Field(10, ge=1)
    cooldown_s: float = Field(30.0, ge=0)
    max_cooldown_s: float = Field(300.0, ge=0)
    probe_lease_s: float = Field(
        60.0, gt=0, description="a half-open probe's claim expires after this (its holder died)"
    )
    when_all_open: Literal["fail_fast", "wait"] = Field(
        "fail_fast",
        description="every candidate's circuit open: fail at once with the earliest retry time "
        "(CircuitOpenError), or wait for the earliest recovery if the deadline allows",
    )


_PERCENTILES = ("p50", "p75", "p90", "p95", "p99")


class RaceConfig(_Frozen):
    """Hedging: start the next candidate when the current one has produced nothing after
    ``hedge_after`` (seconds, or a learned latency percentile per target such as ``"p90"``)."""

    top_k: int = Field(2, ge=2, le=8)
    hedge_after: float | Literal["p50", "p75", "p90", "p95", "p99"] = 0.0
    min_hedge_after_s: float = Field(0.05, ge=0)

    @field_validator("hedge_after", mode="before")
    @classmethod
    def _hedge_after(cls, v: Any) -> Any:
        if isinstance(v, str) and v in _PERCENTILES:
            return v
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
            return float(v)
        raise ValueError(
            f"hedge_after: seconds as a finite number >= 0, or one of {', '.join(_PERCENTILES)} "
            f"(a learned latency percentile); got {v!r}"
        )


class AdaptiveConfig(_Frozen):
    """Learning knobs of the ADAPTIVE strategy."""

    half_life_obs: float = Field(
        200.0, gt=0, description="quality evidence of a (model, class) halves every N of its scores"
    )
    latency_half_life_obs: float = Field(
        25.0, gt=0, description="latency/failure evidence halves every N router-wide outcomes"
    )
    half_life_s: float | None = Field(None, gt=0, description="and/or every N seconds")
    exploration: float = Field(1.0, ge=0, le=5, description="scale of posterior sampling")
    max_explore_share: float = Field(0.2, ge=0, le=1)
    prior_strength: float = Field(4.0, gt=0, description="pseudo-observations of the tier prior")
    latency_prior_strength: float = Field(
        1.0, gt=0, description="pseudo-observations of the speed tier's latency prior"
    )
    prior_failure_rate: float = Field(0.01, ge=0, lt=1)
    inflight_latency_share: float = Field(
        0.1, ge=0, description="expected latency grows by this share per request in flight"
    )
    clusters: bool = Field(
        True, description="learn quality per cluster of similar prompts (from their text)"
    )
    cluster_prior_strength: float = Field(
        4.0, gt=0, description="pseudo-observations of the broader estimate a cluster starts from"
    )
    cluster_half_life_obs: float = Field(
        60.0, gt=0, description="quality evidence of a (model, cluster) halves every N scores"
    )
    seed: int | None = None


class CascadeConfig(_Frozen):
    """The CASCADE strategy: try the ``ladder``'s rungs in order, return the first answer every
    verifier accepts (the last rung's as is). See docs/cascade.md.

    ``verifiers``: built-in names, import paths (``package.module.name``),
    ``{name: ..., **arguments}``, or in code the objects themselves (a Verifier, or a function
    ``(request, response) -> bool | (bool, reason) | Verdict``). ``ladder``: target or model
    names, in order; without it, every eligible candidate, cheapest first. ``stream``: what a
    streamed call does: ``final`` streams the accepted answer (time to first token is the
    ladder's time), ``first`` streams a rung at once and escalates only before its first text
    leaves, judged by the verifiers' ``check_prefix`` on the first ``prefix_chars`` characters
    or first sentence. A rung is not started with less than ``min_rung_s`` left before the
    deadline (or less than its learned median latency). After ``start_higher_after``
    rejections of a rung in a row for one cluster of prompts, calls of that cluster start at
    the next rung (0: never), re-probing the lower rung every ``reprobe_every`` calls."""

    verifiers: tuple[Any, ...]
    ladder: tuple[str, ...] | None = None
    stream: Literal["final", "first"] = "final"
    prefix_chars: int = Field(200, ge=1, le=100_000)
    min_rung_s: float = Field(0.0, ge=0)
    start_higher_after: int = Field(3, ge=0)
    reprobe_every: int = Field(10, ge=2)

    @field_validator("verifiers", mode="before")
    @classmethod
    def _verifiers(cls, v: Any) -> Any:
        from smartroute_llm.cascade.resolve import resolve

        if isinstance(v, str | Mapping) or callable(v):
            v = [v]
        if not isinstance(v, Iterable):
            raise ValueError("verifiers: a list of verifiers (names, import paths or objects)")
        items = tuple(v)
        if not items:
            raise ValueError(
                "verifiers: give at least one (e.g. ['structural']); without a verifier a "
                "cascade always returns its first rung"
            )
        for i, item in enumerate(items):
            resolve(item, f"verifiers[{i}]")  # fails early, naming the entry
        return items

    @field_validator("ladder", mode="before")
    @classmethod
    def _ladder(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            raise ValueError(f"ladder: a list of target or model names, got {v!r}; write [{v!r}]")
        names = tuple(v)
        if not names or any(not isinstance(n, str) or not n.strip() for n in names):
            raise ValueError("ladder: a non-empty list of target or model names")
        if len(set(names)) != len(names):
            raise ValueError(f"ladder: names must be distinct, got {list(names)}")
        return names

    @field_serializer("verifiers", when_used="json")
    def _named(self, v: tuple[Any, ...]) -> list[Any]:
        from smartroute_llm.cascade.resolve import spec_name

        return [spec_name(x) for x in v]


P = ParamSpec("P")


class _Builder(Generic[P]):
    """A builder usable on the class (a new policy) and on a policy (keeping its settings):
    ``RoutingPolicy.cascade(...)`` and ``policy.deadline(5).cascade(...)``."""

    def __init__(self, fn: Callable[Concatenate[RoutingPolicy, P], RoutingPolicy]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(
        self, obj: RoutingPolicy | None, owner: type[RoutingPolicy]
    ) -> Callable[P, RoutingPolicy]:
        return functools.partial(self.fn, obj if obj is not None else owner())


_WINDOW_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_window(v: Any, field: str) -> float:
    """Seconds from ``30``, ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"`` or ``"1w"``."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        secs = float(v)
    elif isinstance(v, str) and v.strip()[:-1].replace(".", "", 1).isdigit() and (
        v.strip()[-1].lower() in _WINDOW_UNITS
    ):
        t = v.strip()
        secs = float(t[:-1]) * _WINDOW_UNITS[t[-1].lower()]
    else:
        raise ValueError(
            f"{field}: a duration like 60, \"90s\", \"15m\", \"1h\", \"1d\" or \"1w\"; got {v!r}"
        )
    if not (math.isfinite(secs) and secs >= 1):
        raise ValueError(f"{field}: must be finite and at least 1 second, got {v!r}")
    return secs


class RateLimit(_Frozen):
    """A client-side limit on one target (or every target of a model): requests (``rpm``) and
    tokens (``tpm``, prompt + output) per ``window_s`` (a minute unless changed). Requests and
    estimated tokens are reserved before an attempt and settled with its real usage after."""

    target: str = Field(min_length=1, description="a target name or a model name")
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    window_s: float = Field(60.0, description="the sliding window rpm/tpm count over")

    @field_validator("window_s", mode="before")
    @classmethod
    def _window(cls, v: Any) -> float:
        return parse_window(v, "window_s")

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimit:
        if self.rpm is None and self.tpm is None:
            raise ValueError(f"rate_limit {self.target!r}: give rpm=, tpm= or both")
        return self


class Budget(_Frozen):
    """A USD spend limit over a fixed window (aligned to the epoch in UTC: ``"1d"`` resets at
    midnight UTC). ``per`` names a call tag (``tags={"team": "a"}``): each value has its own
    budget; without ``per`` the budget is the router's. Below ``downgrade_below`` (a share of
    ``usd`` left), only the cheapest candidates stay in the plan."""

    usd: float = Field(gt=0)
    window_s: float = Field(86400.0, alias="window")
    per: str | None = Field(None, min_length=1)
    name: str | None = Field(None, min_length=1)
    downgrade_below: float = Field(0.2, ge=0, le=1)

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    @field_validator("window_s", mode="before")
    @classmethod
    def _window(cls, v: Any) -> float:
        return parse_window(v, "window")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"per-{self.per}" if self.per else "router"


class RoutingPolicy(_Frozen):
    strategy: RoutingStrategy = RoutingStrategy.BALANCED
    allowed: tuple[str, ...] | None = Field(None, alias="allow")
    denied: tuple[str, ...] = Field((), alias="deny")
    providers: dict[str, ProviderCapability] = Field(default_factory=dict)
    prefer_fast_for_simple: bool = False
    prefer_quality_for_complex: bool = False
    cost_aware_: bool = Field(True, alias="cost_aware")
    weights: BalancedWeights = Field(default_factory=BalancedWeights)
    model_weights: dict[str, float] = Field(default_factory=dict)
    feedback: bool = Field(True, alias="feedback_enabled")
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    seed: int | None = None
    # reliability
    fallback: tuple[str, ...] | None = Field(None, alias="fallback_chain")
    max_attempts: int = Field(6, ge=1, le=50)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    on_error: dict[ErrorKind, ErrorAction] = Field(default_factory=dict)
    deadline_s: float | None = Field(None, gt=0, alias="deadline")
    timeout_s: float | None = Field(60.0, gt=0, alias="timeout")
    connect_timeout_s: float | None = Field(5.0, gt=0, alias="connect_timeout")
    ttft_timeout_s: float | None = Field(None, gt=0, alias="ttft_timeout")
    stall_timeout_s: float | None = Field(None, gt=0, alias="stall_timeout")
    circuit: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    race_: RaceConfig | None = Field(None, alias="race")
    resume_streams_: bool = Field(False, alias="resume_streams")
    max_cost_per_request: float | None = Field(None, gt=0)
    # limits (smartroute_llm.limits)
    rate_limits: tuple[RateLimit, ...] = ()
    budgets: tuple[Budget, ...] = ()
    when_rate_limited_: Literal["fallback", "wait"] = Field("fallback", alias="when_rate_limited")
    groups: GroupConfig = Field(default_factory=GroupConfig)
    cascade_: CascadeConfig | None = Field(None, alias="cascade")

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        allow_inf_nan=False,
        ignored_types=(_Builder,),
    )

    @field_validator("allowed", "denied", "fallback", mode="before")
    @classmethod
    def _names(cls, v: Any, info: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            raise ValueError(
                f"{info.field_name}: expected a list of model names, got the string {v!r}; "
                f"write [{v!r}]"
            )
        names = tuple(v)
        for n in names:
            if not isinstance(n, str) or not n.strip():
                raise ValueError(f"{info.field_name}: model names must be non-empty strings")
        return names

    @field_validator("rate_limits", "budgets", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any, info: Any) -> Any:
        """A single limit may be written without the list; its problems are named by field."""
        if not isinstance(v, Mapping):
            return v
        model = RateLimit if info.field_name == "rate_limits" else Budget
        try:
            model.model_validate(v)
        except ValidationError as exc:
            clauses = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(x) for x in (info.field_name, *err["loc"]))
                msg = str(err["msg"]).removeprefix("Value error, ")
                msg = msg.split(": ", 1)[1] if msg.split(": ", 1)[0] in where else msg
                clauses.append(f"{where}: {msg}")
            raise ValueError("; ".join(clauses)) from None
        return [v]

    @model_validator(mode="after")
    def _unique_limits(self) -> RoutingPolicy:
        seen: set[str] = set()
        for i, rl in enumerate(self.rate_limits):
            if rl.target in seen:
                raise ValueError(
                    f"rate_limits[{i}]: a second limit on {rl.target!r}; give rpm and tpm in one"
                )
            seen.add(rl.target)
        labels: set[str] = set()
        for i, b in enumerate(self.budgets):
            if b.label in labels:
                raise ValueError(
                    f"budgets[{i}]: a second budget named {b.label!r}; give it another name="
                )
            labels.add(b.label)
        return self

    @model_validator(mode="after")
    def _cascade_settings(self) -> RoutingPolicy:
        cascading = self.strategy is RoutingStrategy.CASCADE
        if cascading and self.cascade_ is None:
            raise ValueError(
                "strategy: cascade needs its verifiers: cascade: {verifiers: [structural]} "
                "(RoutingPolicy.cascade(verifiers=[...]))"
            )
        if self.cascade_ is not None and not cascading:
            raise ValueError(
                f"cascade: set, but the strategy is {self.strategy.value}; use strategy: cascade "
                "or remove cascade:"
            )
        return self

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, v: Any) -> Any:
        if isinstance(v, str) and not isinstance(v, RoutingStrategy):
            key = v.strip().lower().replace("-", "_")
            key = {"best": "highest_quality", "quality": "highest_quality"}.get(key, key)
            if key not in RoutingStrategy._value2member_map_:
                allowed = ", ".join(s.value for s in RoutingStrategy)
                raise ValueError(f"strategy: unknown strategy {v!r}; use one of {allowed}")
            return RoutingStrategy(key)
        return v

    @field_validator("model_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if not w >= 0:
                raise ValueError(f"model_weights[{name!r}]: weight must be >= 0, got {w}")
        return v

    # --- constructors (the seed's names) ---------------------------------------------------

    @classmethod
    def new(cls) -> RoutingPolicy:
        return cls()

    @classmethod
    def balanced(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.BALANCED)

    @classmethod
    def adaptive_(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.ADAPTIVE)

    @classmethod
    def cheapest(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.CHEAPEST)

    @classmethod
    def fastest(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.FASTEST)

    @classmethod
    def best(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.HIGHEST_QUALITY)

    @classmethod
    def highest_quality(cls) -> RoutingPolicy:
        return cls.best()

    @classmethod
    def round_robin(cls) -> RoutingPolicy:
        return cls(strategy=RoutingStrategy.ROUND_ROBIN)

    @classmethod
    def weighted(cls, weights: Mapping[str, float]) -> RoutingPolicy:
        return cls.from_dict({"strategy": RoutingStrategy.WEIGHTED, "model_weights": dict(weights)})

    @_Builder
    def cascade(
        self,
        /,
        verifiers: Iterable[Any] | Any,
        ladder: Iterable[str] | None = None,
        *,
        stream: Literal["final", "first"] = "final",
        **options: Any,
    ) -> RoutingPolicy:
        """Verified escalation (see :class:`CascadeConfig` and docs/cascade.md): answer with
        the first rung of the ladder (cheapest first unless ``ladder`` orders target names),
        return the first answer every verifier accepts. On the class, a new policy; on a
        policy, that policy with the cascade strategy."""
        spec = {"verifiers": verifiers, "ladder": ladder, "stream": stream, **options}
        return self._with(strategy=RoutingStrategy.CASCADE, cascade_=spec)

    # --- builder -----------------------------------------------------------------------------

    def _with(self, **update: Any) -> RoutingPolicy:
        data = self.model_dump(by_alias=False, exclude_unset=False, round_trip=True)
        data.update(update)
        try:
            return RoutingPolicy.model_validate(
                {k: v for k, v in data.items()}, context={"by_name": True}
            )
        except ValidationError as exc:
            raise _configuration_error(exc, RoutingPolicy) from None

    def allow(self, models: Iterable[str]) -> RoutingPolicy:
        return self._with(allowed=_listed("allow", models))

    def deny(self, models: Iterable[str]) -> RoutingPolicy:
        return self._with(denied=_listed("deny", models))

    def add_provider(
        self, model: str, capability: ProviderCapability | Mapping[str, Any]
    ) -> RoutingPolicy:
        cap = (
            capability
            if isinstance(capability, ProviderCapability)
            else ProviderCapability.model_validate(capability)
        )
        return self._with(providers={**self.providers, model: cap})

    def routing_strategy(self, strategy: RoutingStrategy | str) -> RoutingPolicy:
        return self._with(strategy=strategy)

    def prefer_fast_for_simple_requests(self, on: bool = True) -> RoutingPolicy:
        return self._with(prefer_fast_for_simple=on)

    def prefer_quality_for_complex_requests(self, on: bool = True) -> RoutingPolicy:
        return self._with(prefer_quality_for_complex=on)

    def cost_aware(self, on: bool = True) -> RoutingPolicy:
        return self._with(cost_aware_=on)

    def feedback_enabled(self, on: bool = True) -> RoutingPolicy:
        return self._with(feedback=on)

    def with_weights(self, **weights: float) -> RoutingPolicy:
        return self._with(weights=self.weights.model_copy(update=weights).model_dump())

    def fallback_chain(self, models: Iterable[str]) -> RoutingPolicy:
        return self._with(fallback=_listed("fallback_chain", models))

    def retries(self, max_retries: int, **kwargs: Any) -> RoutingPolicy:
        return self._with(retry={**self.retry.model_dump(), "max_retries": max_retries, **kwargs})

    def deadline(self, seconds: float | None) -> RoutingPolicy:
        return self._with(deadline_s=seconds)

    def timeouts(
        self,
        *,
        timeout: float | None = None,
        ttft: float | None = None,
        stall: float | None = None,
        connect: float | None = None,
    ) -> RoutingPolicy:
        upd: dict[str, Any] = {}
        if timeout is not None:
            upd["timeout_s"] = timeout
        if ttft is not None:
            upd["ttft_timeout_s"] = ttft
        if stall is not None:
            upd["stall_timeout_s"] = stall
        if connect is not None:
            upd["connect_timeout_s"] = connect
        return self._with(**upd)

    def circuit_breaker(self, **kwargs: Any) -> RoutingPolicy:
        return self._with(circuit={**self.circuit.model_dump(), **kwargs})

    def race(self, top_k: int = 2, hedge_after: float | str = 0.0, **kwargs: Any) -> RoutingPolicy:
        return self._with(race_={"top_k": top_k, "hedge_after": hedge_after, **kwargs})

    def resume_streams(self, on: bool = True) -> RoutingPolicy:
        return self._with(resume_streams_=on)

    def on(self, kind: ErrorKind | str, action: ErrorAction | str) -> RoutingPolicy:
        return self._with(on_error={**self.on_error, ErrorKind(kind): ErrorAction(action)})

    def cost_cap(self, usd_per_request: float | None) -> RoutingPolicy:
        return self._with(max_cost_per_request=usd_per_request)

    def rate_limit(
        self,
        target_or_model: str,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        window: float | str = 60.0,
    ) -> RoutingPolicy:
        """Limit requests and/or tokens per minute (or per ``window``) on a target or every
        target of a model; replaces an earlier limit on the same name."""
        rl = {"target": target_or_model, "rpm": rpm, "tpm": tpm, "window_s": window}
        kept = [r.model_dump() for r in self.rate_limits if r.target != target_or_model]
        return self._with(rate_limits=[*kept, rl])

    def when_rate_limited(self, mode: Literal["fallback", "wait"]) -> RoutingPolicy:
        """Every candidate at its rate limit: fall back / fail now, or wait for the earliest
        slot when the deadline allows."""
        return self._with(when_rate_limited_=mode)

    def budget(
        self,
        usd: float,
        window: float | str = "1d",
        *,
        per: str | None = None,
        name: str | None = None,
        downgrade_below: float = 0.2,
    ) -> RoutingPolicy:
        """A spend limit in USD per ``window``, for the router or per value of the call tag
        ``per``; replaces an earlier budget with the same name."""
        spec = {"usd": usd, "window": window, "per": per, "name": name,
                "downgrade_below": downgrade_below}
        label = name or (f"per-{per}" if per else "router")
        kept = [x.model_dump(by_alias=True) for x in self.budgets if x.label != label]
        return self._with(budgets=[*kept, spec])

    def equivalent(self, names: Iterable[str], *, name: str | None = None) -> RoutingPolicy:
        """Targets (names or model ids) serving the same model: one deployment group."""
        listed = _listed("equivalent", names)
        group = name or listed[0]
        return self._with(
            groups={
                **self.groups.model_dump(),
                "equivalent": {**self.groups.equivalent, group: listed},
            }
        )

    def spread(
        self,
        mode: SpreadMode = "least_loaded",
        *,
        weights: Mapping[str, float] | None = None,
        affinity: bool = True,
    ) -> RoutingPolicy:
        """How a deployment group shares calls: ``least_loaded``, ``weighted`` (by target
        name, default 1) or ``off``; ``affinity`` honours session keys."""
        return self._with(
            groups={
                **self.groups.model_dump(),
                "spread": mode,
                "weights": dict(weights or {}),
                "affinity": affinity,
            }
        )

    def adaptive_config(self, **kwargs: Any) -> RoutingPolicy:
        return self._with(adaptive={**self.adaptive.model_dump(), **kwargs})

    # --- reading -----------------------------------------------------------------------------

    @property
    def is_cost_aware(self) -> bool:
        return self.cost_aware_

    @property
    def racing(self) -> RaceConfig | None:
        return self.race_

    @property
    def cascading(self) -> CascadeConfig | None:
        return self.cascade_

    @property
    def resumes_streams(self) -> bool:
        return self.resume_streams_

    def action_for(self, kind: ErrorKind) -> ErrorAction:
        return self.on_error.get(kind) or DEFAULT_ERROR_ACTIONS.get(kind, ErrorAction.FALLBACK)

    # --- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(by_alias=True, exclude_defaults=True, **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingPolicy:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _configuration_error(exc, RoutingPolicy) from None
        except ValueError as exc:
            raise ConfigurationError(f"invalid routing policy: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> RoutingPolicy:
        import json

        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        yaml = _yaml()
        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, text: str) -> RoutingPolicy:
        data = _yaml().safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigurationError("routing policy YAML must be a mapping at the top level")
        return cls.from_dict(data.get("policy", data))


def _configuration_error(exc: ValidationError, model: type[BaseModel]) -> ConfigurationError:
    """One clause per problem, ``field.path: what is wrong (got value)``, in the names a
    policy is written with (``deadline``, ``race.hedge_after``), without pydantic's noise."""
    problems = []
    for err in exc.errors(include_url=False):
        names = []
        owner: type[BaseModel] | None = model
        for part in err["loc"]:
            field = owner.model_fields.get(str(part)) if owner is not None else None
            if field is None and owner is not None:  # given by alias
                field = next((f for f in owner.model_fields.values() if f.alias == part), None)
            if field is not None:
                names.append(field.alias or str(part))
                sub = field.annotation
                owner = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
            elif isinstance(part, int) or owner is None or err["type"] == "extra_forbidden":
                names.append(str(part))
        where = ".".join(names)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "finite_number":
            msg += f" (got {err['input']!r})"
        if where and not msg.startswith(names[-1] + ":") and ":" not in msg.split(" ", 1)[0]:
            msg = f"{where}: {msg}"
        elif where and "." in where:
            msg = f"{where.rsplit('.', 1)[0]}.{msg}"
        problems.append(msg)
    what = "routing policy" if model is RoutingPolicy else model.__name__
    return ConfigurationError(f"invalid {what}: " + "; ".join(problems))


def _listed(field: str, models: Iterable[str]) -> tuple[str, ...]:
    if isinstance(models, str):
        raise ConfigurationError(
            f"{field}: expected a list of model names, got the string {models!r}; "
            f"write {field}([{models!r}])"
        )
    names = tuple(models)
    if not names:
        raise ConfigurationError(f"{field}: the list of models is empty")
    return names


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError("YAML needs PyYAML: pip install 'smartroute-llm[yaml]'") from exc
    return yaml
