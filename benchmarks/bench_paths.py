"""Every hot path of issue #16 side by side, as client CPU instructions per request (callgrind,
deterministic) and CPU time, each as a ratio to the floor (a raw aiohttp POST) measured in the
same run.

The FakeProvider runs in its own process (not measured) and answers every request with the same
400-character text: one JSON body, or an SSE stream of 50 content chunks. Each path makes the
same request (one user message) N times at concurrency 1, then N times at 32, in one process
under callgrind. The client calls ``os.getppid()`` before and after each batch of N calls and
callgrind dumps its counts there (``--dump-before=getppid``), so a batch's count is free of
start-up, imports and warm-up: the N vs N=0 difference of ``bench_instructions.py`` in one run
instead of two per concurrency (``--n-vs-zero`` measures it that way; the two agree within ~3%).
Start-up under callgrind dominates the run time (LiteLLM's import alone is ~14G instructions).
CPU time is the client process's over the same batches (after a warm-up), without valgrind, best
of ``--cpu-repeats`` runs: on a shared machine it moves; the instruction counts do not.

Paths: raw aiohttp POST (the floor); ``Router.achat`` over 3 ``OpenAICompatible`` targets, with
and without a time-to-first-token limit; ``Router.plan()`` alone, in-process (3 candidates on a
100-word prompt and on the HTTP rows' 5-word message; 1,000 candidates) and ``to_request`` alone;
a raw aiohttp SSE stream vs ``Router.astream`` (per request and per content chunk);
``SmartRouterChatModel.ainvoke`` and ``SmartRouterLLM.achat`` over the same router; LiteLLM's
``Router.acompletion`` and ``ChatLiteLLMRouter.ainvoke`` over three deployments on the same
server, when installed in this interpreter or in ``--baseline-python`` (a separate venv keeps
LiteLLM out of the project's: ``python -m venv ../litellm-venv &&
../litellm-venv/bin/pip install litellm langchain-litellm``)::

    python benchmarks/bench_paths.py [--baseline-python ../litellm-venv/bin/python] [--jobs 2]
        [--quick] [--requests 256] [--concurrency 1 32] [--only routed astream ...]
    # needs valgrind
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
ANSWER = ("The quick brown fox jumps over the lazy dog. " * 10)[:400]  # 50 chunks of 8 chars
CHUNKS = 50
HEADERS = {"authorization": "Bearer bench", "content-type": "application/json"}


# --- the client: one path, N calls at a concurrency (runs under callgrind or plain) ------------

Call = Callable[[], Awaitable[object]]


async def _aiohttp_post(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    body = json.dumps({"model": MODELS[0], "messages": MESSAGES}).encode()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

    async def call() -> object:
        async with session.post(base + "/chat/completions", data=body, headers=HEADERS) as r:
            return json.loads(await r.read())["choices"][0]["message"]["content"]

    return call, session.close


async def _aiohttp_sse(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    body = json.dumps({"model": MODELS[0], "messages": MESSAGES, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

    async def call() -> object:
        parts = []
        async with session.post(base + "/chat/completions", data=body, headers=HEADERS) as r:
            async for line in r.content:
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    return call, session.close


def _router(base: str, **timeouts: float) -> Any:
    from smartroute_llm import Router, RoutingPolicy
    from smartroute_llm.providers import OpenAICompatible

    targets = [OpenAICompatible(m, base_url=base, api_key="bench") for m in MODELS]
    # a longer connect timeout: under valgrind, opening 32 connections at once can take longer
    # than the default (the code path is the same, only the number differs)
    return Router(targets, RoutingPolicy.balanced().timeouts(connect=60, **timeouts))


async def _routed(base: str, **timeouts: float) -> tuple[Call, Callable[[], Awaitable[None]]]:
    router = _router(base, **timeouts)

    async def call() -> object:
        return (await router.achat(MESSAGES)).text

    return call, router.aclose


async def _astream(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    router = _router(base)

    async def call() -> object:
        return "".join([c.text async for c in router.astream(MESSAGES)])

    return call, router.aclose


async def _langchain(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from langchain_core.messages import HumanMessage

    from langchain_smartroute import SmartRouterChatModel

    router = _router(base)
    chat = SmartRouterChatModel(router=router)
    messages = [HumanMessage(content=m["content"]) for m in MESSAGES]

    async def call() -> object:
        return (await chat.ainvoke(messages)).content

    return call, router.aclose


async def _llamaindex(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from llama_index.core.llms import ChatMessage

    from llamaindex_smartroute import SmartRouterLLM

    router = _router(base)
    llm = SmartRouterLLM(router=router)
    messages = [ChatMessage(role=m["role"], content=m["content"]) for m in MESSAGES]

    async def call() -> object:
        return (await llm.achat(messages)).message.content

    return call, router.aclose


async def _langchain_floor(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """LangChain's own cost of one ``ainvoke`` (run manager, callbacks, message output): a chat
    model that returns a fixed AIMessage, no routing and no HTTP."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class Fixed(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "fixed"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kw: Any) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(ANSWER))])

        async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                             **kw: Any) -> ChatResult:  # no thread hop, as a native model
            return self._generate(messages)

    chat = Fixed()
    messages = [HumanMessage(content=m["content"]) for m in MESSAGES]

    async def call() -> object:
        return (await chat.ainvoke(messages)).content

    async def close() -> None:
        pass

    return call, close


