"""SmartRouterChatModel overhead: ``ainvoke`` routed to a ``ChatOpenAI`` against calling that
``ChatOpenAI`` directly, both over the loopback FakeProvider with zero latency.

Target: at most 10% more CPU per call. CPU is the calling thread's (``time.thread_time``), so the
fake server's own work, which runs on another thread, is excluded from both sides.

    python benchmarks/bench_langchain.py               # 2,000 calls per side
    python benchmarks/bench_langchain.py --calls 500
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from langchain_openai import ChatOpenAI

from langchain_smartroute import SmartRouterChatModel
from smartroute_llm import RoutingPolicy
from smartroute_llm.testing.fake_provider import FakeProvider


async def measure(call: Callable[[], Awaitable[object]], calls: int, rounds: int) -> list[float]:
    """CPU seconds per call, one figure per round (after a warm-up)."""
    for _ in range(50):
        await call()
    per_call = []
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(calls // rounds):
            await call()
        per_call.append((time.thread_time() - t0) / (calls // rounds))
    return per_call


async def main(calls: int, rounds: int) -> None:
    with FakeProvider(record=False) as server:
        chat = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-fake",
                          max_retries=0)
        routed = SmartRouterChatModel(candidates=[chat], policy=RoutingPolicy.balanced())
        direct_msg = await chat.ainvoke("hello")
        routed_msg = await routed.ainvoke("hello")
        assert routed_msg.text == direct_msg.text, (routed_msg.text, direct_msg.text)
        assert routed_msg.response_metadata["smartroute"]["target"] == "gpt-4o-mini"
        # interleave the sides so drift on a shared machine hits both alike
        direct: list[float] = []
        router: list[float] = []
        for _ in range(rounds):
            direct += await measure(lambda: chat.ainvoke("hello"), calls // rounds, 1)
            router += await measure(lambda: routed.ainvoke("hello"), calls // rounds, 1)
    d, r = statistics.median(direct), statistics.median(router)
    print(f"calls per side: {calls} in {rounds} rounds (median of rounds)")
    print(f"{'':24}{'CPU µs/call':>14}")
    print(f"{'ChatOpenAI direct':24}{d * 1e6:14.1f}")
    print(f"{'SmartRouterChatModel':24}{r * 1e6:14.1f}")
    print(f"overhead: {(r - d) * 1e6:+.1f} µs/call, ratio {r / d:.3f} (target <= 1.10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
