"""HTTP client cost: raw POSTs versus ``router.achat`` through ``OpenAICompatible``.

Runs the FakeProvider in a separate process (0 ms and 50 ms latency) and measures, at concurrency
1, 32 and 256, a closed loop of chat-completion calls for a fixed time:

- ``httpx``            raw ``httpx.AsyncClient`` POST (httpx's own pool)
- ``httpx+aiohttp``    raw ``httpx.AsyncClient`` POST on the ``httpx-aiohttp`` transport
- ``aiohttp``          raw ``aiohttp.ClientSession`` POST
- ``routed/aiohttp``   ``router.achat`` via ``OpenAICompatible`` (default transport; its
                       non-streaming POSTs go on the httpx-aiohttp transport's aiohttp session,
                       skipping httpx's client and request/stream translation layers)
- ``routed/httpx``     ``router.achat`` via ``OpenAICompatible(transport="httpx")``

Columns: requests/s, p50/p99 latency, client CPU microseconds per request (process CPU time over
completed requests), server CPU microseconds per request (the FakeProvider process, from
/proc; both share this machine's cores), and for routed rows the CPU ratio to the same transport's
raw POST. Targets: routed CPU <= 1.3x raw at concurrency 1; >= 1,500 req/s at
concurrency 256 with 50 ms latency.

    .venv/bin/python benchmarks/bench_providers.py [--seconds 4] [--profile]
        [--concurrency 256] [--latency-ms 50] [--cases httpx+aiohttp routed/aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible

RUN_FAKE = "import sys; from smartroute_llm.testing.fake_provider import main; main(sys.argv[1:])"
MODEL = "gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}]}
LIMITS = httpx.Limits(max_connections=1024, max_keepalive_connections=512)


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_FAKE, "--port", "0",
         "--latency", str(latency), "--no-record"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split("OpenAI base_url=")[1].split()[0]


Call = Callable[[], Awaitable[Any]]


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process has used; 0.0 where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(
    call: Call, concurrency: int, seconds: float, server_pid: int = 0
) -> dict[str, float]:
    for _ in range(min(concurrency, 8)):
        await call()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    server0 = process_cpu(server_pid) if server_pid else 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server = process_cpu(server_pid) - server0 if server_pid else 0.0
    latencies.sort()
    n = len(latencies)
    return {
        "n": n,
        "rps": n / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "cpu_us": cpu / n * 1e6,
        "server_us": server / n * 1e6,
    }


async def run_case(
    name: str, base: str, concurrency: int, seconds: float, server_pid: int = 0
) -> dict[str, float]:
    url = base + "/chat/completions"
    headers = {"authorization": "Bearer bench", "content-type": "application/json"}
    payload = json.dumps(BODY).encode()
    if name in ("httpx", "httpx+aiohttp"):
        client = (
            httpx.AsyncClient(limits=LIMITS) if name == "httpx"
            else httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS))
        )

        async def call() -> Any:
            r = await client.post(url, content=payload, headers=headers)
            return json.loads(r.content)

        try:
            return await closed_loop(call, concurrency, seconds, server_pid)
        finally:
            await client.aclose()
    if name == "aiohttp":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

        async def acall() -> Any:
            async with session.post(url, data=payload, headers=headers) as r:
                return json.loads(await r.read())

        try:
            return await closed_loop(acall, concurrency, seconds, server_pid)
        finally:
            await session.close()
    transport = "aiohttp" if name == "routed/aiohttp" else "httpx"
    target = OpenAICompatible(MODEL, base_url=base, api_key="bench", transport=transport)
    router = Router([target], RoutingPolicy.balanced())

    async def rcall() -> Any:
        return await router.achat(BODY["messages"])

    try:
        return await closed_loop(rcall, concurrency, seconds, server_pid)
    finally:
        await router.aclose()


CASES = ["httpx", "httpx+aiohttp", "aiohttp", "routed/aiohttp", "routed/httpx"]
RAW_OF = {"routed/aiohttp": "httpx+aiohttp", "routed/httpx": "httpx"}


async def profile_routed(base: str, concurrency: int, n: int = 2000) -> str:
    """cProfile of ``n`` routed calls made by ``concurrency`` workers (the profile covers the
    whole event loop, so at high concurrency it includes the transport's work)."""
    target = OpenAICompatible(MODEL, base_url=base, api_key="bench")
    router = Router([target], RoutingPolicy.balanced())

    async def worker(k: int) -> None:
        for _ in range(k):
            await router.achat(BODY["messages"])

    await asyncio.gather(*(worker(2) for _ in range(concurrency)))
    prof = cProfile.Profile()
    prof.enable()
    await asyncio.gather(*(worker(max(1, n // concurrency)) for _ in range(concurrency)))
    prof.disable()
    await router.aclose()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per cell")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile routed calls at each latency and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 32, 256])
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 50.0])
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    args = parser.parse_args(argv)
    print(f"{'latency':>7} {'conc':>5} {'client':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU us/req':>10} {'CPU vs raw':>10} {'server us/req':>13}")
    for latency_ms in args.latency_ms:
        proc, base = start_server(latency_ms / 1000.0)
        try:
            for conc in args.concurrency:
                results: dict[str, dict[str, float]] = {}
                for case in args.cases:
                    r = asyncio.run(run_case(case, base, conc, args.seconds, proc.pid))
                    results[case] = r
                    raw = RAW_OF.get(case)
                    ratio = (
                        f"{r['cpu_us'] / results[raw]['cpu_us']:.2f}x" if raw in results else ""
                    )
                    print(f"{latency_ms:>5.0f}ms {conc:>5} {case:<15} {r['rps']:>8.0f} "
                          f"{r['p50']:>8.1f} {r['p99']:>8.1f} {r['cpu_us']:>10.0f} {ratio:>10} "
                          f"{r['server_us']:>13.0f}",
                          flush=True)
                if args.profile:
                    print(asyncio.run(profile_routed(base, conc)))
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