async def _llamaindex_floor(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """LlamaIndex's own cost of one instrumented ``achat`` (span, start/end events): an LLM
    that returns a fixed message, no routing and no HTTP."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, LLMMetadata
    from llama_index.core.llms.callbacks import llm_chat_callback
    from llama_index.core.llms.custom import CustomLLM

    class Fixed(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(is_chat_model=True)

        @llm_chat_callback()
        async def achat(self, messages: Any, **kw: Any) -> ChatResponse:
            return ChatResponse(message=ChatMessage(role="assistant", content=ANSWER))

        def complete(self, *a: Any, **kw: Any) -> Any:
            raise NotImplementedError

        def stream_complete(self, *a: Any, **kw: Any) -> Any:
            raise NotImplementedError

    llm = Fixed()
    messages = [ChatMessage(role=m["role"], content=m["content"]) for m in MESSAGES]

    async def call() -> object:
        return (await llm.achat(messages)).message.content

    async def close() -> None:
        pass

    return call, close


def _litellm_router(base: str) -> Any:
    import litellm

    litellm.telemetry = False
    return litellm.Router(model_list=[
        {"model_name": "bench",
         "litellm_params": {"model": f"openai/{m}", "api_base": base, "api_key": "bench"}}
        for m in MODELS
    ])


async def _litellm(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
    router = _litellm_router(base)

    async def call() -> object:
        reply = await router.acompletion(model="bench", messages=MESSAGES)
        return reply.choices[0].message.content

    async def close() -> None:
        return None

    return call, close


async def _chat_litellm_router(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from langchain_litellm import ChatLiteLLMRouter
    except ImportError:
        from langchain_community.chat_models import ChatLiteLLMRouter
    from langchain_core.messages import HumanMessage

    chat = ChatLiteLLMRouter(router=_litellm_router(base), model_name="bench")
    messages = [HumanMessage(content=m["content"]) for m in MESSAGES]

    async def call() -> object:
        return (await chat.ainvoke(messages)).content

    async def close() -> None:
        return None

    return call, close


def _planner(candidates: int, words: int, plan: bool) -> Callable[[], object]:
    """plan() (or to_request() alone) on one user message: ``words`` words of bench_plan's
    prompt, or the HTTP rows' message for 0. The request is built from the messages each call,
    as achat does."""
    sys.path.insert(0, str(HERE))
    from bench_plan import fleet, prompt

    from smartroute_llm import Router, RoutingPolicy, to_request

    messages = [{"role": "user", "content": prompt(words)}] if words else MESSAGES
    if not plan:
        return lambda: to_request(messages)
    router = Router(fleet(candidates), RoutingPolicy.balanced())
    return lambda: router.plan(messages)


HTTP_PATHS: dict[str, Callable[[str], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]] = {
    "aiohttp": _aiohttp_post,
    "routed": _routed,
    "routed_ttft": lambda base: _routed(base, ttft=30.0),
    "aiohttp_sse": _aiohttp_sse,
    "astream": _astream,
    "langchain": _langchain,
    "llamaindex": _llamaindex,
    "langchain_floor": _langchain_floor,
    "llamaindex_floor": _llamaindex_floor,
    "litellm": _litellm,
    "chat_litellm_router": _chat_litellm_router,
}
# in-process paths: (candidates, prompt words, plan or to_request alone, a 1/k of the calls)
PLAN_PATHS = {
    "plan3": (3, 100, True, 1),
    "plan3_short": (3, 0, True, 1),
    "plan1000": (1000, 100, True, 10),
    "to_request": (3, 100, False, 1),
}
BASELINE_PATHS = ("litellm", "chat_litellm_router")


def mark() -> None:
    """Where callgrind (``--dump-before=getppid``) closes one segment of counts and opens the
    next: nothing on the measured paths calls ``getppid``."""
    os.getppid()


async def _run_http(path: str, n: int, base: str, concs: list[int]) -> list[float]:
    call, close = await HTTP_PATHS[path](base)
    first = await call()
    if first != ANSWER:  # every path must get the whole answer, or it measures something else
        raise RuntimeError(f"{path}: unexpected answer {first!r}")

    async def worker(k: int) -> None:
        for _ in range(k):
            await call()

    cpu = []
    for conc in concs:
        await asyncio.gather(*(worker(20 // conc + 1) for _ in range(conc)))
        mark()
        t0 = time.process_time()
        await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
        cpu.append(time.process_time() - t0)
        mark()
    await close()
    return cpu


def plan_calls(path: str, n: int) -> int:
    return max(1, n // PLAN_PATHS[path][3])


def _run_plans(paths: list[str], n: int) -> list[float]:
    """Each in-process path in turn (all built first), between markers."""
    fns = [_planner(*PLAN_PATHS[p][:3]) for p in paths]
    cpu = []
    for path, fn in zip(paths, fns, strict=True):
        for _ in range(5):
            fn()
        mark()
        t0 = time.process_time()
        for _ in range(plan_calls(path, n)):
            fn()
        cpu.append(time.process_time() - t0)
        mark()
    return cpu


def client(spec: str, n: int, base: str, concs: list[int]) -> None:
    """N calls of one HTTP path at each concurrency, or of each in-process path of
    ``plans:a,b``, between markers; prints the CPU seconds of each run."""
    if spec.startswith("plans:"):
        cpu = _run_plans(spec[6:].split(","), n)
    else:
        cpu = asyncio.run(_run_http(spec, n, base, concs))
    print(json.dumps({"cpu_s": cpu}), flush=True)


def serve() -> None:
    """The FakeProvider answering every request with ANSWER, until interrupted."""
    from smartroute_llm.testing.fake_provider import FakeProvider, serve_forever

    fp = FakeProvider(record=False, responder=lambda model, body: ANSWER)
    fp.start()
    serve_forever(fp)


# --- the driver ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    path: str
    http: bool = True
    per: str = "request"
    versus: str | None = None  # also shown as a ratio to this path


ROWS = [
    Row("raw aiohttp POST (the floor)", "aiohttp"),
    Row("Router.achat, 3 targets", "routed"),
    Row("Router.achat, ttft limit", "routed_ttft", versus="routed"),
    Row("Router.plan(), 3 cand., 100 words", "plan3", http=False, per="plan"),
    Row("Router.plan(), 3 cand., 5 words", "plan3_short", http=False, per="plan"),
    Row("Router.plan(), 1,000 cand., 100 w.", "plan1000", http=False, per="plan"),
    Row("to_request alone, 100 words", "to_request", http=False, per="call"),
    Row("raw aiohttp SSE, 50 chunks", "aiohttp_sse"),
    Row("Router.astream, 50 chunks", "astream", versus="aiohttp_sse"),
    Row("SmartRouterChatModel.ainvoke", "langchain", versus="routed"),
    Row("SmartRouterLLM.achat", "llamaindex", versus="routed"),
    Row("LangChain floor: fixed AIMessage", "langchain_floor", versus="routed"),
    Row("LlamaIndex floor: fixed achat", "llamaindex_floor", versus="routed"),
    Row("LiteLLM Router.acompletion", "litellm", versus="routed"),
    Row("ChatLiteLLMRouter.ainvoke", "chat_litellm_router", versus="routed"),
]


def _collected(stderr: str) -> int:
    match = re.search(r"Collected : (\d+)", stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{stderr[-2000:]}")
    return int(match.group(1))


def segment_counts(out: Path) -> list[int]:
    """Instructions in each segment between markers: callgrind writes ``out.1``, ``out.2``, ...
    at each marker and ``out`` at exit."""
    files = sorted(out.parent.glob(out.name + ".*"), key=lambda f: int(f.suffix[1:]))
    counts = []
    for f in [*files, out]:
        match = re.search(r"^totals: (\d+)", f.read_text(), re.M)
        if match is None:
            raise RuntimeError(f"{f}: no totals line")
        counts.append(int(match.group(1)))
    return counts


def measured_segments(counts: list[int], runs: int) -> list[int]:
    """The segments holding the measured calls: each run is opened and closed by a marker, so
    they are the 2nd, 4th, ... of ``2 * runs + 1`` segments."""
    if len(counts) != 2 * runs + 1:
        raise RuntimeError(f"expected {2 * runs + 1} callgrind segments, got {len(counts)}: "
                           "something on the path called getppid (the marker)")
    return counts[1::2]


class Runner:
    """Runs one path's client, under callgrind or plain, in the interpreter it needs."""

    def __init__(self, base: str, baseline_python: str | None, tmp: Path, n_vs_zero: bool):
        self.base = base
        self.baseline_python = baseline_python
        self.tmp = tmp
        self.n_vs_zero = n_vs_zero

    def python(self, path: str) -> str:
        if path in BASELINE_PATHS and self.baseline_python:
            return self.baseline_python
        return sys.executable

    def _cmd(self, spec: str, n: int, concs: list[int]) -> list[str]:
        return [self.python(spec), str(Path(__file__).resolve()), "--client", spec, str(n),
                self.base, ",".join(map(str, concs))]

    def _env(self) -> dict[str, str]:
        # the client imports the project from this checkout in whichever interpreter runs it
        root = str(HERE.parent)
        pp = os.environ.get("PYTHONPATH")
        return {**os.environ, "PYTHONPATH": root + (os.pathsep + pp if pp else "")}

    def available(self, path: str) -> bool:
        if path not in BASELINE_PATHS:
            return True
        probe = "import litellm"
        if path == "chat_litellm_router":
            probe += ("\ntry:\n import langchain_litellm\n"
                      "except ImportError:\n import langchain_community")
        return subprocess.run([self.python(path), "-c", probe], capture_output=True,
                              env=self._env()).returncode == 0

    def _callgrind(self, spec: str, n: int, concs: list[int], markers: bool) -> Path:
        out = Path(tempfile.mkdtemp(dir=self.tmp)) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        if markers:
            cmd.append("--dump-before=getppid")
        proc = subprocess.run([*cmd, *self._cmd(spec, n, concs)], capture_output=True,
                              text=True, env=self._env())
        if proc.returncode != 0:
            raise RuntimeError(f"{spec} n={n} c={concs} failed:\n{proc.stderr[-3000:]}")
        (out.parent / "collected").write_text(str(_collected(proc.stderr)))
        return out

    def _collected(self, spec: str, n: int, concs: list[int]) -> int:
        return int((self._callgrind(spec, n, concs, False).parent / "collected").read_text())

    def instructions(self, spec: str, n: int, concs: list[int]) -> list[int]:
        """Instructions of each measured run (one per concurrency, or per path of a
        ``plans:`` spec): counted between the markers around its calls in one process, or with
        ``n_vs_zero`` as a process making N calls less one making none."""
        if spec.startswith("plans:"):
            subs = [(f"plans:{p}", concs) for p in spec[6:].split(",")]
        else:
            subs = [(spec, [c]) for c in concs]
        if not self.n_vs_zero:
            counts = segment_counts(self._callgrind(spec, n, concs, True))
            return measured_segments(counts, len(subs))
        return [self._collected(s, n, c) - self._collected(s, 0, c) for s, c in subs]

    def cpu_seconds(self, spec: str, n: int, concs: list[int], repeats: int) -> list[float]:
        """CPU seconds of each measured run, best of ``repeats`` plain processes."""
        best: list[float] | None = None
        for _ in range(repeats):
            proc = subprocess.run(self._cmd(spec, n, concs), capture_output=True, text=True,
                                  env=self._env())
            if proc.returncode != 0:
                raise RuntimeError(f"{spec} (cpu) c={concs} failed:\n{proc.stderr[-3000:]}")
            cpu = json.loads(proc.stdout.splitlines()[-1])["cpu_s"]
            best = cpu if best is None else [min(b, c) for b, c in zip(best, cpu, strict=True)]
        assert best is not None
        return best


@dataclass
class Result:
    instr: float
    cpu: float


Results = dict[tuple[str, int], "Result | str"]


def _measure(runner: Runner, rows: list[Row], concs: list[int], n_instr: int, n_cpu: int,
             n_plan: int, repeats: int) -> Results:
    """One HTTP row at each concurrency, or all the in-process rows, in one client process
    (under callgrind, then plain for CPU time)."""
    t0 = time.monotonic()
    if not runner.available(rows[0].path):
        return {(rows[0].path, c): "not installed" for c in concs}
    if rows[0].http:
        if rows[0].path in BASELINE_PATHS:  # ~20x the floor's cost per call: fewer calls do
            n_instr, n_cpu = n_instr // 4, n_cpu // 4
        step = math.lcm(*concs)
        n, nc = max(step, n_instr - n_instr % step), max(step, n_cpu - n_cpu % step)
        keys = [(rows[0].path, c) for c in concs]
        instr = [i / n for i in runner.instructions(rows[0].path, n, concs)]
        cpu = [c / nc * 1e6 for c in runner.cpu_seconds(rows[0].path, nc, concs, repeats)]
    else:
        paths = [r.path for r in rows]
        spec = "plans:" + ",".join(paths)
        keys = [(p, 1) for p in paths]
        instr = [i / plan_calls(p, n_plan) for p, i in
                 zip(paths, runner.instructions(spec, n_plan, [1]), strict=True)]
        cpu = [c / plan_calls(p, n_plan * 10) * 1e6 for p, c in
               zip(paths, runner.cpu_seconds(spec, n_plan * 10, [1], repeats), strict=True)]
    figures = ", ".join(f"{p} c={c}: {i / 1000:,.0f}k instr, {u:,.1f} µs"
                        for (p, c), i, u in zip(keys, instr, cpu, strict=True))
    print(f"  measured in {time.monotonic() - t0:.0f} s: {figures}", file=sys.stderr, flush=True)
    return {k: Result(i, u) for k, i, u in zip(keys, instr, cpu, strict=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=None,
                    help="calls per path under callgrind (default 256, --quick 64)")
    ap.add_argument("--cpu-requests", type=int, default=None,
                    help="calls per path for CPU time (default 2048, --quick 512)")
    ap.add_argument("--cpu-repeats", type=int, default=None, help="default 3, --quick 1")
    ap.add_argument("--plan-calls", type=int, default=None,
                    help="plan() calls for 3 candidates under callgrind (default 200, --quick "
                         "50; a tenth of it for 1,000 candidates; ten times more for CPU time)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--quick", action="store_true", help="fewer calls")
    ap.add_argument("--only", nargs="+", metavar="PATH", choices=[r.path for r in ROWS],
                    help="measure only these paths (the floor is always measured)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="paths measured at once (instruction counts do not depend on it)")
    ap.add_argument("--n-vs-zero", action="store_true",
                    help="count each path as (N calls - 0 calls) / N over two callgrind runs "
                         "per concurrency instead of between markers in one run")
    ap.add_argument("--baseline-python", default=os.environ.get("SMARTROUTE_BASELINE_PYTHON"),
                    help="interpreter with litellm and langchain-litellm installed, for the "
                         "LiteLLM rows; default: this one")
    ap.add_argument("--client", nargs=4, metavar=("PATH", "N", "BASE", "CONCS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        path, n, base, concs = args.client
        client(path, int(n), base, [int(c) for c in concs.split(",")])
        return
    if args.serve:
        serve()
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    n_instr = args.requests or (64 if args.quick else 256)
    n_cpu = args.cpu_requests or (512 if args.quick else 2048)
    n_plan = args.plan_calls or (50 if args.quick else 200)
    repeats = args.cpu_repeats or (1 if args.quick else 3)
    rows = [r for r in ROWS if not args.only or r.path in args.only or r.path == "aiohttp"]
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out

    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    results: Results = {}
    try:
        assert server.stdout is not None
        base = server.stdout.readline().split("OpenAI base_url=")[1].split()[0]
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
            runner = Runner(base, args.baseline_python, Path(tmp), args.n_vs_zero)
            # the slowest first (their imports are the heaviest), so parallel jobs end together
            groups = [[r] for r in rows[::-1] if r.http] + [[r for r in rows if not r.http]]
            for part in pool.map(lambda group: _measure(runner, group, args.concurrency, n_instr,
                                                        n_cpu, n_plan, repeats),
                                 [g for g in groups if g]):
                results.update(part)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    method = ("N calls minus 0 calls" if args.n_vs_zero else "between markers around the calls")
    print(f"client cost per call: callgrind instructions ({n_instr} calls, {method}) and CPU time "
          f"({n_cpu} calls, best of {repeats}); LiteLLM rows a quarter of the calls; plan rows "
          f"{n_plan} calls (CPU: {n_plan * 10}), a tenth for 1,000 candidates. Ratios to the raw "
          "aiohttp POST at the same concurrency (plan rows: to the floor at concurrency 1)")
    print(format_table(rows, results, args.concurrency))
    print(f"run time {time.monotonic() - started:.0f} s")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def format_table(rows: list[Row], results: Results, concs: list[int]) -> str:
    """The rows that were measured, each with its ratios to the floor at its concurrency."""
    head = f"{'path':<34}{'conc':>5}{'instr':>12}{'x floor':>9}{'CPU µs':>10}{'x floor':>9}  note"
    lines = [head, "-" * len(head)]
    labels = {r.path: r.label.split(",")[0] for r in rows}
    for row in rows:
        for conc in concs if row.http else [1]:
            res = results.get((row.path, conc))
            if res is None:
                continue
            shown = str(conc) if row.http else "-"
            if isinstance(res, str):
                lines.append(f"{row.label:<34}{shown:>5}  {res}")
                continue
            floor = results.get(("aiohttp", conc))
            fi, fc = (floor.instr, floor.cpu) if isinstance(floor, Result) else (None, None)
            note = []
            if row.versus:
                other = results.get((row.versus, conc))
                if isinstance(other, Result):
                    note.append(f"{_ratio(res.instr, other.instr)} instr, "
                                f"{_ratio(res.cpu, other.cpu)} CPU of {labels[row.versus]}")
            if row.path in STREAMS:
                note.append(f"per chunk {res.instr / CHUNKS / 1000:,.1f}k instr, "
                            f"{res.cpu / CHUNKS:.1f} µs")
            if row.per != "request":
                note.append(f"per {row.per}")
            lines.append(
                f"{row.label:<34}{shown:>5}{res.instr / 1000:>11,.0f}k{_ratio(res.instr, fi):>9}"
                f"{res.cpu:>10,.1f}{_ratio(res.cpu, fc):>9}  {'; '.join(note)}"
            )
    return "\n".join(lines)


STREAMS = ("aiohttp_sse", "astream")


if __name__ == "__main__":
    main()
