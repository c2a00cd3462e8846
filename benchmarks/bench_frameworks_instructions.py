"""Framework wrappers against the Router they wrap, in CPU instructions (valgrind/callgrind).

Each row is one async call made N times in one process under callgrind, and again with N=0; the
difference divided by N is instructions per call, free of start-up and imports:

- ``router``: ``Router.achat`` over three ``OpenAICompatible`` targets,
- ``langchain``: ``SmartRouterChatModel.ainvoke`` over the same targets,
- ``llamaindex``: ``SmartRouterLLM.achat`` over the same targets,
- ``lc-floor``: ``ainvoke`` of a trivial ``BaseChatModel`` that returns a fixed ``AIMessage``
  (LangChain's own run machinery: callback manager, run tree, message coercion),
- ``li-floor``: ``achat`` of a trivial LlamaIndex LLM whose decorated ``achat`` returns a fixed
  answer (LlamaIndex's event machinery, which every routed call goes through once).

``--transport http`` (default) sends over the loopback FakeProvider (run outside callgrind);
``--transport scripted`` uses in-process ``ScriptedTarget``s, leaving only the wrappers' and the
router's own work. Target (issue 16): each wrapper <= 1.3x the router.

    python benchmarks/bench_frameworks_instructions.py [--requests 200] [--transport scripted]
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
import asyncio, sys
mode, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from smartroute_llm import ProviderCapability, Router, RoutingPolicy
NAMES = ("gpt-4o-mini", "claude-3-haiku", "mistral-small")
TEXT = "Say hello in five words."

def targets():
    if base == "scripted":
        from smartroute_llm.testing import ScriptedTarget
        return [ScriptedTarget(m, script="Hello there, how are you?") for m in NAMES]
    from smartroute_llm.providers import OpenAICompatible
    return [OpenAICompatible(m, base_url=base, api_key="bench", name=m) for m in NAMES]

def policy():
    return RoutingPolicy.balanced().timeouts(connect=60)

if mode == "router":
    router = Router(targets(), policy())
    async def call():
        return await router.achat([{"role": "user", "content": TEXT}])
    close = router.aclose
elif mode == "langchain":
    from langchain_smartroute import SmartRouterChatModel
    chat = SmartRouterChatModel(candidates=targets(), policy=policy())
    async def call():
        return await chat.ainvoke(TEXT)
    close = chat.routing.aclose
elif mode == "llamaindex":
    from llama_index.core.base.llms.types import ChatMessage
    from llamaindex_smartroute import SmartRouterLLM
    llm = SmartRouterLLM(targets(), policy())
    async def call():
        return await llm.achat([ChatMessage(role="user", content=TEXT)])
    close = llm.router.aclose
elif mode == "lc-floor":
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    class Fixed(BaseChatModel):
        @property
        def _llm_type(self):
            return "fixed"
        def _generate(self, messages, stop=None, run_manager=None, **kw):
            raise NotImplementedError
        async def _agenerate(self, messages, stop=None, run_manager=None, **kw):
            return ChatResult(generations=[ChatGeneration(message=AIMessage("Hello there"))])
    chat = Fixed()
    async def call():
        return await chat.ainvoke(TEXT)
    async def close():
        pass
elif mode == "li-floor":
    from llama_index.core.base.llms.types import (
        ChatMessage, ChatResponse, CompletionResponse, LLMMetadata,
    )
    from llama_index.core.llms.callbacks import llm_chat_callback
    from llama_index.core.llms.llm import LLM
    class Fixed(LLM):
        @property
        def metadata(self):
            return LLMMetadata(is_chat_model=True)
        @llm_chat_callback()
        async def achat(self, messages, **kw):
            return ChatResponse(message=ChatMessage(role="assistant", content="Hello there"))
        def chat(self, messages, **kw): raise NotImplementedError
        def complete(self, *a, **kw): raise NotImplementedError
        def stream_chat(self, *a, **kw): raise NotImplementedError
        def stream_complete(self, *a, **kw): raise NotImplementedError
        async def acomplete(self, *a, **kw): raise NotImplementedError
        async def astream_chat(self, *a, **kw): raise NotImplementedError
        async def astream_complete(self, *a, **kw): raise NotImplementedError
    llm = Fixed()
    async def call():
        return await llm.achat([ChatMessage(role="user", content=TEXT)])
    async def close():
        pass
else:
    raise SystemExit(f"unknown mode {mode}")

async def main():
    for _ in range(20):
        await call()
    for _ in range(n):
        await call()
    await close()

asyncio.run(main())
"""
RUN_FAKE = "import sys; from smartroute_llm.testing.fake_provider import main; main(sys.argv[1:])"
MODES = ("router", "langchain", "llamaindex", "lc-floor", "li-floor")


def instructions(client: Path, mode: str, n: int, base: str, out: Path) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         str(client), mode, str(n), base],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} n={n} failed:\n{proc.stderr[-3000:]}")
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def per_call(client: Path, mode: str, n: int, base: str, out: Path) -> float:
    return (instructions(client, mode, n, base, out) - instructions(client, mode, 0, base, out)) / n


def report(client: Path, modes: list[str], n: int, base: str, out: Path) -> None:
    per: dict[str, float] = {}
    print(f"{'path':<12}{'instr/call':>14}{'x router':>10}")
    for mode in modes:
        per[mode] = per_call(client, mode, n, base, out)
        ratio = f"{per[mode] / per['router']:>9.2f}x" if "router" in per else ""
        print(f"{mode:<12}{per[mode]:>14,.0f}{ratio}", flush=True)
    if "router" in per:
        for wrapper, floor in (("langchain", "lc-floor"), ("llamaindex", "li-floor")):
            if wrapper in per and floor in per:
                own = per[wrapper] - per["router"] - per[floor]
                print(f"{wrapper}: framework floor {per[floor] / per['router']:.2f}x of the "
                      f"router, wrapper's own work {own / per['router']:+.2f}x ({own:+,.0f})")
    print("target: langchain and llamaindex <= 1.3x router")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--transport", choices=("http", "scripted"), default="http")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        client = Path(tmp) / "client.py"
        client.write_text(CLIENT)
        out = Path(tmp) / "callgrind.out"
        print(f"instructions per call ({args.requests} calls, {args.transport}, 3 targets)")
        if args.transport == "scripted":
            report(client, args.modes, args.requests, "scripted", out)
            return
        server = subprocess.Popen(
            [sys.executable, "-c", RUN_FAKE, "--port", "0", "--no-record"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
            report(client, args.modes, args.requests, base, out)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
