"""Unit behaviour of the ADAPTIVE strategy: priors, learning, freezing, state, explanations."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ErrorKind
from smartroute_llm.feedback import Outcome
from smartroute_llm.state import InMemoryStateStore
from smartroute_llm.strategies.adaptive import (
    AdaptiveStrategy,
    prior_doublings,
    reference_latency,
    speed_score,
)
from smartroute_llm.testing import FakeClock, ScriptedTarget

PROMPTS = [
    "hi",
    "What is the capital of France?",
    "Summarise this paragraph in two sentences: the quick brown fox jumps over the lazy dog.",
    "Write a python function that parses JSON and explain why it must handle exceptions.",
    "Prove step by step that the sum of two even numbers is even, then analyze the tradeoffs "
    "of a recursive algorithm and derive its complexity equation.",
]

CATALOG_MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "gpt-4-turbo", "mistral-small"]


def _router(policy: RoutingPolicy, models: list[str] = CATALOG_MODELS, **kw: object) -> Router:
    clock = FakeClock()
    targets = [ScriptedTarget(m, clock=clock, latency=0.4) for m in models]
    return Router(targets, policy, clock=clock, **kw)  # type: ignore[arg-type]


def _adaptive(**cfg: object) -> RoutingPolicy:
    return RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=5, **cfg)


def _outcome(target: str, *, ok: bool = True, latency: float = 0.3, cls: str = "simple",
             kind: ErrorKind | None = None, at: float = 1000.0) -> Outcome:
    return Outcome(target=target, model=target, complexity_class=cls, ok=ok, latency_s=latency,
                   output_tokens=20 if ok else 0, error_kind=kind, at=at)


def test_speed_score_follows_the_tier_scale() -> None:
    assert [speed_score(d) for d in (0, 1, 2, 3)] == [1.0, 0.75, 0.5, 0.25]
    assert speed_score(4) == pytest.approx(0.125)
    assert speed_score(-5) == 1.25
    assert [prior_doublings(s) for s in (1.0, 0.75, 0.5, 0.25)] == [0, 1, 2, 3]
    assert reference_latency(250) == pytest.approx(1.25)


@pytest.mark.parametrize("prefer", [False, True])
def test_cold_start_ranks_like_balanced(prefer: bool) -> None:
    base = RoutingPolicy().prefer_fast_for_simple_requests(prefer)
    base = base.prefer_quality_for_complex_requests(prefer)
    balanced = _router(base.routing_strategy("balanced"))
    greedy = _router(base.routing_strategy("adaptive").adaptive_config(exploration=0.0))
    survive = 1 - greedy.policy.adaptive.prior_failure_rate
    for prompt in PROMPTS:
        b = balanced.plan(prompt).candidates
        a = greedy.plan(prompt).candidates
        assert [c.name for c in a] == [c.name for c in b], prompt
        # same utility, scaled by the prior chance of success
        assert [c.score for c in a] == pytest.approx([c.score * survive for c in b])


def test_cold_start_with_exploration_picks_balanced_first_most_of_the_time() -> None:
    balanced = _router(RoutingPolicy.balanced())
    adaptive = _router(_adaptive())
    same = total = 0
    for _ in range(200):
        for prompt in PROMPTS:
            total += 1
            same += balanced.plan(prompt).first.name == adaptive.plan(prompt).first.name
    # exploration is bounded by max_explore_share (0.2)
    assert same / total >= 0.8


def test_exploration_share_is_bounded() -> None:
    # quality feedback makes every class "scored", so sampling is live on every dimension
    r = _router(_adaptive(max_explore_share=0.05, exploration=5.0))
    for m in CATALOG_MODELS:
        r.record_routing_decision(m, 0.4, 0.5)
    explored = sum(
        r.plan(PROMPTS[i % len(PROMPTS)]).explanation["mode"] == "explore" for i in range(2000)
    )
    assert 0 < explored <= 0.05 * 2000 + 1


def test_decision_explains_estimates_and_samples() -> None:
    r = _router(_adaptive())
    resp = r.chat("What is the capital of France?")
    d = resp.decision
    assert d is not None and d.strategy == "adaptive"
    exp = d.explanation
    assert exp["rule"] == "thompson" and exp["chosen"] == d.target
    assert exp["mode"] in ("explore", "exploit", "greedy")
    assert exp["greedy_choice"] in {c.target for c in d.candidates}
    assert exp["chosen_utility"] <= exp["greedy_utility"] + 1e-12
    parts = d.candidates[0].parts
    for key in ("utility_mean", "utility_sample", "quality_sample", "latency_s", "failure_rate"):
        assert key in parts
    json.dumps(d.model_dump(mode="json"))  # the explanation stays serializable
    assert "utility_sample" in r.explain("hello")


def test_learns_latency_and_failures_from_outcomes() -> None:
    clock = FakeClock()
    s = AdaptiveStrategy(_adaptive(), state=InMemoryStateStore(), clock=clock)
    s.on_outcome(_outcome("a", latency=0.3))
    s.on_outcome(_outcome("a", ok=False, kind=ErrorKind.OVERLOADED))
    s.on_outcome(_outcome("a", ok=False, kind=ErrorKind.INVALID_REQUEST))  # request's fault
    rec = s.store.get("adaptive", "lat/a")
    assert rec is not None
    assert rec["n"] == 2 and rec["nf"] == 1  # the invalid request did not count
    assert rec["w"] < 1.0 + 1e-9  # the fast failure carried no latency measurement
    s.on_outcome(_outcome("a", ok=False, kind=ErrorKind.TIMEOUT, latency=30.0))
    rec = s.store.get("adaptive", "lat/a")
    assert rec is not None and rec["w"] > 1.5  # a timeout is a (censored) latency


def test_inflight_requests_raise_expected_latency() -> None:
    clock = FakeClock()
    cap = ProviderCapability(speed_tier="fast", quality_tier="high")
    r = Router([ScriptedTarget("p", cap, clock=clock), ScriptedTarget("q", cap, clock=clock)],
               _adaptive(exploration=0.0), clock=clock)
    before = {c.name: c.extra["latency_s"] for c in r.plan("hi").candidates}  # type: ignore[index]
    assert r.plan("hi").first.name == "p"  # a tie keeps the target order
    for _ in range(10):
        r.feedback.started("p")
    plan = r.plan("hi")
    after = {c.name: c.extra["latency_s"] for c in plan.candidates}  # type: ignore[index]
    assert after["p"] == pytest.approx(before["p"] * 2.0)  # 1 + 0.1 per request in flight
    assert after["q"] == pytest.approx(before["q"])
    assert plan.first.name == "q"


def test_all_class_quality_updates_every_class() -> None:
    r = _router(_adaptive(), models=["gpt-4o-mini", "claude-3-haiku"])
    for _ in range(20):
        r.record_routing_decision("claude-3-haiku", 0.5, 1.0)
    classes = r.stats()["learned"]["targets"]["claude-3-haiku"]["classes"]
    for cls in ("simple", "moderate", "complex"):
        assert classes[cls]["quality_scores"] == 20
        assert classes[cls]["quality"] > 0.9
        lo, hi = classes[cls]["quality_ci90"]
        assert lo < classes[cls]["quality"] <= hi


def test_feedback_disabled_freezes_learning() -> None:
    r = _router(_adaptive().feedback_enabled(False), models=["gpt-4o-mini", "claude-3-haiku"])
    for _ in range(5):
        resp = r.chat("hi")
        assert resp.decision is not None
        r.record_feedback(resp.decision.decision_id, 0.0)
    r.record_routing_decision("claude-3-haiku", 9.0, 0.0)
    assert list(r.state.items("adaptive")) == []
    learned = r.stats()["learned"]["targets"]
    assert all(t["outcomes"] == 0 for t in learned.values())
    # the router still answers, ranking from the priors
    assert r.chat("hi").text


def test_quality_feedback_moves_the_choice_within_a_class() -> None:
    r = _router(_adaptive(exploration=0.0), models=["gpt-4o-mini", "claude-3-haiku"])
    first = r.plan("hi").first.name
    other = "claude-3-haiku" if first == "gpt-4o-mini" else "gpt-4o-mini"
    for _ in range(30):
        resp = r.chat("hi")
        assert resp.decision is not None
        r.record_feedback(resp.decision.decision_id, 0.0 if resp.decision.target == first else 1.0)
    assert r.plan("hi").first.name == other
    # other classes keep their own estimates
    stats = r.stats()["learned"]["targets"][first]["classes"]
    assert stats["simple"]["quality"] < 0.3 and stats["complex"]["quality_scores"] == 0


def test_time_half_life_forgets_old_evidence() -> None:
    clock = FakeClock()
    s = AdaptiveStrategy(_adaptive(half_life_s=60.0), state=InMemoryStateStore(), clock=clock)
    for _ in range(50):
        s.on_quality("a", "simple", 0.0, clock())
    rec = s.store.get("adaptive", "q/a/simple")
    assert rec is not None
    w_before = rec["w"]
    clock.advance(120.0)
    s.on_quality("a", "simple", 1.0, clock())
    rec = s.store.get("adaptive", "q/a/simple")
    assert rec is not None
    assert rec["w"] == pytest.approx(w_before * 0.25 * 0.5 ** (1 / 200) + 1.0)


def test_state_is_bounded_whatever_the_traffic() -> None:
    clock = FakeClock()
    store = InMemoryStateStore()
    s = AdaptiveStrategy(_adaptive(), state=store, clock=clock)
    rng = random.Random(0)
    for i in range(20_000):
        t = f"t{i % 4}"
        s.on_outcome(_outcome(t, cls=("simple", "moderate", "complex")[i % 3],
                              latency=rng.uniform(0.1, 2.0)))
        if i % 2:
            s.on_quality(t, ("simple", "complex")[i % 2], rng.random(), clock())
    keys = [k for k, _ in store.items("adaptive")]
    assert len(keys) <= 1 + 4 + 4 * 3
    rec = store.get("adaptive", "lat/t0")
    assert rec is not None and rec["w"] < 40  # decayed evidence stays bounded too
    assert rec["n"] == 5000


def test_save_and_load_restore_learned_statistics(tmp_path: Path) -> None:
    models = ["gpt-4o-mini", "claude-3-haiku"]
    r = _router(_adaptive(), models=models)
    for _ in range(15):
        resp = r.chat("hi")
        assert resp.decision is not None
        r.record_feedback(resp.decision.decision_id, 0.9)
    path = tmp_path / "stats.json"
    r.save_stats(str(path))
    fresh = _router(_adaptive(), models=models)
    fresh.load_stats(str(path))
    assert fresh.stats()["learned"]["targets"] == r.stats()["learned"]["targets"]
    json.loads(path.read_text())


def test_import_rejects_foreign_state() -> None:
    s = AdaptiveStrategy(_adaptive(), state=InMemoryStateStore(), clock=FakeClock())
    with pytest.raises(ValueError, match="unsupported version"):
        s.import_state({"version": 99, "records": {}})
    with pytest.raises(ValueError, match="records"):
        s.import_state({"version": 1, "records": []})


async def test_async_calls_feed_the_same_learning() -> None:
    r = _router(_adaptive(), models=["gpt-4o-mini", "claude-3-haiku"])
    resp = await r.achat("hi")
    assert resp.decision is not None and resp.decision.strategy == "adaptive"
    assert r.stats()["learned"]["targets"][resp.decision.target]["outcomes"] == 1


def test_works_with_a_custom_capability_prior() -> None:
    cap = ProviderCapability(speed_tier="slow", quality_tier="premium")
    clock = FakeClock()
    r = Router([ScriptedTarget("x", cap, clock=clock), ScriptedTarget("y", clock=clock)],
               _adaptive(exploration=0.0), clock=clock)
    c = {c.name: c for c in r.plan("hi").candidates}
    assert c["x"].speed == 0.25 and c["x"].quality == 1.0
