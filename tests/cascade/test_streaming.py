"""Streaming a cascade both ways, sync and async: ``final`` (the accepted answer only) and
``first`` (a rung streams at once; escalation only before its first text leaves)."""

from __future__ import annotations

import asyncio

import pytest

from smartroute_llm import AllTargetsFailed, Router, RoutingPolicy
from smartroute_llm.testing.fake_provider import Fault
from tests.cascade.helpers import NoRefusal, http_ladder, ladder, rung_verdicts, says_42

REFUSAL = "I'm sorry, but I cannot help with that request. Please ask something else."
GOOD = "Sure. The answer you are looking for is 42. Everyone has known it for a long time."


def collect(r, prompt, mode):
    if mode == "sync":
        return list(r.stream(prompt))

    async def run():
        return [c async for c in r.astream(prompt)]

    return asyncio.run(run())


def _final(chunks):
    assert chunks[-1].decision is not None
    assert all(c.decision is None for c in chunks[:-1])
    return chunks[-1].decision


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_final_streams_only_the_accepted_answer(mode):
    targets = ladder({"cheap": "no idea at all", "mid": "it is 42", "strong": "42"})
    r = Router(targets, RoutingPolicy.cascade([says_42]))
    chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == "it is 42"
    d = _final(chunks)
    assert d.cascade.stream == "final"
    assert [(x.target, x.verdict) for x in d.cascade.rungs] == [
        ("cheap", "rejected"), ("mid", "accepted"),
    ]
    assert d.cost_usd == pytest.approx(d.cascade.cost_usd) and d.cost_usd > 0


@pytest.mark.parametrize("mode", MODES)
def test_final_streams_the_last_rung_live(mode):
    long = "forty-two, said the strong model, in many small chunks"
    targets = ladder({"cheap": "no", "mid": "no", "strong": long}, chunk_chars=4)
    r = Router(targets, RoutingPolicy.cascade([says_42]))
    chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == long
    assert len([c for c in chunks if c.text]) == len(long) // 4 + 1  # as the rung sent them
    assert [x.verdict for x in _final(chunks).cascade.rungs] == ["rejected", "rejected", "final"]


@pytest.mark.parametrize("mode", MODES)
def test_first_escalates_on_a_rejected_prefix_before_anything_leaves(mode):
    refusals = NoRefusal()
    targets = ladder({"cheap": REFUSAL, "mid": GOOD, "strong": "x"}, chunk_chars=5)
    r = Router(targets, RoutingPolicy.cascade([refusals, says_42], stream="first"))
    chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == GOOD
    d = _final(chunks)
    assert d.cascade.stream == "first"
    rej = d.cascade.rungs[0]
    assert (rej.target, rej.verdict, rej.verifier) == ("cheap", "rejected", "no_refusal")
    assert rej.reason == "prefix: refusal"
    assert len(refusals.prefixes[0]) < len(REFUSAL)  # judged on a prefix, not the whole
    assert d.cascade.rungs[1].verdict == "committed"
    cancelled = d.attempts[0]
    assert cancelled.cancelled and "prefix rejected by no_refusal" in (cancelled.message or "")
    assert cancelled.cost_usd > 0  # its prompt and the text read were billed
    assert d.cost_usd == pytest.approx(sum(a.cost_usd for a in d.attempts))


@pytest.mark.parametrize("mode", MODES)
def test_first_commits_to_a_passing_prefix_and_streams_it(mode):
    targets = ladder({"cheap": GOOD, "mid": "x", "strong": "y"}, chunk_chars=5)
    r = Router(targets, RoutingPolicy.cascade([NoRefusal()], stream="first", prefix_chars=20))
    chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == GOOD
    assert len([c for c in chunks if c.text]) > 3  # streamed, not one block
    d = _final(chunks)
    assert rung_verdicts(type("R", (), {"decision": d})) == [("cheap", "committed")]
    assert d.target == "cheap" and len(targets[0].calls) == 0  # strong never asked


@pytest.mark.parametrize("mode", MODES)
def test_first_verifies_a_whole_short_answer_before_sending_it(mode):
    # the answer ends inside the prefix window: the full verifiers judge it
    targets = ladder({"cheap": "no", "mid": "42", "strong": "z"})
    r = Router(targets, RoutingPolicy.cascade([says_42], stream="first"))
    chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == "42"
    assert [(x.target, x.verdict) for x in _final(chunks).cascade.rungs] == [
        ("cheap", "rejected"), ("mid", "accepted"),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_first_moves_on_when_a_rung_breaks_before_its_first_token(fake_provider, mode):
    fp = fake_provider
    fp.configure(responder=lambda model, body: GOOD)
    fp.fail("cheap", Fault.server_error())
    policy = RoutingPolicy.cascade([NoRefusal()], stream="first").retries(0)
    with Router(http_ladder(fp), policy) as r:
        chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == GOOD
    assert [(x.target, x.verdict) for x in _final(chunks).cascade.rungs] == [
        ("cheap", "error"), ("mid", "committed"),
    ]
    assert fp.count("strong") == 0


@pytest.mark.parametrize("mode", MODES)
def test_final_over_http_escalates_and_streams_the_last_rung(fake_provider, mode):
    fp = fake_provider
    answers = {"cheap": "no", "mid": "no", "strong": "forty-two is 42 in digits"}
    fp.configure(responder=lambda model, body: answers[model])
    with Router(http_ladder(fp), RoutingPolicy.cascade([says_42]).retries(0)) as r:
        chunks = collect(r, "q", mode)
    assert "".join(c.text for c in chunks) == answers["strong"]
    assert len([c for c in chunks if c.text]) > 1
    assert fp.attempts_for("cheap")[0].stream is False  # judged whole, never streamed
    assert fp.attempts_for("strong")[0].stream is True


def test_no_rung_answering_a_stream_raises_before_any_text(fake_provider):
    fp = fake_provider
    fp.fail("*", Fault.server_error())
    policy = RoutingPolicy.cascade([says_42], stream="first").retries(0)
    with (
        Router(http_ladder(fp, ("cheap", "strong")), policy) as r,
        pytest.raises(AllTargetsFailed, match="every rung of the cascade failed"),
    ):
        list(r.stream("q"))
