"""Cost per request in CPU instructions (valgrind/callgrind): deterministic, unlike CPU time on
a shared machine.

Client mode (default): runs the FakeProvider in its own process (not measured) and, under
callgrind, a client making N chat calls at each concurrency: a raw ``httpx.AsyncClient`` POST on
the httpx-aiohttp transport (with smartroute's default pool limits and timeout, so both sides
queue alike), a raw ``aiohttp.ClientSession`` POST (what the routed default path sends on), then
``router.achat`` through ``OpenAICompatible`` on the same transport.

Server mode (``--server``): the FakeProvider runs under callgrind and a raw client, outside it,
makes the calls; on a 2-core machine the server's cost per request competes with the client's.

Each run is repeated with N=0; the difference divided by N is instructions per request, free of
interpreter start-up and imports. Target: routed <= 1.3x raw at concurrency 1.

Every hot path of issue #16 (plan, streams, TTFT limits, the LangChain and LlamaIndex wrappers,
LiteLLM) side by side against the raw aiohttp floor: ``benchmarks/bench_paths.py``.

    python benchmarks/bench_instructions.py [--requests 256] [--concurrency 1 32 256] [--server]
    # needs valgrind
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT = """
import asyncio, json, sys
mode, n, base, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
import httpx
from httpx_aiohttp import AiohttpTransport
from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.providers.base import DEFAULT_LIMITS, DEFAULT_TIMEOUT
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
HEADERS = {"authorization": "Bearer bench", "content-type": "application/json"}

async def main():
    if mode == "aiohttp":
        import aiohttp
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))
        async def call():
            async with session.post(base + "/chat/completions", data=BODY,
                                    headers=HEADERS) as r:
                return json.loads(await r.read())
    elif mode == "raw":
        client = httpx.AsyncClient(
            transport=AiohttpTransport(limits=DEFAULT_LIMITS), timeout=DEFAULT_TIMEOUT
        )
        async def call():
            r = await client.post(base + "/chat/completions", content=BODY, headers=HEADERS)
            return json.loads(r.content)
    else:
        target = OpenAICompatible("gpt-4o-mini", base_url=base, api_key="bench")
        # default policy but a longer connect timeout: under valgrind, opening 256 connections
        # at once can take longer than 5 s (the code path is the same, only the number differs)
        router = Router([target], RoutingPolicy.balanced().timeouts(connect=60))
        async def call():
            return await router.achat(MESSAGES)
    async def worker(k):
        for _ in range(k):
            await call()
    await asyncio.gather(*(worker(20 // conc + 1) for _ in range(conc)))
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    if mode == "aiohttp":
        await session.close()
    else:
        await (client.aclose() if mode == "raw" else router.aclose())

asyncio.run(main())
"""
RUN_FAKE = "import sys; from smartroute_llm.testing.fake_provider import main; main(sys.argv[1:])"


def _collected(stderr: str) -> int:
    match = re.search(r"Collected : (\d+)", stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{stderr[-2000:]}")
    return int(match.group(1))


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]


def client_instructions(client: Path, mode: str, n: int, base: str, conc: int, out: Path) -> int:
    proc = subprocess.run(
        [*_callgrind(out), str(client), mode, str(n), base, str(conc)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"client {mode} n={n} c={conc} failed:\n{proc.stderr[-3000:]}")
    return _collected(proc.stderr)


def server_instructions(client: Path, n: int, conc: int, latency: float, out: Path) -> int:
    server = subprocess.Popen(
        [*_callgrind(out), "-c", RUN_FAKE, "--port", "0", "--no-record",
         "--latency", str(latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT stops it cleanly (callgrind writes its totals on exit); a background shell may
        # have left SIGINT ignored, which the child would inherit
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert server.stdout is not None and server.stderr is not None
    try:
        base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
        subprocess.run(
            [sys.executable, str(client), "raw", str(n), base, str(conc)], check=True
        )
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=120)
    return _collected(stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--server", action="store_true",
                    help="measure the FakeProvider (50 ms latency) instead of the client")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        client = Path(tmp) / "client.py"
        client.write_text(CLIENT)
        out = Path(tmp) / "callgrind.out"
        if args.server:
            print(f"FakeProvider instructions per request ({args.requests} calls, 50 ms latency)")
            print(f"{'concurrency':>12}{'server':>14}")
            for conc in args.concurrency:
                n = args.requests - args.requests % conc
                zero = server_instructions(client, 0, conc, 0.05, out)
                full = server_instructions(client, n, conc, 0.05, out)
                print(f"{conc:>12}{(full - zero) / n:>14,.0f}", flush=True)
            return
        server = subprocess.Popen(
            [sys.executable, "-c", RUN_FAKE, "--port", "0", "--no-record"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
            print(f"client instructions per request ({args.requests} calls, httpx-aiohttp "
                  "transport)")
            print(f"{'concurrency':>12}{'raw POST':>14}{'router.achat':>14}{'ratio':>8}"
                  f"{'raw aiohttp':>14}{'routed/aiohttp':>16}")
            for conc in args.concurrency:
                n = args.requests - args.requests % conc
                per: dict[str, float] = {}
                for mode in ("raw", "routed", "aiohttp"):
                    zero = client_instructions(client, mode, 0, base, conc, out)
                    full = client_instructions(client, mode, n, base, conc, out)
                    per[mode] = (full - zero) / n
                print(
                    f"{conc:>12}{per['raw']:>14,.0f}{per['routed']:>14,.0f}"
                    f"{per['routed'] / per['raw']:>7.2f}x{per['aiohttp']:>14,.0f}"
                    f"{per['routed'] / per['aiohttp']:>15.2f}x",
                    flush=True,
                )
        finally:
            server.terminate()
    print("target: routed <= 1.3x raw (httpx-aiohttp) at concurrency 1; the routed default "
          "path posts on aiohttp directly, so the last column is its cost over that")


if __name__ == "__main__":
    main()
