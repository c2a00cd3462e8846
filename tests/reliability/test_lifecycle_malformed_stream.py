"""A streamed answer whose tool-call arguments were cut off is malformed, never a success
(issue #12 item 12): with a TTFT limit a non-streaming call streams underneath, and that path
must judge the answer like the non-streaming one does, and fall back."""

import asyncio

import pytest

from smartroute_llm import ErrorKind, ProviderCapability, Router, RoutingPolicy
from smartroute_llm.request import ToolCall
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta
from smartroute_llm.testing import ScriptedTarget


class CutToolCall(ScriptedTarget):
    """Streams a tool call whose JSON arguments stop mid-string, then finishes normally."""

    def _chunks(self, resp):
        return [
            ChatChunk(
                tool_call_deltas=[
                    ToolCallDelta(index=0, id="call_1", name="weather", arguments='{"city": "Par')
                ]
            ),
            ChatChunk(finish_reason="tool_calls", model=self.model),
        ]


def cap(price):
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)


def make_router(policy):
    answer = ChatResponse(
        tool_calls=[ToolCall(id="c", name="weather", arguments={"city": "Paris"})],
        finish_reason="tool_calls",
    )
    cut = CutToolCall("cut", cap(1.0), script=answer)
    good = ScriptedTarget("good", cap(2.0), script=answer)
    return Router([cut, good], policy), cut, good


@pytest.mark.parametrize("mode", ["sync", "async", "sync-race", "async-race"])
def test_cut_tool_call_arguments_are_malformed_and_fall_back(mode):
    policy = RoutingPolicy.cheapest().timeouts(ttft=2.0).retries(0)
    if mode.endswith("race"):
        policy = policy.race(top_k=2, hedge_after=5.0)
    r, cut, good = make_router(policy)
    resp = r.chat("weather?") if mode.startswith("sync") else asyncio.run(r.achat("weather?"))
    assert resp.decision.target == "good"
    assert resp.tool_calls[0].arguments == {"city": "Paris"}
    first = resp.decision.attempts[0]
    assert first.target == "cut" and first.error_kind is ErrorKind.MALFORMED_RESPONSE
    assert len(cut.calls) == 1 and len(good.calls) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_streamed_cut_tool_call_falls_back_too(mode):
    r, _, _ = make_router(RoutingPolicy.cheapest().retries(0))

    async def consume():
        return [c async for c in r.astream("weather?")]

    chunks = list(r.stream("weather?")) if mode == "sync" else asyncio.run(consume())
    decision = chunks[-1].decision
    assert decision.target == "good"
    assert decision.attempts[0].error_kind is ErrorKind.MALFORMED_RESPONSE
