"""SmartRouterLLM inside real LlamaIndex pipelines: query engines (plain and streaming), a chat
engine, structured output, a FunctionAgent (streaming on and off) and a ReActAgent.

Each test runs twice: over LlamaIndex's ``MockFunctionCallingLLM`` candidates, and over
smartroute's ``OpenAICompatible`` provider talking HTTP to the loopback ``FakeProvider``. Both
backends answer from the same small rule set (:func:`brain`), so the expectations are shared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llamaindex_smartroute import LlamaIndexTarget, SmartRouterLLM
from smartroute_llm import RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing import FakeProvider
from tests.llamaindex.candidates import FAST, STRONG
from tests.llamaindex.conftest import Events

ANSWER = "Lyon is famous for its food."
DOCS = [
    Document(text="Lyon is a city in France, famous for its food and silk."),
    Document(text="Grenoble sits in the Alps and hosts research labs."),
    Document(text="Marseille is a port on the Mediterranean sea."),
]


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


tool_log: list[tuple[int, int]] = []


def add(a: int, b: int) -> int:
    """Add two integers."""
    tool_log.append((a, b))
    return a + b


ADD = FunctionTool.from_defaults(fn=add)


def brain(texts: Sequence[str], last_role: str, tools: Sequence[str]) -> str | dict[str, Any]:
    """What every test model answers: a tool call when offered tools and no result yet, a
    sentence about a tool result, ReAct steps under a ReAct prompt, or the fixed answer."""
    if tools and last_role != "tool":
        if "City" in tools:
            return {"tool_calls": [{"name": "City",
                                    "arguments": {"name": "Lyon", "country": "France"}}]}
        return {"tool_calls": [{"name": tools[0], "arguments": {"a": 2, "b": 3}}]}
    if last_role == "tool":
        return f"The sum is {texts[-1]}."
    joined = "\n".join(texts)
    if "Action Input" in joined:  # a ReAct prompt
        if any(t.startswith("Observation:") for t in texts[1:]):
            return "Thought: I can answer without using any more tools.\nAnswer: The sum is 5."
        return ('Thought: I need to use a tool to help me answer the question.\n'
                'Action: add\nAction Input: {"a": 2, "b": 3}')
    if "City" in joined and "json" in joined.lower():
        return '{"name": "Lyon", "country": "France"}'
    return ANSWER


def _mock_generator(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    tools = [t.metadata.name for t in kwargs.get("tools") or ()]
    role = messages[-1].role.value if messages else "user"
    out = brain([m.content or "" for m in messages], role, tools)
    if isinstance(out, str):
        return ChatMessage(role=MessageRole.ASSISTANT, content=out)
    blocks = [ToolCallBlock(tool_call_id=f"call_{i}", tool_name=c["name"],
                            tool_kwargs=c["arguments"]) for i, c in enumerate(out["tool_calls"])]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def _fake_responder(model: str, body: dict[str, Any]) -> Any:
    msgs = body["messages"]
    tools = [t["function"]["name"] for t in body.get("tools") or ()]

    def text(m: dict[str, Any]) -> str:
        c = m.get("content") or ""
        return c if isinstance(c, str) else "".join(p.get("text", "") for p in c)

    return brain([text(m) for m in msgs], msgs[-1]["role"], tools)


@pytest.fixture(params=["mock", "loopback"])
def router(request: pytest.FixtureRequest, events: Events) -> Iterator[SmartRouterLLM]:
    if request.param == "mock":
        from llama_index.core.llms.mock import MockFunctionCallingLLM

        cands: list[Any] = [
            LlamaIndexTarget(MockFunctionCallingLLM(response_generator=_mock_generator),
                             name="fast", capability=FAST),
            LlamaIndexTarget(MockFunctionCallingLLM(response_generator=_mock_generator),
                             name="strong", capability=STRONG),
        ]
        yield SmartRouterLLM(cands, RoutingPolicy.fastest(), callback_manager=events.manager)
        return
    fp: FakeProvider = request.getfixturevalue("fake_provider")
    fp.configure("*", responder=_fake_responder, chunk_chars=6)
    cands = [
        OpenAICompatible("gpt-4o-mini", base_url=fp.base_url, api_key="sk-test", name="fast",
                         capability=FAST, transport="httpx"),
        OpenAICompatible("gpt-4o", base_url=fp.base_url, api_key="sk-test", name="strong",
                         capability=STRONG, transport="httpx"),
    ]
    llm = SmartRouterLLM(cands, RoutingPolicy.fastest(), callback_manager=events.manager)
    yield llm
    llm.router.close()


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCS, embed_model=MockEmbedding(embed_dim=8))


@pytest.fixture
def global_callbacks(events: Events) -> Iterator[None]:
    """Query engines hand their LLM ``Settings.callback_manager``; point it at the recorder."""
    before = Settings._callback_manager
    Settings.callback_manager = events.manager
    try:
        yield
    finally:
        Settings._callback_manager = before


def test_query_engine(router: SmartRouterLLM, index: VectorStoreIndex, events: Events,
                      global_callbacks: None) -> None:
    engine = index.as_query_engine(llm=router, similarity_top_k=2)
    response = engine.query("What is Lyon famous for?")
    assert str(response) == ANSWER
    assert len(response.source_nodes) == 2
    assert router.decisions[-1].target == "fast"
    assert events.pairs() == ((1, 1), (1, 1))


async def test_async_query_engine(router: SmartRouterLLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=router)
    response = await engine.aquery("What is Lyon famous for?")
    assert str(response) == ANSWER


def test_streaming_query_engine(router: SmartRouterLLM, index: VectorStoreIndex, events: Events,
                                global_callbacks: None) -> None:
    engine = index.as_query_engine(llm=router, streaming=True)
    response = engine.query("What is Lyon famous for?")
    tokens = list(response.response_gen)  # type: ignore[union-attr]
    assert "".join(tokens) == ANSWER
    assert events.pairs() == ((1, 1), (1, 1))
    assert router.decisions[-1].usage.output_tokens > 0


def test_chat_engine(router: SmartRouterLLM, index: VectorStoreIndex) -> None:
    engine = index.as_chat_engine(chat_mode="context", llm=router)
    first = engine.chat("What is Lyon famous for?")
    assert str(first) == ANSWER
    streamed = engine.stream_chat("And Lyon again?")
    assert "".join(streamed.response_gen) == ANSWER
    assert len(engine.chat_history) == 4


def test_structured_predict(router: SmartRouterLLM) -> None:
    city = router.structured_predict(City, PromptTemplate("Which city is {q}?"), q="famous")
    assert city == City(name="Lyon", country="France")


@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent(router: SmartRouterLLM, streaming: bool) -> None:
    tool_log.clear()
    agent = FunctionAgent(tools=[ADD], llm=router, streaming=streaming)
    handler = agent.run("What is 2 + 3?")
    deltas = []
    async for ev in handler.stream_events():
        delta = getattr(ev, "delta", None)
        if delta:
            deltas.append(delta)
    result = await handler
    assert str(result) == "The sum is 5."
    assert tool_log == [(2, 3)]
    if streaming:
        assert "".join(deltas) == "The sum is 5."
    assert all(d.target == "fast" for d in router.decisions[-2:])


async def test_react_agent(router: SmartRouterLLM) -> None:
    tool_log.clear()
    agent = ReActAgent(tools=[ADD], llm=router)
    result = await agent.run("What is 2 + 3?")
    assert "The sum is 5." in str(result)
    assert tool_log == [(2, 3)]


def test_one_event_pair_per_routed_call(router: SmartRouterLLM, events: Events) -> None:
    router.chat([ChatMessage(role="user", content="hi")])
    list(router.stream_chat([ChatMessage(role="user", content="hi")]))
    assert events.pairs() == ((2, 2), (2, 2))


def test_decision_is_json(router: SmartRouterLLM) -> None:
    resp = router.chat([ChatMessage(role="user", content="hi")])
    data = json.loads(json.dumps(resp.additional_kwargs["smartroute"]))
    assert data["target"] == "fast" and data["candidates"][0]["target"] == "fast"


def test_from_config_yaml_with_code_candidates(
    tmp_path: Any, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    from llama_index.core.llms import MockLLM

    monkeypatch.setenv("LOOPBACK_KEY", "sk-from-env")
    fake_provider.configure("*", responder=_fake_responder)
    path = tmp_path / "router.yaml"
    path.write_text(
        "policy:\n  strategy: best\n"
        "targets:\n"
        f"  - model: gpt-4o\n    name: remote\n    base_url: {fake_provider.base_url}\n"
        "    api_key_env: LOOPBACK_KEY\n    transport: httpx\n"
        "    capability: {quality_tier: premium, speed_tier: slow}\n"
    )
    llm = SmartRouterLLM.from_config(
        path, candidates={"local": LlamaIndexTarget(MockLLM(), capability=FAST).llm},
        callback_manager=events.manager,
    )
    assert [p.name for p in llm.router.profiles] == ["local", "remote"]
    resp = llm.chat([ChatMessage(role="user", content="hi")])
    assert resp.message.content == ANSWER and resp.additional_kwargs["smartroute"]["target"] == (
        "remote"
    )
    assert events.pairs() == ((1, 1), (1, 1))  # the HTTP target reports like any LlamaIndex LLM
    assert "sk-from-env" not in llm.to_json()
    llm.router.close()


def test_from_config_rejects_unknown_fields() -> None:
    from smartroute_llm import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown top-level"):
        SmartRouterLLM.from_config({"policy": {}, "candidates": []})


@pytest.mark.parametrize("streaming", [True, False])
async def test_llamaindex_openai_candidate_over_loopback(
    fake_provider: FakeProvider, events: Events, streaming: bool
) -> None:
    """LlamaIndex's own OpenAI LLM as a candidate: its SDK's 429 becomes a fallback, and its
    own tool-call format is parsed by itself inside a FunctionAgent."""
    from llama_index.llms.openai import OpenAI

    from smartroute_llm.testing import Fault

    fake_provider.configure("*", responder=_fake_responder)
    fake_provider.script("gpt-4o-mini", [Fault.rate_limited()])
    oa = OpenAI(model="gpt-4o-mini", api_base=fake_provider.base_url, api_key="sk-test",
                max_retries=0)
    strong = OpenAICompatible("gpt-4o", base_url=fake_provider.base_url, api_key="sk-test",
                              name="strong", capability=STRONG, transport="httpx")
    llm = SmartRouterLLM([LlamaIndexTarget(oa, name="oa", capability=FAST), strong],
                         RoutingPolicy.fastest().retries(0), callback_manager=events.manager)
    first = await llm.achat([ChatMessage(role="user", content="hi")])
    d = first.additional_kwargs["smartroute"]
    assert first.message.content == ANSWER and d["target"] == "strong"
    assert (d["attempts"][0]["target"], d["attempts"][0]["error_kind"],
            d["attempts"][0]["status_code"]) == ("oa", "rate_limited", 429)
    tool_log.clear()
    agent = FunctionAgent(tools=[ADD], llm=llm, streaming=streaming)
    result = await agent.run("What is 2 + 3?")
    assert str(result) == "The sum is 5." and tool_log == [(2, 3)]
    assert [x.target for x in llm.decisions[-2:]] == ["oa", "oa"]
    await llm.router.aclose()


async def test_function_agent_streams_a_candidates_thinking() -> None:
    from llama_index.core.agent.workflow import AgentStream

    from tests.llamaindex.candidates import ThinkingLLM, named

    router = SmartRouterLLM([named(ThinkingLLM(thinking="Recall capitals.", text="Paris."), "t")])
    agent = FunctionAgent(tools=[ADD], llm=router, streaming=True)
    handler = agent.run("Capital of France?")
    thinking = [ev.thinking_delta async for ev in handler.stream_events()
                if isinstance(ev, AgentStream) and ev.thinking_delta]
    assert str(await handler) == "Paris."
    assert thinking == ["Recall capitals."]
