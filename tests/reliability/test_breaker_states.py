"""Circuit breaker states as documented: escalation per failed probe (capped, never raising),
open and half-open under concurrency, the all-open policy, and the state-store contract."""

import asyncio
import logging
import time

import pytest

from smartroute_llm import (
    CircuitBreakerConfig,
    CircuitOpenError,
    ErrorKind,
    InMemoryStateStore,
    ProviderCapability,
    Router,
    RoutingPolicy,
)
from smartroute_llm.breaker import NS, cooldown_for
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing import FakeClock, ScriptedTarget
from smartroute_llm.testing.fake_provider import Fault


def cap(price):
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)


def http_target(fp, model, price):
    return OpenAICompatible(model, base_url=fp.base_url, api_key="sk-test", capability=cap(price))


def test_cooldown_arithmetic_never_raises_and_is_capped():
    cfg = CircuitBreakerConfig(cooldown_s=30, max_cooldown_s=300)
    assert [cooldown_for(cfg, n) for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 240, 300]
    for opens in (1_024, 10**6, 10**100):
        assert cooldown_for(cfg, opens) == 300


def test_a_target_always_failing_never_crashes_calls_and_its_cooldown_stays_capped():
    """Today's symptom: from ~call 342 every call raised OverflowError (2**1024)."""
    clock = FakeClock()
    a = ScriptedTarget("a", cap(1.0), script=ErrorKind.OVERLOADED, clock=clock)
    b = ScriptedTarget("b", cap(2.0), script="from b", clock=clock)
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(
        failure_threshold=3, cooldown_s=1.0, max_cooldown_s=8.0
    )
    r = Router([a, b], policy, clock=clock)
    for i in range(1_100):
        assert r.chat(f"q{i}").text == "from b"
        clock.advance(3.0)
    rec = r.state.get(NS, "a")
    assert rec["state"] == "open"
    assert rec["until"] - clock() <= 8.0
    # one request per probe: after the 3 failures that opened it, one probe per capped cooldown
    # (8 s, reached after 3 s steps: the first call at least 8 s later, every third call)
    probes = len(a.calls) - 3
    assert 1_100 / 3 - 10 <= probes <= 1_100 / 3 + 10


async def test_a_burst_of_concurrent_failures_opens_once_with_the_base_cooldown(fake_provider):
    fp = fake_provider
    fp.configure("a", fault=Fault.overloaded(503), latency=0.05)
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(
        failure_threshold=5, cooldown_s=30, max_cooldown_s=300
    )
    async with Router([http_target(fp, "a", 1.0), http_target(fp, "b", 2.0)], policy) as r:
        answers = await asyncio.gather(*(r.achat(f"burst {i}") for i in range(100)))
        assert all(x.decision.target == "b" for x in answers)
        rec = r.state.get(NS, "a")
        assert rec["opens"] == 1
        assert 25 <= rec["until"] - time.time() <= 30


async def test_open_sends_nothing_and_half_open_sends_exactly_one_probe(fake_provider):
    fp = fake_provider
    fp.configure("a", fault=Fault.overloaded(503))
    policy = RoutingPolicy.cheapest().retries(0)
    policy = policy.circuit_breaker(failure_threshold=2, cooldown_s=0.5)
    async with Router([http_target(fp, "a", 1.0)], policy) as r:
        for _ in range(2):
            with pytest.raises(Exception):  # noqa: B017 - opens the circuit
                await r.achat("x")
        assert fp.count("a") == 2
        calls = (r.achat(f"o{i}") for i in range(50))
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(x, CircuitOpenError) for x in results)
        assert all(0 < x.retry_after_s <= 0.5 for x in results)
        assert fp.count("a") == 2  # open: nothing went upstream
        await asyncio.sleep(0.6)
        fp.clear_fault("a")
        fp.configure("a", latency=0.3)
        calls = (r.achat(f"h{i}") for i in range(50))
        results = await asyncio.gather(*calls, return_exceptions=True)
        answered = [x for x in results if not isinstance(x, BaseException)]
        refused = [x for x in results if isinstance(x, CircuitOpenError)]
        assert (len(answered), len(refused)) == (1, 49), [
            x for x in results if not isinstance(x, CircuitOpenError)
        ][:2]  # half-open: one probe, the rest fail fast
        assert fp.count("a") == 3
        assert r.breakers.state("a") == "closed"
        await r.achat("after")  # closed again: calls flow
        assert fp.count("a") == 4


