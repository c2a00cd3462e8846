"""Code written for the OpenAI SDK switches to the router with a one-line change (issue 15.2):
``router.achat(**kwargs_written_for_openai)`` is accepted as is, in every wire format, and
``to_openai()`` gives back what the SDK's own types accept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import NOT_GIVEN
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from smartroute_llm import RequestValidationError, Router, RoutingPolicy, to_request
from smartroute_llm.providers import Anthropic, Gemini, HTTPTarget, OpenAICompatible
from smartroute_llm.response import ChatResponse, ToolCallDelta, Usage, ato_openai_stream
from smartroute_llm.testing import FakeProvider, Reply
from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["fake_provider", "fake_provider_server"]  # fixtures for this module

VENDORS = ["openai", "anthropic", "gemini"]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = Reply(tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}])


def make(vendor: str, fp: FakeProvider) -> HTTPTarget:
    if vendor == "openai":
        return OpenAICompatible("gpt-4o-mini", base_url=fp.base_url, api_key="k")
    if vendor == "anthropic":
        return Anthropic("claude-3-5-haiku-latest", base_url=fp.anthropic_base_url, api_key="k")
    return Gemini("gemini-2.0-flash", base_url=fp.gemini_base_url, api_key="k")


def openai_kwargs(messages: list[Any]) -> dict[str, Any]:
    """What a caller of ``client.chat.completions.create`` writes, unchanged."""
    return {
        "model": "gpt-4o",
        "messages": messages,
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "max_tokens": 200,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "n": 1,
        "stream": False,
        "logprobs": NOT_GIVEN,
        "seed": NOT_GIVEN,
    }


def first_turn() -> list[Any]:
    return [
        {"role": "developer", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "weather in Paris?"},
                {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
            ],
        },
    ]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_tool_calling_conversation_round_trips(
    fake_provider: FakeProvider, vendor: str
) -> None:
    target = make(vendor, fake_provider)
    bodies: list[str] = []

    def respond(model: str, body: dict[str, Any]) -> Any:
        bodies.append(json.dumps(body))
        return CALL if len(bodies) == 1 else "Sunny, 21 C in Paris."

    fake_provider.configure(target.model, responder=respond)
    router = Router([target], RoutingPolicy.balanced())
    try:
        messages = first_turn()
        completion = ChatCompletion.model_validate(
            (await router.achat(**openai_kwargs(messages))).to_openai()
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        (call,) = choice.message.tool_calls or []
        assert call.type == "function" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        assert completion.model == target.model  # the model that answered, not the one asked
        assert completion.usage is not None and completion.usage.total_tokens > 0

        # the OpenAI SDK habit: append the returned message object itself, then the result
        messages.append(choice.message)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
        final = ChatCompletion.model_validate(
            (await router.achat(**openai_kwargs(messages))).to_openai()
        )
        assert final.choices[0].message.content == "Sunny, 21 C in Paris."
        assert final.choices[0].finish_reason == "stop"

        first, second = bodies
        assert "be brief" in first and "get_weather" in first and "200" in first
        assert "iVBORw0KGgo" in first  # the image_url part reached the wire
        assert "sunny, 21C" in second and "Paris" in second
        assert fake_provider.count(target.model) == 2
    finally:
        await router.aclose()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_streamed_tool_call_gives_valid_openai_chunks(
    fake_provider: FakeProvider, vendor: str
) -> None:
    target = make(vendor, fake_provider)
    fake_provider.script(target.model, [CALL])
    router = Router([target], RoutingPolicy.balanced())
    try:
        kwargs = {**openai_kwargs(first_turn()), "stream": True,
                  "stream_options": {"include_usage": True}}
        chunks = [
            ChatCompletionChunk.model_validate(c)
            async for c in ato_openai_stream(router.astream(**kwargs))
        ]
        assert len({c.id for c in chunks}) == 1 and chunks[0].choices[0].delta.role == "assistant"
        args = "".join(
            tc.function.arguments or ""
            for c in chunks
            for ch in c.choices
            for tc in ch.delta.tool_calls or ()
            if tc.function
        )
        names = [
            tc.function.name
            for c in chunks
            for ch in c.choices
            for tc in ch.delta.tool_calls or ()
            if tc.function and tc.function.name
        ]
        assert json.loads(args) == {"city": "Paris"} and names == ["get_weather"]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        assert any(c.usage is not None and c.usage.total_tokens > 0 for c in chunks)
    finally:
        await router.aclose()


def test_sync_chat_takes_openai_kwargs_too(fake_provider: FakeProvider) -> None:
    target = make("openai", fake_provider)
    fake_provider.script(target.model, [CALL])
    with Router([target]) as router:
        out = router.chat(**openai_kwargs(first_turn()))
    assert ChatCompletion.model_validate(out.to_openai()).choices[0].finish_reason == "tool_calls"


def test_model_pins_a_target_routes_on_auto_and_is_ignored_when_foreign() -> None:
    from smartroute_llm.testing import ScriptedTarget

    router = Router([ScriptedTarget("a"), ScriptedTarget("b")], RoutingPolicy.cheapest())
    msgs = [{"role": "user", "content": "hi"}]
    pinned = router.plan(messages=msgs, model="b")
    assert [c.name for c in pinned.candidates] == ["b"]
    routed = router.plan(messages=msgs, model="auto")
    assert len(routed.candidates) == 2 and "model" not in routed.explanation
    foreign = router.plan(messages=msgs, model="gpt-4o")
    assert len(foreign.candidates) == 2
    assert "'gpt-4o' names no target" in foreign.explanation["model"]
    assert foreign.request.model is None


# --- one clear error naming the field ------------------------------------------------------

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "n above 1": ({"n": 2}, "n"),
    "stream on chat": ({"stream": True}, "stream"),
    "penalty asked for": ({"presence_penalty": 0.5}, "presence_penalty"),
    "legacy functions": ({"functions": [{"name": "f"}]}, "functions"),
    "a typo": ({"temprature": 0.2}, "temprature"),
    "conflicting token limits": ({"max_tokens": 5, "max_completion_tokens": 9}, "max_"),
    "temperature out of range": ({"temperature": 9}, "temperature"),
    "audio part": (
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0]",
    ),
    "legacy function role": (
        {"messages": [{"role": "function", "name": "f", "content": "x"}]},
        "messages[0]",
    ),
    "non-function tool": ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_unsupported_field_gives_one_clear_error(
    fake_provider: FakeProvider, case: str
) -> None:
    extra, field = BAD[case]
    router = Router([make("openai", fake_provider)])
    try:
        with pytest.raises(RequestValidationError) as info:
            await router.achat(**{**openai_kwargs([{"role": "user", "content": "hi"}]), **extra})
        text = str(info.value)
        assert text.startswith(field) and "\n" not in text
        assert "Extra inputs" not in text and "validation error" not in text
        assert fake_provider.count() == 0
    finally:
        await router.aclose()


def test_typo_suggests_the_field() -> None:
    with pytest.raises(RequestValidationError, match="did you mean 'temperature'"):
        to_request(messages=[{"role": "user", "content": "hi"}], temprature=1)


# --- the mapping itself ----------------------------------------------------------------------


def test_request_fields_map_onto_the_neutral_request() -> None:
    req = to_request(
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]},
            {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_completion_tokens=64,
        response_format={"type": "json_schema", "json_schema": {
            "name": "weather", "schema": {"type": "object"}, "strict": True}},
        stop="END",
        user="u1",
        metadata={"team": "a"},
        parallel_tool_calls=False,
        seed=7,
        presence_penalty=0,
    )
    system, user, assistant, _ = req.messages
    assert system.role == "system" and system.text == "be brief"
    assert user.images[0].url == "https://x/y.png"
    assert assistant.content == "" and assistant.tool_calls[0].arguments == {"city": "Paris"}
    assert req.tools[0].name == "get_weather" and req.tools[0].parameters["required"] == ["city"]
    assert req.tool_choice == "get_weather" and req.max_output_tokens == 64
    fmt = req.response_format
    assert fmt is not None and (fmt.type, fmt.name, fmt.strict) == ("json_schema", "weather", True)
    assert fmt.json_schema == {"type": "object"} and req.needs_json
    assert req.stop == ["END"] and req.metadata == {"team": "a", "user": "u1"}
    assert (req.parallel_tool_calls, req.seed) == (False, 7)
    json_object = to_request("hi", response_format={"type": "json_object"})
    assert json_object.response_format is not None and json_object.needs_json


def test_to_openai_maps_usage_finish_and_reasoning() -> None:
    resp = ChatResponse(
        text="hi", reasoning="thought", finish_reason="length", model="m",
        usage=Usage(input_tokens=10, output_tokens=3, cached_input_tokens=4),
    )
    out = resp.to_openai()
    done = ChatCompletion.model_validate(out)
    assert done.choices[0].finish_reason == "length" and done.choices[0].message.content == "hi"
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.total_tokens) == (
        10, 13)
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 4
    assert out["choices"][0]["message"]["reasoning_content"] == "thought"
    odd = ChatResponse(text="x", finish_reason="end_turn")
    assert ChatCompletion.model_validate(odd.to_openai()).choices[0].finish_reason == "stop"


def test_chunk_to_openai_is_a_valid_chunk() -> None:
    from smartroute_llm.response import ChatChunk

    delta = ChatChunk(tool_call_deltas=[ToolCallDelta(index=0, id="c", name="f", arguments="{")])
    chunk = ChatCompletionChunk.model_validate(delta.to_openai(id="x", created=1))
    (tc,) = chunk.choices[0].delta.tool_calls or []
    assert (chunk.id, tc.id, tc.function and tc.function.name) == ("x", "c", "f")
    last = ChatCompletionChunk.model_validate(
        ChatChunk(finish_reason="stop", usage=Usage(input_tokens=1)).to_openai(first=False)
    )
    assert last.choices[0].finish_reason == "stop" and last.usage is not None
