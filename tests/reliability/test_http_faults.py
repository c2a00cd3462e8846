"""Every FakeProvider fault through the router over real loopback HTTP: the outcome, the
attempts the server saw, and the wall-time bound (timings scaled down). Wall-time bounds add the
lag measured while the call ran (``lag`` fixture, see conftest.py), so a busy machine does not
fail them; the request counts the server saw carry the rest of the proof."""

import asyncio
import time

import pytest

from smartroute_llm import (
    AllTargetsFailed,
    ErrorKind,
    ProviderCapability,
    Router,
    RoutingPolicy,
    StreamInterrupted,
)
from smartroute_llm.errors import ContentFilterError
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing.fake_provider import Fault


def target(fp, model, price, ctx=128_000, prefill=False):
    cap = ProviderCapability(
        input_cost_per_1m=price, output_cost_per_1m=price, max_tokens=ctx, supports_prefill=prefill
    )
    return OpenAICompatible(model, base_url=fp.base_url, api_key="sk-test", capability=cap)


def pair(fp, **policy_kw):
    policy = RoutingPolicy.cheapest().retries(2, backoff_base_s=0.02, backoff_max_s=0.1)
    for name, value in policy_kw.items():
        policy = (
            getattr(policy, name)(**value)
            if isinstance(value, dict)
            else getattr(policy, name)(value)
        )
    return Router([target(fp, "a", 1.0), target(fp, "b", 2.0)], policy)


def timed(fn, lag=None):
    """``fn()`` and its wall time; with ``lag``, the process's scheduling lag is sampled."""
    t0 = time.perf_counter()
    if lag is None:
        out = fn()
    else:
        with lag.on_thread():
            out = fn()
    return out, time.perf_counter() - t0


def kinds(decision_or_exc):
    attempts = decision_or_exc.attempts
    return [(a.target, a.error_kind.value if a.error_kind else "ok") for a in attempts]


def test_429_with_retry_after_retries_after_the_gap(fake_provider):
    fake_provider.script("a", [Fault.rate_limited(retry_after=0.3)])
    resp = pair(fake_provider).chat("hi")
    assert resp.decision.target == "a"
    assert fake_provider.count("a") == 2 and fake_provider.count("b") == 0
    assert fake_provider.gaps("a")[0] >= 0.28


def test_429_without_retry_after_backs_off_and_retries(fake_provider, lag):
    fake_provider.script("a", [Fault.rate_limited(), Fault.rate_limited()])
    resp, elapsed = timed(lambda: pair(fake_provider).chat("hi"), lag)
    assert kinds(resp.decision) == [("a", "rate_limited"), ("a", "rate_limited"), ("a", "ok")]
    assert elapsed < 2.0 + lag.margin()


def test_500_once_is_retried(fake_provider):
    fake_provider.script("a", [Fault.server_error()])
    resp = pair(fake_provider).chat("hi")
    assert kinds(resp.decision) == [("a", "overloaded"), ("a", "ok")]
    assert fake_provider.count("a") == 2


def test_503_persistent_falls_back_after_bounded_retries(fake_provider, lag):
    fake_provider.fail("a", Fault.overloaded())
    resp, elapsed = timed(lambda: pair(fake_provider).chat("hi"), lag)
    assert resp.decision.target == "b"
    assert fake_provider.count("a") == 3 and fake_provider.count("b") == 1
    assert elapsed < 2.0 + lag.margin()
    # accounting: only the completion is billed
    assert [a.cost_usd > 0 for a in resp.decision.attempts] == [False, False, False, True]
    assert resp.cost == pytest.approx(resp.decision.attempts[-1].cost_usd)


def test_connection_reset_falls_back_without_retry(fake_provider):
    fake_provider.fail("a", Fault.connection_reset())
    resp = pair(fake_provider).chat("hi")
    assert kinds(resp.decision) == [("a", "connection"), ("b", "ok")]
    assert fake_provider.count("a") == 1


TTFT = 1.0


