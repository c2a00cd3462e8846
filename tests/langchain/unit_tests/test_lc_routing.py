"""Routed calls as LangChain sees them: one run per call, fallback inside it, errors, agents."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelConnectionError, ModelRateLimitError, ModelRefusalError
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_openai import ChatOpenAI
from lc_scripted import ScriptedChatModel

from langchain_smartroute import SmartRouterChatModel, classify
from smartroute_llm import AllTargetsFailed, ErrorKind, RoutingPolicy


class Runs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[UUID] = []
        self.ends: list[UUID] = []
        self.errors: list[BaseException] = []
        self.tokens: list[str] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self.starts.append(run_id)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        self.ends.append(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self.errors.append(error)

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.tokens.append(token)


def magic_function(input: int) -> int:
    """Apply a magic function to an input."""
    return input + 2


def _router(
    *models: ScriptedChatModel, policy: RoutingPolicy | None = None
) -> SmartRouterChatModel:
    return SmartRouterChatModel(
        candidates=list(models),
        policy=(policy or RoutingPolicy.balanced()).retries(0),
    )


def _pair() -> tuple[ScriptedChatModel, ScriptedChatModel]:
    return ScriptedChatModel(model="first"), ScriptedChatModel(model="second")


def _fallback_policy() -> RoutingPolicy:
    return (
        RoutingPolicy.balanced().fallback_chain(["first", "second"]).circuit_breaker(enabled=False)
    )


# --- one run per routed call ------------------------------------------------------------------


def test_invoke_is_one_run() -> None:
    runs = Runs()
    msg = _router(*_pair()).invoke("hello", config={"callbacks": [runs]})
    assert len(runs.starts) == 1 and runs.ends == runs.starts
    assert msg.response_metadata["smartroute"]["target"] == msg.response_metadata["model_name"]


def test_stream_is_one_run_with_tokens_once() -> None:
    runs = Runs()
    chunks = list(_router(*_pair()).stream("one two three", config={"callbacks": [runs]}))
    assert len(runs.starts) == 1 and len(runs.ends) == 1
    text = "".join(c.text for c in chunks)
    assert "".join(runs.tokens) == text  # each token reported once, not once per layer
    with_usage = [c for c in chunks if c.usage_metadata]
    with_model = [c for c in chunks if c.response_metadata.get("model_name")]
    assert len(with_usage) == 1 and len(with_model) == 1
    assert chunks[-1].chunk_position == "last" and chunks[-1] is with_usage[0]
    assert [c.chunk_position for c in chunks].count("last") == 1


async def test_astream_events_is_one_run() -> None:
    llm = _router(*_pair())
    events = [e async for e in llm.astream_events("one two three", version="v2")]
    kinds = [e["event"] for e in events]
    assert kinds.count("on_chat_model_start") == 1
    assert kinds.count("on_chat_model_end") == 1
    streamed = "".join(
        e["data"]["chunk"].text for e in events if e["event"] == "on_chat_model_stream"
    )
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    assert streamed == end["data"]["output"].text == "[first] one two three"


def test_fallback_mid_chain_is_in_the_decision_not_an_extra_run() -> None:
    first, second = _pair()
    first.errors = [ModelConnectionError("connection reset")]
    llm = _router(first, second, policy=_fallback_policy())
    chain = ChatPromptTemplate.from_messages([("human", "say {x}")]) | llm
    runs = Runs()
    msg = chain.invoke({"x": "hi"}, config={"callbacks": [runs]})
    assert msg.response_metadata["model_name"] == "second"
    decision = msg.response_metadata["smartroute"]
    assert [a["target"] for a in decision["attempts"]] == ["first", "second"]
    assert decision["attempts"][0]["error_kind"] == "connection"
    assert decision["reason"].startswith("fallback")
    assert len(runs.starts) == 1 and not runs.errors
    json.dumps(decision)  # JSON-serializable as is


def test_streaming_fallback_before_first_chunk() -> None:
    first, second = _pair()
    first.errors = [ModelRateLimitError("slow down")]
    llm = _router(first, second, policy=_fallback_policy())
    runs = Runs()
    chunks = list(llm.stream("abc", config={"callbacks": [runs]}))
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert full.text == "[second] abc"
    assert full.response_metadata["model_name"] == "second"
    assert len(runs.starts) == 1


# --- errors -----------------------------------------------------------------------------------


def test_all_failed_is_both_smartroute_and_langchain_error() -> None:
    first, second = _pair()
    first.errors = [ModelRateLimitError("a")]
    second.errors = [ModelRateLimitError("b")]
    llm = _router(first, second, policy=_fallback_policy())
    with pytest.raises(ModelRateLimitError) as info:
        llm.invoke("x")
    err = info.value
    assert isinstance(err, AllTargetsFailed)
    assert err.is_retryable
    assert [a.target for a in err.attempts] == ["first", "second"]


def test_sdk_status_errors_map_to_kinds_over_a_mock_transport() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": {"message": "rate limited", "type": "x"}},
            headers={"retry-after": "0"},
        )

    openai = ChatOpenAI(
        model="gpt-4o-mini",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(reply)),
    )
    second = ScriptedChatModel(model="second")
    llm = SmartRouterChatModel(
        candidates=[openai, second],
        capabilities={
            "gpt-4o-mini": {"quality_tier": "premium", "speed_tier": "very_fast"},
            "second": {"quality_tier": "low", "speed_tier": "slow", "input_cost_per_1m": 50},
        },
        policy=RoutingPolicy.balanced().retries(0),
    )
    msg = llm.invoke("x")
    attempts = msg.response_metadata["smartroute"]["attempts"]
    assert msg.response_metadata["model_name"] == "second"
    assert attempts[0]["target"] == "gpt-4o-mini"
    assert attempts[0]["error_kind"] == "rate_limited"
    assert attempts[0]["status_code"] == 429


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectTimeout("t"), ErrorKind.CONNECT_TIMEOUT),
        (httpx.ConnectError("c"), ErrorKind.CONNECTION),
        (TimeoutError(), ErrorKind.TIMEOUT),
        (ModelRateLimitError("r"), ErrorKind.RATE_LIMITED),
        (ModelRefusalError("refused"), ErrorKind.CONTENT_FILTER),
        # the vendor's own words name the kind even without a status (as for LlamaIndex)
        (ValueError("context_length_exceeded: too long"), ErrorKind.CONTEXT_LENGTH),
        (ValueError("boom"), ErrorKind.UNKNOWN),
    ],
)
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc, "t", "m").kind is kind


def test_http_status_classification() -> None:
    request = httpx.Request("POST", "http://x")
    for status, kind in [
        (401, ErrorKind.AUTHENTICATION),
        (404, ErrorKind.NOT_FOUND),
        (503, ErrorKind.OVERLOADED),
        (400, ErrorKind.INVALID_REQUEST),
    ]:
        err = httpx.HTTPStatusError("e", request=request, response=httpx.Response(status))
        assert classify(err, "t", "m").kind is kind
    long = httpx.HTTPStatusError(
        "maximum context length exceeded", request=request, response=httpx.Response(400)
    )
    assert classify(long, "t", "m").kind is ErrorKind.CONTEXT_LENGTH


# --- candidates' own settings -----------------------------------------------------------------


class CountingLimiter(BaseRateLimiter):
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True


def test_candidate_rate_limiter_and_disable_streaming_are_honoured() -> None:
    limiter = CountingLimiter()
    only = ScriptedChatModel(model="only", rate_limiter=limiter, disable_streaming=True)
    llm = _router(only)
    chunks = list(llm.stream("a b c d"))
    assert limiter.acquired == 1
    content = [c for c in chunks if c.text]
    assert len(content) == 1 and content[0].text == "[only] a b c d"
    llm.invoke("x")
    assert limiter.acquired == 2


def test_tools_exclude_candidates_without_tool_calling() -> None:
    plain = ScriptedChatModel(model="plain", profile={"tool_calling": False})
    tooled = ScriptedChatModel(model="tooled", profile={"tool_calling": True})
    llm = _router(plain, tooled, policy=RoutingPolicy.balanced().fallback_chain(["plain"]))
    msg = llm.bind_tools([magic_function], tool_choice="magic_function").invoke("magic_function(5)")
    assert msg.tool_calls[0]["args"] == {"input": 5}
    excluded = msg.response_metadata["smartroute"]["excluded"]
    assert excluded == [{"target": "plain", "model": "plain", "reason": "lacks tool calling"}]
    assert llm.profile is not None and llm.profile["tool_calling"] is True


def test_profile_is_conservative() -> None:
    a = ScriptedChatModel(
        model="a", profile={"max_input_tokens": 8000, "pdf_inputs": True, "tool_choice": True}
    )
    b = ScriptedChatModel(
        model="b", profile={"max_input_tokens": 32000, "pdf_inputs": False, "tool_choice": True}
    )
    profile = _router(a, b).profile
    assert profile is not None
    assert profile["max_input_tokens"] == 8000
    assert profile["pdf_inputs"] is False
    assert profile["tool_choice"] is True


def test_pinning_a_candidate_per_call() -> None:
    llm = _router(*_pair())
    assert llm.invoke("x", model="second").response_metadata["model_name"] == "second"
    assert llm._get_ls_params(model="second")["ls_model_name"] == "second"
    assert llm._get_ls_params()["ls_provider"] == "smartroute"


def test_structured_output_include_raw() -> None:
    from pydantic import BaseModel

    class Joke(BaseModel):
        setup: str
        punchline: str

    llm = _router(*_pair())
    for method in ("function_calling", "json_schema", "json_mode"):
        out = llm.with_structured_output(Joke, method=method, include_raw=True).invoke("joke")
        assert isinstance(out["parsed"], Joke), method
        assert isinstance(out["raw"], AIMessage) and out["parsing_error"] is None


def test_secrets_never_leak() -> None:
    llm = SmartRouterChatModel(candidates=list(_pair()), api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(llm)
    assert "sk-secret-value" not in str(llm._identifying_params)
    assert "sk-secret-value" not in dumps(llm)
    assert llm.lc_secrets == {"api_key": "SMARTROUTE_API_KEY"}


def test_from_config_dict() -> None:
    llm = SmartRouterChatModel.from_config(
        {
            "policy": {"strategy": "cheapest"},
            "candidates": [{"model": ScriptedChatModel(model="x"), "name": "ex"}],
            "model": "my-router",
        }
    )
    assert llm.model_name == "my-router"
    assert llm.routing.policy.strategy.value == "cheapest"
    assert llm.invoke("hi").response_metadata["smartroute"]["target"] == "ex"


def test_bad_configuration_names_the_fix() -> None:
    with pytest.raises(ValueError, match="candidates= is empty"):
        SmartRouterChatModel(candidates=[])
    with pytest.raises(ValueError, match="neither a LangChain chat model"):
        SmartRouterChatModel(candidates=[object()])
    with pytest.raises(ValueError, match="names no bound tool"):
        _router(*_pair()).bind_tools([magic_function], tool_choice="nope")


# --- agents -----------------------------------------------------------------------------------


def test_agent_loop_through_the_router_one_run_per_model_call() -> None:
    llm = _router(*_pair())
    agent = create_agent(model=llm, tools=[magic_function])
    runs = Runs()
    state = agent.invoke(
        {"messages": [HumanMessage("what is magic_function(3)?")]}, config={"callbacks": [runs]}
    )
    messages = state["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai"]
    assert messages[1].tool_calls[0]["args"] == {"input": 3}
    assert messages[2].content == "5"
    assert messages[3].text == "[first] the tool said 5"
    assert len(runs.starts) == 2  # two model calls, two runs: no nested candidate runs


def test_agent_stream_mode_messages_tokens_once() -> None:
    llm = _router(*_pair())
    agent = create_agent(model=llm, tools=[magic_function])
    pieces: list[str] = []
    final = None
    for chunk, meta in agent.stream(
        {"messages": [HumanMessage("magic_function(4)")]}, stream_mode="messages"
    ):
        if isinstance(chunk, AIMessageChunk) and meta["langgraph_node"] == "model":
            pieces.append(chunk.text)
            final = chunk
    assert "".join(pieces) == "[first] the tool said 6"
    assert final is not None


# --- reasoning --------------------------------------------------------------------------------


def _reasoning_of(msg: Any) -> str:
    return "".join(b.get("reasoning", "") for b in msg.content_blocks if b["type"] == "reasoning")


def test_candidate_reasoning_streams_first_and_survives_invoke() -> None:
    runs = Runs()
    thinker = ScriptedChatModel(model="thinker", reasoning="Let me think.")
    router = _router(thinker)
    chunks = list(router.stream("hi", config={"callbacks": [runs]}))
    # the reasoning chunk is forwarded as it arrives, before any text
    assert _reasoning_of(chunks[0]) == "Let me think." and chunks[0].text == ""
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.text == "[thinker] hi"
    assert _reasoning_of(full) == "Let me think."
    assert len(runs.starts) == 1 and len(runs.ends) == 1
    out = router.invoke("hi")
    assert out.text == "[thinker] hi" and _reasoning_of(out) == "Let me think."


async def test_candidate_reasoning_in_astream() -> None:
    router = _router(ScriptedChatModel(model="thinker", reasoning="Hmm."))
    chunks = [c async for c in router.astream("hi")]
    assert _reasoning_of(chunks[0]) == "Hmm."
    assert "".join(c.text for c in chunks) == "[thinker] hi"


def test_smartroute_target_reasoning_becomes_reasoning_content() -> None:
    from smartroute_llm import ChatResponse
    from smartroute_llm.testing import ScriptedTarget

    target = ScriptedTarget(
        "deepseek-reasoner", script=ChatResponse(text="42", reasoning="6 x 7", finish_reason="stop")
    )
    router = SmartRouterChatModel(candidates=[target], policy=RoutingPolicy.balanced().retries(0))
    out = router.invoke("6 times 7?")
    assert out.text == "42"
    assert out.additional_kwargs["reasoning_content"] == "6 x 7" and _reasoning_of(out) == "6 x 7"
    chunks = list(router.stream("6 times 7?"))
    assert [_reasoning_of(c) for c in chunks if _reasoning_of(c)] == ["6 x 7"]
    assert "".join(c.text for c in chunks) == "42"
