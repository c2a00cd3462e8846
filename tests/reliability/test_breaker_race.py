"""Circuit breakers (with a fake clock) and hedged racing (real time, small delays)."""

import asyncio
import time

import pytest

from smartroute_llm import (
    AllTargetsFailed,
    CircuitOpenError,
    ErrorKind,
    ProviderCapability,
    Router,
    RoutingPolicy,
)
from smartroute_llm.testing import FakeClock, ScriptedTarget


def cap(price):
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)


def breaker_router(a_script, clock, **breaker):
    a = ScriptedTarget("a", cap(1.0), script=a_script, clock=clock)
    b = ScriptedTarget("b", cap(2.0), script="from b", clock=clock)
    cfg = {"failure_threshold": 3, "cooldown_s": 10.0, **breaker}
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(**cfg)
    return Router([a, b], policy, clock=clock), a, b


def test_breaker_opens_after_consecutive_failures_and_plan_names_it():
    clock = FakeClock()
    r, a, _ = breaker_router(ErrorKind.OVERLOADED, clock)
    for _ in range(3):
        assert r.chat("hi").text == "from b"
    plan = r.plan("hi")
    assert [c.name for c in plan.candidates] == ["b"]
    reason = {e.target: e.reason for e in plan.excluded}["a"]
    assert reason.startswith("circuit open")
    resp = r.chat("hi")
    assert any(e.target == "a" and "circuit open" in e.reason for e in resp.decision.excluded)
    assert len(a.calls) == 3  # skipped while open


def test_half_open_single_probe_closes_on_success():
    clock = FakeClock()
    r, a, _ = breaker_router(ErrorKind.OVERLOADED, clock)
    for _ in range(3):
        r.chat("hi")
    clock.advance(10.5)
    a.set_script("a is back")
    assert r.chat("hi").text == "a is back"  # the probe
    assert r.chat("hi").text == "a is back"  # closed again
    assert r.executor.breakers.state("a") == "closed"


def test_failed_probe_reopens_with_a_longer_cooldown():
    clock = FakeClock()
    r, a, _ = breaker_router(ErrorKind.OVERLOADED, clock)
    for _ in range(3):
        r.chat("hi")
    clock.advance(10.5)
    assert r.chat("hi").text == "from b"  # probe to a failed, fell back
    assert len(a.calls) == 4
    clock.advance(15)  # second cooldown is 20 s
    r.chat("hi")
    assert len(a.calls) == 4
    clock.advance(6)
    r.chat("hi")
    assert len(a.calls) == 5


def test_failure_rate_over_window_opens():
    clock = FakeClock()
    flaky = [ErrorKind.OVERLOADED, "ok"] * 10
    r, _, _ = breaker_router(
        flaky, clock, failure_threshold=50, window=10, min_calls=6, failure_rate=0.5
    )
    for _ in range(6):
        r.chat("hi")
    assert r.executor.breakers.state("a") == "closed"  # 3 of 6: below min_calls + 1
    r.chat("hi")  # 4 failures in 7 calls
    assert r.executor.breakers.state("a") == "open"


def test_authentication_error_opens_at_once():
    clock = FakeClock()
    r, _, _ = breaker_router(ErrorKind.AUTHENTICATION, clock)
    assert r.chat("hi").text == "from b"
    assert r.executor.breakers.state("a") == "open"


def test_when_every_target_is_open_the_call_fails_fast_with_the_earliest_retry_time():
    clock = FakeClock()
    a = ScriptedTarget("a", cap(1.0), script=ErrorKind.OVERLOADED, clock=clock)
    b = ScriptedTarget("b", cap(2.0), script=ErrorKind.OVERLOADED, clock=clock)
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(failure_threshold=1, cooldown_s=60)
    r = Router([a, b], policy, clock=clock)
    with pytest.raises(AllTargetsFailed):
        r.chat("hi")
    clock.advance(1)
    with pytest.raises(CircuitOpenError) as info:
        r.chat("hi")
    assert info.value.retry_after_s == pytest.approx(59.0)
    assert "a: circuit open" in str(info.value) and "b: circuit open" in str(info.value)
    assert (len(a.calls), len(b.calls)) == (1, 1)  # nothing was sent
    clock.advance(60)
    a.set_script("a recovered")
    assert r.chat("hi").text == "a recovered"  # the half-open probe


def race_pair(slow_latency=1.0, fast_latency=0.05):
    slow = ScriptedTarget(
        "slow", cap(1.0), script="slow answer", latency=slow_latency, ttft=slow_latency
    )
    fast = ScriptedTarget("fast", cap(2.0), script="fast answer", latency=fast_latency)
    return slow, fast


@pytest.mark.parametrize("mode", ["sync", "async", "sync-stream", "async-stream"])
def test_hedge_wins_and_loser_is_cancelled_and_counted(mode):
    slow, fast = race_pair()
    r = Router([slow, fast], RoutingPolicy.cheapest().race(top_k=2, hedge_after=0.1))
    t0 = time.perf_counter()
    if mode == "sync":
        resp = r.chat("hi")
        text, d = resp.text, resp.decision
    elif mode == "async":
        resp = asyncio.run(r.achat("hi"))
        text, d = resp.text, resp.decision
    elif mode == "sync-stream":
        chunks = list(r.stream("hi"))
        text, d = "".join(c.text for c in chunks), chunks[-1].decision
    else:

        async def run():
            return [c async for c in r.astream("hi")]

        chunks = asyncio.run(run())
        text, d = "".join(c.text for c in chunks), chunks[-1].decision
    assert time.perf_counter() - t0 < 0.8
    assert text == "fast answer" and d.target == "fast"
    by = {a.target: a for a in d.attempts}
    assert by["slow"].cancelled and not by["slow"].ok
    assert by["fast"].hedge and by["fast"].ok
    assert by["slow"].cost_usd > 0  # its prompt was sent
    assert d.cost_usd == pytest.approx(by["slow"].cost_usd + by["fast"].cost_usd)


async def test_no_hedge_when_the_first_answers_in_time():
    slow, fast = race_pair(slow_latency=0.02)
    r = Router([slow, fast], RoutingPolicy.cheapest().race(top_k=2, hedge_after=0.5))
    resp = await r.achat("hi")
    assert resp.text == "slow answer" and len(resp.decision.attempts) == 1
    assert len(fast.calls) == 0


async def test_a_failing_racer_is_replaced_by_the_next_candidate():
    bad = ScriptedTarget("bad", cap(1.0), script=ErrorKind.OVERLOADED)
    good = ScriptedTarget("good", cap(2.0), script="good")
    r = Router([bad, good], RoutingPolicy.cheapest().retries(0).race(top_k=2, hedge_after=5.0))
    t0 = time.perf_counter()
    resp = await r.achat("hi")
    assert resp.text == "good" and time.perf_counter() - t0 < 1.0


async def test_race_inside_a_running_loop_never_blocks_it():
    slow, fast = race_pair()
    r = Router([slow, fast], RoutingPolicy.cheapest().race(top_k=2, hedge_after=0.1))
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    await r.achat("hi")
    t.cancel()
    assert ticks >= 5