def fallback_or_lag(outcome, lag):
    """The decision of a call whose first target never sends a first token. The fallback ``b``
    answers in milliseconds, so its own TTFT window can only run out when this process did not
    run (TTFT windows still count the client's lag, issue #12 item 8): accepted only then."""
    if isinstance(outcome, AllTargetsFailed):
        assert kinds(outcome) == [("a", "ttft_timeout"), ("b", "ttft_timeout")]
        assert lag.worst > TTFT / 4, f"b missed its TTFT window on an idle loop: {outcome}"
        return None
    assert kinds(outcome) == [("a", "ttft_timeout"), ("b", "ok")]
    return outcome


def outcome_of(fn):
    try:
        return fn()
    except AllTargetsFailed as exc:
        return exc


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_response_costs_one_ttft_window(fake_provider, mode, lag):
    fake_provider.fail("a", Fault.no_response(delay=30))
    r = pair(fake_provider, timeouts={"ttft": TTFT})

    async def acall():
        async with r:
            return await r.achat("hi")

    call = (lambda: r.chat("hi")) if mode == "sync" else (lambda: asyncio.run(acall()))
    resp, elapsed = timed(lambda: outcome_of(call), lag)
    decision = fallback_or_lag(getattr(resp, "decision", resp), lag)
    assert decision is None or resp.text == "[b] hi"
    assert fake_provider.count("a") == 1  # one TTFT window, not retried
    assert TTFT * 0.9 < elapsed < 2 * TTFT + 1.0 + lag.margin()  # not a full 60 s timeout


async def test_slow_first_token_streaming_falls_back(fake_provider, lag):
    fake_provider.fail("a", Fault.slow_first_token(delay=30))
    r = pair(fake_provider, timeouts={"ttft": TTFT})
    t0 = time.perf_counter()
    chunks = []

    async def consume():
        async for c in r.astream("hello there"):
            chunks.append(c)
        return chunks[-1].decision

    async with r, lag.on_loop():
        try:
            outcome = await consume()
        except AllTargetsFailed as exc:
            outcome = exc
    assert time.perf_counter() - t0 < 2 * TTFT + 1.0 + lag.margin()  # not the 30 s token
    if fallback_or_lag(outcome, lag) is not None:
        assert "".join(c.text for c in chunks) == "[b] hello there"
        assert chunks[-1].decision.target == "b"
    assert fake_provider.count("a") == 1


@pytest.mark.parametrize(
    "fault", [Fault.stream_cut(after_chunks=1), Fault.stream_cut(after_chunks=1, abort=False)]
)
def test_stream_cut_mid_answer_is_never_a_success(fake_provider, fault):
    fake_provider.fail("a", fault)
    r = pair(fake_provider)
    seen = []
    with pytest.raises(StreamInterrupted) as info:
        for c in r.stream("the quick brown fox jumps"):
            seen.append(c.text)
    assert info.value.partial_text == "".join(seen) != ""
    assert fake_provider.count("b") == 0


def test_stream_stall_is_bounded_and_resumes_when_enabled(fake_provider, lag):
    fake_provider.fail("a", Fault.stream_stall(after_chunks=1, delay=30))
    # the stall limit also applies to b's chunks: 1 s, so a busy machine does not stall b
    r = pair(fake_provider, timeouts={"stall": TTFT})
    with pytest.raises(StreamInterrupted):
        list(r.stream("the quick brown fox jumps"))
    resumed = pair(fake_provider, timeouts={"stall": TTFT}, resume_streams=True)
    chunks, elapsed = timed(lambda: list(resumed.stream("the quick brown fox jumps")), lag)
    assert elapsed < 2 * TTFT + 1.0 + lag.margin()  # the 30 s stall was cut at the limit
    d = chunks[-1].decision
    assert d.target == "b" and d.attempts[0].error_kind is ErrorKind.STREAM_STALL
    sent_to_b = fake_provider.attempts_for("b")[-1]
    assert sent_to_b.outcome == "ok"


def test_malformed_chunk_before_any_text_falls_back(fake_provider):
    fake_provider.fail("a", Fault.malformed_chunk(after_chunks=0))
    r = pair(fake_provider, retries=0)
    chunks = list(r.stream("hello"))
    assert "".join(c.text for c in chunks) == "[b] hello"
    assert kinds(chunks[-1].decision) == [("a", "malformed_response"), ("b", "ok")]


