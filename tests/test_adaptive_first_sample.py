"""ADAPTIVE does not learn a target's connection set-up as its latency (issue 15, item 9).

The first call to a target in a process also opens its connection; that one slow sample must
not dominate what the strategy learns. A fake clock makes the latencies exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.request import ChatRequest
from smartroute_llm.strategies.adaptive import FIRST_SAMPLE_WEIGHT
from smartroute_llm.testing import FakeClock, ScriptedTarget

FAST = ProviderCapability(
    speed_tier="fast", quality_tier="medium", input_cost_per_1m=1.0, output_cost_per_1m=1.0
)
STEADY_S = 0.05
COLD_S = 2.0  # first call: a far host's DNS + TCP + TLS
CALLS = 5


def _first_slow() -> Callable[[ChatRequest], float]:
    calls = iter(range(10**6))
    return lambda _req: COLD_S if next(calls) == 0 else STEADY_S


def _learned(router: Router) -> dict[str, Any]:
    return router.stats()["learned"]["targets"]  # type: ignore[no-any-return]


def test_first_call_connection_set_up_does_not_dominate_learned_latency() -> None:
    clock = FakeClock()
    targets = [
        ScriptedTarget("cold", FAST, clock=clock, latency=_first_slow()),
        ScriptedTarget("warm", FAST, clock=clock, latency=STEADY_S),
        ScriptedTarget("slow", FAST, clock=clock, latency=COLD_S),
    ]
    policy = RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=1, exploration=0)
    router = Router(targets, policy, clock=clock)
    for _ in range(CALLS):
        for name in ("cold", "warm", "slow"):
            assert router.chat("hi", model=name).decision.target == name
    learned = _learned(router)
    cold, warm, slow = (learned[n]["latency_s"] for n in ("cold", "warm", "slow"))
    assert all(learned[n]["outcomes"] == CALLS for n in ("cold", "warm", "slow"))
    # Counted as a full sample, the 2 s first call leaves "cold" ~1.7x "warm"; discounted, ~1.2x.
    assert cold < 1.5 * warm, learned
    # A target that is really slow still shows as slow: only the first sample is discounted.
    assert slow > 8 * warm, learned


def test_a_fast_first_sample_counts_in_full() -> None:
    """Set-up only adds time: a first sample at or under the tier's prior is trusted."""
    clock = FakeClock()
    router = Router(
        [ScriptedTarget("a", FAST, clock=clock, latency=STEADY_S)],
        RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=1, exploration=0),
        clock=clock,
    )
    router.chat("hi")
    assert _learned(router)["a"]["latency_evidence"] > 0.99


def test_a_slow_first_sample_counts_as_a_fraction() -> None:
    clock = FakeClock()
    router = Router(
        [ScriptedTarget("a", FAST, clock=clock, latency=COLD_S)],
        RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=1, exploration=0),
        clock=clock,
    )
    router.chat("hi")
    assert abs(_learned(router)["a"]["latency_evidence"] - FIRST_SAMPLE_WEIGHT) < 1e-3
    router.chat("hi")  # the second call is on a warm connection: a full sample
    assert _learned(router)["a"]["latency_evidence"] > 1.0 + FIRST_SAMPLE_WEIGHT - 0.1
