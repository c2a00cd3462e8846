"""The router builds its decisions and attempts without pydantic validation (hot path): what it
builds must be indistinguishable from the validated models, fallbacks and failures included."""

from smartroute_llm import ErrorKind, Router, RoutingPolicy
from smartroute_llm.decision import Attempt, RoutingDecision
from smartroute_llm.response import ChatResponse
from smartroute_llm.testing import ScriptedTarget


def _router() -> Router:
    targets = [
        ScriptedTarget("claude-3-haiku", script=[ErrorKind.OVERLOADED]),
        ScriptedTarget("gpt-4o", script="Paris."),
    ]
    return Router(targets, RoutingPolicy.cheapest().retries(0))


def _same_as_validated(model: RoutingDecision | Attempt) -> None:
    again = type(model).model_validate(model.model_dump())
    assert again.model_dump() == model.model_dump()
    # every field was given (none left to a default the validated model would compute)
    assert model.model_fields_set == set(type(model).model_fields)


async def test_a_fallback_decision_equals_its_validated_copy():
    resp = await _router().achat("What is the capital of France?")
    d = resp.decision
    assert d is not None and d.target == "gpt-4o"
    assert d.reason == "fallback (rank 2) after claude-3-haiku"
    assert [a.ok for a in d.attempts] == [False, True]
    assert d.attempts[0].error_kind is ErrorKind.OVERLOADED
    assert d.latency_s >= d.attempts[-1].latency_s >= 0
    assert d.cost_usd == sum(a.cost_usd for a in d.attempts) > 0
    for a in d.attempts:
        _same_as_validated(a)
    _same_as_validated(d)
    assert "decision" in resp.model_fields_set
    again = ChatResponse.model_validate(resp.model_dump())
    assert again.model_dump() == resp.model_dump()


def test_feedback_by_id_reaches_the_answering_target():
    r = _router()
    resp = r.chat("What is the capital of France?")
    assert resp.decision is not None
    assert r.record_feedback(resp.decision.decision_id, 0.9)
    assert not r.record_feedback("no-such-decision", 0.9)
    calls = r.stats()["targets"]
    assert calls["gpt-4o"]["calls"] == {"ok": 1, "error": 0}
    assert calls["claude-3-haiku"]["calls"] == {"ok": 0, "error": 1}


async def test_routed_decisions_never_fall_back_to_model_construct(monkeypatch):
    """``made`` falls back to ``model_construct`` when a field is missing from the router's
    values (e.g. one added to the model later): correct but slow, so a routed call must not."""

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to model_construct")

    monkeypatch.setattr(RoutingDecision, "model_construct", refuse)
    monkeypatch.setattr(Attempt, "model_construct", refuse)
    resp = await _router().achat("What is the capital of France?")
    assert resp.decision is not None and resp.decision.target == "gpt-4o"


def test_a_trusted_build_missing_a_field_takes_its_default_without_falling_back(monkeypatch):
    from smartroute_llm.decision import trusted

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to model_construct")

    monkeypatch.setattr(ChatResponse, "model_construct", refuse)
    got = trusted(ChatResponse, text="Paris.", finish_reason="stop")  # the rest left out
    want = ChatResponse(text="Paris.", finish_reason="stop")
    assert got == want and got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set == {"text", "finish_reason"}
    assert got.tool_calls == [] and got.tool_calls is not trusted(ChatResponse).tool_calls
