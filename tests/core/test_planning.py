"""Planning through the public API: each strategy's ranking, filters and their reasons."""

import pytest

from smartroute_llm import (
    ChatRequest,
    ConfigurationError,
    ImagePart,
    Message,
    NoCandidatesError,
    ProviderCapability,
    ResponseFormat,
    Router,
    RoutingPolicy,
    StrategyNotAvailableError,
    TextPart,
    ToolSpec,
    to_request,
)
from smartroute_llm.testing import ScriptedTarget

SIMPLE = "What is the capital of France?"
COMPLEX = (
    "Design a distributed rate limiter for a multi-region API. Explain the trade-offs step by "
    "step, compare token bucket and sliding window, and implement it in Python with tests. It "
    "must handle at least 10k requests per second."
)


def cap(speed, quality, price_in, price_out=None, **kw):
    return ProviderCapability(
        speed_tier=speed,
        quality_tier=quality,
        input_cost_per_1m=price_in,
        output_cost_per_1m=price_in * 4 if price_out is None else price_out,
        **kw,
    )


def fleet():
    """premium+slow+dear, high+fast+mid, medium+very fast+cheap, low+very fast+cheapest."""
    return [
        ScriptedTarget(
            "big", cap("slow", "premium", 10.0, max_tokens=200_000, max_output_tokens=12_000)
        ),
        ScriptedTarget(
            "mid", cap("fast", "high", 2.5, max_tokens=128_000, max_output_tokens=12_000)
        ),
        ScriptedTarget(
            "small",
            cap(
                "very_fast",
                "medium",
                0.25,
                max_tokens=16_000,
                max_output_tokens=12_000,
                supports_vision=True,
            ),
        ),
        ScriptedTarget(
            "tiny",
            cap(
                "very_fast",
                "low",
                0.05,
                max_tokens=8_000,
                supports_tools=False,
                supports_json=False,
            ),
        ),
    ]


def order(router, prompt=SIMPLE, **kw):
    return [c.name for c in router.plan(prompt, **kw).candidates]


def test_cheapest_ranks_by_estimated_cost():
    assert order(Router(fleet(), RoutingPolicy.cheapest())) == ["tiny", "small", "mid", "big"]


def test_fastest_ranks_by_speed_then_cost():
    assert order(Router(fleet(), RoutingPolicy.fastest())) == ["tiny", "small", "mid", "big"]


def test_highest_quality_ranks_by_quality():
    assert order(Router(fleet(), RoutingPolicy.best())) == ["big", "mid", "small", "tiny"]


def test_round_robin_rotates_in_declared_order():
    r = Router(fleet(), RoutingPolicy.round_robin())
    firsts = [order(r)[0] for _ in range(5)]
    assert firsts == ["big", "mid", "small", "tiny", "big"]


def test_weighted_follows_weights_and_is_reproducible():
    policy = RoutingPolicy.weighted({"big": 8, "mid": 2, "small": 0, "tiny": 0}).model_copy(
        update={"seed": 7}
    )
    r = Router(fleet(), policy)
    firsts = [order(r)[0] for _ in range(1000)]
    share_big = firsts.count("big") / len(firsts)
    assert 0.72 < share_big < 0.88
    assert set(firsts) == {"big", "mid"}
    again = Router(fleet(), policy)
    assert [order(again)[0] for _ in range(1000)] == firsts


def test_balanced_score_matches_documented_formula():
    r = Router(fleet(), RoutingPolicy.balanced())
    plan = r.plan(SIMPLE)
    assert plan.weights == pytest.approx({"quality": 0.5, "speed": 0.25, "cost": 0.25})
    for c in plan.candidates:
        expected = 0.5 * c.quality + 0.25 * c.speed + 0.25 * c.cost
        assert c.score == pytest.approx(expected)
    assert plan.candidates[0].parts["est_cost_usd"] > 0
    scores = [c.score for c in plan.candidates]
    assert scores == sorted(scores, reverse=True)


def seed_router(flags: bool):
    policy = RoutingPolicy.balanced().allow(["gpt-4o", "claude-3-haiku", "mistral-medium"])
    if flags:
        policy = policy.prefer_fast_for_simple_requests(True).prefer_quality_for_complex_requests(
            True
        )
    targets = [ScriptedTarget(m) for m in ("gpt-4o", "claude-3-haiku", "mistral-medium")]
    return Router(targets, policy.cost_aware(True))


def test_flags_send_simple_to_fast_tier_and_complex_to_quality_tier():
    r = seed_router(flags=True)
    assert order(r, SIMPLE)[0] == "claude-3-haiku"
    assert order(r, COMPLEX)[0] == "gpt-4o"
    simple_w = r.plan(SIMPLE).weights
    complex_w = r.plan(COMPLEX).weights
    assert simple_w["speed"] > complex_w["speed"]
    assert complex_w["quality"] > simple_w["quality"]


def test_without_flags_complexity_does_not_change_the_choice():
    r = seed_router(flags=False)
    assert order(r, SIMPLE) == order(r, COMPLEX)
    assert r.plan(SIMPLE).weights == r.plan(COMPLEX).weights


def test_cost_aware_off_drops_the_cost_term():
    r = Router(fleet(), RoutingPolicy.balanced().cost_aware(False))
    assert r.plan(SIMPLE).weights["cost"] == 0
    assert order(r)[0] == "big"


