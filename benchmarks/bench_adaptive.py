"""ADAPTIVE: decision time against BALANCED, the memory of its learned state, and what it
learns online on real outcome tables.

Targets: < 50 µs median for an ADAPTIVE decision over 3 candidates without the prompt text,
and well under 1 ms extra with it (prompt clusters, 100-word prompt); state memory bounded
(flat) however many outcomes are recorded. Baseline: BALANCED ranking the same candidates in
the same run (the decision ADAPTIVE starts from at cold start).

Online quality (``--tables``): ADAPTIVE replayed online on the RouterBench test split and the
RouteLLM table (no training table beyond the calibrated tiers and prices; feedback only for
the model it chose), its AIQ over a willingness-to-pay sweep, each setting a fresh replay,
on the whole stream and on its second half, against the per-task table (needs the task
label) and the single-model hull on the same rows.

    python benchmarks/bench_adaptive.py            # 1,000,000 outcomes (a minute or two)
    python benchmarks/bench_adaptive.py --outcomes 100000
    python benchmarks/bench_adaptive.py --tables   # online AIQ (several minutes)
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.errors import ErrorKind
from smartroute_llm.features import analyze
from smartroute_llm.feedback import Outcome
from smartroute_llm.request import to_request
from smartroute_llm.testing import FakeClock, ScriptedTarget

PROMPT = (
    "Explain why a distributed system needs careful design of its caches and queues while "
    "keeping latency low for users in many regions, and compare two designs."
)
CLASSES = ("simple", "moderate", "complex")


def fleet(n: int, clock: FakeClock) -> list[ScriptedTarget]:
    rng = random.Random(n)
    return [
        ScriptedTarget(
            f"model-{i}",
            ProviderCapability(
                speed_tier=rng.choice(["very_fast", "fast", "medium", "slow"]),
                quality_tier=rng.choice(["low", "medium", "high", "premium"]),
                input_cost_per_1m=rng.uniform(0.05, 15), output_cost_per_1m=rng.uniform(0.1, 60),
            ),
            clock=clock,
        )
        for i in range(n)
    ]


def median_us(fn: Callable[[], object], min_time: float = 0.5) -> float:
    for _ in range(50):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + min_time
    while time.perf_counter() < deadline or len(samples) < 200:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(samples)


def warm(router: Router, n: int, rng: random.Random) -> None:
    """Give every target recorded outcomes and quality scores in every class, so the
    decision reads real records and samples every posterior."""
    names = [p.name for p in router.profiles]
    for i in range(n):
        name = names[i % len(names)]
        cls = CLASSES[i % 3]
        ok = rng.random() > 0.05
        router.feedback.record_outcome(
            Outcome(
                target=name, model=name, complexity_class=cls, ok=ok,
                latency_s=rng.uniform(0.2, 3.0), output_tokens=rng.randint(20, 800) if ok else 0,
                error_kind=None if ok else ErrorKind.OVERLOADED, at=router.clock(),
            )
        )
        router.strategy.on_quality(name, cls, rng.random(), router.clock())  # type: ignore[attr-defined]


def decision_times() -> None:
    print("decision time, median µs (strategy.rank / full router.plan incl. request analysis)")
    print(f"{'candidates':>10} {'balanced':>9} {'adaptive':>9} {'ratio':>6}   "
          f"{'plan bal.':>9} {'plan ad.':>9}")
    request = to_request(PROMPT)
    for n in (3, 30):
        clock = FakeClock()
        targets = fleet(n, clock)
        bal = Router(targets, RoutingPolicy.balanced(), clock=clock)
        ada = Router(targets, RoutingPolicy.adaptive_().adaptive_config(seed=1), clock=clock)
        warm(ada, 30 * n, random.Random(n))
        features = analyze(request, None)
        eligible = bal.profiles
        rb = median_us(partial(bal.strategy.rank, eligible, features))
        ra = median_us(partial(ada.strategy.rank, eligible, features))
        pb = median_us(partial(bal.plan, request))
        pa = median_us(partial(ada.plan, request))
        flag = "  (target < 50 µs)" if n == 3 else ""
        print(f"{n:>10} {rb:>9.1f} {ra:>9.1f} {ra / rb:>5.1f}x   {pb:>9.1f} {pa:>9.1f}{flag}")
    cluster_cost()


def cluster_cost() -> None:
    """The prompt-cluster step of a decision (vector + two-level nearest search) for a
    100-word prompt, with the cluster tables full."""
    from smartroute_llm.strategies.clusters import PromptContexts

    rng = random.Random(0)
    words = PROMPT.replace(",", "").replace(".", "").split()
    ctx = PromptContexts(lambda cid: None)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
             for _ in range(4000)]
    for i in range(4000):
        fam = vocab[(i % 40) * 100 : (i % 40) * 100 + 100]  # 40 families, own vocabularies
        ctx.assign(" ".join(rng.choice(fam) for _ in range(40)))
    prompt = " ".join(rng.choice(words) for _ in range(100))
    us = median_us(partial(ctx.assign, prompt))
    print(f"prompt clusters: {us:.0f} µs per decision (100-word prompt, {len(ctx.coarse)} "
          f"coarse clusters, {sum(len(f) for f in ctx.fine.values())} fine; target well "
          "under 1 ms)")


def online_tables() -> None:
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np
    from bench_eval import ROUTELLM, ROUTERBENCH, TaskLookup, routellm_table

    from smartroute_llm.eval.metrics import Scale, report, score, single_model_points
    from smartroute_llm.eval.replay import ONLINE_COST_WEIGHTS, PolicySpec, replay
    from smartroute_llm.eval.tables import open_queries, read_table, split_table

    def tables():  # type: ignore[no-untyped-def]
        if ROUTERBENCH.is_file():
            train = read_table(ROUTERBENCH, split="train", task_column="eval_name",
                               drop_incomplete=True)
            yield "RouterBench test", train, open_queries(
                ROUTERBENCH, split="test", task_column="eval_name", drop_incomplete=True)
        if ROUTELLM.is_file():
            train, test = split_table(routellm_table(ROUTELLM), 0.3, seed=0)
            yield "RouteLLM test", train, test.queries()

    variants = [
        ("before: per class, cost weight x6", dict(clusters=False), "cost_weight"),
        ("per class, willingness to pay x20", dict(clusters=False), "wtp"),
        ("after: per cluster, willingness to pay x20", {}, "wtp"),
    ]
    for name, train, queries in tables():
        test = queries.load_outcomes()
        half = np.arange(len(queries) // 2, len(queries))
        second = test.take(half)
        print(f"\n== {name}: {len(queries)} rows online (AIQ whole stream / second half)")
        for label, cfg, knob in variants:
            base = RoutingPolicy().adaptive_config(seed=1, **cfg)
            knobs = ONLINE_COST_WEIGHTS if knob == "cost_weight" else None
            t0 = time.perf_counter()
            res = replay(PolicySpec("adaptive", strategy="adaptive", base=base, knob=knob,
                                    knobs=knobs), train, queries)
            whole = report(label, [score(test, p.decisions, knob=p.knob) for p in res.points],
                           Scale.of(test))
            tail = report(label, [score(second, p.decisions[half], knob=p.knob)
                                  for p in res.points], Scale.of(second))
            print(f"  ADAPTIVE {label:<44} {whole.aiq:.3f} / {tail.aiq:.3f}   "
                  f"({time.perf_counter() - t0:.0f}s)")
        if any(t is not None for t in train.tasks):
            res = replay(PolicySpec("task", classifier=TaskLookup(train, queries), knob="wtp"),
                         train, queries)
            whole = report("t", [score(test, p.decisions) for p in res.points], Scale.of(test))
            tail = report("t", [score(second, p.decisions[half]) for p in res.points],
                          Scale.of(second))
            print(f"  {'per-task table (needs the label; trained)':<53} {whole.aiq:.3f} / "
                  f"{tail.aiq:.3f}")
        hw = report("h", single_model_points(test), Scale.of(test))
        ht = report("h", single_model_points(second), Scale.of(second))
        print(f"  {'single-model hull':<53} {hw.aiq:.3f} / {ht.aiq:.3f}")


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and everything it holds (containers of plain values)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset | deque):
        size += sum(deep_size(v, seen) for v in obj)
    return size


def state_memory(total: int) -> None:
    print(f"\nmemory while recording {total:,} outcomes (8 targets, 3 classes, a quality score "
          "for every 10th)")
    print(f"{'outcomes':>10} {'records':>8} {'learned state':>14} {'state JSON':>11} "
          f"{'feedback loop':>14} {'max RSS':>9}")
    clock = FakeClock()
    router = Router(fleet(8, clock), RoutingPolicy.adaptive_().adaptive_config(seed=1),
                    clock=clock)
    names = [p.name for p in router.profiles]
    rng = random.Random(0)
    record = router.feedback.record_outcome
    loop = router.feedback
    checkpoints = {c for c in (1_000, 10_000, 100_000, 1_000_000, total) if c <= total}
    t0 = time.perf_counter()
    for i in range(1, total + 1):
        name = names[rng.randrange(8)]
        ok = rng.random() > 0.03
        clock.advance(0.01)
        record(
            Outcome(
                target=name, model=name, complexity_class=CLASSES[i % 3], ok=ok,
                latency_s=rng.uniform(0.2, 3.0), output_tokens=200 if ok else 0,
                error_kind=None if ok else ErrorKind.OVERLOADED, decision_id=f"d{i}",
                at=clock(),
            )
        )
        if i % 10 == 0:
            router.record_feedback(f"d{i}", rng.random())
        if i in checkpoints:
            records = dict(router.state.items("adaptive"))
            state = router.strategy.export_state()  # type: ignore[attr-defined]
            loop_size = deep_size([loop._latency, loop._ttft, loop._counts, loop._decisions])
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{i:>10,} {len(records):>8} {deep_size(records) / 1024:>11.1f} KiB "
                  f"{len(json.dumps(state)) / 1024:>7.1f} KiB {loop_size / 1024:>10.0f} KiB "
                  f"{rss:>6.0f} MiB")
    rate = total / (time.perf_counter() - t0)
    print(f"recording rate: {rate:,.0f} outcomes/s (feedback loop + learning)")
    print("the feedback loop keeps 128 latencies per target and the last 10,000 decision ids "
          "(for feedback by id); both are bounded")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcomes", type=int, default=1_000_000)
    ap.add_argument("--tables", action="store_true", help="online AIQ on outcome tables")
    args = ap.parse_args()
    if args.tables:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        online_tables()
        return
    decision_times()
    state_memory(args.outcomes)


if __name__ == "__main__":
    main()
