"""ADAPTIVE re-converges after an abrupt change of task mix, through the public Router API.

Two prompt families, two models of the same tier and price: each family has a different best
model. Feedback reaches the router only for the model it chose (a scripted judge with a fake
clock), exactly as a deployment would see it.
"""

from __future__ import annotations

import random

import pytest

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.features import Complexity
from smartroute_llm.request import ChatRequest
from smartroute_llm.testing import FakeClock, ScriptedTarget

WORDS = [
    "river", "mountain", "engine", "ledger", "harvest", "violin", "protocol", "orchard",
    "lantern", "quarry", "saddle", "marble", "compass", "tundra", "glacier", "beacon", "cobalt",
    "walnut", "meadow", "falcon",
]


def translate(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
    return f"Translate the following sentence into French, keeping the tone: {words}."


def code(rng: random.Random) -> str:
    a, b = rng.sample(WORDS, 2)
    return (
        f"Write a python function named {a}_{b} that takes a list of integers and returns "
        f"the {rng.choice(('largest', 'smallest', 'median'))} value. Include a docstring."
    )


CAP = ProviderCapability(quality_tier="high", speed_tier="fast", input_cost_per_1m=1.0,
                         output_cost_per_1m=2.0)
# probability of a good answer, per (family, model)
GOOD = {("translate", "alpha"): 0.9, ("translate", "beta"): 0.2,
        ("code", "alpha"): 0.2, ("code", "beta"): 0.9}


class OneClass:
    """Every prompt in the same complexity class: only the prompt clusters can tell the
    families apart."""

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        return Complexity(0.5, "moderate")


def make_router(seed: int, *, clusters: bool = True) -> Router:
    clock = FakeClock()
    targets = [ScriptedTarget(m, CAP, name=m, clock=clock, latency=0.5) for m in ("alpha", "beta")]
    policy = RoutingPolicy().routing_strategy("adaptive").adaptive_config(
        seed=seed, clusters=clusters
    )
    return Router(targets, policy, clock=clock, classifier=OneClass())


def run(router: Router, families: list[str], judge: dict[tuple[str, str], float],
        rng: random.Random) -> list[bool]:
    """Route each prompt, score the chosen model only; True where it was the family's best."""
    right = []
    for fam in families:
        prompt = translate(rng) if fam == "translate" else code(rng)
        resp = router.chat(prompt)
        assert resp.decision is not None
        chosen = resp.decision.target
        best = max(("alpha", "beta"), key=lambda m: judge[(fam, m)])
        right.append(chosen == best)
        q = 1.0 if rng.random() < judge[(fam, chosen)] else 0.0
        assert router.record_feedback(resp.decision.decision_id, q)
    return right


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_task_mix_switch_reconverges_within_200_requests(seed: int) -> None:
    """400 translation prompts (alpha best), then 400 code prompts (beta best)."""
    router = make_router(seed)
    rng = random.Random(seed)
    before = run(router, ["translate"] * 400, GOOD, rng)
    after = run(router, ["code"] * 400, GOOD, rng)
    assert sum(before[200:]) / 200 >= 0.8
    share = sum(after[200:]) / 200
    assert share >= 0.8, f"right model on {share:.0%} of requests 200-400 after the switch"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_model_swap_within_a_mixed_stream(seed: int) -> None:
    """A 50/50 mix throughout; after 400 requests the models swap roles on both families."""
    router = make_router(seed)
    rng = random.Random(100 + seed)
    mix = [rng.choice(("translate", "code")) for _ in range(800)]
    swapped = {(f, "alpha" if m == "beta" else "beta"): p for (f, m), p in GOOD.items()}
    before = run(router, mix[:400], GOOD, rng)
    after = run(router, mix[400:], swapped, rng)
    assert sum(before[200:]) / 200 >= 0.8
    share = sum(after[200:]) / 200
    assert share >= 0.9, f"right model on {share:.0%} of requests 200-400 after the swap"


def test_without_clusters_one_class_cannot_serve_both_families() -> None:
    """The control: with per-class learning only, the mixed stream's two families (one
    complexity class) share one estimate, and the router cannot route them apart."""
    router = make_router(1, clusters=False)
    rng = random.Random(7)
    mix = [rng.choice(("translate", "code")) for _ in range(400)]
    right = run(router, mix, GOOD, rng)
    assert sum(right[200:]) / 200 < 0.7
