"""Unit mapping with httpx.MockTransport against payloads shaped as the vendors document them
(OpenAI chat completions + chunk objects, Anthropic Messages + streaming events, Gemini
GenerateContentResponse)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from smartroute_llm import ErrorKind, ProviderError, to_request
from smartroute_llm.providers import Anthropic, Gemini, OpenAICompatible
from smartroute_llm.providers.errors import parse_retry_after

Handler = Callable[[httpx.Request], httpx.Response]


def sse(*events: Any, named: bool = False) -> bytes:
    out = []
    for e in events:
        if e == "[DONE]":
            out.append("data: [DONE]\n\n")
        elif named:
            out.append(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n")
        else:
            out.append(f"data: {json.dumps(e)}\n\n")
    return "".join(out).encode()


def stream_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def openai(handler: Handler) -> OpenAICompatible:
    return OpenAICompatible("gpt-4o-mini", api_key="k",
                            client=httpx.Client(transport=httpx.MockTransport(handler)))


OPENAI_COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
    "created": 1741570283, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The image shows a path.",
                                         "refusal": None, "annotations": []},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
              "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}},
    "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035",
}


def test_openai_completion_with_cached_tokens() -> None:
    sent: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append(json.loads(req.content))
        assert req.url.path == "/v1/chat/completions"
        return httpx.Response(200, json=OPENAI_COMPLETION)

    r = openai(handler).complete(to_request("hi", temperature=0.2, seed=7))
    assert (r.text, r.finish_reason, r.model) == (
        "The image shows a path.", "stop", "gpt-4o-2024-08-06")
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cached_input_tokens) == (
        1117, 46, 1024)
    assert sent[0] == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                       "temperature": 0.2, "seed": 7}


def test_openai_stream_tool_call_chunks() -> None:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], "usage": None}

    body = sse(
        chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": " \"Paris\"}"}}]}),
        chunk({}, "tool_calls"),
        {**base, "choices": [], "usage": {"prompt_tokens": 80, "completion_tokens": 17,
                                          "total_tokens": 97}},
        "[DONE]",
    )
    chunks = list(openai(lambda r: stream_response(body)).stream(to_request("w?")))
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert deltas[0].id == "call_DdmO9pD3xa9XTPNJ32zg2hcA" and deltas[0].name == "get_weather"
    assert json.loads("".join(d.arguments for d in deltas)) == {"location": "Paris"}
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens == 17


def test_openai_stream_without_finish_is_interrupted() -> None:
    body = sse({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]})
    with pytest.raises(ProviderError) as info:
        list(openai(lambda r: stream_response(body)).stream(to_request("x")))
    assert info.value.kind == ErrorKind.STREAM_INTERRUPTED
    assert getattr(info.value, "partial_text", None) == "Hel"


@pytest.mark.parametrize(("status", "body", "kind"), [
    (400, {"error": {"message": "This model's maximum context length is 128000 tokens.",
                     "type": "invalid_request_error", "param": "messages",
                     "code": "context_length_exceeded"}}, ErrorKind.CONTEXT_LENGTH),
    (400, {"error": {"message": "Invalid value for 'temperature'", "type":
                     "invalid_request_error", "param": "temperature", "code": None}},
     ErrorKind.INVALID_REQUEST),
    (429, {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                     "param": None, "code": "insufficient_quota"}}, ErrorKind.AUTHENTICATION),
    (503, {"error": {"message": "The engine is currently overloaded", "type": "server_error",
                     "param": None, "code": None}}, ErrorKind.OVERLOADED),
    (502, b"<html>Bad gateway</html>", ErrorKind.OVERLOADED),
])
def test_openai_error_statuses(status: int, body: Any, kind: ErrorKind) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    with pytest.raises(ProviderError) as info:
        openai(handler).complete(to_request("x"))
    assert info.value.kind == kind and info.value.status_code == status


def test_retry_after_seconds_date_and_ms() -> None:
    future = datetime.now(UTC) + timedelta(seconds=30)
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    dated = parse_retry_after({"retry-after": format_datetime(future, usegmt=True)})
    assert dated is not None and 25 <= dated <= 31
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def anthropic(handler: Handler) -> Anthropic:
    return Anthropic("claude-sonnet-4-5", api_key="k",
                     client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_anthropic_request_shape_and_cached_usage() -> None:
    sent: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append(json.loads(req.content))
        assert req.url.path == "/v1/messages" and req.headers["anthropic-version"] == "2023-06-01"
        return httpx.Response(200, json={
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Hi! My name is Claude."}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 2095, "output_tokens": 503,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800}})

    req = to_request(
        [{"role": "system", "content": "terse"}, {"role": "user", "content": [
            {"type": "text", "text": "what?"},
            {"type": "image", "data": "iVBORw0KGgo=", "media_type": "image/png"},
            {"type": "image", "url": "https://example.com/a.jpg"}]}],
        stop=["###"], max_output_tokens=100, tools=[{"name": "f", "parameters": {
            "type": "object", "properties": {}}}], tool_choice="required",
        parallel_tool_calls=False,
    )
    r = anthropic(handler).complete(req)
    assert (r.usage.input_tokens, r.usage.cached_input_tokens, r.usage.output_tokens) == (
        3895, 1800, 503)
    body = sent[0]
    assert body["system"] == "terse" and body["max_tokens"] == 100
    assert body["stop_sequences"] == ["###"]
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_anthropic_documented_stream_with_tool_use() -> None:
    events = [
        {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 472, "output_tokens": 2}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Okay, let's check"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
            "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "{\"location\": \"San Fra"}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "ncisco, CA\"}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 89}},
        {"type": "message_stop"},
    ]
    chunks = list(anthropic(lambda r: stream_response(sse(*events, named=True))).stream(
        to_request("weather?")))
    assert "".join(c.text for c in chunks) == "Okay, let's check"
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert (deltas[0].index, deltas[0].id, deltas[0].name) == (
        0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    assert json.loads("".join(d.arguments for d in deltas)) == {"location": "San Francisco, CA"}
    final = chunks[-1]
    assert final.finish_reason == "tool_calls" and final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (472, 89)


def test_anthropic_overloaded_error_event_mid_stream() -> None:
    events = [
        {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant",
                                              "content": [], "model": "c", "usage": {
                                                  "input_tokens": 1, "output_tokens": 1}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    with pytest.raises(ProviderError) as info:
        list(anthropic(lambda r: stream_response(sse(*events, named=True))).stream(
            to_request("x")))
    assert info.value.kind == ErrorKind.OVERLOADED


@pytest.mark.parametrize(("status", "etype", "message", "kind"), [
    (529, "overloaded_error", "Overloaded", ErrorKind.OVERLOADED),
    (400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum",
     ErrorKind.CONTEXT_LENGTH),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
     ErrorKind.CONTEXT_LENGTH),
    (401, "authentication_error", "invalid x-api-key", ErrorKind.AUTHENTICATION),
    (404, "not_found_error", "model: claude-x", ErrorKind.NOT_FOUND),
])
def test_anthropic_errors(status: int, etype: str, message: str, kind: ErrorKind) -> None:
    body = {"type": "error", "error": {"type": etype, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    with pytest.raises(ProviderError) as info:
        anthropic(lambda r: httpx.Response(status, json=body)).complete(to_request("x"))
    assert info.value.kind == kind


def gemini(handler: Handler) -> Gemini:
    return Gemini("gemini-2.5-flash", api_key="k",
                  client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_gemini_function_call_and_request_shape() -> None:
    sent: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        return httpx.Response(200, json={
            "candidates": [{"content": {"parts": [{"functionCall": {
                "name": "set_light_values", "args": {"brightness": 25, "color_temp": "warm"}}}],
                "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 65, "candidatesTokenCount": 8,
                              "totalTokenCount": 73, "cachedContentTokenCount": 32},
            "modelVersion": "gemini-2.5-flash", "responseId": "abc"})

    req = to_request("dim the lights", tools=[{"name": "set_light_values", "parameters": {
        "type": "object", "properties": {"brightness": {"type": "integer"}}}}],
        tool_choice="set_light_values", max_output_tokens=64, stop=["END"],
        response_format={"type": "json_object"})
    r = gemini(handler).complete(req)
    assert r.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in r.tool_calls] == [
        ("set_light_values", {"brightness": 25, "color_temp": "warm"})]
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cached_input_tokens) == (65, 8, 32)
    assert sent[0].url.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent[0].headers["x-goog-api-key"] == "k"
    body = json.loads(sent[0].content)
    assert body["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["set_light_values"]}}
    assert body["generationConfig"] == {"stopSequences": ["END"], "maxOutputTokens": 64,
                                        "responseMimeType": "application/json"}


def test_gemini_blocked_prompt_and_stream_url() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
               "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}
    with pytest.raises(ProviderError) as info:
        gemini(lambda r: httpx.Response(200, json=blocked)).complete(to_request("x"))
    assert info.value.kind == ErrorKind.CONTENT_FILTER
    urls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        urls.append(str(req.url))
        return stream_response(sse(
            {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"},
                             "index": 0}], "modelVersion": "gemini-2.5-flash"},
            {"candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"},
                             "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2,
                               "totalTokenCount": 5}}))

    chunks = list(gemini(handler).stream(to_request("x")))
    assert urls[0].endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert "".join(c.text for c in chunks) == "Hello" and chunks[-1].usage is not None
    assert chunks[-1].usage.output_tokens == 2


def test_gemini_error_status() -> None:
    body = {"error": {"code": 429, "message": "Resource has been exhausted",
                      "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(ProviderError) as info:
        gemini(lambda r: httpx.Response(429, json=body, headers={"retry-after": "3"})).complete(
            to_request("x"))
    assert info.value.kind == ErrorKind.RATE_LIMITED and info.value.retry_after == 3.0
