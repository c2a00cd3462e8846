"""How long a routing decision takes: ``router.plan()`` (request analysis included).

Targets: < 20 µs median for 3 candidates on a 100-word prompt, < 1 ms for 1,000 candidates,
growing no worse than linearly in candidates or prompt length. Baseline: LiteLLM's Router
picking a deployment (``get_available_deployment``) measured in the same run when litellm is
installed (``pip install 'smartroute-llm[bench]'``).

    python benchmarks/bench_plan.py
    python benchmarks/bench_plan.py --instructions   # callgrind instruction counts (valgrind)

``--instructions`` counts CPU instructions per call with callgrind (deterministic, unlike time
on a shared machine): each case runs in a fresh interpreter with N calls and again with N=0, and
the difference divided by N is the cost of one call, free of start-up and imports. Targets:
``plan()`` <= 80k instructions for 3 candidates and a 100-word prompt, <= 3M for 1,000.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from smartroute_llm import ProviderCapability, Router, RoutingPolicy, to_request
from smartroute_llm.testing import ScriptedTarget

WORDS = [
    "the",
    "model",
    "should",
    "explain",
    "why",
    "a",
    "distributed",
    "system",
    "needs",
    "careful",
    "design",
    "of",
    "its",
    "caches",
    "and",
    "queues",
    "while",
    "keeping",
    "latency",
    "low",
    "for",
    "users",
    "in",
    "many",
    "regions",
]


def prompt(n_words: int) -> str:
    rng = random.Random(n_words)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def fleet(n: int) -> list[ScriptedTarget]:
    rng = random.Random(n)
    tiers_s = ["very_fast", "fast", "medium", "slow"]
    tiers_q = ["low", "medium", "high", "premium"]
    return [
        ScriptedTarget(
            f"model-{i}",
            ProviderCapability(
                speed_tier=rng.choice(tiers_s),
                quality_tier=rng.choice(tiers_q),
                input_cost_per_1m=rng.uniform(0.05, 15),
                output_cost_per_1m=rng.uniform(0.1, 60),
                max_tokens=rng.choice([32_000, 128_000, 200_000, 1_000_000]),
            ),
        )
        for i in range(n)
    ]


def median_us(fn: Callable[[], object], min_time: float = 0.3) -> float:
    for _ in range(20):
        fn()
    samples = []
    deadline = time.perf_counter() + min_time
    while time.perf_counter() < deadline or len(samples) < 30:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(samples)


def litellm_pick_us(n: int) -> float | None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch
    try:
        import litellm  # noqa: F401
        from litellm import Router as LiteLLMRouter
    except ImportError:
        return None
    model_list = [
        {
            "model_name": "group",
            "litellm_params": {
                "model": f"openai/model-{i}",
                "api_key": "sk-bench",
                "rpm": 1_000_000,
            },
        }
        for i in range(n)
    ]
    r = LiteLLMRouter(model_list=model_list, routing_strategy="simple-shuffle")
    msgs = [{"role": "user", "content": prompt(100)}]
    return median_us(lambda: r.get_available_deployment(model="group", messages=msgs), 0.5)


def _case(name: str) -> Callable[[], object]:
    """One call of an instruction-count case, set up (and warmed) outside the measured loop."""
    from smartroute_llm.features import analyze

    text = prompt(100)
    msgs = [{"role": "user", "content": text}]
    flags = RoutingPolicy.balanced().prefer_fast_for_simple_requests()
    flags = flags.prefer_quality_for_complex_requests()
    cases: dict[str, Callable[[], object]] = {}
    if name == "to_request":
        return lambda: to_request(msgs)
    if name == "analyze":
        req = to_request(msgs)
        return lambda: analyze(req)
    n = 1000 if name.endswith("1000") else 3
    policy = flags if "flags" in name else RoutingPolicy.cheapest() if "cheap" in name else None
    r = Router(fleet(n), policy)
    cases["plan"] = lambda: r.plan(msgs)
    cases["plan_str"] = lambda: r.plan(text)
    return cases["plan_str" if name.startswith("plan_str") else "plan"]


INSTRUCTION_CASES = {
    # name: (label, calls)
    "to_request": ("to_request(messages), 100 words", 2000),
    "analyze": ("analyze(request), 100 words", 2000),
    "plan3": ("plan(messages), 3 candidates, balanced", 2000),
    "plan_str3": ("plan(prompt str), 3 candidates, balanced", 2000),
    "plan3_flags": ("plan, 3 candidates, balanced+flags", 2000),
    "plan3_cheap": ("plan, 3 candidates, cheapest", 2000),
    "plan1000": ("plan, 1,000 candidates, balanced", 100),
}
TARGETS = {"plan3": 80_000, "plan1000": 3_000_000}


def _child(name: str, n: int) -> None:
    call = _case(name)
    for _ in range(20):
        call()
    for _ in range(n):
        call()


def _instructions(name: str, n: int, out: str) -> int:
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            name,
            str(n),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts in both runs
    )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"{name} n={n} failed:\n{proc.stderr[-3000:]}")
    return int(match.group(1))


def instructions(names: list[str]) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    print(f"{'case':<44}{'instructions/call':>18}{'target':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        for name in names:
            label, n = INSTRUCTION_CASES[name]
            per = (_instructions(name, n, out) - _instructions(name, 0, out)) / n
            target = TARGETS.get(name)
            mark = f"{target:>12,}" if target else f"{'':>12}"
            print(f"{label:<44}{per:>18,.0f}{mark}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instructions", nargs="*", metavar="CASE", choices=[*INSTRUCTION_CASES],
                    help="callgrind instructions per call (all cases when none is named)")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
    elif args.instructions is not None:
        instructions(args.instructions or list(INSTRUCTION_CASES))
    else:
        timings()


def timings() -> None:
    short = to_request(prompt(100))
    long = to_request(prompt(10_000))
    policies = {
        "balanced+flags": RoutingPolicy.balanced()
        .prefer_fast_for_simple_requests()
        .prefer_quality_for_complex_requests(),
        "cheapest": RoutingPolicy.cheapest(),
    }
    print(
        f"{'policy':<16}{'candidates':>11}{'100 words µs':>15}{'10k words µs':>15}"
        f"{'LiteLLM pick µs':>17}{'ratio':>8}"
    )
    results: dict[tuple[str, int], tuple[float, float]] = {}
    for n in (3, 30, 300, 1000):
        base = litellm_pick_us(n)
        for name, policy in policies.items():
            r = Router(fleet(n), policy)
            a = median_us(lambda r=r: r.plan(short))
            b = median_us(lambda r=r: r.plan(long))
            results[(name, n)] = (a, b)
            ratio = f"{base / a:>7.1f}x" if base else "    n/a"
            lit = f"{base:>17.1f}" if base else f"{'(not installed)':>17}"
            print(f"{name:<16}{n:>11}{a:>15.1f}{b:>15.1f}{lit}{ratio}")
    a3, _ = results[("balanced+flags", 3)]
    a1000, _ = results[("balanced+flags", 1000)]
    print()
    print(f"3 candidates, 100 words: {a3:.1f} µs (target < 20 µs)")
    print(f"1,000 candidates: {a1000:.0f} µs (target < 1,000 µs)")
    print(f"growth 3 -> 1,000 candidates: {a1000 / a3:.0f}x for 333x the candidates")
    _, b3 = results[("balanced+flags", 3)]
    print(f"growth 100 -> 10,000 words (3 candidates): {b3 / a3:.1f}x for 100x the words")
    print(
        "LiteLLM reference figures: 63-325 µs per pick for 3 deployments on this machine "
        "class; 51 ms at 1,000 reported upstream."
    )


if __name__ == "__main__":
    main()
