"""Limits on a real Redis: the Lua reservation is atomic, and N processes, each with its own
router, share one limit exactly (counted at the FakeProvider)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Any

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import BudgetExceeded
from smartroute_llm.limits.counters import BudgetItem, RateItem
from smartroute_llm.limits.redis_counters import RedisCounters
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing import FakeProvider
from tests.limits.conftest import RedisBacked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

WORKERS = 3


def test_reservation_is_atomic_across_threads(redis_url: str, prefix: str) -> None:
    import redis

    counters = RedisCounters(redis.Redis.from_url(redis_url), prefix)
    granted: list[int] = []

    def hammer() -> None:
        for _ in range(40):
            if counters.reserve([RateItem("rl:x", 60_000, 50, 0, 10)]).ok:
                granted.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == 50  # 240 tries, exactly the limit granted
    refused = counters.reserve([RateItem("rl:x", 60_000, 50, 0, 10)])
    assert not refused.ok and 55 <= refused.frees_in_s <= 62
    # all or nothing: a budget that fits is not charged when the rate item refuses
    both = counters.reserve(
        [BudgetItem("bg:b", 1.0, 0.4, 60_000), RateItem("rl:x", 60_000, 50, 0, 1)]
    )
    assert not both.ok and both.failed == 1
    assert counters.reserve([BudgetItem("bg:b", 1.0, 0.9, 60_000)]).ok  # 0.4 was not kept
    ttl = counters.client.pttl(prefix + "rl:x")
    assert 0 < ttl <= 62_000  # everything expires


def _router(base_url: str, redis_url: str, key_prefix: str, policy: RoutingPolicy) -> Router:
    cheap = ProviderCapability(input_cost_per_1m=100.0, output_cost_per_1m=100.0)
    spare = ProviderCapability(input_cost_per_1m=200.0, output_cost_per_1m=200.0)
    targets = [
        OpenAICompatible("limited", base_url=base_url, api_key="sk-test", capability=cheap),
        OpenAICompatible("spare", base_url=base_url, api_key="sk-test", capability=spare),
    ]
    return Router(targets, policy, state=RedisBacked(redis_url, key_prefix))


def _run_workers(fn: Any, *args: Any) -> list[Any]:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def child(i: int) -> None:
        try:
            results.put((i, fn(i, *args)))
        except BaseException as exc:  # report, never hang the parent
            results.put((i, repr(exc)))

    procs = [ctx.Process(target=child, args=(i,)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        got = dict(results.get(timeout=180) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    return [got[i] for i in range(WORKERS)]


def _rate_worker(i: int, base_url: str, redis_url: str, key_prefix: str, calls: int) -> Any:
    policy = RoutingPolicy.cheapest().rate_limit("limited", rpm=RPM)
    router = _router(base_url, redis_url, key_prefix, policy)
    served: dict[str, int] = {}
    round_trips: list[float] = []
    real = router.limiter.reserve

    def timed(*a: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real(*a)
        finally:
            round_trips.append(time.perf_counter() - t0)

    router.limiter.reserve = timed  # type: ignore[method-assign]
    for j in range(calls):
        resp = router.chat(f"w{i} call {j}", max_output_tokens=16)
        served[resp.decision.target] = served.get(resp.decision.target, 0) + 1
    router.close()
    round_trips.sort()
    return served, round_trips[len(round_trips) // 2]


RPM = 60


def test_rate_limit_shared_exactly_by_three_processes(
    fake_provider: FakeProvider, redis_url: str, prefix: str
) -> None:
    calls = 40  # per worker: 120 in all, twice the limit
    out = _run_workers(_rate_worker, fake_provider.base_url, redis_url, prefix, calls)
    assert all(isinstance(o, tuple) for o in out), out
    limited = fake_provider.count("limited")
    # counted at the server: within 5% of the limit and never over it
    assert RPM * 0.95 <= limited <= RPM, (limited, out)
    assert limited + fake_provider.count("spare") == WORKERS * calls  # every call answered once
    assert sum(o[0].get("limited", 0) for o in out) == limited
    p50_reserve = sorted(o[1] for o in out)[1]
    print(f"\n{limited} of {WORKERS * calls} calls on the limited target (rpm={RPM})")
    print(f"reserve p50 per attempt (Redis, one round trip): {p50_reserve * 1e6:.0f} us")


def _budget_worker(i: int, base_url: str, redis_url: str, key_prefix: str) -> Any:
    policy = RoutingPolicy.cheapest().deny(["spare"]).budget(BUDGET, "1d", per="team")
    router = _router(base_url, redis_url, key_prefix, policy)
    spent = 0.0
    biggest = 0.0
    for j in range(2000):
        try:
            resp = router.chat(f"w{i} call {j} " + "x" * 200, max_output_tokens=50,
                               tags={"team": "shared"})
        except BudgetExceeded as exc:
            router.close()
            return spent, biggest, exc.budget, exc.key, exc.resets_in_s
        spent += resp.cost
        biggest = max(biggest, resp.cost)
    router.close()
    return spent, biggest, None, None, None


BUDGET = 0.2


def test_shared_budget_stops_every_process_within_one_call(
    fake_provider: FakeProvider, redis_url: str, prefix: str
) -> None:
    out = _run_workers(_budget_worker, fake_provider.base_url, redis_url, prefix)
    assert all(isinstance(o, tuple) for o in out), out
    assert all(o[2] == "per-team" and o[3] == "team=shared" for o in out), out  # all stopped
    total = sum(o[0] for o in out)
    one_call = max(o[1] for o in out)
    # never over the budget, and stopped within one call's (estimated) cost of it
    est = (60 + 50) * 100 / 1e6 * 2  # generous: prompt ~60 tokens + 50 output, at $100/1M
    assert total <= BUDGET + 1e-9, total
    assert BUDGET - total <= max(one_call, est), (total, one_call)
    assert fake_provider.count("spare") == 0
    print(f"\nshared budget ${BUDGET}: {WORKERS} processes spent ${total:.5f}")
    print(f"one call ${one_call:.5f}")


def test_redis_down_never_fails_a_call_and_limits_hold_per_process(
    redis_server: Any, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from smartroute_llm.testing import ScriptedTarget

    targets = [ScriptedTarget("a"), ScriptedTarget("b")]
    policy = RoutingPolicy.cheapest().rate_limit("a", rpm=5).rate_limit("b", rpm=1000)
    store = RedisBacked(redis_server.url, prefix)
    store.redis_client = store.redis_client.__class__.from_url(
        redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    router = Router(targets, policy, state=store)
    first = router.plan("x").first.name
    for i in range(3):
        assert router.chat(f"up {i}").text
    redis_server.kill()
    with caplog.at_level("WARNING", logger="smartroute"):
        served = [router.chat(f"down {i}").decision.target for i in range(10)]
    # counted locally while Redis is away: the limit still holds in this process
    assert served.count(first) <= 5 and len(served) == 10
    assert sum("shared counters failed" in r.getMessage() for r in caplog.records) == 1
