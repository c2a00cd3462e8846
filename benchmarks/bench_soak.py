"""Soak: many calls through one async router against fault-injecting loopback servers.

Production failures are rare events that only show in bulk: a leaked in-flight count, a call that
never ends, an answer handed to the wrong caller, an exception type nobody catches. This runs
``--calls`` logical calls (30% streamed) at ``--concurrency`` against a FakeProvider in a
separate process (it does not share this process's GIL; same approach as bench_providers.py)
serving four targets, two OpenAI- and two Anthropic-format, each with its own fault mix: 429
with and without Retry-After, 500, 503/529, bounded hangs, connection resets, malformed JSON,
truncated SSE, slow first token, stalls, a periodic outage window, and (``--hostile``, when the
installed FakeProvider has them) drip, keepalive-only SSE, oversized and gzip-bomb bodies,
negative usage and truncated tool-call JSON. 2% of the callers give up early (asyncio.timeout).

Every call has a unique prompt; the server echoes it as ``[model] prompt``, so each answer can be
checked against its own call and against the decision's target. It prints the invariants (all
must be 0): calls lost (never ended), hung (ended later than deadline + margin + 2 x p99 loop
lag), duplicated, misattributed, wrong results (a success that is not its echo, or a negative
cost), exceptions outside ``SmartRouteError``, caller cancellations swallowed, router in-flight
counts left after the run. Then exceptions by type, deadline overshoot, event-loop lag,
resources before/after (RSS, fds, asyncio tasks, threads) and upstream requests per call.
Exit status 1 when an invariant fails.

    .venv/bin/python benchmarks/bench_soak.py                   # 20,000 calls, a few minutes
    .venv/bin/python benchmarks/bench_soak.py --calls 100000 --concurrency 256
    .venv/bin/python benchmarks/bench_soak.py --quick           # 3,000 calls, a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# the checkout this file lives in, not whatever smartroute is installed (the server subprocess
# gets the same path)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from smartroute_llm import Router, RoutingPolicy  # noqa: E402
from smartroute_llm.errors import AllTargetsFailed, SmartRouteError  # noqa: E402
from smartroute_llm.providers import Anthropic, OpenAICompatible  # noqa: E402

# name -> wire format; names are the models, so an answer's "[model]" tag names its target
TARGETS = {"oa-fast": "openai", "oa-flaky": "openai", "an-main": "anthropic",
           "an-backup": "anthropic"}
PROMPT_RE = re.compile(r"soak-(\d+)-[0-9a-f]{6}")

# --- server side (runs in the subprocess) ---------------------------------------------------


def fault_mix(hang_s: float, stall_s: float, hostile: bool) -> dict[str, list[tuple[float, Any]]]:
    """Per model: (probability, fault) pairs; the rest of the requests are answered normally."""
    from smartroute_llm.testing.fake_provider import Fault

    def slow() -> Fault:
        return Fault.slow_first_token(delay=random.choice((0.3, 0.8, 2.5)))

    mixes: dict[str, list[tuple[float, Any]]] = {
        "oa-fast": [
            (0.02, Fault.rate_limited(retry_after=0.2)), (0.02, Fault.server_error()),
            (0.01, Fault.connection_reset()), (0.01, Fault.malformed_chunk(after_chunks=0)),
            (0.01, Fault.stream_cut(after_chunks=1)), (0.01, "slow"),
            (0.01, Fault.stream_stall(after_chunks=1, delay=stall_s)),
            (0.005, Fault.no_response(delay=hang_s)),
        ],
        "oa-flaky": [
            (0.08, Fault.overloaded(503)), (0.04, Fault.rate_limited()),
            (0.03, Fault.connection_reset()), (0.03, Fault.no_response(delay=hang_s)),
            (0.03, Fault.stream_stall(after_chunks=1, delay=stall_s)),
            (0.03, Fault.stream_cut(after_chunks=1, abort=False)),
            (0.02, Fault.malformed_chunk(after_chunks=1)), (0.03, "slow"),
        ],
        "an-main": [
            (0.05, Fault.overloaded(529)), (0.02, Fault.rate_limited(retry_after=0.3)),
            (0.01, Fault.no_response(delay=hang_s)), (0.02, Fault.stream_cut(after_chunks=1)),
            (0.02, "slow"), (0.01, Fault.stream_stall(after_chunks=1, delay=stall_s)),
            (0.01, Fault.malformed_chunk(after_chunks=0)),
        ],
        "an-backup": [(0.005, Fault.server_error()), (0.005, Fault.connection_reset())],
    }
    if hostile:
        extra = hostile_faults(hang_s)
        for i, model in enumerate(mixes):
            mixes[model] += [(p, f) for p, f in extra[i % 2 :: 2]]
    resolved: dict[str, list[tuple[float, Any]]] = {}
    for model, mix in mixes.items():
        resolved[model] = [(p, slow if f == "slow" else f) for p, f in mix]
    return resolved


def hostile_faults(hang_s: float) -> list[tuple[float, Any]]:
    """(probability, fault) for the hostile faults the installed FakeProvider offers (none on
    older versions). Big bodies exceed the 32 MB answer limit issue #12 asks for, and are rare:
    each one moves tens of megabytes."""
    from smartroute_llm.testing.fake_provider import Fault

    f: Any = Fault
    makers = [
        ("drip", 0.002, lambda: f.drip(interval=0.2, delay=hang_s)),
        ("keepalive_only", 0.002, lambda: f.keepalive_only(delay=hang_s)),
        ("oversized", 0.0005, lambda: f.oversized(40 << 20)),
        ("gzip_bomb", 0.0005, lambda: f.gzip_bomb(64 << 20)),
        ("negative_usage", 0.002, lambda: f.negative_usage()),
        ("truncated_tool_call", 0.002, lambda: f.truncated_tool_call()),
    ]
    return [(p, make()) for name, p, make in makers if hasattr(Fault, name)]


def serve(args: argparse.Namespace) -> int:
    """The subprocess: start the server, print its URL, answer ``count`` on stdin, stop at EOF."""
    from smartroute_llm.testing.fake_provider import FakeProvider, heavy_tail

    rng = random.Random(args.seed)
    mixes = fault_mix(args.hang_s, args.stall_s, args.hostile)
    t0 = time.monotonic()

    def responder(model: str, body: dict[str, Any]) -> Any:
        # a periodic outage window on oa-flaky: the breaker should keep traffic off it
        if model == "oa-flaky" and (time.monotonic() - t0) % 20.0 < 2.0:
            return mixes[model][0][1]
        roll = rng.random()
        for p, fault in mixes.get(model, ()):
            roll -= p
            if roll < 0:
                return fault() if callable(fault) else fault
        return f"[{model}] {last_user_text(body)}"

    fp = FakeProvider(record=True, latency=heavy_tail(0.02, 0.8, rng=random.Random(args.seed)),
                      responder=responder, chunk_chars=6)
    fp.start()
    print(json.dumps({"url": fp.url, "hostile": len(hostile_faults(1.0)) if args.hostile else 0}),
          flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                counts = Counter(a.model for a in list(fp.attempts))
                outcomes = Counter(a.outcome for a in list(fp.attempts))
                print(json.dumps({"models": counts, "outcomes": outcomes}), flush=True)
    finally:
        fp.stop()
    return 0


def last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


class Server:
    """The FakeProvider subprocess; every read from it is bounded."""

    def __init__(self, args: argparse.Namespace) -> None:
        cmd = [sys.executable, os.path.abspath(__file__), "--serve", "--seed", str(args.seed),
               "--hang-s", str(args.hang_s), "--stall-s", str(args.stall_s)]
        if args.hostile:
            cmd.append("--hostile")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": _pythonpath()})
        hello = json.loads(self._readline(60))
        self.url: str = hello["url"]
        self.hostile: int = hello["hostile"]

    def _readline(self, timeout: float) -> str:
        out: list[str] = []
        assert self.proc.stdout is not None
        reader = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not out or not out[0]:
            self.close()
            raise RuntimeError(f"the FakeProvider subprocess did not answer within {timeout} s")
        return out[0]

    def counts(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._readline(60)))

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _pythonpath() -> str:
    return os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)


# --- client side ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the calls did. A call id lands in exactly one of ok/failed unless something is off."""

    deadline: float
    started: set[int] = field(default_factory=set)
    ends: Counter[int] = field(default_factory=Counter)
    ok: int = 0
    failed: int = 0
    cancelled: int = 0
    swallowed: int = 0
    lost: int = 0
    duplicated: int = 0
    misattributed: int = 0
    wrong: int = 0
    exceptions: Counter[str] = field(default_factory=Counter)
    foreign: Counter[str] = field(default_factory=Counter)
    final_kinds: Counter[str] = field(default_factory=Counter)
    attempt_kinds: Counter[str] = field(default_factory=Counter)
    elapsed: list[float] = field(default_factory=list)
    slowest: list[tuple[float, int]] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def end(self, i: int, seconds: float) -> None:
        self.ends[i] += 1
        if self.ends[i] > 1:
            self.duplicated += 1
            self.example("duplicated", f"call {i} ended {self.ends[i]} times")
        self.elapsed.append(seconds)
        if seconds > self.deadline:
            self.slowest.append((seconds, i))

    def hung(self, margin: float) -> int:
        """Calls that ended more than ``margin`` seconds past the deadline."""
        late = sorted((s for s in self.slowest if s[0] > self.deadline + margin), reverse=True)
        for seconds, i in late[:3]:
            self.example("hung", f"call {i} took {seconds:.2f} s (deadline {self.deadline} s)")
        return len(late)

    def example(self, what: str, text: str) -> None:
        seen = self.examples.setdefault(what, [])
        if len(seen) < 3:
            seen.append(text[:400])

    def answer(
        self, i: int, prompt: str, text: str, decision: Any, n_final: int, extra: str
    ) -> None:
        """Check one successful answer against its own prompt and the decision's target."""
        if decision is None:
            self.wrong += 1
            self.example("wrong", f"call {i}: success without a decision")
            return
        for a in decision.attempts:
            self.attempt_kinds[a.error_kind.value if a.error_kind else "ok"] += 1
        expected = f"[{decision.model}] {prompt}"
        ids = {int(m) for m in PROMPT_RE.findall(text)}
        tag = text[1 : text.find("]")] if text.startswith("[") else ""
        if n_final > 1 or text.count(prompt) > 1:
            self.duplicated += 1
            self.example("duplicated", f"call {i}: {n_final} final chunks, text {text!r}")
        elif ids - {i} or (tag and tag != decision.model):
            self.misattributed += 1
            self.example("misattributed", f"call {i} via {decision.target}: {text!r}")
        elif text != expected or decision.cost_usd < 0:
            self.wrong += 1
            self.example("wrong", f"call {i} via {decision.target}: {text[:60]!r} "
                                  f"({len(text):,} chars) cost={decision.cost_usd}{extra}")
        else:
            self.ok += 1

    def error(self, i: int, exc: BaseException) -> None:
        self.failed += 1
        name = type(exc).__name__
        self.exceptions[name] += 1
        if not isinstance(exc, SmartRouteError):
            self.foreign[name] += 1
            self.example(f"foreign {name}", f"call {i}: {exc!r}")
        if isinstance(exc, AllTargetsFailed):
            for a in exc.attempts:
                self.attempt_kinds[a.error_kind.value if a.error_kind else "ok"] += 1
            last = exc.last_error
            self.final_kinds[last.kind.value if last is not None else f"{name} (no attempt)"] += 1
        else:
            kind = getattr(exc, "kind", None)
            self.final_kinds[getattr(kind, "value", name)] += 1


