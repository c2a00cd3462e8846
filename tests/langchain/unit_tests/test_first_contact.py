"""First contact with SmartRouterChatModel (issue #15 items 4 and 5): a shared ``api_key`` reaches
the candidates it belongs to, token counting needs no tokenizer download, and traces name a
model that tracing tools can price."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages
from lc_scripted import ScriptedChatModel

from langchain_smartroute import SmartRouterChatModel
from smartroute_llm import RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.testing.fake_provider import FakeProvider

KEY = "sk-first-contact-7c1d9e2a4b"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fp:
        yield fp


@pytest.fixture
def openai_here(server: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """The fake server stands in for api.openai.com, and no key is in the environment."""
    server.reset()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SMARTROUTE_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return server


class Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.metadata: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.metadata.append(dict(kwargs.get("metadata") or {}))


# --- item 4: api_key ----------------------------------------------------------------------------


def test_api_key_reaches_same_vendor_model_names(openai_here: FakeProvider) -> None:
    llm = SmartRouterChatModel(candidates=["gpt-4o-mini", "gpt-4o"], api_key=KEY, max_retries=0)
    msg = llm.invoke("hello")
    assert isinstance(msg, AIMessage) and msg.content
    assert msg.response_metadata["model_name"] in ("gpt-4o-mini", "gpt-4o")
    assert openai_here.count() == 1


def test_api_key_for_several_vendors_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        SmartRouterChatModel(candidates=["gpt-4o-mini", "claude-3-5-haiku"], api_key=KEY)
    text = str(info.value)
    assert "api_key=" in text and "openai" in text and "anthropic" in text
    assert KEY not in text and KEY not in repr(info.value)


def test_custom_base_url_needs_the_explicit_key(openai_here: FakeProvider) -> None:
    with pytest.raises(ConfigurationError, match="api_key"):
        SmartRouterChatModel(candidates=["gpt-4o-mini"], base_url="https://proxy.example.net/v1")
    llm = SmartRouterChatModel(
        candidates=["gpt-4o-mini"], base_url=openai_here.base_url, api_key=KEY
    )
    assert llm.invoke("hi").response_metadata["model_name"] == "gpt-4o-mini"


# --- item 5: token counting and trace metadata -----------------------------------------------


def _scripted() -> SmartRouterChatModel:
    return SmartRouterChatModel(
        candidates=[ScriptedChatModel(model="first"), ScriptedChatModel(model="second")],
        policy=RoutingPolicy.balanced().fallback_chain(["first", "second"]),
    )


def test_token_counting_needs_no_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # as on a fresh install
    llm = _scripted()
    assert 1 <= llm.get_num_tokens("How many tokens does this sentence take?") <= 20
    history = [
        SystemMessage("You are terse."),
        *(HumanMessage(f"question {i}: " + "words " * 40) for i in range(6)),
    ]
    total = llm.get_num_tokens_from_messages(history)
    assert total > 6 * 40 * 0.5
    kept = trim_messages(history, max_tokens=total // 2, token_counter=llm, strategy="last",
                         include_system=True)
    assert kept[0] == history[0] and 1 < len(kept) < len(history)


@pytest.mark.parametrize("mode", ["invoke", "stream", "batch"])
def test_trace_names_the_planned_first_choice(mode: str) -> None:
    llm, starts = _scripted(), Starts()
    config: Any = {"callbacks": [starts]}
    if mode == "invoke":
        llm.invoke("hello", config=config)
    elif mode == "stream":
        assert list(llm.stream("hello", config=config))
    else:
        llm.batch(["hello", "again"], config=config)
    assert starts.metadata
    for meta in starts.metadata:
        assert meta["ls_model_name"] == "first"
        assert meta["ls_provider"] != "smartroute"


async def test_async_trace_names_the_planned_first_choice() -> None:
    llm, starts = _scripted(), Starts()
    await llm.ainvoke("hello", config={"callbacks": [starts]})
    chunks = [c async for c in llm.astream("hello", config={"callbacks": [starts]})]
    assert chunks and len(starts.metadata) == 2
    assert {m["ls_model_name"] for m in starts.metadata} == {"first"}


def test_trace_of_http_candidates_names_vendor_and_model(openai_here: FakeProvider) -> None:
    llm, starts = SmartRouterChatModel(candidates=["gpt-4o-mini"], api_key=KEY), Starts()
    msg = llm.invoke("hello", config={"callbacks": [starts]})
    assert starts.metadata[0]["ls_provider"] == "openai"
    assert starts.metadata[0]["ls_model_name"] == "gpt-4o-mini"
    assert msg.response_metadata["model_name"] == "gpt-4o-mini"


def test_a_chosen_model_name_stays_in_traces() -> None:
    llm = SmartRouterChatModel(
        candidates=[ScriptedChatModel(model="first")], model="my-router"
    )
    starts = Starts()
    llm.invoke("hello", config={"callbacks": [starts]})
    assert starts.metadata[0]["ls_model_name"] == "my-router"


# --- issue #16: the trace's first choice is the call's plan, made once ---------------------------


def _count_plans(llm: SmartRouterChatModel, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    router, plans = llm.routing, []
    plan = router.plan

    def counted(*args: Any, **kwargs: Any) -> Any:
        plans.append(kwargs.get("tags"))
        return plan(*args, **kwargs)

    monkeypatch.setattr(router, "plan", counted)
    return plans


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_a_traced_call_is_planned_once(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    llm, starts = _scripted(), Starts()
    plans = _count_plans(llm, monkeypatch)
    config: Any = {"callbacks": [starts]}
    msg = llm.invoke("hello", config=config) if mode == "invoke" else await llm.ainvoke(
        "hello", config=config
    )
    assert len(plans) == 1
    assert starts.metadata[0]["ls_model_name"] == "first"
    decision = msg.response_metadata["smartroute"]
    assert decision["target"] == "first" and decision["candidates"][0]["target"] == "first"


async def test_a_call_with_tags_is_planned_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = SmartRouterChatModel(
        candidates=[ScriptedChatModel(model="first"), ScriptedChatModel(model="second")],
        policy=RoutingPolicy.balanced()
        .fallback_chain(["first", "second"])
        .budget(100.0, per="team"),
    )
    plans = _count_plans(llm, monkeypatch)
    msg = await llm.ainvoke("hello", config={"metadata": {"team": "a"}})
    assert msg.response_metadata["smartroute"]["target"] == "first"
    # the trace's plan saw no tags; the call itself is planned again, with its tags
    assert plans[-1] == {"team": "a"}
