"""Client cost per request in CPU instructions (valgrind/callgrind): deterministic, unlike CPU
time on a shared machine.

Runs the FakeProvider in its own process (not measured) and, under callgrind, a client making N
chat calls at each concurrency: a raw ``httpx.AsyncClient`` POST on the httpx-aiohttp
transport, then ``router.achat`` through ``OpenAICompatible`` on the same transport. Each client
also runs with N=0; the difference divided by N is instructions per request, free of interpreter
start-up and imports. Target: routed <= 1.3x raw at concurrency 1.

    python benchmarks/bench_instructions.py [--requests 256] [--concurrency 1 32 256]
    # needs valgrind
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENT = """
import asyncio, json, sys
mode, n, base, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
import httpx
from httpx_aiohttp import AiohttpTransport
from smartroute import Router, RoutingPolicy
from smartroute.providers import OpenAICompatible
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
HEADERS = {"authorization": "Bearer bench", "content-type": "application/json"}

async def main():
    if mode == "raw":
        client = httpx.AsyncClient(transport=AiohttpTransport())
        async def call():
            r = await client.post(base + "/chat/completions", content=BODY, headers=HEADERS)
            return json.loads(r.content)
    else:
        target = OpenAICompatible("gpt-4o-mini", base_url=base, api_key="bench")
        router = Router([target], RoutingPolicy.balanced())
        async def call():
            return await router.achat(MESSAGES)
    async def worker(k):
        for _ in range(k):
            await call()
    await asyncio.gather(*(worker(20 // conc + 1) for _ in range(conc)))
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))

asyncio.run(main())
"""
RUN_FAKE = "import sys; from smartroute.testing.fake_provider import main; main(sys.argv[1:])"


def instructions(client: Path, mode: str, n: int, base: str, conc: int, out: Path) -> int:
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(client),
            mode,
            str(n),
            base,
            str(conc),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    server = subprocess.Popen(
        [sys.executable, "-c", RUN_FAKE, "--port", "0", "--no-record"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
        with tempfile.TemporaryDirectory() as tmp:
            client = Path(tmp) / "client.py"
            client.write_text(CLIENT)
            rows = []
            for conc in args.concurrency:
                n = args.requests - args.requests % conc
                per: dict[str, float] = {}
                for mode in ("raw", "routed"):
                    out = Path(tmp) / f"{mode}.out"
                    zero = instructions(client, mode, 0, base, conc, out)
                    full = instructions(client, mode, n, base, conc, out)
                    per[mode] = (full - zero) / n
                rows.append((conc, per))
    finally:
        server.terminate()
    print(f"instructions per request ({args.requests} calls, httpx-aiohttp transport)")
    print(f"{'concurrency':>12}{'raw POST':>14}{'router.achat':>14}{'ratio':>8}")
    for conc, per in rows:
        print(
            f"{conc:>12}{per['raw']:>14,.0f}{per['routed']:>14,.0f}"
            f"{per['routed'] / per['raw']:>7.2f}x"
        )
    print("target: routed <= 1.3x raw at concurrency 1")


if __name__ == "__main__":
    main()
