"""What sharing state through Redis costs a call: RedisStateStore vs the in-memory store.

Each configuration runs the same calls through a router over three instant in-process targets,
64 at a time on one event loop, so what is measured is the router's own work per call (plan,
breaker, ADAPTIVE's learning) and not a provider's. Goal: p50 added per call under 200 µs with
Redis, thanks to the local mirror (reads are dict lookups; ADAPTIVE's updates are replayed on
Redis from a background thread; circuit writes go through only when a circuit changes).

Redis: ``SMARTROUTE_REDIS_URL``, else a private ``redis-server`` started for the run.

It also prints the requests per second of three processes sharing one rate limit through
Redis (every attempt on the limited target reserves in one Lua call), and checks the limit held:
no more calls reached the limited target, across the three, than the limit allows.

    python benchmarks/bench_redis.py [--calls 6400] [--shared-calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import Iterator

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.redis_store import RedisStateStore
from smartroute_llm.state import StateStore
from smartroute_llm.testing import ScriptedTarget

CONCURRENCY = 64


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    url = os.environ.get("SMARTROUTE_REDIS_URL")
    if url:
        yield url
        return
    from smartroute_llm.testing.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def router(policy: RoutingPolicy, state: StateStore | None) -> Router:
    targets = [
        ScriptedTarget(name, capability=ProviderCapability(
            input_cost_per_1m=price, output_cost_per_1m=price))
        for name, price in (("a", 1.0), ("b", 1.5), ("c", 2.0))
    ]
    return Router(targets, policy, state=state)


async def run(r: Router, calls: int) -> tuple[list[float], float]:
    """Per-call latencies (s) and the wall time of ``calls`` calls, ``CONCURRENCY`` at a time."""
    latencies: list[float] = []
    todo = iter(range(calls))

    async def worker() -> None:
        for _ in todo:
            t0 = time.perf_counter()
            await r.achat("summarise the design of a distributed cache in two lines")
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies, time.perf_counter() - t0


def measure(r: Router, calls: int) -> tuple[float, float]:
    """(p50 latency, CPU time per call, every thread of the process counted), both in µs.
    CPU time, not wall time: on a shared machine it is what stays comparable between runs."""
    cpu0 = time.process_time()
    lat, _wall = asyncio.run(run(r, calls))
    return statistics.median(lat) * 1e6, (time.process_time() - cpu0) / calls * 1e6


def limited_worker(url: str, name: str, rpm: int, calls: int, out: multiprocessing.Queue) -> None:
    """One process: its own router on the shared store, ``a`` limited to ``rpm``, ``b`` the
    fallback; reports (calls answered by a, wall seconds)."""
    store = RedisStateStore.from_url(url, router=name)
    policy = RoutingPolicy.cheapest().rate_limit("a", rpm=rpm)
    r = router(policy, store)
    asyncio.run(run(r, 50))  # warm-up (counts against the limit too)
    _lat, wall = asyncio.run(run(r, calls))
    a = next(t for t in r.targets if t.name == "a")
    out.put((len(a.calls), wall))  # type: ignore[attr-defined]
    store.close()


def shared_limit(url: str, calls: int, rpm: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    name = "bench-limit-" + uuid.uuid4().hex[:8]
    procs = [ctx.Process(target=limited_worker, args=(url, name, rpm, calls, out))
             for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    to_a = sum(n for n, _ in results)
    rate = sum(calls / wall for _, wall in results)
    print(f"3 processes sharing rpm={rpm} on target a (fallback b), {calls} calls each, "
          f"concurrency {CONCURRENCY}: {rate:,.0f} calls/s together; "
          f"{to_a} reached a (limit {rpm}: {'held' if to_a <= rpm else 'EXCEEDED'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=6400)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians shown")
    ap.add_argument("--shared-calls", type=int, default=3000, help="per process, shared limit")
    ap.add_argument("--rpm", type=int, default=1000)
    args = ap.parse_args()
    policies = {
        "cheapest": RoutingPolicy.cheapest(),
        "adaptive": RoutingPolicy.adaptive_(),
    }
    print(f"{args.calls} calls x {args.rounds} rounds, concurrency {CONCURRENCY}, "
          "three instant targets")
    print(f"{'policy':<10}{'store':<8}{'p50 µs':>10}{'cpu µs/call':>13}{'added p50':>11}"
          f"{'added cpu':>11}")
    worst = 0.0
    with redis_url() as url:
        for name, policy in policies.items():
            mem = router(policy, None)
            store = RedisStateStore.from_url(url, router="bench" + uuid.uuid4().hex[:8])
            shared = router(policy, store)
            try:
                for r in (mem, shared):
                    asyncio.run(run(r, 500))  # warm-up
                rounds = [(measure(mem, args.calls), measure(shared, args.calls))
                          for _ in range(args.rounds)]
                queued = store.flush(30)
            finally:
                store.close()
            p50_m = statistics.median(m[0] for m, _ in rounds)
            cpu_m = statistics.median(m[1] for m, _ in rounds)
            p50_r = statistics.median(r[0] for _, r in rounds)
            cpu_r = statistics.median(r[1] for _, r in rounds)
            worst = max(worst, p50_r - p50_m)
            print(f"{name:<10}{'memory':<8}{p50_m:>10.0f}{cpu_m:>13.1f}")
            print(f"{name:<10}{'redis':<8}{p50_r:>10.0f}{cpu_r:>13.1f}{p50_r - p50_m:>11.0f}"
                  f"{cpu_r - cpu_m:>11.1f}" + ("" if queued else "  (updates still queued)"))
    print()
    print("p50: one call's latency with 63 others on the same loop; cpu: the process's CPU time "
          "per call, background threads included.")
    print(f"p50 added per call with Redis: {worst:.0f} µs (goal < 200 µs)")
    print()
    with redis_url() as url:
        shared_limit(url, args.shared_calls, args.rpm)


if __name__ == "__main__":
    main()
