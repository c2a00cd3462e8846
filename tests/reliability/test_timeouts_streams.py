"""Time to first token, stalls, streaming failover and resumption (scripted targets)."""

import asyncio
import time

import pytest

from smartroute_llm import ErrorKind, ProviderCapability, Router, RoutingPolicy, StreamInterrupted
from smartroute_llm.testing import ScriptedTarget


def cap(price, prefill=False):
    return ProviderCapability(
        input_cost_per_1m=price, output_cost_per_1m=price, supports_prefill=prefill
    )


def silent(name="silent", price=1.0):
    return ScriptedTarget(name, cap(price), script="never", latency=4.0, ttft=4.0)


def test_silent_provider_costs_one_ttft_window_sync():
    good = ScriptedTarget("good", cap(2.0), script="hello")
    r = Router([silent(), good], RoutingPolicy.cheapest().timeouts(ttft=0.3))
    t0 = time.perf_counter()
    resp = r.chat("hi")
    elapsed = time.perf_counter() - t0
    assert resp.text == "hello"
    assert 0.25 < elapsed < 1.5
    assert resp.decision.attempts[0].error_kind is ErrorKind.TTFT_TIMEOUT


async def test_silent_provider_costs_one_ttft_window_async():
    good = ScriptedTarget("good", cap(2.0), script="hello")
    r = Router([silent(), good], RoutingPolicy.cheapest().timeouts(ttft=0.3))
    t0 = time.perf_counter()
    resp = await r.achat("hi")
    assert resp.text == "hello"
    assert time.perf_counter() - t0 < 1.5
    chunks = [c async for c in r.astream("hi")]
    assert "".join(c.text for c in chunks) == "hello"
    assert chunks[-1].decision.attempts[0].error_kind is ErrorKind.TTFT_TIMEOUT