def test_wait_policy_waits_for_the_earliest_recovery_within_the_deadline():
    a = ScriptedTarget("a", cap(1.0), script=[ErrorKind.OVERLOADED, "a is back"])
    base = RoutingPolicy.cheapest().retries(0)
    waiting = base.circuit_breaker(failure_threshold=1, cooldown_s=0.3, when_all_open="wait")
    r = Router([a], waiting.deadline(5.0))
    with pytest.raises(Exception):  # noqa: B017
        r.chat("x")
    t0 = time.perf_counter()
    resp = r.chat("y")
    assert resp.text == "a is back"
    assert 0.2 <= time.perf_counter() - t0 < 3.0
    assert resp.decision.latency_s >= 0.2  # the wait is part of the call
    # a deadline shorter than the cooldown: fail fast rather than wait in vain
    a2 = ScriptedTarget("a", cap(1.0), script=[ErrorKind.OVERLOADED, "a is back"])
    short = base.circuit_breaker(failure_threshold=1, cooldown_s=30, when_all_open="wait")
    r2 = Router([a2], short.deadline(1.0))
    with pytest.raises(Exception):  # noqa: B017
        r2.chat("x")
    t0 = time.perf_counter()
    with pytest.raises(CircuitOpenError):
        r2.chat("y")
    assert time.perf_counter() - t0 < 0.5


class BrokenStore(InMemoryStateStore):
    """A shared store that is down: every method raises."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _fail(self, *args, **kwargs):
        self.calls += 1
        raise ConnectionError("store unreachable")

    get = put = update = items = delete = revision = _fail


class Unwrapped:
    """A store that is not an InMemoryStateStore (so the router guards it)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_failing_store_degrades_to_local_state_and_never_fails_a_call(caplog):
    store = Unwrapped(BrokenStore())
    learning = Router(
        [ScriptedTarget("a", cap(1.0)), ScriptedTarget("b", cap(2.0))],
        RoutingPolicy.adaptive_(), state=Unwrapped(BrokenStore()),
    )
    assert all(learning.chat(f"l{i}").text for i in range(20))  # learning on local state
    a = ScriptedTarget("a", cap(1.0), script=ErrorKind.OVERLOADED)
    b = ScriptedTarget("b", cap(2.0), script="from b")
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(failure_threshold=2)
    r = Router([a, b], policy, state=store)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="smartroute"):
        for i in range(10):
            assert r.chat(f"q{i}").text == "from b"
    assert store.inner.calls >= 1
    warnings = [m for m in caplog.messages if "state store" in m and "failed" in m]
    assert len(warnings) == 1  # once per outage, not per call
    assert r.breakers.state("a") == "open"  # the breaker still works, on local state
    assert len(a.calls) == 2


def test_routers_sharing_a_store_share_open_circuits_in_wall_clock_time():
    store = InMemoryStateStore()
    a1 = ScriptedTarget("a", cap(1.0), script=ErrorKind.OVERLOADED)
    a2 = ScriptedTarget("a", cap(1.0), script="a from router 2")
    policy = RoutingPolicy.cheapest().retries(0).circuit_breaker(failure_threshold=2, cooldown_s=30)
    r1 = Router([a1, ScriptedTarget("b", cap(2.0), script="b1")], policy, state=store)
    r2 = Router([a2, ScriptedTarget("b", cap(2.0), script="b2")], policy, state=store)
    assert r2.chat("warm").text == "a from router 2"
    for _ in range(2):
        assert r1.chat("x").text == "b1"
    rec = store.get(NS, "a")
    assert abs(rec["until"] - (time.time() + 30)) < 5  # wall clock, meaningful elsewhere
    plan = r2.plan("y")
    assert [c.name for c in plan.candidates] == ["b"]
    assert {e.target: e.reason for e in plan.excluded}["a"].startswith("circuit open")
    assert r2.chat("y").text == "b2"
    assert len(a2.calls) == 1
