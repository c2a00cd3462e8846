"""Tail latency with and without hedging, against loopback providers with a heavy tail.

Two equivalent models on the FakeProvider answer in 40 ms, except 5% of calls which take 10x
longer (400 ms). Baseline: plain fallback routing (no hedging). Hedged: ``race(top_k=2,
hedge_after="p90")`` — the second model starts when the first is slower than its learned p90.
Target: p99 cut by at least 40% for at most 15% extra attempts.

    .venv/bin/python benchmarks/bench_hedging.py [--requests 1000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing.fake_provider import FakeProvider

FAST, SLOW, SLOW_SHARE = 0.040, 0.400, 0.05


def tail(rng: random.Random):
    return lambda: SLOW if rng.random() < SLOW_SHARE else FAST


def quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(
    fp: FakeProvider, policy: RoutingPolicy, n: int, concurrency: int
) -> dict[str, float]:
    cap = ProviderCapability(input_cost_per_1m=1, output_cost_per_1m=1)
    targets = [
        OpenAICompatible(m, base_url=fp.base_url, api_key="sk-bench", capability=cap)
        for m in ("model-a", "model-b")
    ]
    latencies: list[float] = []
    attempts = 0
    async with Router(targets, policy) as router:
        # warm-up: the hedge percentile is learned from observed latencies
        for _ in range(40):
            await router.achat("warm up")
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            nonlocal attempts
            async with sem:
                t0 = time.perf_counter()
                resp = await router.achat(f"request {i}")
                latencies.append(time.perf_counter() - t0)
                attempts += len(resp.decision.attempts)

        await asyncio.gather(*(one(i) for i in range(n)))
    return {
        "p50": statistics.median(latencies),
        "p99": quantile(latencies, 0.99),
        "mean": statistics.fmean(latencies),
        "extra": attempts / n - 1.0,
    }


async def main_async(n: int, concurrency: int) -> None:
    rng = random.Random(42)
    with FakeProvider(record=False) as fp:
        fp.configure("*", latency=tail(rng))
        base_policy = RoutingPolicy.round_robin().retries(0)
        plain = await run(fp, base_policy, n, concurrency)
        hedged = await run(fp, base_policy.race(top_k=2, hedge_after="p90"), n, concurrency)
    print(
        f"{n} requests, concurrency {concurrency}; {SLOW_SHARE:.0%} of calls take "
        f"{SLOW * 1000:.0f} ms instead of {FAST * 1000:.0f} ms"
    )
    print(f"{'':<22}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'extra attempts':>16}")
    for name, r in (("no hedging", plain), ("race(2, 'p90')", hedged)):
        print(
            f"{name:<22}{r['p50'] * 1000:>9.1f}{r['p99'] * 1000:>9.1f}{r['mean'] * 1000:>9.1f}"
            f"{r['extra']:>15.1%}"
        )
    cut = 1 - hedged["p99"] / plain["p99"]
    print(
        f"\np99 cut: {cut:.0%} (target >= 40%), extra attempts: {hedged['extra']:.1%} "
        f"(target <= 15%)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    asyncio.run(main_async(args.requests, args.concurrency))


if __name__ == "__main__":
    main()