def stalling(name="stall", price=1.0, prefill=False):
    # first chunk at once, then ~2 s between chunks: a stall
    return ScriptedTarget(
        name,
        cap(price, prefill),
        script="The answer is forty-two.",
        latency=8.0,
        ttft=0.0,
        chunk_chars=7,
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stall_after_first_chunk_raises_stream_interrupted_with_partial(mode):
    good = ScriptedTarget("good", cap(2.0), script="fallback")
    r = Router([stalling(), good], RoutingPolicy.cheapest().timeouts(stall=0.3))
    seen = []
    t0 = time.perf_counter()
    with pytest.raises(StreamInterrupted) as info:
        if mode == "sync":
            for c in r.stream("hi"):
                seen.append(c.text)
        else:

            async def consume():
                async for c in r.astream("hi"):
                    seen.append(c.text)

            asyncio.run(consume())
    assert time.perf_counter() - t0 < 2.0
    assert info.value.partial_text == "The ans" == "".join(seen)
    assert len(good.calls) == 0  # text already reached the caller: no silent restart


def test_stream_cut_before_first_chunk_falls_back_invisibly():
    cut = ScriptedTarget("cut", cap(1.0), script="never shown", fail_after_chunks=0)
    good = ScriptedTarget("good", cap(2.0), script="clean answer")
    chunks = list(Router([cut, good], RoutingPolicy.cheapest()).stream("hi"))
    assert "".join(c.text for c in chunks) == "clean answer"
    assert [a.target for a in chunks[-1].decision.attempts] == ["cut", "good"]


@pytest.mark.parametrize("prefill", [True, False])
def test_resume_streams_continues_on_the_next_candidate(prefill):
    cut = ScriptedTarget(
        "cut", cap(1.0), script="The answer is forty-two.", chunk_chars=7, fail_after_chunks=2
    )
    nxt = ScriptedTarget("next", cap(2.0, prefill=prefill), script="forty-two.")
    r = Router([cut, nxt], RoutingPolicy.cheapest().resume_streams())
    chunks = list(r.stream("hi"))
    assert "".join(c.text for c in chunks) == "The answer is forty-two."
    sent = nxt.calls[0].messages
    assert sent[-1 if prefill else -2].role == "assistant"
    assert sent[-1 if prefill else -2].text == "The answer is "
    if not prefill:
        assert sent[-1].role == "user" and "Continue" in sent[-1].text
    d = chunks[-1].decision
    assert d.target == "next" and d.attempts[0].error_kind is ErrorKind.CONNECTION
    # the broken attempt's partial output was billed, and the call's cost includes it
    assert d.attempts[0].usage.output_tokens > 0 and d.attempts[0].cost_usd > 0
    assert d.cost_usd > d.attempts[1].cost_usd


def test_prefill_rejection_gets_a_clean_restart_and_never_masks_the_failure():
    cut = ScriptedTarget(
        "cut", cap(1.0), script="The answer is forty-two.", chunk_chars=7, fail_after_chunks=2
    )

    def picky(request):
        if request.messages[-1].role == "assistant":
            return ErrorKind.INVALID_REQUEST
        return "forty-two."

    nxt = ScriptedTarget("picky", cap(2.0, prefill=True), script=picky)
    r = Router([cut, nxt], RoutingPolicy.cheapest().resume_streams())
    text = "".join(c.text for c in r.stream("hi"))
    assert text == "The answer is forty-two."
    assert [m.role for m in nxt.calls[-1].messages][-2:] == ["assistant", "user"]
    # when every resumption fails, the ORIGINAL failure surfaces
    nxt.set_script(ErrorKind.INVALID_REQUEST)
    with pytest.raises(StreamInterrupted) as info:
        list(r.stream("hi"))
    assert info.value.target == "cut" and info.value.partial_text == "The answer is "


def test_malformed_first_chunk_falls_back():
    from smartroute_llm.errors import MalformedResponseError

    bad = ScriptedTarget("bad", cap(1.0), script=MalformedResponseError("garbage SSE"))
    good = ScriptedTarget("good", cap(2.0), script="fine")
    r = Router([bad, good], RoutingPolicy.cheapest().retries(0))
    assert "".join(c.text for c in r.stream("hi")) == "fine"


# --- reasoning chunks ---------------------------------------------------------------------------


def thinker(name="thinker", price=1.0, **kw):
    from smartroute_llm import ChatResponse

    answer = ChatResponse(text="forty-two", reasoning="six times seven", finish_reason="stop")
    return ScriptedTarget(name, cap(price), script=answer, **kw)


def test_reasoning_is_forwarded_first_and_kept_apart_from_the_answer():
    r = Router([thinker()], RoutingPolicy.cheapest())
    chunks = list(r.stream("hi"))
    assert chunks[0].reasoning == "six times seven" and chunks[0].text == ""
    assert "".join(c.text for c in chunks) == "forty-two"
    resp = r.chat("hi")
    assert resp.text == "forty-two" and resp.reasoning == "six times seven"


async def test_reasoning_counts_as_the_first_token():
    # reasoning after 0.1 s, the text only after ~1 s: a 0.5 s TTFT limit is met by the reasoning
    slow_text = thinker(latency=2.0, ttft=0.1)
    r = Router([slow_text], RoutingPolicy.cheapest().timeouts(ttft=0.5))
    chunks = [c async for c in r.astream("hi")]
    d = chunks[-1].decision
    assert "".join(c.text for c in chunks) == "forty-two"
    assert d.attempts[0].error_kind is None and d.ttft_s is not None and d.ttft_s < 0.5


def test_a_stream_broken_after_reasoning_alone_falls_back():
    # the caller saw reasoning but no answer text: the next candidate answers cleanly
    cut = thinker("cut", fail_after_chunks=1)
    good = ScriptedTarget("good", cap(2.0), script="clean answer")
    chunks = list(Router([cut, good], RoutingPolicy.cheapest()).stream("hi"))
    assert chunks[0].reasoning == "six times seven"
    assert "".join(c.text for c in chunks) == "clean answer"
    assert [a.target for a in chunks[-1].decision.attempts] == ["cut", "good"]
