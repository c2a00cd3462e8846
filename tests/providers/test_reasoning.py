"""Reasoning (thinking) from each vendor: parsed from the documented shapes, and over real
loopback HTTP, sync and async, whole and streamed, kept apart from the answer text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.providers import (
    Anthropic,
    Gemini,
    HTTPTarget,
    OpenAICompatible,
    anthropic,
    gemini,
    openai,
)
from smartroute_llm.request import to_request
from smartroute_llm.testing import FakeProvider, Reply

# --- documented shapes ---------------------------------------------------------------------------

# DeepSeek's chat completion for deepseek-reasoner (reasoning_content beside content)
DEEPSEEK = {
    "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e", "object": "chat.completion",
    "created": 1705651092, "model": "deepseek-reasoner",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "9.11 is smaller.",
        "reasoning_content": "Compare the tenths: 1 < 9.",
    }}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
}

# Anthropic's Messages response with extended thinking
CLAUDE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Let me analyze this step by step...",
         "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEcz"},
        {"type": "text", "text": "Based on my analysis..."},
    ],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 50, "output_tokens": 100},
}

# Gemini generateContent with includeThoughts: thought parts carry "thought": true
GEMINI = {
    "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "**Weighing the options** I compare...", "thought": True},
        {"text": "The answer is 42."},
    ]}}],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 20,
                      "thoughtsTokenCount": 50, "totalTokenCount": 80},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc",
}


def test_documented_responses() -> None:
    r = openai.parse_response(DEEPSEEK)
    assert (r.text, r.reasoning) == ("9.11 is smaller.", "Compare the tenths: 1 < 9.")
    groq = json.loads(json.dumps(DEEPSEEK))
    groq["choices"][0]["message"] = {"role": "assistant", "content": "x", "reasoning": "why"}
    assert openai.parse_response(groq).reasoning == "why"
    c = anthropic.parse_response(CLAUDE)
    assert c.text == "Based on my analysis..."
    assert c.reasoning == "Let me analyze this step by step..."
    g = gemini.parse_response(GEMINI)
    assert (g.text, g.reasoning) == ("The answer is 42.", "**Weighing the options** I compare...")


def test_documented_stream_events() -> None:
    s = openai.StreamState("deepseek-reasoner")
    chunk = {"id": "1", "object": "chat.completion.chunk", "created": 1,
             "model": "deepseek-reasoner",
             "choices": [{"index": 0, "delta": {"content": None, "reasoning_content": "Hmm"},
                          "finish_reason": None}]}
    [out] = s.feed("", json.dumps(chunk))
    assert out.reasoning == "Hmm" and out.text == "" and not s.received_content

    a = anthropic.StreamState("claude")
    events = [
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "I need to find"}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}},
    ]
    got = [c for e in events for c in a.feed(e["type"], json.dumps(e))]
    assert [c.reasoning for c in got] == ["I need to find"] and not a.received_content

    gs = gemini.StreamState("gemini-2.5-flash")
    [thought] = gs.feed("", json.dumps({"candidates": [{"index": 0, "content": {
        "role": "model", "parts": [{"text": "Considering...", "thought": True}]}}]}))
    assert thought.reasoning == "Considering..." and not gs.received_content


# --- over loopback ------------------------------------------------------------------------------


def make(vendor: str, fp: FakeProvider, **kw: Any) -> HTTPTarget:
    if vendor == "openai":
        return OpenAICompatible("deepseek-reasoner", base_url=fp.base_url, api_key="k", **kw)
    if vendor == "anthropic":
        return Anthropic("claude-sonnet-4-5", base_url=fp.anthropic_base_url, api_key="k", **kw)
    return Gemini("gemini-2.5-flash", base_url=fp.gemini_base_url, api_key="k", **kw)


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_reasoning_over_loopback(vendor: str, fake_provider: FakeProvider) -> None:
    t = make(vendor, fake_provider)
    answer = Reply(text="The answer is 42.", reasoning="Six times seven.")
    fake_provider.configure(t.model, responder=lambda model, body: answer, chunk_chars=5)
    for r in (t.complete(to_request("q")), await t.acomplete(to_request("q"))):
        assert r.text == "The answer is 42." and r.reasoning == "Six times seven."
    for chunks in (list(t.stream(to_request("q"))), [c async for c in t.astream(to_request("q"))]):
        assert "".join(c.reasoning for c in chunks) == "Six times seven."
        assert "".join(c.text for c in chunks) == "The answer is 42."
        first_text = next(i for i, c in enumerate(chunks) if c.text)
        assert all(c.reasoning for c in chunks[:first_text])  # thinking streams first
        assert chunks[-1].finish_reason == "stop"
    await t.aclose()


async def test_router_forwards_streamed_reasoning(fake_provider: FakeProvider) -> None:
    t = make("anthropic", fake_provider)
    answer = Reply(text="Paris.", reasoning="Capital of France.")
    fake_provider.configure(t.model, responder=lambda model, body: answer)
    r = Router([t], RoutingPolicy.balanced())
    chunks = [c async for c in r.astream("capital?")]
    assert chunks[0].reasoning and "".join(c.reasoning for c in chunks) == "Capital of France."
    assert "".join(c.text for c in chunks) == "Paris."
    resp = await r.achat("capital?")
    assert resp.reasoning == "Capital of France." and resp.text == "Paris."
    await r.aclose()


def test_extra_body_reaches_the_vendor(fake_provider: FakeProvider) -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    seen: list[dict[str, Any]] = []

    def answer(model: str, body: dict[str, Any]) -> str:
        seen.append(body)
        return "ok"

    t = make("anthropic", fake_provider, extra_body={"thinking": thinking})
    fake_provider.configure(t.model, responder=answer)
    assert t.complete(to_request("q")).text == "ok"
    assert seen[-1]["thinking"] == thinking and seen[-1]["model"] == "claude-sonnet-4-5"
    with pytest.raises(ConfigurationError, match="extra_body must be a mapping"):
        make("openai", fake_provider, extra_body=[("thinking", 1)])


def test_extra_body_merges_nested_objects(fake_provider: FakeProvider) -> None:
    from smartroute_llm.request import ChatRequest

    seen: list[dict[str, Any]] = []

    def answer(model: str, body: dict[str, Any]) -> str:
        seen.append(body)
        return "ok"

    extra = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    t = make("gemini", fake_provider, extra_body=extra)
    fake_provider.configure(t.model, responder=answer)
    t.complete(ChatRequest(messages=to_request("q").messages, temperature=0.2))
    gen = seen[-1]["generationConfig"]
    assert gen["thinkingConfig"] == {"includeThoughts": True} and gen["temperature"] == 0.2
    assert t.extra_body == extra  # the target's own copy is not changed by a call
