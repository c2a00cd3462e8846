"""Calling through the router: responses carry an explainable, serializable decision."""

import json

import pytest

from smartroute_llm import ChatResponse, Router, RoutingPolicy, ToolCall, Usage
from smartroute_llm.testing import ScriptedTarget


def router(**kw):
    targets = [
        ScriptedTarget("gpt-4o", script="Paris is the capital of France."),
        ScriptedTarget("claude-3-haiku", script="Paris."),
    ]
    return Router(targets, RoutingPolicy.cheapest(), **kw)


def check_decision(resp):
    d = resp.decision
    assert d is not None
    assert d.model == "claude-3-haiku" and d.target == "claude-3-haiku"
    assert d.provider == "anthropic" and resp.provider_used == "anthropic"
    assert d.strategy == "cheapest"
    assert [c.target for c in d.candidates] == ["claude-3-haiku", "gpt-4o"]
    assert len(d.attempts) == 1 and d.attempts[0].ok
    assert d.usage.input_tokens > 0 and d.usage.output_tokens > 0
    expected = (d.usage.input_tokens * 0.25 + d.usage.output_tokens * 1.25) / 1e6
    assert resp.cost == pytest.approx(expected)
    assert resp.latency is not None and resp.latency >= 0
    json.dumps(d.model_dump(mode="json"))  # serializable


def test_chat():
    resp = router().chat("What is the capital of France?")
    assert resp.text == "Paris."
    check_decision(resp)


async def test_achat():
    resp = await router().achat([{"role": "user", "content": "capital of France?"}])
    assert resp.text == "Paris."
    check_decision(resp)


def test_stream_last_chunk_carries_decision_and_usage():
    chunks = list(router().stream("capital of France?"))
    assert "".join(c.text for c in chunks) == "Paris."
    assert all(c.decision is None and c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.decision is not None and last.usage is not None and last.finish_reason == "stop"
    assert last.decision.ttft_s is not None


async def test_astream():
    chunks = [c async for c in router().astream("capital of France?")]
    assert "".join(c.text for c in chunks) == "Paris."
    assert chunks[-1].decision.model == "claude-3-haiku"


def test_tool_calls_survive_streaming():
    call = ToolCall(id="c1", name="lookup", arguments={"q": "paris"})
    t = ScriptedTarget(
        "gpt-4o",
        script=ChatResponse(tool_calls=[call], usage=Usage(input_tokens=5, output_tokens=3)),
    )
    r = Router([t])
    assert r.chat("x").tool_calls == [call]
    chunks = list(r.stream("x"))
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas[0].name == "lookup" and json.loads(deltas[0].arguments) == {"q": "paris"}
    assert chunks[-1].finish_reason == "tool_calls"


def test_seed_feedback_call_and_stats():
    r = router()
    r.record_routing_decision("claude-3-haiku", 0.42, 0.9)
    stats = r.stats()["targets"]["claude-3-haiku"]
    assert stats["calls"]["ok"] == 1 and stats["latency_p50_s"] == pytest.approx(0.42)
    with pytest.raises(KeyError, match="unknown provider"):
        r.record_routing_decision("nope", 1.0)
    with pytest.raises(ValueError, match="quality"):
        r.record_routing_decision("gpt-4o", 1.0, 1.5)


def test_feedback_by_decision_id():
    r = router()
    resp = r.chat("hi")
    assert r.record_feedback(resp.decision.decision_id, 0.8) is True
    assert r.record_feedback("unknown-id", 0.8) is False


def test_automatic_scorers_set_quality():
    seen = []

    def scorer(request, response):
        seen.append(response.text)
        return 1.0 if response.text.endswith(".") else 0.0

    resp = router(scorers=[scorer]).chat("hi")
    assert seen == ["Paris."]
    assert resp.decision.quality == 1.0
    quiet = router(scorers=[scorer], scorer_sample_rate=0.0).chat("hi")
    assert quiet.decision.quality is None and len(seen) == 1


def test_broken_scorer_does_not_fail_the_call():
    def broken(request, response):
        raise RuntimeError("boom")

    assert router(scorers=[broken]).chat("hi").text == "Paris."


def test_router_without_targets_builds_http_providers_lazily():
    pytest.importorskip("smartroute_llm.providers")
    r = Router(policy=RoutingPolicy.balanced().allow(["gpt-4o", "claude-3-haiku"]))
    assert {p.name for p in r.profiles} == {"gpt-4o", "claude-3-haiku"}
    assert r.plan("hi").candidates  # planning needs no keys


def test_decisions_are_identical_with_the_fallback_model_construction(monkeypatch):
    import smartroute_llm.decision as decision

    fast = (
        router()
        .chat("hi")
        .decision.model_dump(exclude={"decision_id", "created_at", "latency_s", "attempts"})
    )
    monkeypatch.setattr(decision, "_FAST", False)
    slow = (
        router()
        .chat("hi")
        .decision.model_dump(exclude={"decision_id", "created_at", "latency_s", "attempts"})
    )
    assert fast == slow