def build_router(url: str, args: argparse.Namespace) -> Router:
    targets: list[Any] = []
    for name, wire in TARGETS.items():
        if wire == "openai":
            targets.append(OpenAICompatible(name, base_url=url + "/v1", api_key="sk-soak"))
        else:
            targets.append(Anthropic(name, base_url=url, api_key="sk-ant-soak"))
    policy = (
        RoutingPolicy.round_robin()
        .retries(2, backoff_base_s=0.05, backoff_max_s=0.5, retry_after_cap_s=1.0)
        .timeouts(timeout=args.deadline, ttft=args.ttft, stall=args.stall, connect=1.0)
        .deadline(args.deadline)
        .circuit_breaker(failure_threshold=5, cooldown_s=1.0, max_cooldown_s=5.0)
        .fallback_chain(["an-backup", "oa-fast", "an-main", "oa-flaky"])
    )
    return Router(targets, policy)


@dataclass(frozen=True)
class Plan:
    """How one call is made: streamed or not, on the sync API (in a thread) or async, and
    after how many seconds its caller gives up (async only: a sync call cannot be cancelled)."""

    stream: bool
    sync: bool
    cancel_after: float | None


async def one_call(router: Router, i: int, plan: Plan, tally: Tally) -> None:
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(plan.cancel_after) as scope:
            await call_body(router, i, plan, tally, t0)
    except TimeoutError:
        tally.end(i, time.perf_counter() - t0)
        tally.cancelled += 1
        return
    if scope.expired():
        # the caller's cancellation was swallowed: turned into an answer or an error
        tally.swallowed += 1
        tally.example("swallowed cancel", f"call {i} went on after its caller's timeout")


