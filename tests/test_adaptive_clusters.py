"""Prompt clusters: what they group, what they cost, how their state saves, and the layering
(strategies import nothing above them)."""

from __future__ import annotations

import ast
import json
import random
import time
from pathlib import Path

import pytest

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.strategies.clusters import PromptContexts
from smartroute_llm.testing import FakeClock, ScriptedTarget

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["river", "engine", "ledger", "violin", "orchard", "lantern", "quarry", "marble",
         "compass", "glacier"]


def mc(rng: random.Random) -> str:
    opts = "\n".join(f"{k}) {rng.choice(WORDS)} {rng.choice(WORDS)}" for k in "ABCD")
    return (f"Which of the following is true about the {rng.choice(WORDS)}?\n{opts}\n"
            'Print only a single choice from "A" or "B" or "C" or "D". Answer:')


def fn(rng: random.Random) -> str:
    return f"Write a python function to count the {rng.choice(WORDS)}s in a nested list."


def zh(rng: random.Random) -> str:
    place = rng.choice(["公园", "图书馆", "车站"])
    return f"请把下面这句话翻译成英文：我今天在{place}看到了一只猫。"


def test_families_get_their_own_clusters() -> None:
    ctx = PromptContexts(lambda cid: None)
    rng = random.Random(0)
    seen: dict[str, set[tuple[int, int]]] = {"mc": set(), "fn": set(), "zh": set()}
    for _ in range(60):
        for name, make in (("mc", mc), ("fn", fn), ("zh", zh)):
            seen[name].add(ctx.assign(make(rng)))
    coarse = {k: {c for c, _ in v} for k, v in seen.items()}
    assert all(len(v) == 1 for v in coarse.values()), coarse
    assert len(set().union(*coarse.values())) == 3  # three families, three coarse clusters


def test_memory_is_bounded_and_evictions_are_reported() -> None:
    evicted: list[int] = []
    ctx = PromptContexts(evicted.append)
    rng = random.Random(1)
    for i in range(2000):
        ctx.assign(" ".join(rng.choice(WORDS) + str(i % 97) for _ in range(8)) + f" q{i}")
        ctx.assign("".join(chr(0x4E00 + rng.randrange(5000)) for _ in range(12)))
    assert len(ctx.coarse) <= ctx.coarse.max_clusters
    assert all(len(f) <= f.max_clusters for f in ctx.fine.values())
    assert set(ctx.fine) <= ctx.coarse.ids()
    assert evicted and not (set(evicted) & ctx.live_ids())


def test_a_decision_costs_well_under_a_millisecond() -> None:
    """100-word prompt against full cluster tables; generous margin for a busy machine."""
    ctx = PromptContexts(lambda cid: None)
    rng = random.Random(2)
    for i in range(400):
        ctx.assign(f"topic {i} " + " ".join(rng.choice(WORDS) for _ in range(30)))
    prompt = " ".join(rng.choice(WORDS) for _ in range(100))
    best = float("inf")
    for _ in range(30):
        t0 = time.perf_counter()
        ctx.assign(prompt)
        best = min(best, time.perf_counter() - t0)
    assert best < 2e-3  # measured ~0.2 ms; benchmarks/bench_adaptive.py prints it


def _router(tmp_state: dict[str, object] | None = None) -> Router:
    clock = FakeClock()
    cap = ProviderCapability(quality_tier="high", input_cost_per_1m=1.0, output_cost_per_1m=2.0)
    targets = [ScriptedTarget(m, cap, name=m, clock=clock) for m in ("alpha", "beta")]
    policy = RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=3)
    return Router(targets, policy, clock=clock)


