"""A cascade behind SmartRouterLLM: one routed call per achat/astream_chat whose decision holds
the ladder; each rung reports itself as its candidate's own events, as every attempt of a
fallback does today (a single-rung call has exactly one event pair)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from llamaindex_smartroute import SmartRouterLLM
from smartroute_llm import RoutingPolicy
from tests.llamaindex.candidates import FAST, STRONG, fc_llm, named, pieces, reply
from tests.llamaindex.conftest import Events

USER = [ChatMessage(role=MessageRole.USER, content="What is the capital of France?")]


def names_paris(request: Any, response: Any) -> tuple[bool, str]:
    return "Paris" in response.text, "no city named"


def _llm(cheap: Any, strong: Any, events: Events, **kw: Any) -> SmartRouterLLM:
    return SmartRouterLLM(
        [named(fc_llm(cheap), "cheap", FAST), named(fc_llm(strong), "strong", STRONG)],
        RoutingPolicy.cascade([names_paris], **kw),
        callback_manager=events.manager,
    )


async def test_achat_escalates_inside_one_routed_call(events: Events) -> None:
    llm = _llm(reply("I am not sure."), reply("Paris."), events)
    resp = await llm.achat(USER)
    assert resp.message.content == "Paris."
    d = resp.additional_kwargs["smartroute"]
    assert d["strategy"] == "cascade" and d["target"] == "strong"
    assert [(r["target"], r["verdict"]) for r in d["cascade"]["rungs"]] == [
        ("cheap", "rejected"), ("strong", "final"),
    ]
    assert d["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in d["attempts"]))
    # each rung reports itself as its candidate, as fallback attempts do
    assert events.pairs() == ((2, 2), (2, 2))


async def test_achat_accepted_on_the_cheap_rung(events: Events) -> None:
    llm = _llm(reply("Paris."), reply("Paris, France."), events)
    resp = await llm.achat(USER)
    d = resp.additional_kwargs["smartroute"]
    assert [(r["target"], r["verdict"]) for r in d["cascade"]["rungs"]] == [("cheap", "accepted")]
    assert events.pairs() == ((1, 1), (1, 1))


async def test_astream_chat_streams_the_accepted_answer(events: Events) -> None:
    llm = _llm(reply("No idea."), pieces("Pa", "ris", "."), events)
    items = [i async for i in await llm.astream_chat(USER)]
    assert items[-1].message.content == "Paris."
    assert "".join(i.delta or "" for i in items) == "Paris."
    d = items[-1].additional_kwargs["smartroute"]
    assert [r["verdict"] for r in d["cascade"]["rungs"]] == ["rejected", "final"]
    assert all("smartroute" not in i.additional_kwargs for i in items[:-1])
    assert events.pairs() == ((2, 2), (2, 2))  # the judged rung, then the streamed one


async def test_astream_chat_first_mode_commits_to_the_cheap_rung(events: Events) -> None:
    text = ["Paris is ", "the capital. ", "It lies on ", "the Seine river."]
    llm = _llm(pieces(*text), reply("unused"), events, stream="first", prefix_chars=10)
    items = [i async for i in await llm.astream_chat(USER)]
    assert items[-1].message.content == "".join(text)
    d = items[-1].additional_kwargs["smartroute"]
    assert [(r["target"], r["verdict"]) for r in d["cascade"]["rungs"]] == [
        ("cheap", "committed"),
    ]
    assert events.pairs() == ((1, 1), (1, 1))
