"""StructuralVerifier through the public API: each fault rejects, a sound answer passes."""

from __future__ import annotations

import pytest

from smartroute_llm import ChatRequest, ChatResponse
from smartroute_llm.request import Message, ResponseFormat, ToolCall, ToolSpec
from smartroute_llm.verifiers import Check, StructuralVerifier, Verifier, is_refusal

WEATHER = ToolSpec(
    name="weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
PERSON = ResponseFormat(
    type="json_schema",
    json_schema={"type": "object", "properties": {"age": {"type": "integer"}},
                 "required": ["age"]},
)


def ask(**fields: object) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content="q")], **fields)  # type: ignore[arg-type]


def judge(request: ChatRequest, **answer: object) -> tuple[bool, str]:
    v = StructuralVerifier()
    verdict = v.verify(Check(request, ChatResponse(**answer)))  # type: ignore[arg-type]
    assert verdict.verifier == "structural"
    return verdict.accepted, verdict.reason


def test_is_a_verifier() -> None:
    assert isinstance(StructuralVerifier(), Verifier)


def test_plain_answer_accepted() -> None:
    assert judge(ask(), text="Paris is the capital of France.", finish_reason="stop")[0]


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_rejected(text: str) -> None:
    assert judge(ask(), text=text) == (False, "empty answer")


def test_truncated_rejected() -> None:
    ok, reason = judge(ask(), text="The answer is", finish_reason="length")
    assert not ok and "truncated" in reason


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m sorry, but I cannot assist with this request.",
        "Sorry, I can't comply with that.",
        "I cannot help with creating malware.",
        "As an AI language model, I cannot provide that information.",
        "**I'm afraid I can't do that.**",
        "抱歉，我无法提供这方面的帮助。",
        "很抱歉，但我不能回答这个问题。",
        "我无法协助完成这个请求。",
        "作为一个人工智能语言模型，我无法提供此类信息。",
    ],
)
def test_refusals_rejected(text: str) -> None:
    assert is_refusal(text)
    assert judge(ask(), text=text) == (False, "refusal")


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry to hear that. Here is how to fix it: restart the service.",
        "As an AI, I don't have opinions, but the usual answer is 42.",
        "I can't stress enough how useful this is: use a set.",
        "The model said 'I cannot help with that' in the logs; the fix is a retry.",
        "抱歉让你久等了，答案是 42。",
        "我不能确定，但最可能的答案是 42。",
    ],
)
def test_not_refusals_accepted(text: str) -> None:
    assert not is_refusal(text)
    assert judge(ask(), text=text)[0]


def test_json_object_must_parse_and_be_an_object() -> None:
    req = ask(response_format=ResponseFormat(type="json_object"))
    assert judge(req, text='{"a": 1}')[0]
    ok, reason = judge(req, text='{"a": 1')
    assert not ok and reason.startswith("JSON does not parse")
    ok, reason = judge(req, text="[1, 2]")
    assert not ok and "not an object" in reason


def test_json_schema_validated() -> None:
    req = ask(response_format=PERSON)
    assert judge(req, text='{"age": 30}')[0]
    ok, reason = judge(req, text='{"age": "thirty"}')
    assert not ok and "schema" in reason and "$.age" in reason
    ok, reason = judge(req, text="{}")
    assert not ok and "'age' is a required property" in reason


def test_openai_shaped_response_format_validated() -> None:
    req = ask(response_format={"type": "json_schema", "json_schema": {
        "name": "p", "schema": {"type": "object", "required": ["x"]}}})
    assert not judge(req, text='{"y": 1}')[0]
    assert judge(req, text='{"x": 1}')[0]


def test_tool_arguments_validated() -> None:
    req = ask(tools=[WEATHER])
    good = [ToolCall(id="c1", name="weather", arguments={"city": "Paris", "days": 2})]
    assert judge(req, tool_calls=good)[0]
    bad = [ToolCall(id="c1", name="weather", arguments={"city": "Paris", "days": 0})]
    ok, reason = judge(req, tool_calls=bad)
    assert not ok and "'weather' arguments" in reason and "$.days" in reason
    extra = [ToolCall(id="c1", name="weather", arguments={"city": "P", "units": "C"})]
    assert not judge(req, tool_calls=extra)[0]
    unknown = [ToolCall(id="c1", name="stocks", arguments={})]
    ok, reason = judge(req, tool_calls=unknown)
    assert not ok and "unknown tool 'stocks'" in reason


def test_required_tool_call_missing() -> None:
    ok, reason = judge(ask(tools=[WEATHER], tool_choice="required"), text="It is sunny.")
    assert not ok and "tool_choice" in reason
    ok, _ = judge(ask(tools=[WEATHER], tool_choice="weather"), text="It is sunny.")
    assert not ok
    assert judge(ask(tools=[WEATHER], tool_choice="auto"), text="It is sunny.")[0]


def test_checks_can_be_switched_off() -> None:
    v = StructuralVerifier(truncated=False, refusal=False)
    check = Check(ask(), ChatResponse(text="I'm sorry, but I can't help.", finish_reason="length"))
    assert v.verify(check).accepted


def test_without_schema_validation_json_syntax_still_checked() -> None:
    v = StructuralVerifier(schemas=False)
    req = ask(response_format=PERSON)
    assert v.verify(Check(req, ChatResponse(text='{"age": "x"}'))).accepted
    assert not v.verify(Check(req, ChatResponse(text="{"))).accepted


def test_invalid_request_schema_is_not_the_answers_fault() -> None:
    bad = ResponseFormat(type="json_schema", json_schema={"type": "no-such-type"})
    assert judge(ask(response_format=bad), text='{"a": 1}')[0]


async def test_async_matches_sync() -> None:
    v = StructuralVerifier()
    for answer in (ChatResponse(text="fine"), ChatResponse(text="")):
        check = Check(ask(), answer)
        assert (await v.averify(check)) == v.verify(check)


# --- streamed prefixes -------------------------------------------------------------------


def test_prefix_empty_so_far_has_no_verdict() -> None:
    v = StructuralVerifier()
    assert v.check_prefix(ask(), "") is None
    assert v.check_prefix(ask(), "  \n") is None


def test_prefix_refusal_opening_rejects() -> None:
    verdict = StructuralVerifier().check_prefix(ask(), "I'm sorry, but I can't")
    assert verdict is not None and not verdict.accepted and verdict.reason == "refusal"


def test_prefix_short_opening_undecided_then_long_accepts() -> None:
    v = StructuralVerifier()
    assert v.check_prefix(ask(), "I'm sorry") is None
    verdict = v.check_prefix(ask(), "I'm sorry to hear that. " + "Here is what to do next. " * 3)
    assert verdict is not None and verdict.accepted


def test_prefix_json_request_must_open_as_json() -> None:
    v = StructuralVerifier()
    req = ask(response_format=ResponseFormat(type="json_object"))
    opened = v.check_prefix(req, '  {"a"')
    assert opened is not None and opened.accepted
    wrong = v.check_prefix(req, "Sure! Here")
    assert wrong is not None and not wrong.accepted