def test_malformed_chunk_mid_stream_fails_cleanly_without_garbage(fake_provider):
    fake_provider.fail("a", Fault.malformed_chunk(after_chunks=1))
    r = pair(fake_provider, retries=0)
    seen = []
    with pytest.raises(StreamInterrupted) as info:
        for c in r.stream("the quick brown fox jumps"):
            seen.append(c.text)
    assert all("{" not in s for s in seen)
    assert info.value.__cause__.kind is ErrorKind.MALFORMED_RESPONSE


def test_missing_done_is_finalised_promptly_with_usage(fake_provider, lag):
    fake_provider.fail("a", Fault.missing_done(delay=30))
    r = pair(fake_provider)
    chunks, elapsed = timed(lambda: list(r.stream("hello there")), lag)
    assert "".join(c.text for c in chunks) == "[a] hello there"
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens > 0
    assert elapsed < 2.0 + lag.margin()  # not the 30 s the body stays open


def test_context_length_falls_back_to_a_larger_context_only(fake_provider):
    fake_provider.fail("a", Fault.context_length())
    small_b = target(fake_provider, "b", 2.0, ctx=128_000)
    big = target(fake_provider, "big", 9.0, ctx=1_000_000)
    r = Router([target(fake_provider, "a", 1.0), small_b, big], RoutingPolicy.cheapest())
    resp = r.chat("hi")
    assert resp.decision.target == "big"
    assert fake_provider.count("a") == 1 and fake_provider.count("b") == 0


def test_content_filter_stops_with_the_reason(fake_provider):
    fake_provider.fail("a", Fault.content_filter())
    with pytest.raises(ContentFilterError) as info:
        pair(fake_provider).chat("hi")
    assert fake_provider.count("b") == 0
    assert info.value.provider_message or info.value.message


def test_prefill_rejection_restarts_cleanly(fake_provider):
    fake_provider.fail("a", Fault.stream_cut(after_chunks=1))
    fake_provider.configure("b", reject_prefill=True)
    b = target(fake_provider, "b", 2.0, prefill=True)
    r = Router([target(fake_provider, "a", 1.0), b], RoutingPolicy.cheapest().resume_streams())
    chunks = list(r.stream("the quick brown fox jumps"))
    d = chunks[-1].decision
    assert d.target == "b"
    outcomes = [x.outcome for x in fake_provider.attempts_for("b")]
    assert outcomes[-1] == "ok" and len(outcomes) == 2  # prefill rejected, then clean restart


def test_flapping_primary_is_served_by_the_fallback_and_returned_to(fake_provider, lag):
    # the outage ends when the test says so, not after a wall-clock window a busy machine
    # could sleep through before the first call
    cooldown, threshold, down_calls = 0.3, 2, 12
    fake_provider.flap("a", down_for=60)
    policy = (
        RoutingPolicy.cheapest()
        .retries(0)
        .circuit_breaker(
            failure_threshold=threshold, cooldown_s=cooldown, max_cooldown_s=cooldown
        )
    )
    r = Router([target(fake_provider, "a", 1.0), target(fake_provider, "b", 2.0)], policy)
    t0 = time.monotonic()
    down = [r.chat("hi").decision.target for _ in range(down_calls)]
    down_s = time.monotonic() - t0
    assert down == ["b"] * down_calls
    # the breaker kept traffic off a while it was down: the threshold, then one probe per
    # cooldown at most, however long the calls took
    assert fake_provider.count("a") <= threshold + int(down_s / cooldown) + 1
    fake_provider.flap("a", down_for=0)
    served = []
    with lag.on_thread():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline + lag.margin():
            served.append(r.chat("hi").decision.target)
            if served[-3:] == ["a", "a", "a"]:
                break
            time.sleep(0.05)
    assert served[-3:] == ["a", "a", "a"]


def test_everything_failing_is_one_error_listing_every_attempt(fake_provider):
    fake_provider.fail("a", Fault.overloaded())
    fake_provider.fail("b", Fault.authentication())
    with pytest.raises(AllTargetsFailed) as info:
        pair(fake_provider).chat("hi")
    assert kinds(info.value) == [("a", "overloaded")] * 3 + [("b", "authentication")]
    assert all(a.status_code for a in info.value.attempts)
