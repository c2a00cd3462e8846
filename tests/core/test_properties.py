"""Invariants of planning over random fleets and requests."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from smartroute_llm import NoCandidatesError, ProviderCapability, Router, RoutingPolicy, to_request
from smartroute_llm.testing import ScriptedTarget

caps = st.builds(
    ProviderCapability,
    speed_tier=st.sampled_from(["very_fast", "fast", "medium", "slow"]),
    quality_tier=st.sampled_from(["low", "medium", "high", "premium"]),
    input_cost_per_1m=st.floats(0, 100),
    output_cost_per_1m=st.floats(0, 300),
    max_tokens=st.integers(1, 300_000),
    supports_tools=st.booleans(),
    supports_json=st.booleans(),
)
policies = st.sampled_from(
    [
        RoutingPolicy.balanced(),
        RoutingPolicy.balanced()
        .prefer_fast_for_simple_requests()
        .prefer_quality_for_complex_requests(),
        RoutingPolicy.balanced().cost_aware(False),
        RoutingPolicy.cheapest(),
        RoutingPolicy.fastest(),
        RoutingPolicy.best(),
        RoutingPolicy.round_robin(),
        RoutingPolicy.weighted({"m0": 3.0}),
    ]
)
prompts = st.text(min_size=1, max_size=3000)


def fleet(cs):
    return [ScriptedTarget(f"m{i}", c) for i, c in enumerate(cs)]


@settings(max_examples=150, deadline=None)
@given(st.lists(caps, min_size=1, max_size=12), policies, prompts, st.booleans())
def test_plan_excludes_are_never_candidates_and_scores_are_finite(cs, policy, prompt, tools):
    r = Router(fleet(cs), policy)
    req = to_request(prompt, tools=[{"name": "f"}] if tools else [])
    try:
        plan = r.plan(req)
    except NoCandidatesError as exc:
        assert len(exc.exclusions) == len(cs)
        return
    names = [c.name for c in plan.candidates]
    excluded = {e.target for e in plan.excluded}
    assert not excluded & set(names)
    assert len(names) == len(set(names))
    assert set(names) | excluded == {f"m{i}" for i in range(len(cs))}
    for c in plan.candidates:
        assert math.isfinite(c.score)
        p = c.profile
        assert p.context >= plan.features.prompt_tokens
        if tools:
            assert p.tools


@settings(max_examples=150, deadline=None)
@given(st.lists(caps, min_size=1, max_size=12), prompts)
def test_cheapest_never_picks_a_dearer_eligible_candidate(cs, prompt):
    r = Router(fleet(cs), RoutingPolicy.cheapest())
    try:
        plan = r.plan(prompt)
    except NoCandidatesError:
        return
    f = plan.features
    chosen = plan.candidates[0].profile

    def cost(p):
        return p.in_price * f.prompt_tokens + p.out_price * f.output_tokens

    assert all(cost(chosen) <= cost(c.profile) for c in plan.candidates)
