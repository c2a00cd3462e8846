"""SmartRouterLLM over LlamaIndex's mock LLMs and scripted smartroute targets: the eight call
methods, metadata, decisions, events, fallback, tools and structured output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import openai
import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    MessageRole,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llamaindex_smartroute import LlamaIndexTarget, SmartRouterLLM, TargetLLM
from llamaindex_smartroute.errors import classify, to_provider_error
from smartroute_llm import (
    AllTargetsFailed,
    ConfigurationError,
    ErrorKind,
    RoutingPolicy,
    StreamInterrupted,
)
from smartroute_llm.request import ToolCall
from smartroute_llm.response import ChatResponse as NeutralResponse
from smartroute_llm.testing.scripted import ScriptedTarget
from tests.llamaindex.candidates import (
    FAST,
    STRONG,
    ThinkingLLM,
    fc_llm,
    mock_llm,
    named,
    pieces,
    reply,
)
from tests.llamaindex.conftest import Events

USER = [ChatMessage(role=MessageRole.USER, content="What is the capital of France?")]


def router_llm(*candidates: Any, policy: RoutingPolicy | None = None, **kw: Any) -> SmartRouterLLM:
    return SmartRouterLLM(list(candidates), policy or RoutingPolicy.fastest(), **kw)


def decision(resp: Any) -> dict[str, Any]:
    d = resp.additional_kwargs["smartroute"]
    json.dumps(d)  # must be JSON-serializable as is
    return d


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_is_safe_for_every_candidate() -> None:
    llm = router_llm(named(fc_llm(), "a", FAST), named(fc_llm(), "b", STRONG))
    meta = llm.metadata
    assert meta.context_window == 16_000 and meta.num_output == 1_000
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.model_name == "smartroute[a,b]"
    assert llm.class_name() == "SmartRouterLLM"


def test_metadata_aggregate_and_overrides() -> None:
    cands = [named(fc_llm(), "a", FAST), named(fc_llm(), "b", STRONG)]
    assert router_llm(*cands, metadata_aggregate="max").metadata.context_window == 64_000
    llm = router_llm(*cands, context_window=9_000, num_output=500)
    assert (llm.metadata.context_window, llm.metadata.num_output) == (9_000, 500)


def test_metadata_ignores_candidates_the_policy_excludes() -> None:
    llm = router_llm(
        named(fc_llm(), "a", FAST), mock_llm("plain", STRONG),
        policy=RoutingPolicy.fastest().allow(["a"]),
    )
    assert llm.metadata.is_function_calling_model
    assert llm.metadata.model_name == "smartroute[a]"


def test_function_calling_only_if_every_candidate_calls_tools() -> None:
    llm = router_llm(named(fc_llm(), "a"), mock_llm("plain", STRONG))
    assert not llm.metadata.is_function_calling_model
    # a plain LLM cannot take tools, whatever capability it was given
    assert not llm.router.capability("plain").supports_tools


def test_capability_from_llm_metadata_and_catalog() -> None:
    plain = LlamaIndexTarget(MockLLM(max_tokens=3))
    assert plain.name == "MockLLM"
    assert plain.capability.max_output_tokens == 3 and not plain.capability.supports_tools
    known = LlamaIndexTarget(fc_llm(), model="gpt-4o-mini")
    assert known.capability.max_tokens == 128_000 and known.capability.supports_tools


def test_duplicate_auto_names_are_numbered() -> None:
    llm = SmartRouterLLM([MockLLM(), MockLLM()])
    assert [p.name for p in llm.router.profiles] == ["MockLLM", "MockLLM-2"]


def test_bad_configuration_names_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="no candidates"):
        SmartRouterLLM([])
    with pytest.raises(ConfigurationError, match="neither a LlamaIndex LLM nor a smartroute"):
        SmartRouterLLM([object()])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="not both"):
        SmartRouterLLM([MockLLM()], router=router_llm(mock_llm()).router)


def test_serialization_has_no_secrets() -> None:
    from llama_index.llms.openai import OpenAI

    secret = "sk-live-do-not-leak-123456"
    oa = OpenAI(model="gpt-4o-mini", api_key=secret, max_retries=0)
    scripted = ScriptedTarget("gpt-4o", name="scripted")
    llm = SmartRouterLLM([oa, scripted])
    dumped = json.dumps(llm.to_dict()) + llm.to_json() + json.dumps(llm.to_payload()) + repr(llm)
    assert secret not in dumped
    assert {"name": "gpt-4o-mini", "model": "gpt-4o-mini", "class_name": "openai_llm"} in (
        llm.to_dict()["candidates"]
    )


# --- the eight methods ------------------------------------------------------------------------


def test_chat_returns_candidate_answer_with_decision_and_usage() -> None:
    llm = router_llm(named(fc_llm(reply("Paris.")), "fast"), named(fc_llm(), "strong", STRONG))
    resp = llm.chat(USER)
    assert resp.message.content == "Paris."
    d = decision(resp)
    assert d["target"] == "fast" and d["strategy"] == "fastest"
    assert d["reason"].startswith("ranked first")
    assert resp.additional_kwargs["prompt_tokens"] > 0
    assert resp.additional_kwargs["total_tokens"] == (
        resp.additional_kwargs["prompt_tokens"] + resp.additional_kwargs["completion_tokens"]
    )
    assert resp.raw == {"content": "Paris."}  # the candidate's own raw answer
    assert llm.decisions[-1].decision_id == d["decision_id"]
    assert SmartRouterLLM.decision_of(resp).target == "fast"  # type: ignore[union-attr]


async def test_achat() -> None:
    llm = router_llm(named(fc_llm(reply("Paris.")), "fast"))
    resp = await llm.achat(USER)
    assert resp.message.content == "Paris." and decision(resp)["target"] == "fast"


def _check_stream(items: list[Any], text: str) -> None:
    assert len(items) >= 2
    acc = ""
    for item in items:
        acc += item.delta or ""
        assert item.message.content == acc  # cumulative
    assert acc == text
    assert "smartroute" in items[-1].additional_kwargs
    assert all("smartroute" not in i.additional_kwargs for i in items[:-1])


def test_stream_chat_cumulative() -> None:
    llm = router_llm(named(fc_llm(pieces("Pa", "ris", ".")), "fast"))
    items = list(llm.stream_chat(USER))
    _check_stream(items, "Paris.")
    assert [i.delta for i in items] == ["Pa", "ris", ".", ""]
    assert items[-1].additional_kwargs["completion_tokens"] > 0


async def test_astream_chat_cumulative() -> None:
    llm = router_llm(named(fc_llm(pieces("Pa", "ris", ".")), "fast"))
    items = [i async for i in await llm.astream_chat(USER)]
    _check_stream(items, "Paris.")


def test_complete_and_stream_complete() -> None:
    llm = router_llm(mock_llm("echo"))
    done = llm.complete("hello there")
    assert done.text == "hello there" and decision(done)["target"] == "echo"
    parts = list(llm.stream_complete("abc"))
    assert [p.delta for p in parts] == ["a", "b", "c", ""]
    assert [p.text for p in parts] == ["a", "ab", "abc", "abc"]
    assert "smartroute" in parts[-1].additional_kwargs


async def test_acomplete_and_astream_complete() -> None:
    llm = router_llm(mock_llm("echo"))
    assert (await llm.acomplete("hi")).text == "hi"
    parts = [p async for p in await llm.astream_complete("xy")]
    assert [p.text for p in parts] == ["x", "xy", "xy"]


def test_predict_uses_chat_path_with_system_prompt() -> None:
    seen: list[Sequence[ChatMessage]] = []

    def gen(messages: Sequence[ChatMessage], **kw: Any) -> ChatMessage:
        seen.append(messages)
        return ChatMessage(role="assistant", content="ok")

    llm = router_llm(named(fc_llm(gen), "a"), system_prompt="Be brief.")
    assert llm.predict(PromptTemplate("Say {x}"), x="hi") == "ok"
    assert [m.role for m in seen[0]] == [MessageRole.SYSTEM, MessageRole.USER]


# --- one LLM event pair per routed call ------------------------------------------------------


def _candidate(kind: str) -> Any:
    if kind == "custom":  # CustomLLM: chat is built on its decorated complete
        return mock_llm("echo")
    if kind == "function_calling":
        return named(fc_llm(reply("ok")), "fc")
    return ScriptedTarget("gpt-4o-mini", name="scripted", script="ok")


CALLS = ["chat", "stream_chat", "complete", "stream_complete"]


@pytest.mark.parametrize("kind", ["custom", "function_calling", "smartroute_target"])
@pytest.mark.parametrize("method", CALLS)
def test_one_event_pair_per_sync_call(kind: str, method: str, events: Events) -> None:
    llm = router_llm(_candidate(kind), callback_manager=events.manager)
    arg: Any = USER if "chat" in method else "hello"
    out = getattr(llm, method)(arg)
    if method.startswith("stream"):
        out = list(out)
    assert events.pairs() == ((1, 1), (1, 1))


@pytest.mark.parametrize("kind", ["custom", "function_calling", "smartroute_target"])
@pytest.mark.parametrize("method", ["a" + m for m in CALLS])
async def test_one_event_pair_per_async_call(kind: str, method: str, events: Events) -> None:
    llm = router_llm(_candidate(kind), callback_manager=events.manager)
    arg: Any = USER if "chat" in method else "hello"
    out = await getattr(llm, method)(arg)
    if "stream" in method:
        out = [x async for x in out]
    assert events.pairs() == ((1, 1), (1, 1))


def test_candidates_follow_a_replaced_callback_manager(events: Events) -> None:
    llm = router_llm(named(fc_llm(reply("ok")), "fc"))
    llm.chat(USER)
    assert events.legacy["start"] == 0 and events.dispatched["start"] == 1
    llm.callback_manager = events.manager  # what query engines do with their LLM
    llm.chat(USER)
    assert events.pairs() == ((1, 1), (2, 2))
    assert llm.candidates["fc"].callback_manager is events.manager


def test_event_payload_names_the_answering_candidate(events: Events) -> None:
    llm = router_llm(named(fc_llm(reply("ok")), "fc"), callback_manager=events.manager)
    llm.chat(USER)
    start = events.seen[0]
    assert start.model_dict["class_name"] == "MockFunctionCallingLLM"  # type: ignore[attr-defined]


# --- failures and fallback -------------------------------------------------------------------


def _openai_error(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    req = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    resp = httpx.Response(status, headers=headers, request=req)
    return cls("boom", response=resp, body={"message": "boom"})


def _raising(exc: Exception) -> Any:
    def gen(messages: Sequence[ChatMessage], **kw: Any) -> ChatMessage:
        raise exc

    return gen


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_openai_error(openai.RateLimitError, 429, **{"retry-after": "2"}), ErrorKind.RATE_LIMITED),
        (_openai_error(openai.AuthenticationError, 401), ErrorKind.AUTHENTICATION),
        (_openai_error(openai.NotFoundError, 404), ErrorKind.NOT_FOUND),
        (_openai_error(openai.InternalServerError, 503), ErrorKind.OVERLOADED),
        (_openai_error(openai.BadRequestError, 400), ErrorKind.INVALID_REQUEST),
        (openai.APITimeoutError(httpx.Request("POST", "http://x")), ErrorKind.TIMEOUT),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://x")),
         ErrorKind.CONNECTION),
        (httpx.ConnectTimeout("slow"), ErrorKind.CONNECT_TIMEOUT),
        (httpx.ReadTimeout("slow"), ErrorKind.TIMEOUT),
        (httpx.ConnectError("refused"), ErrorKind.CONNECTION),
        (ValueError("This model's maximum context length is 8192 tokens"),
         ErrorKind.CONTEXT_LENGTH),
        (RuntimeError("?"), ErrorKind.UNKNOWN),
    ],
)
def test_error_classification(exc: Exception, kind: ErrorKind) -> None:
    assert classify(exc) is kind
    err = to_provider_error(exc, target="t", model="m")
    assert err.kind is kind and err.target == "t" and err.__cause__ is exc


def test_retry_after_and_status_are_kept() -> None:
    err = to_provider_error(_openai_error(openai.RateLimitError, 429, **{"retry-after": "2"}))
    assert err.status_code == 429 and err.retry_after == 2.0


def test_fallback_to_next_candidate_on_candidate_error(events: Events) -> None:
    bad = named(fc_llm(_raising(_openai_error(openai.AuthenticationError, 401))), "bad")
    good = named(fc_llm(reply("Paris.")), "good", STRONG)
    llm = router_llm(bad, good, callback_manager=events.manager)
    resp = llm.chat(USER)
    d = decision(resp)
    assert resp.message.content == "Paris." and d["target"] == "good"
    assert [(a["target"], a["error_kind"], a["status_code"]) for a in d["attempts"]] == [
        ("bad", "authentication", 401), ("good", None, None),
    ]
    assert d["reason"].startswith("fallback")
    # each attempt reports itself: the failed one ends with its exception
    assert events.legacy == {"start": 2, "end": 2}


def test_stop_on_invalid_request_surfaces_provider_error() -> None:
    bad = named(fc_llm(_raising(_openai_error(openai.BadRequestError, 400))), "bad")
    llm = router_llm(bad, named(fc_llm(reply("x")), "good", STRONG))
    with pytest.raises(Exception) as info:
        llm.chat(USER)
    assert getattr(info.value, "kind", None) is ErrorKind.INVALID_REQUEST


def test_all_failed_lists_every_attempt() -> None:
    err = ConnectionError("reset")
    llm = router_llm(named(fc_llm(_raising(err)), "a"), named(fc_llm(_raising(err)), "b", STRONG))
    with pytest.raises(AllTargetsFailed) as info:
        llm.chat(USER)
    assert [a.target for a in info.value.attempts] == ["a", "b"]


def test_stream_falls_back_before_the_first_item() -> None:
    broken = named(fc_llm(pieces("never", fail_after=0)), "broken")
    llm = router_llm(broken, named(fc_llm(pieces("Pa", "ris")), "good", STRONG))
    items = list(llm.stream_chat(USER))
    _check_stream(items, "Paris")
    d = decision(items[-1])
    assert d["target"] == "good" and d["attempts"][0]["error_kind"] == "connection"


def test_stream_break_after_text_is_not_retried_silently() -> None:
    broken = named(fc_llm(pieces("Pa", "ris", fail_after=1)), "broken")
    llm = router_llm(broken, named(fc_llm(pieces("x")), "good", STRONG))
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for item in llm.stream_chat(USER):
            got.append(item.delta)
    assert got == ["Pa"] and info.value.partial_text == "Pa"


def test_resumed_stream_gives_the_next_candidate_the_rewritten_conversation() -> None:
    seen: list[Sequence[ChatMessage]] = []

    def rest(messages: Sequence[ChatMessage], **kw: Any) -> Any:
        seen.append(list(messages))
        return pieces("ris.")(messages)

    broken = named(fc_llm(pieces("Pa", "ris", fail_after=1)), "broken")
    llm = router_llm(
        broken, named(fc_llm(rest), "good", STRONG),
        policy=RoutingPolicy.fastest().resume_streams(),
    )
    items = list(llm.stream_chat(USER))
    assert items[-1].message.content == "Paris."
    assert [i.delta for i in items if i.delta] == ["Pa", "ris."]
    roles = [m.role for m in seen[0]]
    assert roles[:2] == [MessageRole.USER, MessageRole.ASSISTANT]
    assert seen[0][1].content == "Pa"


# --- tools --------------------------------------------------------------------------------------

calls: list[tuple[int, int]] = []


def add(a: int = 2, b: int = 3) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


ADD = FunctionTool.from_defaults(fn=add)


def test_tool_request_skips_candidates_without_tools() -> None:
    plain = mock_llm("plain", FAST)
    fc = named(fc_llm(), "fc", STRONG)
    llm = router_llm(plain, fc)
    resp = llm.chat_with_tools([ADD], user_msg="add please")
    d = decision(resp)
    assert d["target"] == "fc"
    assert {"target": "plain", "model": "plain", "reason": "lacks tool calling"} in [
        {**e, "model": "plain"} for e in d["excluded"]
    ]
    sel = llm.get_tool_calls_from_response(resp)
    assert [(s.tool_name, s.tool_kwargs) for s in sel] == [("add", {"a": 2, "b": 3})]


def test_predict_and_call_runs_the_tool() -> None:
    calls.clear()
    llm = router_llm(named(fc_llm(), "fc"))
    out = llm.predict_and_call([ADD], user_msg="add 2 and 3")
    assert out.response == "5" and calls == [(2, 3)]


async def test_apredict_and_call() -> None:
    llm = router_llm(named(fc_llm(), "fc"))
    out = await llm.apredict_and_call([ADD], user_msg="add 2 and 3")
    assert out.response == "5"


def test_tool_calls_are_parsed_by_the_answering_candidate() -> None:
    class Spy(type(fc_llm())):  # type: ignore[misc]
        def get_tool_calls_from_response(self, response: Any, error_on_no_tool_call: bool = False,
                                         **kw: Any) -> Any:
            parsed.append(response)
            return super().get_tool_calls_from_response(response, error_on_no_tool_call)

    parsed: list[Any] = []
    llm = router_llm(named(Spy(), "spy"))
    resp = llm.chat_with_tools([ADD], user_msg="go")
    assert len(llm.get_tool_calls_from_response(resp)) == 1 and parsed == [resp]


def test_generic_tool_call_parsing_without_a_decision() -> None:
    llm = router_llm(named(fc_llm(), "fc"))
    msg = ChatMessage(role="assistant", blocks=[
        ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs='{"a": 1, "b": 1}'),
    ])
    from llama_index.core.base.llms.types import ChatResponse

    sel = llm.get_tool_calls_from_response(ChatResponse(message=msg))
    assert [(s.tool_id, s.tool_kwargs) for s in sel] == [("c1", {"a": 1, "b": 1})]
    with pytest.raises(ValueError, match="at least one tool call"):
        llm.get_tool_calls_from_response(ChatResponse(message=ChatMessage(content="hi")))


def test_stream_chat_with_tools_ends_with_the_tool_calls() -> None:
    llm = router_llm(named(fc_llm(), "fc"))
    items = list(llm.stream_chat_with_tools([ADD], user_msg="go"))
    sel = llm.get_tool_calls_from_response(items[-1])
    assert [s.tool_name for s in sel] == ["add"] and decision(items[-1])["target"] == "fc"


def test_smartroute_target_tool_calls_through_target_llm() -> None:
    answer = NeutralResponse(
        text="", tool_calls=[ToolCall(id="t1", name="add", arguments={"a": 4, "b": 5})],
        finish_reason="tool_calls",
    )
    scripted = ScriptedTarget("gpt-4o-mini", name="scripted", script=[answer, "nine"])
    llm = SmartRouterLLM([scripted])
    out = llm.predict_and_call([ADD], user_msg="4+5?")
    assert out.response == "9"
    assert scripted.calls[0].tools[0].name == "add"
    assert scripted.calls[0].tools[0].parameters["properties"]["a"]["type"] == "integer"


def test_target_llm_alone_is_a_function_calling_llm(events: Events) -> None:
    scripted = ScriptedTarget("gpt-4o-mini", name="s", script="hello")
    llm = TargetLLM(scripted, callback_manager=events.manager)
    assert llm.metadata.is_function_calling_model and llm.metadata.model_name == "gpt-4o-mini"
    assert llm.complete("x").text == "hello"
    assert "".join(r.delta or "" for r in llm.stream_chat(USER)) == "hello"
    assert events.pairs() == ((2, 2), (2, 2))


# --- structured output ------------------------------------------------------------------------


class City(BaseModel):
    """A city."""

    name: str = "Paris"
    country: str = "France"


def test_structured_predict_via_function_calling() -> None:
    llm = router_llm(named(fc_llm(), "fc"))
    city = llm.structured_predict(City, PromptTemplate("Capital of {c}?"), c="France")
    assert city == City()


async def test_astructured_predict() -> None:
    llm = router_llm(named(fc_llm(), "fc"))
    city = await llm.astructured_predict(City, PromptTemplate("Capital of {c}?"), c="France")
    assert city.name == "Paris"


def test_structured_predict_via_text_when_a_candidate_lacks_tools() -> None:
    text = named(fc_llm(reply('{"name": "Rome", "country": "Italy"}')), "json-only")
    llm = router_llm(text, mock_llm("plain", STRONG))
    assert not llm.metadata.is_function_calling_model
    city = llm.structured_predict(City, PromptTemplate("Capital of {c}?"), c="Italy")
    assert city == City(name="Rome", country="Italy")


def test_as_structured_llm() -> None:
    sllm = router_llm(named(fc_llm(), "fc")).as_structured_llm(City)
    resp = sllm.chat([ChatMessage(role="user", content="Capital of France?")])
    assert json.loads(resp.message.content or "") == {"name": "Paris", "country": "France"}


def test_pinning_a_candidate_by_name() -> None:
    llm = router_llm(named(fc_llm(reply("fast")), "fast"),
                     named(fc_llm(reply("strong")), "strong", STRONG))
    resp = llm.chat(USER, smartroute_model="strong")
    assert resp.message.content == "strong" and decision(resp)["target"] == "strong"


def test_explain_and_feedback() -> None:
    llm = router_llm(named(fc_llm(reply("ok")), "fast"), named(fc_llm(), "strong", STRONG))
    assert "fast" in llm.explain(USER)
    resp = llm.chat(USER)
    assert llm.record_feedback(resp, 0.9)
    assert not llm.record_feedback("no-such-decision", 0.9)


def test_a_ready_router_can_be_given() -> None:
    inner = router_llm(named(fc_llm(reply("ok")), "fast"))
    llm = SmartRouterLLM(router=inner.router)
    assert llm.chat(USER).message.content == "ok"


def test_custom_callback_manager_is_not_required() -> None:
    llm = SmartRouterLLM([MockLLM()], callback_manager=CallbackManager([]))
    assert llm.chat(USER).message.content == "user: What is the capital of France?\nassistant: "


# --- reasoning ----------------------------------------------------------------------------------


def _thinking(message: ChatMessage) -> str:
    return "".join(b.content or "" for b in message.blocks if isinstance(b, ThinkingBlock))


def test_candidate_thinking_streams_as_thinking_delta() -> None:
    llm = router_llm(named(ThinkingLLM(), "thinker"))
    items = list(llm.stream_chat(USER))
    assert items[0].delta == "" and items[0].additional_kwargs["thinking_delta"] == "Let me think."
    assert "".join(i.delta or "" for i in items) == "Paris."
    assert all("thinking_delta" not in i.additional_kwargs for i in items[1:])
    done = llm.chat(USER)
    assert done.message.content == "Paris." and _thinking(done.message) == "Let me think."


async def test_candidate_thinking_in_astream_chat() -> None:
    llm = router_llm(named(ThinkingLLM(thinking="Hmm."), "thinker"))
    items = [i async for i in await llm.astream_chat(USER)]
    assert items[0].additional_kwargs.get("thinking_delta") == "Hmm."
    assert items[-1].message.content == "Paris."


def test_smartroute_target_reasoning_becomes_a_thinking_block() -> None:
    answer = NeutralResponse(text="42", reasoning="6 x 7", finish_reason="stop")
    llm = SmartRouterLLM([ScriptedTarget("deepseek-reasoner", name="r", script=answer)])
    done = llm.chat(USER)
    assert done.message.content == "42" and _thinking(done.message) == "6 x 7"
    items = list(llm.stream_chat(USER))
    assert items[0].delta == "" and items[0].additional_kwargs["thinking_delta"] == "6 x 7"
    assert items[-1].message.content == "42" and _thinking(items[-1].message) == "6 x 7"


# --- issue #16: requests built without re-validation keep the same errors for bad input ----------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"temperature": 5.0}, "temperature"), ({"max_tokens": 0}, None), ({"stop": [1]}, "stop")],
)
def test_bad_call_options_fail_as_before(kwargs: dict[str, Any], field: str | None) -> None:
    target = ScriptedTarget("gpt-4o-mini", script="hi")
    llm = router_llm(target)
    if field is None:  # not a positive int: no limit is asked for, as before
        assert llm.chat([ChatMessage(role="user", content="hi")], **kwargs).message.content
        assert target.calls[-1].max_output_tokens is None
        return
    with pytest.raises(Exception, match=field):
        llm.chat([ChatMessage(role="user", content="hi")], **kwargs)
    assert not target.calls


def test_plain_chat_request_equals_a_validated_one() -> None:
    from smartroute_llm.request import ChatRequest

    target = ScriptedTarget("gpt-4o-mini", script="hi")
    router_llm(target).chat(
        [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")],
        temperature=0.5,
        max_tokens=12,
        stop="END",
    )
    sent = target.calls[-1]
    again = ChatRequest.model_validate(sent.model_dump())
    assert again.model_dump() == sent.model_dump()
    assert [m.model_dump() for m in sent.messages] == [
        {"role": "system", "content": "be brief", "tool_calls": [], "tool_call_id": None,
         "name": None},
        {"role": "user", "content": "hi", "tool_calls": [], "tool_call_id": None, "name": None},
    ]
