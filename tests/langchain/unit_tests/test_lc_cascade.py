"""A cascade behind SmartRouterChatModel: one chat-model run per routed call (ainvoke,
astream), the rungs inside it, the ladder and its total cost in the run's metadata."""

from __future__ import annotations

from typing import Any

import pytest
from lc_scripted import ScriptedChatModel
from test_lc_routing import Runs

from langchain_smartroute import SmartRouterChatModel
from smartroute_llm import ProviderCapability, RoutingPolicy


def _cap(price: float) -> dict[str, Any]:
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price).model_dump()


def only_strong(request: Any, response: Any) -> tuple[bool, str]:
    return response.text.startswith("[strong]"), "not the strong model's answer"


def _llm(verifier: Any = only_strong, **kw: Any) -> tuple[SmartRouterChatModel, Any, Any]:
    cheap, strong = ScriptedChatModel(model="cheap"), ScriptedChatModel(model="strong")
    llm = SmartRouterChatModel(
        candidates=[strong, cheap],
        capabilities={"cheap": _cap(1.0), "strong": _cap(20.0)},
        policy=RoutingPolicy.cascade([verifier], **kw).retries(0),
    )
    return llm, cheap, strong


async def test_ainvoke_escalates_inside_one_run() -> None:
    llm, cheap, strong = _llm()
    runs = Runs()
    msg = await llm.ainvoke("six times seven", config={"callbacks": [runs]})
    assert msg.text == "[strong] six times seven"
    assert len(runs.starts) == 1 and runs.ends == runs.starts and not runs.errors
    meta = msg.response_metadata
    assert meta["model_name"] == "strong"
    d = meta["smartroute"]
    assert d["strategy"] == "cascade"
    assert [(r["target"], r["verdict"]) for r in d["cascade"]["rungs"]] == [
        ("cheap", "rejected"), ("strong", "final"),
    ]
    assert d["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in d["cascade"]["rungs"]))
    assert len(cheap.calls) == 1 and len(strong.calls) == 1


async def test_ainvoke_accepted_on_the_cheap_rung() -> None:
    llm, _cheap, strong = _llm(lambda q, a: True)
    msg = await llm.ainvoke("hi")
    assert msg.text == "[cheap] hi" and len(strong.calls) == 0
    assert msg.response_metadata["smartroute"]["cascade"]["rungs"][0]["verdict"] == "accepted"


async def test_astream_final_streams_only_the_answer_in_one_run() -> None:
    llm, _cheap, _strong = _llm()
    runs = Runs()
    chunks = [c async for c in llm.astream("one two three", config={"callbacks": [runs]})]
    text = "".join(c.text for c in chunks)
    assert text == "[strong] one two three"
    assert "".join(runs.tokens) == text  # the rejected rung's text never reached the run
    assert len(runs.starts) == 1 and len(runs.ends) == 1
    last = chunks[-1]
    assert last.chunk_position == "last"
    d = last.response_metadata["smartroute"]
    assert [r["verdict"] for r in d["cascade"]["rungs"]] == ["rejected", "final"]


async def test_astream_events_first_mode_is_one_run() -> None:
    llm, _cheap, strong = _llm(lambda q, a: True, stream="first", prefix_chars=12)
    events = [e async for e in llm.astream_events("a longer question here", version="v2")]
    kinds = [e["event"] for e in events]
    assert kinds.count("on_chat_model_start") == 1 and kinds.count("on_chat_model_end") == 1
    streamed = "".join(
        e["data"]["chunk"].text for e in events if e["event"] == "on_chat_model_stream"
    )
    assert streamed == "[cheap] a longer question here"
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    d = end["data"]["output"].response_metadata["smartroute"]
    assert [(r["target"], r["verdict"]) for r in d["cascade"]["rungs"]] == [
        ("cheap", "committed"),
    ]
    assert len(strong.calls) == 0
