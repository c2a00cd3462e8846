"""Tier calibration lets the default BALANCED reach every model on the cost-quality hull."""

from __future__ import annotations

import numpy as np
import pytest

from smartroute_llm import QualityTier
from smartroute_llm.eval.metrics import Scale, report, single_model_points
from smartroute_llm.eval.replay import PolicySpec, calibrate, calibrate_tiers, evaluate
from smartroute_llm.eval.tables import OutcomeTable

# name: (mean quality, USD per call). Nearest-score tiers put "mid" and "better" both in HIGH,
# so BALANCED could only ever choose "mid" (cheaper) although "better" is on the hull and "mid"
# is under it.
MODELS = {"cheap": (0.55, 1e-4), "mid": (0.74, 3e-4), "better": (0.80, 4e-4), "dear": (0.9, 5e-3)}


def _table(n: int, seed: int) -> OutcomeTable:
    rng = np.random.default_rng(seed)
    q = np.column_stack([rng.random(n) < m[0] for m in MODELS.values()]).astype(float)
    q[:, list(MODELS).index("mid")] *= rng.random(n) < 0.9  # pull "mid" under the hull
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    prompts = [" ".join(rng.choice(words, size=int(rng.integers(3, 40)))) for _ in range(n)]
    cost = np.tile([m[1] for m in MODELS.values()], (n, 1))
    return OutcomeTable([f"r{i}" for i in range(n)], prompts, [None] * n, list(MODELS), q, cost)


def test_hull_models_get_distinct_tiers_and_dominated_ones_cannot_win() -> None:
    train = _table(400, 1)
    tiers = calibrate_tiers(train)
    assert tiers["better"] is not tiers["cheap"] and tiers["better"] is not tiers["dear"]
    # "mid" shares a tier with a model that is never dearer, so it never wins
    assert tiers["mid"] in (tiers["cheap"], tiers["better"])
    order = list(QualityTier)
    assert order.index(tiers["cheap"]) < order.index(tiers["better"]) < order.index(tiers["dear"])
    assert set(calibrate(train)) == set(MODELS)


def test_default_balanced_is_not_worse_than_the_single_model_hull() -> None:
    train, test = _table(400, 1), _table(300, 2)
    ev = evaluate([PolicySpec("balanced")], train, test.queries())
    hull = report("hull", single_model_points(test), Scale.of(test))
    chosen = {m for p in ev.policies["balanced"].points for m, s in p.share.items() if s > 0}
    assert {"cheap", "better", "dear"} <= chosen
    assert ev.policies["balanced"].aiq >= hull.aiq - 1e-9


@pytest.mark.parametrize("seed", [3, 4])
def test_two_models_keep_their_nearest_tiers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 50
    q = np.column_stack([rng.random(n) < 0.3, np.ones(n)]).astype(float)
    cost = np.tile([1e-4, 2e-3], (n, 1))
    t = OutcomeTable([str(i) for i in range(n)], ["hi"] * n, [None] * n, ["a", "b"], q, cost)
    tiers = calibrate_tiers(t)
    assert tiers == {"a": QualityTier.LOW, "b": QualityTier.PREMIUM}