Outcome = tuple[str, Any, int, str]  # text, decision, final chunks seen, detail


async def call_body(router: Router, i: int, plan: Plan, tally: Tally, t0: float) -> None:
    prompt = f"soak-{i}-{random.getrandbits(24):06x}"
    tally.started.add(i)
    try:
        if plan.sync:
            out = await in_thread(lambda: sync_call(router, prompt, plan.stream))
        elif plan.stream:
            out = await astream_call(router, prompt)
        else:
            resp = await router.achat(prompt)
            out = (resp.text, resp.decision, 1, _tool_detail(resp))
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # every outcome is counted, including ones that should not be
        tally.end(i, time.perf_counter() - t0)
        tally.error(i, exc)
    else:
        tally.end(i, time.perf_counter() - t0)
        tally.answer(i, prompt, *out)


class Final:
    """Counts chunks carrying a decision, and anything after the first: each is an ending."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.deltas: list[str] = []
        self.decision: Any = None
        self.n = 0

    def add(self, chunk: Any) -> None:
        self.deltas += [d.arguments for d in chunk.tool_call_deltas]
        if self.n:
            self.n += 1
        self.text.append(chunk.text)
        if chunk.decision is not None:
            self.decision = chunk.decision
            self.n += 1

    def outcome(self) -> Outcome:
        extra = f" tool-call arguments={''.join(self.deltas)!r}" if self.deltas else ""
        return "".join(self.text), self.decision, self.n, extra


async def astream_call(router: Router, prompt: str) -> Outcome:
    final = Final()
    async for chunk in router.astream(prompt):
        final.add(chunk)
    return final.outcome()


def sync_call(router: Router, prompt: str, stream: bool) -> Outcome:
    if not stream:
        resp = router.chat(prompt)
        return resp.text, resp.decision, 1, _tool_detail(resp)
    final = Final()
    for chunk in router.stream(prompt):
        final.add(chunk)
    return final.outcome()


def _tool_detail(resp: Any) -> str:
    return f" tool_calls={[(c.name, c.arguments) for c in resp.tool_calls]}"


def in_thread(fn: Any) -> asyncio.Future[Any]:
    """``fn()`` on a daemon thread of its own: a sync call that never returns must not keep
    the benchmark from ending (pool threads would be joined at exit)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def run() -> None:
        try:
            ok, value = True, fn()
        except BaseException as exc:
            ok, value = False, exc
        with contextlib.suppress(RuntimeError):  # a closed loop: the call was counted lost
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=run, name="soak-sync-call", daemon=True).start()
    return fut


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    """Event-loop lag: how late a 10 ms sleep wakes up."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - t0 - 0.01)


def resources() -> dict[str, float]:
    gc.collect()
    rss = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return {
        "rss_mb": round(rss, 1),
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "sync_callers": sum(t.name == "soak-sync-call" for t in threading.enumerate()),
        "os_threads": len(os.listdir("/proc/self/task")),
    }


async def soak(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    tally = Tally(deadline=args.deadline)
    lost_after = args.deadline + args.lost_after
    before = resources()
    router = build_router(server.url, args)
    rng = random.Random(args.seed + 1)
    plans = []
    for _ in range(args.calls):
        stream, sync = rng.random() < args.stream_share, rng.random() < args.sync_share
        cancel = not sync and rng.random() < args.cancel_share
        plans.append(Plan(stream, sync, rng.uniform(0.05, args.deadline) if cancel else None))
    next_id = iter(range(args.calls))
    stop = asyncio.Event()
    lags: list[float] = []
    probe = asyncio.create_task(lag_probe(lags, stop))

    async def worker() -> None:
        for i in next_id:
            task = asyncio.create_task(one_call(router, i, plans[i], tally))
            done, _ = await asyncio.wait({task}, timeout=lost_after)
            if not done:
                tally.lost += 1
                tally.example("lost", f"call {i} had not ended after {lost_after:.0f} s")
                task.cancel()
                await asyncio.wait({task}, timeout=10)

    t0 = time.perf_counter()
    last_report = t0
    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    pending = set(workers)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=5)
        now = time.perf_counter()
        if args.progress and now - last_report >= 10:
            last_report = now
            done_n = sum(tally.ends.values())
            print(f"  {now - t0:5.0f} s  {done_n:>7} calls ended  ({done_n / (now - t0):.0f}/s)",
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    stop.set()
    await asyncio.wait({probe}, timeout=5)
    stats = router.stats()["targets"]
    inflight = {name: s["inflight"] for name, s in stats.items()}
    after_calls = resources()
    await router.aclose()
    await asyncio.sleep(0.5)  # closed connections' callbacks run
    after_close = resources()
    upstream = server.counts()
    lost = tally.lost + len(tally.started - set(tally.ends))
    over = sorted(max(0.0, e - args.deadline) for e in tally.elapsed)
    late = [o for o in over if o > 0]
    lags.sort()
    # a call is hung when it outlived its deadline by more than the margin plus what the
    # loop's own lag explains (2 x its p99: a call waits on the loop more than once)
    hung_margin = args.hung_margin + 2 * _q(lags, 0.99)
    return {
        "calls": args.calls, "concurrency": args.concurrency, "wall_s": round(wall, 1),
        "calls_per_s": round(args.calls / wall, 1),
        "streamed": sum(p.stream for p in plans), "sync": sum(p.sync for p in plans),
        "ok": tally.ok, "failed": tally.failed, "cancelled": tally.cancelled,
        "cancel_planned": sum(p.cancel_after is not None for p in plans),
        "hung_margin_s": round(hung_margin, 3),
        "invariants": {"lost": lost, "hung": tally.hung(hung_margin),
                       "duplicated": tally.duplicated,
                       "misattributed": tally.misattributed, "wrong_result": tally.wrong,
                       "foreign_exceptions": sum(tally.foreign.values()),
                       "swallowed_cancels": tally.swallowed,
                       "inflight_after": sum(inflight.values())},
        "exceptions": dict(tally.exceptions.most_common()),
        "foreign": dict(tally.foreign), "final_kinds": dict(tally.final_kinds.most_common()),
        "attempt_kinds": dict(tally.attempt_kinds.most_common()),
        "call_s": {"p50": _q(sorted(tally.elapsed), 0.5), "p99": _q(sorted(tally.elapsed), 0.99),
                   "max": max(tally.elapsed, default=0.0)},
        "overshoot": {"late_calls": len(late), "p50": _q(late, 0.5), "p99": _q(late, 0.99),
                      "max": max(over, default=0.0)},
        "loop_lag_s": {"p50": _q(lags, 0.5), "p99": _q(lags, 0.99), "max": max(lags, default=0)},
        "resources": {"before": before, "after_calls": after_calls, "after_close": after_close},
        "inflight_after": inflight,
        "upstream": upstream, "upstream_per_call": round(sum(upstream["models"].values())
                                                         / args.calls, 3),
        "examples": tally.examples,
    }


def _q(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 4) if values else 0.0


def report(r: dict[str, Any], args: argparse.Namespace, hostile: int) -> bool:
    inv = r["invariants"]
    import smartroute_llm

    print(f"smartroute from {os.path.dirname(smartroute_llm.__file__)}")
    print(f"soak: {r['calls']:,} calls ({r['streamed']:,} streamed, {r['sync']:,} on the sync "
          f"API) at concurrency "
          f"{r['concurrency']}, deadline {args.deadline} s, ttft {args.ttft} s, stall "
          f"{args.stall} s; hostile faults: {hostile or 'off'}")
    print(f"  wall {r['wall_s']} s ({r['calls_per_s']} calls/s); ok {r['ok']:,}, "
          f"failed {r['failed']:,}, cancelled by the caller {r['cancelled']:,} "
          f"(of {r['cancel_planned']:,} given a caller timeout)")
    print("invariants (all must be 0):")
    for name, value in inv.items():
        print(f"  {name:<20} {value:>8}{'   <-- FAIL' if value else ''}")
    print("exceptions by type:", ", ".join(f"{k} {v}" for k, v in r["exceptions"].items())
          or "none")
    if r["foreign"]:
        print("  OUTSIDE SmartRouteError:", r["foreign"])
    print("final error kinds:", ", ".join(f"{k} {v}" for k, v in r["final_kinds"].items()))
    print("attempt outcomes:", ", ".join(f"{k} {v}" for k, v in r["attempt_kinds"].items()))
    c, o, lag = r["call_s"], r["overshoot"], r["loop_lag_s"]
    print(f"call time s: p50 {c['p50']} p99 {c['p99']} max {c['max']:.3f}")
    print(f"deadline overshoot s ({o['late_calls']} calls past the deadline): p50 {o['p50']} "
          f"p99 {o['p99']} max {o['max']:.3f}; hung means > {r['hung_margin_s']} s past it")
    print(f"event-loop lag s (10 ms probe): p50 {lag['p50']} p99 {lag['p99']} max "
          f"{lag['max']:.3f}")
    res = r["resources"]
    print(f"{'':14}{'before':>10}{'after calls':>13}{'after close':>13}")
    for key in ("rss_mb", "fds", "tasks", "threads", "sync_callers", "os_threads"):
        print(f"  {key:<12}{res['before'][key]:>10}{res['after_calls'][key]:>13}"
              f"{res['after_close'][key]:>13}")
    print("router in-flight after the run:", r["inflight_after"])
    print(f"upstream requests: {sum(r['upstream']['models'].values()):,} "
          f"({r['upstream_per_call']} per call) by model {r['upstream']['models']}")
    for what, texts in r["examples"].items():
        for text in texts:
            print(f"  e.g. {what}: {text}")
    return not any(inv.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="3,000 calls at concurrency 128")
    p.add_argument("--stream-share", type=float, default=0.3)
    p.add_argument("--sync-share", type=float, default=0.05,
                   help="share of calls made on the sync API (router.chat/stream in a thread)")
    p.add_argument("--cancel-share", type=float, default=0.02,
                   help="share of calls the caller abandons (asyncio.timeout 0.05 s..deadline)")
    p.add_argument("--deadline", type=float, default=3.0, help="policy deadline, seconds")
    p.add_argument("--ttft", type=float, default=1.0)
    p.add_argument("--stall", type=float, default=1.0)
    p.add_argument("--hang-s", type=float, default=8.0, help="how long a hang lasts upstream")
    p.add_argument("--stall-s", type=float, default=8.0, help="how long a stall lasts upstream")
    p.add_argument("--hung-margin", type=float, default=1.0,
                   help="a call ending later than deadline + this + 2 x p99 loop lag is hung")
    p.add_argument("--lost-after", type=float, default=60.0,
                   help="a call not ended this long after its deadline is counted lost")
    p.add_argument("--hostile", action="store_true",
                   help="add the FakeProvider's hostile faults (drip, gzip bomb, ...) if present")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args)
    if args.quick:
        args.calls, args.concurrency = 3_000, 128
    shares = (args.stream_share, args.sync_share, args.cancel_share)
    if args.calls < 1 or args.concurrency < 1 or not all(0 <= x <= 1 for x in shares):
        p.error("--calls and --concurrency must be >= 1; --stream-share, --sync-share and "
                "--cancel-share in [0, 1]")
    server = Server(args)
    try:
        result = asyncio.run(soak(args, server))
    finally:
        server.close()
    passed = report(result, args, server.hostile)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
