"""Anthropic and Gemini over real loopback HTTP: sync, async, streaming, tools, faults."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartroute_llm import ErrorKind, ProviderError
from smartroute_llm.providers import Anthropic, Gemini, HTTPTarget
from smartroute_llm.request import ChatRequest, Message, ToolSpec, to_request
from smartroute_llm.testing import FakeProvider, Fault, Reply

WEATHER = ToolSpec(name="get_weather", description="weather",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture(params=["anthropic", "gemini"])
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(vendor: str, fp: FakeProvider, transport: str = "aiohttp") -> HTTPTarget:
    if vendor == "anthropic":
        return Anthropic("claude-3-5-haiku-latest", base_url=fp.anthropic_base_url,
                         api_key="k", transport=transport)  # type: ignore[arg-type]
    return Gemini("gemini-2.0-flash", base_url=fp.gemini_base_url, api_key="k",
                  transport=transport)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_complete_sync_and_async(
    vendor: str, fake_provider: FakeProvider, transport: str
) -> None:
    t = make(vendor, fake_provider, transport)
    sync = t.complete(to_request("hello"))
    asyn = await t.acomplete(to_request("hello"))
    for r in (sync, asyn):
        assert r.text == f"[{t.model}] hello" and r.finish_reason == "stop"
        assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    await t.aclose()


async def test_stream_sync_and_async(vendor: str, fake_provider: FakeProvider) -> None:
    t = make(vendor, fake_provider)
    for chunks in (list(t.stream(to_request("stream this text"))),
                   [c async for c in t.astream(to_request("stream this text"))]):
        assert "".join(c.text for c in chunks) == f"[{t.model}] stream this text"
        assert len(chunks) > 2 and all(c.usage is None for c in chunks[:-1])
        assert chunks[-1].finish_reason == "stop" and chunks[-1].usage
        assert chunks[-1].usage.output_tokens > 0
    assert all(a.stream for a in fake_provider.attempts)
    await t.aclose()


async def test_tool_calls_complete_and_stream(vendor: str, fake_provider: FakeProvider) -> None:
    t = make(vendor, fake_provider)
    reply = Reply(tool_calls=[{"id": "toolu_1", "name": "get_weather",
                               "arguments": {"city": "Paris"}}])
    fake_provider.script(t.model, [reply, reply])
    req = to_request("weather?", tools=[WEATHER], tool_choice="required")
    resp = t.complete(req)
    assert resp.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in resp.tool_calls] == [("get_weather", {"city": "Paris"})]
    chunks = [c async for c in t.astream(req)]
    args = "".join(d.arguments for c in chunks for d in c.tool_call_deltas)
    names = [d.name for c in chunks for d in c.tool_call_deltas if d.name]
    assert json.loads(args) == {"city": "Paris"} and names == ["get_weather"]
    assert chunks[-1].finish_reason == "tool_calls"
    await t.aclose()


def test_tool_result_round_trip(vendor: str, fake_provider: FakeProvider) -> None:
    t = make(vendor, fake_provider)
    seen: list[dict[str, Any]] = []
    fake_provider.configure(t.model, responder=lambda m, b: seen.append(b) or "sunny")
    req = ChatRequest(messages=[
        Message(role="system", content="be brief"),
        Message(role="user", content="weather?"),
        Message(role="assistant", tool_calls=[{"id": "toolu_1", "name": "get_weather",
                                               "arguments": {"city": "Paris"}}]),
        Message(role="tool", tool_call_id="toolu_1", content='{"sky": "clear"}'),
    ], tools=[WEATHER])
    assert t.complete(req).text == "sunny"
    body = seen[0]
    if vendor == "anthropic":
        assert body["system"] == "be brief"
        assert body["messages"][1]["content"] == [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}}
        ]
        assert body["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"sky": "clear"}'}
        ]}
        assert body["tools"][0]["input_schema"] == WEATHER.parameters
    else:
        assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
        assert body["contents"][1] == {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
        assert body["contents"][2] == {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}}]}
    t.close()


FAULTS = [
    (Fault.rate_limited(4), ErrorKind.RATE_LIMITED),
    (Fault.overloaded(529), ErrorKind.OVERLOADED),
    (Fault.server_error(), ErrorKind.OVERLOADED),
    (Fault.connection_reset(), ErrorKind.CONNECTION),
    (Fault.context_length(), ErrorKind.CONTEXT_LENGTH),
    (Fault.content_filter("finish"), ErrorKind.CONTENT_FILTER),
    (Fault.authentication(), ErrorKind.AUTHENTICATION),
    (Fault.error_body(), ErrorKind.OVERLOADED),
    (Fault.empty_body(), ErrorKind.MALFORMED_RESPONSE),
]


@pytest.mark.parametrize(("fault", "kind"), FAULTS, ids=[f[0].kind.value for f in FAULTS])
@pytest.mark.parametrize("stream", [False, True])
async def test_faults(
    vendor: str, fake_provider: FakeProvider, fault: Fault, kind: ErrorKind, stream: bool
) -> None:
    t = make(vendor, fake_provider)
    fake_provider.script(t.model, fault)
    with pytest.raises(ProviderError) as info:
        if stream:
            [c async for c in t.astream(to_request("hi"))]
        else:
            await t.acomplete(to_request("hi"))
    assert info.value.kind == kind, str(info.value)
    if fault.kind.value == "rate_limited":
        assert info.value.retry_after == 4.0
    await t.aclose()


@pytest.mark.parametrize("fault", [Fault.stream_cut(2), Fault.stream_cut(2, abort=False)])
async def test_stream_cut(vendor: str, fake_provider: FakeProvider, fault: Fault) -> None:
    t = make(vendor, fake_provider)
    fake_provider.script(t.model, fault)
    with pytest.raises(ProviderError) as info:
        list(t.stream(to_request("a long enough prompt to split")))
    assert info.value.kind == ErrorKind.STREAM_INTERRUPTED
    t.close()


async def test_malformed_event(vendor: str, fake_provider: FakeProvider) -> None:
    t = make(vendor, fake_provider)
    fake_provider.script(t.model, Fault.malformed_chunk(1))
    with pytest.raises(ProviderError) as info:
        [c async for c in t.astream(to_request("a long enough prompt to split"))]
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE
    await t.aclose()


def test_anthropic_prefill_rejection(fake_provider: FakeProvider) -> None:
    t = make("anthropic", fake_provider)
    fake_provider.configure(t.model, reject_prefill=True)
    req = ChatRequest(messages=[Message(role="user", content="json please"),
                                Message(role="assistant", content="{")])
    with pytest.raises(ProviderError) as info:
        t.complete(req)
    assert info.value.kind == ErrorKind.INVALID_REQUEST and info.value.status_code == 400
    assert "prefill" in str(info.value)
    t.close()


def test_anthropic_missing_message_stop_finalises(fake_provider: FakeProvider) -> None:
    t = make("anthropic", fake_provider)
    fake_provider.script(t.model, Fault.missing_done(delay=30))
    chunks = list(t.stream(to_request("hi")))
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage
    t.close()
