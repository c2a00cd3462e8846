import pytest
from pydantic import ValidationError

from smartroute_llm import (
    ConfigurationError,
    ErrorAction,
    ErrorKind,
    ProviderCapability,
    QualityTier,
    RoutingPolicy,
    RoutingStrategy,
    SpeedTier,
)


def seed_policies():
    a = (
        RoutingPolicy.balanced()
        .allow(["gpt-4o", "claude-3-haiku", "mistral-medium"])
        .prefer_fast_for_simple_requests(True)
        .prefer_quality_for_complex_requests(True)
        .cost_aware(True)
    )
    b = (
        RoutingPolicy.new()
        .add_provider(
            "gpt-4o",
            ProviderCapability(
                speed_tier=SpeedTier.FAST,
                quality_tier=QualityTier.HIGH,
                cost_per_token=0.03,
                max_tokens=128000,
            ),
        )
        .add_provider(
            "claude-3-haiku",
            ProviderCapability(
                speed_tier=SpeedTier.VERY_FAST,
                quality_tier=QualityTier.MEDIUM,
                cost_per_token=0.01,
                max_tokens=200000,
            ),
        )
        .routing_strategy(RoutingStrategy.ADAPTIVE)
        .feedback_enabled(True)
    )
    return a, b


def test_seed_builder_calls():
    a, b = seed_policies()
    assert a.strategy is RoutingStrategy.BALANCED
    assert a.allowed == ("gpt-4o", "claude-3-haiku", "mistral-medium")
    assert a.prefer_fast_for_simple and a.prefer_quality_for_complex and a.is_cost_aware
    assert b.strategy is RoutingStrategy.ADAPTIVE and b.feedback
    assert b.providers["gpt-4o"].input_cost_per_1m == pytest.approx(30.0)
    assert b.providers["claude-3-haiku"].max_tokens == 200000


def test_builder_returns_new_policies_and_policies_are_frozen():
    base = RoutingPolicy.balanced()
    cheap = base.cost_aware(False)
    assert base.is_cost_aware and not cheap.is_cost_aware
    with pytest.raises(ValidationError):
        base.strategy = RoutingStrategy.CHEAPEST  # type: ignore[misc]


@pytest.mark.parametrize("policy", seed_policies())
def test_json_and_yaml_round_trip(policy):
    assert RoutingPolicy.from_json(policy.to_json()) == policy
    assert RoutingPolicy.from_yaml(policy.to_yaml()) == policy
    assert RoutingPolicy.from_dict(policy.to_dict()) == policy


def test_keyword_form_equals_builder_form():
    kw = RoutingPolicy(
        strategy="balanced",
        allow=["gpt-4o"],
        prefer_fast_for_simple=True,
        cost_aware=False,
        race={"top_k": 2, "hedge_after": "p90"},
        deadline=10,
    )
    built = (
        RoutingPolicy.balanced()
        .allow(["gpt-4o"])
        .prefer_fast_for_simple_requests()
        .cost_aware(False)
        .race(2, "p90")
        .deadline(10)
    )
    assert kw == built


def test_reliability_builders():
    p = (
        RoutingPolicy.balanced()
        .fallback_chain(["a", "b"])
        .retries(1, backoff_base_s=0.01)
        .timeouts(timeout=5, ttft=1, stall=2)
        .resume_streams()
        .cost_cap(0.5)
        .on("content_filter", "fallback")
        .circuit_breaker(failure_threshold=2)
    )
    assert p.fallback == ("a", "b")
    assert p.retry.max_retries == 1 and p.retry.backoff_base_s == 0.01
    assert (p.timeout_s, p.ttft_timeout_s, p.stall_timeout_s) == (5, 1, 2)
    assert p.resumes_streams and p.max_cost_per_request == 0.5
    assert p.action_for(ErrorKind.CONTENT_FILTER) is ErrorAction.FALLBACK
    assert p.action_for(ErrorKind.INVALID_REQUEST) is ErrorAction.STOP
    assert p.circuit.failure_threshold == 2


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: RoutingPolicy(strategy="fastest-ish"), "strategy"),
        (lambda: RoutingPolicy.balanced().allow("gpt-4o"), "allow"),
        (lambda: RoutingPolicy.balanced().allow([]), "allow"),
        (lambda: RoutingPolicy.weighted({"a": -1}), "model_weights"),
        (lambda: RoutingPolicy(deadline=-1), "deadline"),
        (lambda: RoutingPolicy.from_dict({"strategy": "balanced", "bogus": 1}), "bogus"),
        (lambda: RoutingPolicy.balanced().with_weights(quality=0, speed=0, cost=0), "weights"),
        (lambda: RoutingPolicy.balanced().race(top_k=1), "top_k"),
    ],
)
def test_bad_policy_names_the_field(build, needle):
    with pytest.raises((ValidationError, ConfigurationError)) as info:
        build()
    assert needle in str(info.value)


def test_best_is_highest_quality():
    assert RoutingPolicy(strategy="best").strategy is RoutingStrategy.HIGHEST_QUALITY
    assert RoutingPolicy.best().strategy is RoutingStrategy.HIGHEST_QUALITY
