"""The caller's bad input is refused at the edge, before any target is tried (issue #12 items 6,
14): a clear ValueError naming the field, nothing sent, no breaker or statistic touched."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartroute_llm import (
    ChatRequest,
    Message,
    RequestValidationError,
    Router,
    RoutingPolicy,
    SmartRouteError,
    ToolCall,
    ToolSpec,
    to_request,
)
from smartroute_llm.providers import Anthropic, Gemini, HTTPTarget, OpenAICompatible
from smartroute_llm.testing import FakeProvider
from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["fake_provider", "fake_provider_server"]  # fixtures for this module


def make(vendor: str, fp: FakeProvider) -> HTTPTarget:
    if vendor == "openai":
        return OpenAICompatible("gpt-4o-mini", base_url=fp.base_url, api_key="k")
    if vendor == "anthropic":
        return Anthropic("claude-3-5-haiku-latest", base_url=fp.anthropic_base_url, api_key="k")
    return Gemini("gemini-2.0-flash", base_url=fp.gemini_base_url, api_key="k")


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


SURROGATE = "hello \ud800 world"
BAD_REQUESTS: dict[str, tuple[Any, str]] = {
    "surrogate in prompt": (SURROGATE, "messages[0].content"),
    "surrogate in a later message": (
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": SURROGATE}],
        "messages[1].content",
    ),
    "tool message without tool_call_id": (
        [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
            {"role": "tool", "content": '{"sky": "clear"}'},
        ],
        "messages[2] (role tool): tool_call_id is required",
    ),
    "tool arguments nested 5,000 deep": (
        [
            {"role": "user", "content": "weather?"},
            {"role": "assistant",
             "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": _nested(5000)}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "messages[1].tool_calls[0].arguments",
    ),
}


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_bad_input_is_refused_before_any_target_is_tried(
    fake_provider: FakeProvider, vendor: str, case: str
) -> None:
    bad, field = BAD_REQUESTS[case]
    router = Router([make(vendor, fake_provider)], RoutingPolicy.adaptive_())
    name = router.profiles[0].name
    before = router.stats()
    try:
        for i in range(6):  # six used to open every circuit
            call = router.chat if i % 2 else None
            with pytest.raises(ValueError) as info:
                if call is None:
                    await router.achat(bad)
                else:
                    call(bad)
            assert isinstance(info.value, RequestValidationError)
            assert isinstance(info.value, SmartRouteError)
            assert field in str(info.value)
        assert fake_provider.count() == 0
        assert router.executor.breakers.state(name) == "closed"
        assert router.executor.breakers.blocked() == {}
        assert router.stats() == before and "learned" in before
        ok = await router.achat("hello")  # the target was never blamed: it still answers
        assert "hello" in ok.text and fake_provider.count() == 1
    finally:
        await router.aclose()


def test_surrogate_error_names_the_character_and_index() -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request([{"role": "user", "content": "ok"}, {"role": "user", "content": "abcd\ud800"}])
    msg = str(info.value)
    assert msg.startswith("messages[1].content: lone surrogate '\\ud800' at index 4")
    assert "UTF-8" in msg and info.value.field == "messages[1].content"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ChatRequest(messages=[Message(role="user", content="hi", name="\udfff")]),
         "messages[0].name"),
        (lambda: ChatRequest(messages=[Message(role="user", content=[{"type": "text",
                                                                       "text": "x\ud83d"}])]),
         "messages[0].content[0].text"),
        (lambda: ChatRequest(messages=[Message(role="user", content="hi")],
                             tools=[ToolSpec(name="f", description="d\ud800")]),
         "tools[0].description"),
        (lambda: ChatRequest(messages=[Message(role="user", content="hi")],
                             tools=[ToolSpec(name="f", parameters=_nested(500))]),
         "tools[0].parameters"),
        (lambda: ChatRequest(messages=[Message(role="user", content="hi")],
                             tools=[ToolSpec(name="f", parameters={"type": "object", "properties":
                                                                   {"q": {"enum": ["\ud800"]}}})]),
         "tools[0].parameters['properties']['q']['enum'][0]"),
        (lambda: ChatRequest(messages=[Message(role="user", content="hi")], stop=["\ud800"]),
         "stop[0]"),
        (lambda: ChatRequest(messages=[Message(role="assistant", tool_calls=[
            ToolCall(id="c", name="f", arguments={"when": {1, 2}})])]),
         "messages[0].tool_calls[0].arguments['when']"),
    ],
)
def test_every_sent_field_is_checked(build: Any, field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request(build())
    assert str(info.value).startswith(field + ":"), str(info.value)


def test_deep_but_reasonable_nesting_is_accepted() -> None:
    req = to_request([{"role": "assistant", "tool_calls": [
        {"id": "c", "name": "f", "arguments": _nested(40)}]}])
    assert req.messages[0].tool_calls[0].arguments == _nested(40)


def test_openai_assistant_message_with_null_content_and_tool_calls_is_accepted() -> None:
    wire = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
    ]
    req = to_request(wire)
    assistant = req.messages[1]
    assert assistant.content == ""
    assert assistant.tool_calls == [
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    ]
    assert to_request([{"role": "assistant", "content": None, "tool_calls": None}]).messages[
        0
    ].tool_calls == []


def test_openai_tool_call_with_bad_arguments_names_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"messages\[0\]\.tool_calls\[0\]: function\.arguments: not valid JSON"
    ):
        to_request([{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}])


def test_a_good_request_passes_unchanged() -> None:
    req = ChatRequest(messages=[Message(role="user", content="héllo 你好 🎉")])
    assert to_request(req) is req


def test_analyze_on_an_unchecked_request_names_the_field_instead_of_recursing() -> None:
    from smartroute_llm import analyze

    call = ToolCall(id="c", name="f", arguments=_nested(5000))
    req = ChatRequest.model_construct(  # skips validation, as a caller's own object might
        messages=[Message(role="user", content="hi"),
                  Message(role="assistant", tool_calls=[call])],
        tools=[], tool_choice=None, response_format=None, max_output_tokens=None, model=None,
    )
    with pytest.raises(RequestValidationError, match=r"messages\[1\]\.tool_calls\[0\]\.arguments"):
        analyze(req)
