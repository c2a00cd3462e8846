"""Simulations of the ADAPTIVE strategy through the public API: scripted targets on a fake clock.

Traffic share is measured on the target each request was sent to FIRST (``attempts[0]``), i.e.
the routing choice, not the target that answered after a fallback. Retries are off so one
failure is one attempt.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ErrorKind
from smartroute_llm.request import ChatRequest
from smartroute_llm.testing import FakeClock, ScriptedTarget

SIMPLE = "What is the capital of France?"
COMPLEX = (
    "Analyze and compare the tradeoffs of two designs, then prove step by step why the "
    "algorithm in python is correct; explain why it must handle recursion and derive the "
    "complexity of the equation."
)


def _cap(speed: str, quality: str = "high") -> ProviderCapability:
    return ProviderCapability(
        speed_tier=speed, quality_tier=quality, input_cost_per_1m=1.0, output_cost_per_1m=2.0
    )


def _policy(seed: int, **adaptive: float) -> RoutingPolicy:
    return (
        RoutingPolicy()
        .routing_strategy("adaptive")
        .retries(0)
        .circuit_breaker(enabled=False)
        .adaptive_config(seed=seed, **adaptive)
    )


class Fleet:
    """Three targets whose real latency matches their speed tier, with mutable behaviour."""

    def __init__(self, seed: int) -> None:
        self.clock = FakeClock()
        self.rng = random.Random(seed)
        self.latency = {"fast": 0.3, "mid": 0.6, "slow": 1.2}
        self.fail_rate = {"fast": 0.0, "mid": 0.0, "slow": 0.0}
        tiers = {"fast": "very_fast", "mid": "fast", "slow": "medium"}
        self.targets = [
            ScriptedTarget(
                name, _cap(tier), clock=self.clock,
                latency=self._latency_of(name), script=self._script_of(name),
            )
            for name, tier in tiers.items()
        ]
        self.router = Router(self.targets, _policy(seed), clock=self.clock)

    def _latency_of(self, name: str) -> Callable[[ChatRequest], float]:
        return lambda _req: self.latency[name] * self.rng.uniform(0.85, 1.15)

    def _script_of(self, name: str) -> Callable[[ChatRequest], object]:
        def answer(_req: ChatRequest) -> object:
            if self.rng.random() < self.fail_rate[name]:
                return ErrorKind.OVERLOADED
            return f"{name} says hi"

        return answer

    def run(self, n: int) -> list[str]:
        first = []
        for _ in range(n):
            resp = self.router.chat(SIMPLE)
            assert resp.decision is not None
            first.append(resp.decision.attempts[0].target)
        return first


def _share(seq: list[str], name: str) -> float:
    return sum(1 for t in seq if t == name) / len(seq)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("degradation", ["latency_5x", "failures_50pct"])
def test_traffic_leaves_a_degraded_target_and_returns_after_recovery(
    seed: int, degradation: str
) -> None:
    fleet = Fleet(seed)
    warm = fleet.run(300)
    before = _share(warm[100:], "fast")
    assert before >= 0.9, f"the fastest target should win at steady state, got {before:.2f}"

    if degradation == "latency_5x":
        fleet.latency["fast"] *= 5
    else:
        fleet.fail_rate["fast"] = 0.5
    degraded = fleet.run(300)
    # "within 100 requests": by the 100th request after the change, the trailing 50 requests
    # send at most 10% of traffic to the degraded target; and it stays that way.
    moved = _share(degraded[50:100], "fast")
    later = _share(degraded[100:], "fast")

    if degradation == "latency_5x":
        fleet.latency["fast"] /= 5
    else:
        fleet.fail_rate["fast"] = 0.0
    recovered = fleet.run(300)
    back = _share(recovered[150:200], "fast")
    settled = _share(recovered[200:], "fast")
    print(
        f"\n[{degradation} seed={seed}] share of the best target: before={before:.2f} "
        f"degraded 50-100={moved:.2f} degraded 100-300={later:.2f} "
        f"recovered 150-200={back:.2f} recovered 200-300={settled:.2f}"
    )
    assert moved <= 0.10, f"traffic did not leave the degraded target: {moved:.2f}"
    assert later <= 0.10, later
    assert back >= 0.9, f"traffic did not come back after recovery: {back:.2f}"
    assert settled >= 0.9, settled


# --- quality per complexity class, regret -------------------------------------------------

TRUE_QUALITY = {
    "simple": {"alpha": 0.90, "beta": 0.60, "gamma": 0.50},
    "complex": {"alpha": 0.45, "beta": 0.80, "gamma": 0.55},
}
ORACLE = {cls: max(q, key=q.__getitem__) for cls, q in TRUE_QUALITY.items()}


def _quality_router(seed: int) -> Router:
    clock = FakeClock()
    targets = [
        ScriptedTarget(name, _cap("fast"), clock=clock, latency=0.5)
        for name in ("alpha", "beta", "gamma")
    ]
    return Router(targets, _policy(seed), clock=clock)


def _simulate_quality(
    seed: int, n: int, noise: float
) -> tuple[float, float, dict[str, Counter[str]]]:
    """Returns (regret of ADAPTIVE, expected regret of uniform random, choices in the last
    10% per class). Regret is in quality units: every target has the same speed and price,
    so the utility gap between two targets is ``w_q`` times their quality gap."""
    router = _quality_router(seed)
    rng = random.Random(seed + 1000)
    regret = random_regret = 0.0
    tail: dict[str, Counter[str]] = {"simple": Counter(), "complex": Counter()}
    for i in range(n):
        cls = "simple" if rng.random() < 0.5 else "complex"
        resp = router.chat(SIMPLE if cls == "simple" else COMPLEX)
        d = resp.decision
        assert d is not None and d.complexity_class == cls
        truth = TRUE_QUALITY[cls]
        best = truth[ORACLE[cls]]
        regret += best - truth[d.target]
        random_regret += best - sum(truth.values()) / len(truth)
        q = min(1.0, max(0.0, rng.gauss(truth[d.target], noise)))
        assert router.record_feedback(d.decision_id, q)
        if i >= n * 0.9:
            tail[cls][d.target] += 1
    return regret, random_regret, tail


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_converges_to_the_best_model_per_complexity_class(seed: int) -> None:
    _, _, tail = _simulate_quality(seed, 2000, noise=0.25)
    for cls, counts in tail.items():
        share = counts[ORACLE[cls]] / sum(counts.values())
        print(f"\n[seed={seed}] {cls}: last 10% of traffic {dict(counts)} -> {share:.2f} on oracle")
        assert share >= 0.9, (cls, counts)


def test_cumulative_regret_is_below_a_tenth_of_uniform_random() -> None:
    regret, random_regret, _ = _simulate_quality(7, 5000, noise=0.25)
    ratio = regret / random_regret
    print(
        f"\ncumulative regret over 5000 requests vs the per-class oracle: adaptive={regret:.1f} "
        f"uniform random={random_regret:.1f} ratio={ratio:.3f}"
    )
    assert ratio < 0.10
