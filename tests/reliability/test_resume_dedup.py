"""A resumed stream never repeats delivered text (real HTTP, OpenAI-compatible fallback without
prefill): a restart or a repeated tail is trimmed, a different restart ends interrupted."""

import pytest

from smartroute_llm import ProviderCapability, Router, RoutingPolicy, StreamInterrupted
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing.fake_provider import Fault

PROMPT = "The quick brown fox jumps over the lazy dog near the quiet river bank today."
ANSWER = "[a] " + PROMPT  # the fake server's echo; a stream cut after 3 chunks of 8 characters


def target(fp, model, price):
    cap = ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)
    return OpenAICompatible(model, base_url=fp.base_url, api_key="sk-test", capability=cap)


def router(fp, continuation):
    fp.configure("a", chunk_chars=8)
    fp.fail("a", Fault.stream_cut(after_chunks=3))
    fp.configure("b", responder=lambda model, body: continuation, chunk_chars=5)
    policy = RoutingPolicy.cheapest().retries(0).resume_streams(True)
    return Router([target(fp, "a", 1.0), target(fp, "b", 2.0)], policy)


async def collect(r, sync):
    if sync:
        return [c.text for c in r.stream(PROMPT)]
    return [c.text async for c in r.astream(PROMPT)]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize(
    "continuation",
    [ANSWER, ANSWER[24:], ANSWER[6:]],
    ids=["full restart", "true continuation", "repeated tail"],
)
async def test_the_resumed_answer_is_the_answer_once(fake_provider, sync, continuation):
    r = router(fake_provider, continuation)
    text = "".join(await collect(r, sync))
    assert " ".join(text.split()) == ANSWER
    assert fake_provider.count("b") == 1


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_restart_worded_differently_ends_interrupted_with_the_partial_text(
    fake_provider, sync
):
    restart = "[a] The quick red fox leapt over a sleeping dog by the river."
    r = router(fake_provider, restart)
    seen: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        if sync:
            for c in r.stream(PROMPT):
                seen.append(c.text)
        else:
            async for c in r.astream(PROMPT):
                seen.append(c.text)
    delivered = "".join(seen)
    assert delivered == ANSWER[:24]
    assert info.value.partial_text == delivered


def test_a_vendor_prefix_flag_continues_the_delivered_text_in_place(fake_provider):
    seen_bodies = []

    def continue_it(model, body):
        seen_bodies.append(body)
        return ANSWER[24:]  # a true continuation of the prefix

    fake_provider.configure("a", chunk_chars=8)
    fake_provider.fail("a", Fault.stream_cut(after_chunks=3))
    fake_provider.configure("b", responder=continue_it, chunk_chars=5)
    flagged = OpenAICompatible(
        "b", base_url=fake_provider.base_url, api_key="sk-test", prefix_field="prefix"
    )
    assert flagged.capability.supports_prefill  # the flag makes the target a prefill target
    cap = ProviderCapability(input_cost_per_1m=2.0, output_cost_per_1m=2.0, supports_prefill=True)
    b = OpenAICompatible(
        "b", base_url=fake_provider.base_url, api_key="sk-test", prefix_field="prefix",
        capability=cap,
    )
    policy = RoutingPolicy.cheapest().retries(0).resume_streams(True)
    r = Router([target(fake_provider, "a", 1.0), b], policy)
    text = "".join(c.text for c in r.stream(PROMPT))
    assert text == ANSWER
    last = seen_bodies[-1]["messages"][-1]
    assert last == {"role": "assistant", "content": ANSWER[:24], "prefix": True}
