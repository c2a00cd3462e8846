"""OpenAICompatible over real loopback HTTP against the fake server: every path, every fault."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from smartroute_llm import ErrorKind, ProviderError, StreamInterrupted
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.request import ChatRequest, ImagePart, Message, TextPart, ToolSpec, to_request
from smartroute_llm.response import ChatChunk
from smartroute_llm.target import AttemptOptions
from smartroute_llm.testing import FakeProvider, Fault, Reply

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]},
)


@pytest.fixture(params=["aiohttp", "httpx"])
def target(request: pytest.FixtureRequest, fake_provider: FakeProvider) -> OpenAICompatible:
    return OpenAICompatible(
        "gpt-4o-mini", base_url=fake_provider.base_url, api_key="sk-test",
        transport=request.param,
    )


def collect(chunks: list[ChatChunk]) -> tuple[str, dict[int, dict[str, str]], ChatChunk]:
    text, calls = "", {}
    for c in chunks[:-1]:
        assert c.finish_reason is None and c.usage is None
        text += c.text
        for d in c.tool_call_deltas:
            slot = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] = d.id or slot["id"]
            slot["name"] = d.name or slot["name"]
            slot["arguments"] += d.arguments
    return text, calls, chunks[-1]


def test_sync_complete(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    resp = target.complete(to_request("hello"))
    assert resp.text == "[gpt-4o-mini] hello"
    assert resp.finish_reason == "stop" and resp.model == "gpt-4o-mini"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.response_id and resp.response_id.startswith("chatcmpl-")
    target.close()


async def test_async_complete_reuses_one_client(target: OpenAICompatible) -> None:
    first = await target.acomplete(to_request("a"))
    client = target._async_client()
    second = await target.acomplete(to_request("b"))
    assert (first.text, second.text) == ("[gpt-4o-mini] a", "[gpt-4o-mini] b")
    assert target._async_client() is client
    await target.aclose()


async def test_async_concurrent_calls(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    fake_provider.configure("gpt-4o-mini", latency=0.05)
    out = await asyncio.gather(*(target.acomplete(to_request(f"q{i}")) for i in range(40)))
    assert sorted(r.text for r in out) == sorted(f"[gpt-4o-mini] q{i}" for i in range(40))
    # the calls overlapped: one after another, every request would arrive at least one
    # 50 ms answer after the previous one (the server's clock, so a busy machine cannot fake it)
    gaps = fake_provider.gaps("gpt-4o-mini")
    assert len(gaps) == 39 and sum(g < 0.05 for g in gaps) >= 20
    await target.aclose()


def test_sync_stream_text(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    chunks = list(target.stream(to_request("stream me please")))
    text, calls, final = collect(chunks)
    assert text == "[gpt-4o-mini] stream me please" and not calls and len(chunks) > 3
    assert final.finish_reason == "stop" and final.usage and final.usage.output_tokens > 0
    body = fake_provider.attempts_for("gpt-4o-mini")[-1]
    assert body.stream
    target.close()


async def test_async_stream_tool_call_deltas(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    fake_provider.script("gpt-4o-mini", Reply(tool_calls=[
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call_2", "name": "get_weather", "arguments": {"city": "Oslo"}},
    ]))
    req = to_request("weather in Paris and Oslo?", tools=[WEATHER])
    chunks = [c async for c in target.astream(req)]
    _, calls, final = collect(chunks)
    assert final.finish_reason == "tool_calls"
    assert {i: (c["id"], c["name"], json.loads(c["arguments"])) for i, c in calls.items()} == {
        0: ("call_1", "get_weather", {"city": "Paris"}),
        1: ("call_2", "get_weather", {"city": "Oslo"}),
    }
    await target.aclose()


def test_tool_call_round_trip(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    seen: list[dict[str, Any]] = []

    def responder(model: str, body: dict[str, Any]) -> Any:
        seen.append(body)
        if body["messages"][-1]["role"] == "tool":
            return "It is sunny in Paris."
        return {"tool_calls": [{"id": "call_9", "name": "get_weather",
                                "arguments": {"city": "Paris"}}]}

    fake_provider.configure("gpt-4o-mini", responder=responder)
    req = to_request("weather?", tools=[WEATHER], tool_choice="get_weather")
    first = target.complete(req)
    assert first.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        ("call_9", "get_weather", {"city": "Paris"})
    ]
    follow = ChatRequest(messages=[
        *req.messages,
        Message(role="assistant", tool_calls=first.tool_calls),
        Message(role="tool", tool_call_id="call_9", content='{"sky": "clear"}'),
    ], tools=[WEATHER])
    assert target.complete(follow).text == "It is sunny in Paris."
    assert seen[0]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert seen[0]["tools"][0]["function"]["parameters"] == WEATHER.parameters
    assistant, tool = seen[1]["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "get_weather", "arguments": '{"city": "Paris"}'
    }
    assert tool == {"role": "tool", "tool_call_id": "call_9", "content": '{"sky": "clear"}'}
    target.close()


def test_images_stop_and_json_schema_reach_the_wire(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    seen: list[dict[str, Any]] = []
    fake_provider.configure("gpt-4o-mini", responder=lambda m, b: seen.append(b) or '{"a": 1}')
    req = ChatRequest(
        messages=[Message(role="user", content=[
            TextPart(text="what is this?"),
            ImagePart(data="iVBORw0KGgo=", media_type="image/png", detail="low"),
        ])],
        stop=["END"],
        response_format={"type": "json_schema", "json_schema": {"type": "object"}, "name": "x",
                         "strict": True},
        max_output_tokens=50,
    )
    assert target.complete(req).text == '{"a": 1}'
    body = seen[0]
    assert body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
    }
    assert body["stop"] == ["END"]
    assert body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"},
                                               "strict": True},
    }
    assert body["max_completion_tokens"] == 50
    target.close()


def test_stream_sends_include_usage(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    seen: list[dict[str, Any]] = []
    fake_provider.configure("gpt-4o-mini", responder=lambda m, b: seen.append(b) or "ok")
    list(target.stream(to_request("x")))
    assert seen[0]["stream"] is True
    assert seen[0]["stream_options"] == {"include_usage": True}
    target.close()


# --- faults -> error kinds ----------------------------------------------------------------------

FAULTS: list[tuple[str, Fault, ErrorKind]] = [
    ("429 retry-after", Fault.rate_limited(7), ErrorKind.RATE_LIMITED),
    ("429 bare", Fault.rate_limited(), ErrorKind.RATE_LIMITED),
    ("500", Fault.server_error(), ErrorKind.OVERLOADED),
    ("503", Fault.overloaded(), ErrorKind.OVERLOADED),
    ("reset", Fault.connection_reset(), ErrorKind.CONNECTION),
    ("context", Fault.context_length(), ErrorKind.CONTEXT_LENGTH),
    ("policy", Fault.content_filter(), ErrorKind.CONTENT_FILTER),
    ("filtered", Fault.content_filter("finish"), ErrorKind.CONTENT_FILTER),
    ("auth", Fault.authentication(), ErrorKind.AUTHENTICATION),
    ("empty 200", Fault.empty_body(), ErrorKind.MALFORMED_RESPONSE),
    ("error in 200", Fault.error_body(), ErrorKind.OVERLOADED),
    ("404", Fault.http_status(404), ErrorKind.NOT_FOUND),
]


@pytest.mark.parametrize(("label", "fault", "kind"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
async def test_fault_maps_to_kind(
    target: OpenAICompatible, fake_provider: FakeProvider, label: str, fault: Fault,
    kind: ErrorKind, mode: str,
) -> None:
    if mode in ("stream", "astream") and fault.kind.value == "empty_body":
        kind = ErrorKind.MALFORMED_RESPONSE
    fake_provider.script("gpt-4o-mini", fault)
    req = to_request("hi")
    with pytest.raises(ProviderError) as info:
        if mode == "sync":
            target.complete(req)
        elif mode == "async":
            await target.acomplete(req)
        elif mode == "stream":
            list(target.stream(req))
        else:
            [c async for c in target.astream(req)]
    err = info.value
    assert err.kind == kind, str(err)
    assert err.target == "gpt-4o-mini"
    if label == "429 retry-after":
        assert err.retry_after == 7.0 and err.status_code == 429
    if label == "429 bare":
        assert err.retry_after is None
    assert fake_provider.count("gpt-4o-mini") == 1
    target.close()
    await target.aclose()


@pytest.mark.parametrize("abort", [True, False])
async def test_stream_cut_mid_answer_is_interrupted_with_partial_text(
    target: OpenAICompatible, fake_provider: FakeProvider, abort: bool
) -> None:
    fake_provider.script("gpt-4o-mini", Fault.stream_cut(after_chunks=2, abort=abort))
    got: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        async for c in target.astream(to_request("a fairly long question here")):
            got.append(c.text)
    assert info.value.kind == ErrorKind.STREAM_INTERRUPTED
    assert "".join(got) and info.value.partial_text == "".join(got)
    with pytest.raises(StreamInterrupted):
        fake_provider.script("gpt-4o-mini", Fault.stream_cut(after_chunks=2, abort=abort))
        list(target.stream(to_request("a fairly long question here")))
    await target.aclose()


async def test_malformed_chunk(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    fake_provider.script("gpt-4o-mini", [Fault.malformed_chunk(1), Fault.malformed_chunk(1)])
    for run in ("sync", "async"):
        with pytest.raises(ProviderError) as info:
            if run == "sync":
                list(target.stream(to_request("hello world")))
            else:
                [c async for c in target.astream(to_request("hello world"))]
        assert info.value.kind == ErrorKind.MALFORMED_RESPONSE
    await target.aclose()


async def test_missing_done_is_finalised_promptly(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    fake_provider.script("gpt-4o-mini", [Fault.missing_done(delay=30), Fault.missing_done(30)])
    t0 = time.monotonic()
    chunks = [c async for c in target.astream(to_request("hi"))]
    sync_chunks = list(target.stream(to_request("hi")))
    assert time.monotonic() - t0 < 15
    for got in (chunks, sync_chunks):
        assert got[-1].finish_reason == "stop" and got[-1].usage and got[-1].usage.output_tokens
    await target.aclose()


async def test_no_response_times_out(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    fake_provider.fail("gpt-4o-mini", Fault.no_response(delay=30))
    opts = AttemptOptions(timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ProviderError) as a:
        await target.acomplete(to_request("hi"), opts)
    with pytest.raises(ProviderError) as s:
        target.complete(to_request("hi"), AttemptOptions(read_timeout=0.5))
    assert a.value.kind == ErrorKind.TIMEOUT and s.value.kind == ErrorKind.TIMEOUT
    assert time.monotonic() - t0 < 15
    await target.aclose()


async def test_slow_first_token_is_ttft_timeout(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    fake_provider.fail("gpt-4o-mini", Fault.slow_first_token(delay=30))
    with pytest.raises(ProviderError) as info:
        [c async for c in target.astream(to_request("hi"), AttemptOptions(read_timeout=0.4))]
    assert info.value.kind == ErrorKind.TTFT_TIMEOUT
    with pytest.raises(ProviderError) as sinfo:
        list(target.stream(to_request("hi"), AttemptOptions(read_timeout=0.4)))
    assert sinfo.value.kind == ErrorKind.TTFT_TIMEOUT
    await target.aclose()


async def test_slow_first_token_within_limit_succeeds(
    target: OpenAICompatible, fake_provider: FakeProvider
) -> None:
    fake_provider.script("gpt-4o-mini", Fault.slow_first_token(delay=0.3))
    t0 = time.monotonic()
    chunks = [c async for c in target.astream(to_request("hi"))]
    assert time.monotonic() - t0 >= 0.3 and chunks[-1].finish_reason == "stop"
    await target.aclose()


async def test_stream_stall(target: OpenAICompatible, fake_provider: FakeProvider) -> None:
    fake_provider.fail("gpt-4o-mini", Fault.stream_stall(after_chunks=1, delay=30))
    got: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for c in target.astream(to_request("a long enough prompt"),
                                      AttemptOptions(read_timeout=0.4)):
            got.append(c.text)
    assert info.value.kind == ErrorKind.STREAM_STALL and "".join(got)
    with pytest.raises(ProviderError) as sinfo:
        list(target.stream(to_request("a long enough prompt"), AttemptOptions(read_timeout=0.4)))
    assert sinfo.value.kind == ErrorKind.STREAM_STALL
    await target.aclose()


async def test_connection_refused_is_connection_error() -> None:
    fp = FakeProvider().start()
    base = fp.base_url
    fp.stop()
    for transport in ("aiohttp", "httpx"):
        t = OpenAICompatible("gpt-4o", base_url=base, api_key="k", transport=transport)
        with pytest.raises(ProviderError) as info:
            await t.acomplete(to_request("hi"))
        assert info.value.kind == ErrorKind.CONNECTION, str(info.value)
        with pytest.raises(ProviderError) as sinfo:
            t.complete(to_request("hi"))
        assert sinfo.value.kind == ErrorKind.CONNECTION
        await t.aclose()