def reasons(plan):
    return {e.target: e.reason for e in plan.excluded}


def test_context_window_filter_names_sizes():
    r = Router(fleet(), RoutingPolicy.cheapest())
    long_prompt = "word " * 40_000  # ~50k tokens
    plan = r.plan(long_prompt)
    why = reasons(plan)
    assert set(why) == {"small", "tiny"}
    assert "context window 16000" in why["small"] and "prompt ~" in why["small"]
    assert [c.name for c in plan.candidates] == ["mid", "big"]


def test_requested_output_counts_against_the_context():
    r = Router(fleet(), RoutingPolicy.cheapest())
    plan = r.plan(to_request("hi", max_output_tokens=10_000))
    assert "tiny" in reasons(plan)
    assert "requested output 10000" in reasons(plan)["tiny"]


def test_feature_filters_exclude_with_reason():
    r = Router(fleet(), RoutingPolicy.cheapest())
    tools = r.plan(to_request("hi", tools=[ToolSpec(name="f")]))
    assert reasons(tools) == {"tiny": "lacks tool calling"}
    js = r.plan(to_request("hi", response_format=ResponseFormat(type="json_object")))
    assert reasons(js) == {"tiny": "lacks JSON output"}
    vision = r.plan(
        ChatRequest(
            messages=[
                Message(
                    role="user",
                    content=[TextPart(text="what?"), ImagePart(url="https://example.com/x.png")],
                )
            ]
        )
    )
    assert set(reasons(vision)) == {"big", "mid", "tiny"}
    assert reasons(vision)["big"] == "lacks vision (image input)"


def test_allow_deny_and_pinned_model():
    r = Router(fleet(), RoutingPolicy.cheapest().allow(["big", "mid"]))
    plan = r.plan(SIMPLE)
    assert [c.name for c in plan.candidates] == ["mid", "big"]
    assert reasons(plan)["tiny"] == "not in the policy's allow list"
    r2 = Router(fleet(), RoutingPolicy.cheapest().deny(["tiny"]))
    assert reasons(r2.plan(SIMPLE))["tiny"] == "denied by the policy"
    pinned = Router(fleet(), RoutingPolicy.cheapest()).plan(SIMPLE, model="big")
    assert [c.name for c in pinned.candidates] == ["big"]


def test_cost_cap_excludes_worst_case_cost():
    r = Router(fleet(), RoutingPolicy.cheapest().cost_cap(0.02))
    why = reasons(r.plan(to_request("hi", max_output_tokens=1000)))
    assert set(why) == {"big"}  # 1000 x $40/1M = $0.04 > $0.02; mid: $0.01 + input
    assert "cap $0.02" in why["big"]


def test_empty_candidate_set_names_every_exclusion():
    r = Router(fleet(), RoutingPolicy.cheapest())
    with pytest.raises(NoCandidatesError) as info:
        r.plan("word " * 400_000)
    msg = str(info.value)
    for name in ("big", "mid", "small", "tiny"):
        assert f"{name}: context window" in msg


def test_ties_break_by_declared_order():
    same = cap("fast", "high", 1.0)
    targets = [ScriptedTarget(n, same) for n in ("b", "a", "c")]
    for policy in (
        RoutingPolicy.balanced(),
        RoutingPolicy.cheapest(),
        RoutingPolicy.best(),
        RoutingPolicy.fastest(),
    ):
        assert order(Router(targets, policy)) == ["b", "a", "c"]


def test_bad_router_configuration_fails_at_build_time():
    with pytest.raises(ConfigurationError, match="allow"):
        Router(fleet(), RoutingPolicy.balanced().allow(["gpt-5-ultra"]))
    with pytest.raises(ConfigurationError, match="duplicate target name"):
        Router([ScriptedTarget("a"), ScriptedTarget("a")])
    with pytest.raises(ConfigurationError, match="not a Target"):
        Router([object()])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="fallback_chain"):
        Router(fleet(), RoutingPolicy.balanced().fallback_chain(["nope"]))
    with pytest.raises(NoCandidatesError, match="denied"):
        Router(fleet(), RoutingPolicy.balanced().deny(["big", "mid", "small", "tiny"]))


def test_fallback_chain_orders_the_fallbacks():
    r = Router(fleet(), RoutingPolicy.cheapest().fallback_chain(["big", "small"]))
    assert order(r) == ["tiny", "big", "small", "mid"]


def test_policy_capability_overrides_the_targets():
    policy = RoutingPolicy.cheapest().add_provider("big", cap("slow", "premium", 0.01))
    assert order(Router(fleet(), policy))[0] == "big"


def test_explain_renders_scores_and_exclusions():
    r = Router(fleet(), RoutingPolicy.balanced().prefer_quality_for_complex_requests())
    text = r.explain(to_request(COMPLEX, tools=[ToolSpec(name="f")]))
    assert "strategy: balanced" in text and "complexity" in text and "(complex)" in text
    assert "1. " in text and "score=" in text
    assert "tiny: lacks tool calling" in text


def test_adaptive_is_available_or_clearly_refused():
    try:
        r = Router(fleet(), RoutingPolicy().routing_strategy("adaptive"))
    except StrategyNotAvailableError as exc:
        assert "ADAPTIVE" in str(exc)
    else:
        assert r.plan(SIMPLE).strategy == "adaptive"
