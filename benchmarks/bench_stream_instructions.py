"""Streaming and TTFT-limited calls in CPU instructions (valgrind/callgrind), beside their floors.

Rows (instructions per request, a FakeProvider in its own process, concurrency 1):

- raw aiohttp SSE: an ``aiohttp.ClientSession`` POST with ``"stream": true``, its lines read
  from ``response.content``, each ``data:`` line parsed with ``json.loads`` (the floor for
  streams);
- ``Router.astream`` of the same answer, every chunk consumed;
- raw aiohttp POST, ``Router.achat``, and ``Router.achat`` under ``timeouts(ttft=...)`` (which
  streams underneath so the first token can be seen).

The answer is ``--chunks`` content chunks of 8 characters (the FakeProvider echoes the prompt).
Each run is repeated with N=0; the difference divided by N is the cost per request. Targets
(issue #16): astream <= 1.5x raw SSE; achat with a TTFT limit <= 1.2x achat without.

    python benchmarks/bench_stream_instructions.py [--requests 64] [--chunks 50 5]  # valgrind
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_instructions import RUN_FAKE, _callgrind, _collected

CLIENT = """
import asyncio, json, sys
mode, n, base, chunks = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
MODEL = "gpt-4o-mini"
prompt = "x" * max(1, 8 * chunks - len(f"[{MODEL}] "))  # the echo is `[model] prompt`
MESSAGES = [{"role": "user", "content": prompt}]
HEADERS = {"authorization": "Bearer bench", "content-type": "application/json"}

def body(stream):
    b = {"model": MODEL, "messages": MESSAGES}
    if stream:
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return json.dumps(b).encode()

async def main():
    if mode.startswith("aiohttp"):
        import aiohttp
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))
        url = base + "/chat/completions"
        if mode == "aiohttp_post":
            data = body(False)
            async def call():
                async with session.post(url, data=data, headers=HEADERS) as r:
                    return json.loads(await r.read())["choices"][0]["message"]["content"]
        else:
            data = body(True)
            async def call():
                text = []
                async with session.post(url, data=data, headers=HEADERS) as r:
                    async for line in r.content:
                        if line.startswith(b"data: "):
                            payload = line[6:].strip()
                            if payload == b"[DONE]":
                                break
                            obj = json.loads(payload)
                            for choice in obj.get("choices") or ():
                                text.append(choice["delta"].get("content") or "")
                return "".join(text)
    else:
        target = OpenAICompatible(MODEL, base_url=base, api_key="bench")
        policy = RoutingPolicy.balanced().timeouts(connect=60)
        if mode == "achat_ttft":
            policy = policy.timeouts(connect=60, ttft=60)
        router = Router([target], policy)
        if mode == "astream":
            async def call():
                return [c async for c in router.astream(MESSAGES)]
        else:
            async def call():
                return await router.achat(MESSAGES)
    for _ in range(10):
        await call()
    for _ in range(n):
        await call()
    if mode.startswith("aiohttp"):
        await session.close()
    else:
        await router.aclose()

asyncio.run(main())
"""

MODES = ("aiohttp_sse", "astream", "aiohttp_post", "achat", "achat_ttft")


def per_request(client: Path, mode: str, n: int, base: str, chunks: int, out: Path) -> float:
    counts = []
    for k in (0, n):
        proc = subprocess.run(
            [*_callgrind(out), str(client), mode, str(k), base, str(chunks)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} n={k} failed:\n{proc.stderr[-3000:]}")
        counts.append(_collected(proc.stderr))
    return (counts[1] - counts[0]) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--chunks", type=int, nargs="+", default=[50])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        client = Path(tmp) / "client.py"
        client.write_text(CLIENT)
        out = Path(tmp) / "callgrind.out"
        server = subprocess.Popen(
            [sys.executable, "-c", RUN_FAKE, "--port", "0", "--no-record"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
            for chunks in args.chunks:
                per = {m: per_request(client, m, args.requests, base, chunks, out)
                       for m in args.modes}
                print(f"{chunks}-chunk answer, instructions per request ({args.requests} calls)")
                for m in args.modes:
                    print(f"  {m:<14}{per[m]:>12,.0f}", flush=True)
                if "astream" in per and "aiohttp_sse" in per:
                    sse, st = per["aiohttp_sse"], per["astream"]
                    print(f"  astream / raw SSE        {st / sse:.2f}x (target <= 1.5x); "
                          f"over the floor per chunk: {(st - sse) / (chunks + 3):,.0f}")
                if "achat" in per and "achat_ttft" in per:
                    print(f"  achat+ttft / achat       {per['achat_ttft'] / per['achat']:.2f}x "
                          "(target <= 1.2x)")
                if "achat" in per and "aiohttp_post" in per:
                    print(f"  achat / raw POST         {per['achat'] / per['aiohttp_post']:.2f}x")
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
