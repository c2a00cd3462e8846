"""Replay of real outcomes (RouteLLM: GPT-4-1106 vs Mixtral-8x7B on MMLU and GSM8K).

Every prompt is routed through the public API; the only feedback is the recorded correctness
of the model that was chosen, as a deployment would see it. Both targets get their tiers from
the catalog's defaults: GPT-4-1106 as ``gpt-4-turbo`` (HIGH quality, MEDIUM speed, $10/$30
per 1M tokens) and Mixtral-8x7B as a MEDIUM-quality, FAST model at its list price ($0.60/$0.60).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from smartroute_llm import Router, RoutingPolicy, catalog
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.testing import FakeClock, ScriptedTarget

DATA = Path(__file__).parent / "data" / "routellm_gpt4_mixtral_sample.csv"
GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mixtral-8x7b-instruct"
MIXTRAL_CAP = ProviderCapability(
    speed_tier="fast", quality_tier="medium", input_cost_per_1m=0.6, output_cost_per_1m=0.6,
    max_tokens=32_768, provider="together",
)


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _replay(policy: RoutingPolicy, rows: list[dict[str, str]]) -> dict[str, float]:
    clock = FakeClock()
    targets = [
        ScriptedTarget(GPT4, catalog.get("gpt-4-turbo"), clock=clock, latency=1.0,
                       script="The answer is B."),
        ScriptedTarget(MIXTRAL, MIXTRAL_CAP, clock=clock, latency=0.5,
                       script="The answer is B."),
    ]
    router = Router(targets, policy.retries(0), clock=clock)
    quality = cost = 0.0
    to_gpt4 = 0
    for row in rows:
        resp = router.chat(row["prompt"])
        d = resp.decision
        assert d is not None
        q = float(row["score_gpt4"] if d.target == GPT4 else row["score_mixtral"])
        router.record_feedback(d.decision_id, q)
        quality += q
        cost += d.cost_usd
        to_gpt4 += d.target == GPT4
    n = len(rows)
    return {
        "quality": quality / n,
        "cost_usd": cost / n,
        "quality_per_dollar": quality / cost,
        "gpt4_share": to_gpt4 / n,
    }


def _line(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<9} mean quality {r['quality']:.3f}  mean cost ${r['cost_usd']:.6f}  "
        f"quality per dollar {r['quality_per_dollar']:.0f}  GPT-4 share {r['gpt4_share']:.2f}"
    )


def test_sample_is_the_documented_one() -> None:
    rows = _rows()
    assert len(rows) == 400
    assert sum(r["benchmark"] == "gsm8k" for r in rows) == 100
    gpt4 = sum(float(r["score_gpt4"]) for r in rows) / len(rows)
    mixtral = sum(float(r["score_mixtral"]) for r in rows) / len(rows)
    assert gpt4 > mixtral  # GPT-4 is better, but far dearer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_adaptive_beats_balanced_on_quality_per_dollar(seed: int) -> None:
    # A quality-leaning policy: with default tiers (HIGH vs MEDIUM) BALANCED pays GPT-4 prices
    # for every prompt. ADAPTIVE learns from the recorded outcomes how good Mixtral really is.
    policy = RoutingPolicy().with_weights(quality=0.8, speed=0.1, cost=0.1)
    rows = _rows() * 2
    balanced = _replay(policy.routing_strategy("balanced"), rows)
    adaptive = _replay(policy.routing_strategy("adaptive").adaptive_config(seed=seed), rows)
    print(f"\n{_line('balanced', balanced)}\n{_line('adaptive', adaptive)}")
    assert balanced["gpt4_share"] == 1.0
    assert adaptive["quality_per_dollar"] > balanced["quality_per_dollar"]


def test_with_default_weights_both_already_pick_the_cheap_model() -> None:
    policy = RoutingPolicy()
    rows = _rows()
    balanced = _replay(policy.routing_strategy("balanced"), rows)
    adaptive = _replay(policy.routing_strategy("adaptive").adaptive_config(seed=1), rows)
    print(f"\n{_line('balanced', balanced)}\n{_line('adaptive', adaptive)}")
    assert balanced["gpt4_share"] == 0.0
    # exploration is bounded, so ADAPTIVE stays close to the cheap choice
    assert adaptive["gpt4_share"] <= policy.adaptive.max_explore_share
