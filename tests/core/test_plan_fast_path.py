"""The planning fast paths (direct request build, deferred complexity) give what the validating,
eager paths give: same request, same features, same errors."""

import dataclasses

import pytest

from smartroute_llm import (
    ChatRequest,
    Complexity,
    HeuristicClassifier,
    Message,
    ProviderCapability,
    RequestValidationError,
    Router,
    RoutingPolicy,
    analyze,
    to_request,
)
from smartroute_llm.testing import ScriptedTarget

PROMPT = "Design a cache and explain why, step by step; it must be fast."


def _validated(messages):
    """What pydantic alone builds from ``messages``."""
    return ChatRequest.model_validate({"messages": messages})


@pytest.mark.parametrize(
    "value, messages",
    [
        (PROMPT, [{"role": "user", "content": PROMPT}]),
        ([{"role": "user", "content": "hi"}], [{"role": "user", "content": "hi"}]),
        (
            ({"role": "system", "content": "be brief"}, {"role": "user", "content": "héllo"}),
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "héllo"}],
        ),
        (
            [Message(role="assistant", content="x"), {"role": "user", "content": "y"}],
            [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}],
        ),
    ],
)
def test_plain_requests_equal_the_validated_ones(value, messages):
    got, want = to_request(value), _validated(messages)
    assert got == want
    assert repr(got) == repr(want)
    assert got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set == {"messages"}
    for g, w in zip(got.messages, want.messages, strict=True):
        assert g.model_fields_set == w.model_fields_set
        assert g.model_dump(exclude_unset=True) == w.model_dump(exclude_unset=True)
    # the built request is an ordinary, mutable one
    got.messages.append(Message(role="user", content="more"))
    got.metadata["k"] = 1
    assert to_request(value).metadata == {}


@pytest.mark.parametrize(
    "value, field",
    [
        ([{"role": "user", "content": "a\ud800b"}], "messages[0].content"),
        ("a\udc00", "messages[0].content"),
        ([{"role": "user", "content": "ok"}, {"role": "tool", "content": "r"}],
         "messages[1] (role tool)"),
        ([{"role": "user", "content": "a\ud800"}, {"role": "robot", "content": "x"}],
         "messages[1].role"),
        ([{"role": "user", "content": 3}], "messages[0].content"),
        ([], "request"),
    ],
)
def test_bad_plain_input_names_the_field_as_before(value, field):
    with pytest.raises(RequestValidationError) as info:
        to_request(value)
    assert info.value.field == field


def test_deferred_complexity_is_the_heuristic_one():
    req = to_request([{"role": "system", "content": "s"}, {"role": "user", "content": PROMPT}])
    f = analyze(req)
    want = HeuristicClassifier().classify(req, PROMPT)
    assert f.complexity == want
    assert f.complexity is f.complexity  # classified once
    assert f.model_quality is None and f.model_cost is None
    assert f == analyze(req)
    assert dataclasses.asdict(f)["complexity"] == dataclasses.asdict(want)
    assert "complexity=Complexity(score=" in repr(analyze(req))


def test_custom_classifier_runs_while_planning():
    calls = []

    class Predictor:
        def classify(self, request, prompt):
            calls.append(prompt)
            return Complexity(0.9, "complex", {}, model_quality={"b": 1.0, "a": 0.0})

    targets = [
        ScriptedTarget("a", ProviderCapability(quality_tier="premium")),
        ScriptedTarget("b", ProviderCapability(quality_tier="low")),
    ]
    plan = Router(targets, RoutingPolicy.balanced(), classifier=Predictor()).plan("hi")
    assert calls == ["hi"]
    assert plan.features.model_quality == {"b": 1.0, "a": 0.0}
    assert plan.first.name == "b"  # ranked on the prediction, not the tier


@pytest.mark.parametrize(
    "policy",
    [
        RoutingPolicy.balanced(),
        RoutingPolicy.balanced().prefer_fast_for_simple_requests()
        .prefer_quality_for_complex_requests(),
        RoutingPolicy.cheapest(),
    ],
)
def test_plans_read_the_same_complexity_and_explain_it(policy):
    targets = [
        ScriptedTarget("fast", ProviderCapability(speed_tier="very_fast", quality_tier="low",
                                                  input_cost_per_1m=0.1, output_cost_per_1m=0.4)),
        ScriptedTarget("smart", ProviderCapability(speed_tier="slow", quality_tier="premium",
                                                   input_cost_per_1m=5, output_cost_per_1m=15)),
    ]
    router = Router(targets, policy)
    plan = router.plan(PROMPT)
    eager = HeuristicClassifier().classify(plan.request, PROMPT)
    assert plan.features.complexity == eager
    assert f"complexity {eager.score:.2f} ({eager.label})" in plan.explain()


def test_the_direct_build_stays_on_and_never_falls_back(monkeypatch):
    """The direct build turns itself off when it stops matching validation (another pydantic,
    a new field); a field added to ChatRequest must not do that silently."""
    from smartroute_llm import request as request_module

    assert request_module._FAST

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to model_construct")

    monkeypatch.setattr(ChatRequest, "model_construct", refuse)
    monkeypatch.setattr(Message, "model_construct", refuse)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    req = to_request(messages)
    assert req == _validated(messages)
    assert req.model_fields_set == {"messages"}