def test_cluster_ids_reach_the_decision_and_feedback(tmp_path: Path) -> None:
    r = _router()
    rng = random.Random(3)
    for _ in range(30):
        resp = r.chat(fn(rng))
        assert resp.decision is not None
        parts = resp.decision.candidates[0].parts
        assert "cluster" in parts and "cluster_coarse" in parts
        r.record_feedback(resp.decision.decision_id, 1.0 if resp.decision.target == "beta" else 0.0)
    state = r.strategy.export_state()  # type: ignore[attr-defined]
    assert state["version"] == 2
    learned = state["cluster_quality"]
    assert learned and any("beta" in v for v in learned.values())
    # save / load round trip through the public API
    path = tmp_path / "stats.json"
    r.save_stats(str(path))
    r2 = _router()
    r2.load_stats(str(path))
    assert r2.strategy.export_state()["cluster_quality"] == learned  # type: ignore[attr-defined]
    assert r2.plan(fn(rng)).explanation["chosen"] == r.plan(fn(rng)).explanation["chosen"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["clusters"]["coarse"]["centroids"][0].__setitem__(0, "x"), r"centroids\[0\]"),
        (lambda s: s["clusters"].__setitem__("fine", {"999": {}}), "not a coarse cluster"),
        (lambda s: s["cluster_quality"].__setitem__("12345", {}), "not the id of a saved"),
        (lambda s: next(iter(s["cluster_quality"].values())).__setitem__("beta", [1, 2, 1, 0, 1]),
         "score sum exceeds"),
        (lambda s: s.__setitem__("version", 3), "unsupported version"),
    ],
)
def test_bad_cluster_state_is_refused_whole(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    r = _router()
    rng = random.Random(4)
    for _ in range(10):
        resp = r.chat(fn(rng))
        assert resp.decision is not None
        r.record_feedback(resp.decision.decision_id, 1.0)
    path = tmp_path / "stats.json"
    r.save_stats(str(path))
    data = json.loads(path.read_text())
    edit(data["learned"])
    path.write_text(json.dumps(data))
    fresh = _router()
    before = fresh.strategy.export_state()  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=message):
        fresh.load_stats(str(path))
    assert fresh.strategy.export_state() == before  # type: ignore[attr-defined]


def test_version_1_state_still_loads(tmp_path: Path) -> None:
    r = _router()
    resp = r.chat("hello there")
    assert resp.decision is not None
    r.record_feedback(resp.decision.decision_id, 0.5)
    path = tmp_path / "stats.json"
    r.save_stats(str(path))
    data = json.loads(path.read_text())
    data["learned"] = {"version": 1, "records": data["learned"]["records"]}
    path.write_text(json.dumps(data))
    r2 = _router()
    r2.load_stats(str(path))
    assert dict(r2.state.items("adaptive")) == dict(r.state.items("adaptive"))


def test_strategies_import_nothing_above_them() -> None:
    above = ("smartroute_llm.feedback", "smartroute_llm.router", "smartroute_llm.execution",
             "smartroute_llm.eval", "smartroute_llm.cli")
    for path in (ROOT / "smartroute_llm" / "strategies").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith(above), f"{path.name} imports {name}"


def test_willingness_to_pay_is_linear_in_dollars() -> None:
    """ADAPTIVE honours BALANCED's willingness to pay: a cheap model wins when quality is
    worth little per dollar, the premium one when it is worth a lot."""
    clock = FakeClock()
    cheap = ProviderCapability(quality_tier="low", input_cost_per_1m=0.1, output_cost_per_1m=0.1)
    dear = ProviderCapability(quality_tier="premium", input_cost_per_1m=10, output_cost_per_1m=30)
    targets = [ScriptedTarget("cheap", cheap, name="cheap", clock=clock),
               ScriptedTarget("dear", dear, name="dear", clock=clock)]
    chosen = {}
    for wtp in (1e-4, 1e3):
        policy = (RoutingPolicy().routing_strategy("adaptive").adaptive_config(seed=1)
                  .with_weights(quality=1.0, speed=0.0, cost=1.0, willingness_to_pay=wtp))
        plan = Router(targets, policy, clock=clock).plan("Summarise the causes of inflation.")
        chosen[wtp] = plan.first.name
        assert "usd_penalty" in plan.weights
    assert chosen == {1e-4: "cheap", 1e3: "dear"}
