"""``ProviderCapability.quality_score``: a numeric quality in place of the tier, validated,
round-tripped and explained; calibration sets it so the default BALANCED reaches every model
on the single-model hull where four evenly spaced tiers cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from smartroute_llm import ProviderCapability
from smartroute_llm.eval.metrics import Scale, report, single_model_points
from smartroute_llm.eval.replay import PolicySpec, calibrate, calibrate_scores, evaluate
from smartroute_llm.eval.tables import OutcomeTable
from smartroute_llm.plan import Profile
from smartroute_llm.router import Router
from smartroute_llm.testing import ScriptedTarget

# RouterBench's test-split hull, shape kept: log-cost gaps 1.12, 0.28, 2.72. With four tiers no
# assignment lets both "b" and "c" win at some swept cost weight (the middle step would need a
# quality gap four times the first), so one of them was dropped and the default lost to the hull.
COST = np.array([1e-4, 1e-4 * np.exp(1.12), 1e-4 * np.exp(1.40), 1e-4 * np.exp(4.12)])
MEANS = [0.50, 0.68, 0.74, 0.88]


def _table(n: int = 100) -> OutcomeTable:
    q = np.zeros((n, 4))
    for j, m in enumerate(MEANS):
        q[: round(m * n), j] = 1.0
    prompts = [f"question {i} about {'alpha beta gamma'[: 5 + i % 11]}" for i in range(n)]
    return OutcomeTable([f"r{i}" for i in range(n)], prompts, [None] * n, list("abcd"), q,
                        np.tile(COST, (n, 1)))


def test_calibrated_scores_let_balanced_reach_the_whole_hull() -> None:
    table = _table()
    scores = calibrate_scores(table)
    assert scores["a"] < scores["b"] < scores["c"] < scores["d"] <= 1.0
    assert all(s <= m + 1e-12 for s, m in zip(scores.values(), MEANS, strict=True))
    ev = evaluate([PolicySpec("balanced")], table, table.queries())
    chosen = {m for p in ev.policies["balanced"].points for m, s in p.share.items() if s > 0}
    assert chosen == set("abcd")
    hull = report("hull", single_model_points(table), Scale.of(table))
    assert ev.policies["balanced"].aiq >= hull.aiq - 1e-9


def test_dominated_models_share_a_cheaper_models_score() -> None:
    table = _table()
    worse = OutcomeTable(table.row_ids, table.prompts, table.tasks, [*table.models, "e"],
                         np.column_stack([table.quality, table.quality[:, 1] * 0]),
                         np.column_stack([table.cost, table.cost[:, 2]]))
    scores = calibrate_scores(worse)
    assert scores["e"] == scores["c"]  # as dear as "c" on every prompt: the tie goes to cheaper
    assert calibrate(worse)["e"].quality_score == scores["e"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.01, 1.01, "high", True])
def test_quality_score_rejects_bad_values_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"quality_score: must be a number in \[0, 1\]"):
        ProviderCapability(quality_score=bad)


def test_quality_score_round_trips_and_replaces_the_tier() -> None:
    cap = ProviderCapability(quality_tier="high", quality_score=0.8125)
    assert cap.quality_value == 0.8125
    assert ProviderCapability(quality_tier="high").quality_value == 0.75
    assert ProviderCapability.model_validate_json(cap.model_dump_json()) == cap
    assert ProviderCapability(**json.loads(json.dumps(cap.model_dump(mode="json")))) == cap
    prof = Profile.build(0, ScriptedTarget("m", cap), cap, None)
    assert prof.quality == 0.8125


def test_explain_shows_the_quality_score() -> None:
    router = Router([
        ScriptedTarget("cheap", ProviderCapability(quality_tier="low", quality_score=0.61,
                                                   input_cost_per_1m=0.1)),
        ScriptedTarget("dear", ProviderCapability(quality_tier="high",
                                                  input_cost_per_1m=10.0)),
    ])
    text = router.explain("hello")
    assert "quality scores (in place of the tier): cheap=0.61 (low)" in text
    assert "dear=" not in text.split("quality scores")[1]


def test_a_config_file_carries_the_quality_score(tmp_path: object) -> None:
    from pathlib import Path

    from smartroute_llm.config import build_router

    cfg = Path(str(tmp_path)) / "r.yaml"
    cfg.write_text(
        "targets:\n"
        "  - {provider: ollama, model: m1, capability: {quality_tier: high, quality_score: 0.9}}\n"
        "  - {provider: ollama, model: m2, capability: {quality_tier: low}}\n",
        encoding="utf-8",
    )
    router = build_router(str(cfg))
    assert "m1=0.9 (high)" in router.explain("hi")
