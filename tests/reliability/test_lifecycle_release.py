"""Every way out of an attempt releases what it holds, exactly once: the breaker's probe slot
and the in-flight count (issue #12 items 2 and 3). Targets are scripted; the breaker runs on a
fake clock so "after the cooldown" is exact, while the calls themselves wait in real time."""

import asyncio
import threading
import time

import pytest

from smartroute_llm import ErrorKind, ProviderCapability, Router, RoutingPolicy
from smartroute_llm.testing import FakeClock, ScriptedTarget


def cap(price):
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)


def half_open_router(policy=None):
    """Target ``a`` (cheapest) opened by three failures, then past its cooldown: the next call
    to it is the half-open probe, which answers slowly (chunks 0.5 s apart)."""
    clock = FakeClock()
    a = ScriptedTarget("a", cap(1.0), script=ErrorKind.OVERLOADED)
    b = ScriptedTarget("b", cap(2.0), script="from b")
    policy = policy or RoutingPolicy.cheapest()
    policy = policy.retries(0).circuit_breaker(failure_threshold=3, cooldown_s=10.0)
    r = Router([a, b], policy, clock=clock)
    for _ in range(3):
        assert r.chat("hi").text == "from b"
    assert r.executor.breakers.state("a") == "open"
    clock.advance(10.5)
    a.set_script("a is back with a long answer")
    a.latency, a.ttft, a.chunk_chars = 3.0, 0.0, 4
    return r, a, clock


def assert_admitted_again(r, a):
    """The probe slot is free: the next call goes to ``a`` (not excluded, not skipped)."""
    assert "a" not in r.executor.breakers.blocked()
    a.latency = 0.0
    resp = r.chat("hi")
    assert resp.decision.target == "a", resp.decision.attempts
    assert r.executor.breakers.state("a") == "closed"
    assert r.feedback.inflight("a") == 0 and r.feedback.inflight("b") == 0


async def wait_for_calls(target, n, limit=5.0):
    t0 = time.monotonic()
    while len(target.calls) < n:
        assert time.monotonic() - t0 < limit, "the probe never started"
        await asyncio.sleep(0.01)


async def test_task_cancel_of_a_half_open_probe_frees_the_slot():
    r, a, _ = half_open_router()
    task = asyncio.ensure_future(r.achat("hi"))
    await wait_for_calls(a, 4)
    assert r.feedback.inflight("a") == 1
    assert "probe in flight" in r.executor.breakers.blocked()["a"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert r.feedback.inflight("a") == 0
    assert_admitted_again(r, a)


async def test_asyncio_timeout_around_a_half_open_probe_frees_the_slot():
    r, a, _ = half_open_router()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await r.achat("hi")
    assert len(a.calls) == 4
    assert_admitted_again(r, a)


async def test_closing_an_async_stream_mid_probe_frees_the_slot():
    r, a, _ = half_open_router()
    gen = r.astream("hi")
    async for chunk in gen:
        if chunk.text:
            break
    await gen.aclose()
    assert_admitted_again(r, a)


@pytest.mark.parametrize("guarded", [False, True], ids=["plain", "ttft-limit"])
def test_breaking_out_of_a_sync_stream_mid_probe_frees_the_slot(guarded):
    policy = RoutingPolicy.cheapest()
    if guarded:
        policy = policy.timeouts(ttft=5.0)  # read on a worker thread
    r, a, _ = half_open_router(policy)
    for chunk in r.stream("hi"):
        if chunk.text:
            break  # the generator is dropped here and closed
    assert_admitted_again(r, a)


def test_keyboard_interrupt_during_a_half_open_probe_frees_the_slot():
    r, a, _ = half_open_router()

    def interrupted(request):
        raise KeyboardInterrupt

    a.set_script(interrupted)
    with pytest.raises(KeyboardInterrupt):
        r.chat("hi")
    a.set_script("a is back")
    assert_admitted_again(r, a)


async def test_300_cancelled_calls_leave_no_in_flight_count():
    slow = ScriptedTarget("slow", cap(1.0), script="late", latency=5.0)
    r = Router([slow], RoutingPolicy.cheapest())
    tasks = [asyncio.ensure_future(r.achat("hi")) for _ in range(150)]
    streams = [r.astream("hi") for _ in range(150)]
    stream_tasks = [asyncio.ensure_future(s.__anext__()) for s in streams]
    await wait_for_calls(slow, 300)
    assert r.feedback.inflight("slow") == 300
    for t in tasks + stream_tasks:
        t.cancel()
    await asyncio.gather(*tasks, *stream_tasks, return_exceptions=True)
    for s in streams:
        await s.aclose()
    assert r.feedback.inflight("slow") == 0
    assert r.stats()["targets"]["slow"]["inflight"] == 0
    assert r.executor.breakers.state("slow") == "closed"  # cancellation is no failure


def test_a_hedge_loser_releases_its_slot_and_in_flight_count():
    slow = ScriptedTarget("slow", cap(1.0), script="slow", latency=1.0, ttft=1.0)
    fast = ScriptedTarget("fast", cap(2.0), script="fast", latency=0.05)
    r = Router([slow, fast], RoutingPolicy.cheapest().race(top_k=2, hedge_after=0.1))
    for _ in range(3):
        assert r.chat("hi").text == "fast"
        assert asyncio.run(r.achat("hi")).text == "fast"
    assert r.feedback.inflight("slow") == 0 and r.feedback.inflight("fast") == 0


def test_every_attempt_ends_exactly_once_on_the_breaker():
    """Count the breaker calls: one verdict or one release per admitted attempt."""
    slow = ScriptedTarget("slow", cap(1.0), script="slow", latency=0.5, ttft=0.5)
    bad = ScriptedTarget("bad", cap(1.5), script=ErrorKind.OVERLOADED)
    fast = ScriptedTarget("fast", cap(2.0), script="fast", latency=0.05)
    r = Router([slow, bad, fast], RoutingPolicy.cheapest().race(top_k=3, hedge_after=0.05))
    br = r.executor.breakers
    counts = {"admit": 0, "end": 0}
    lock = threading.Lock()

    def counting(fn, key):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            if key == "end" or out is not False:
                with lock:
                    counts[key] += 1
            return out

        return wrapped

    br.acquire = counting(br.acquire, "admit")
    for name in ("record_success", "record_failure", "release"):
        setattr(br, name, counting(getattr(br, name), "end"))
    for _ in range(3):
        assert r.chat("hi").text == "fast"
        assert asyncio.run(r.achat("hi")).text == "fast"
    assert counts["admit"] >= 12
    assert counts["admit"] == counts["end"]
