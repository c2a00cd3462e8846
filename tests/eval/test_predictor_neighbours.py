"""The trained predictor's neighbour index: task recovered from the prompt, per-prompt cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.predictor import QualityPredictor
from smartroute_llm.eval.replay import calibrate
from smartroute_llm.eval.tables import OutcomeTable
from smartroute_llm.testing import ScriptedTarget


def _table(n: int, seed: int) -> OutcomeTable:
    """Two task templates; "small" fails the code task, and every model's answers to the code
    task are 5x longer (dearer) although the prompts are no longer."""
    rng = np.random.default_rng(seed)
    prompts, q, cost = [], [], []
    for i in range(n):
        code = i % 2 == 0
        item = int(rng.integers(0, 10_000))
        if code:
            prompts.append(f"Write a python function that returns item {item} of the list.")
            q.append([float(rng.random() < 0.2), 1.0])
            cost.append([5e-4, 5e-3])
        else:
            prompts.append(f"Which answer is right for question {item}? A, B, C or D.")
            q.append([float(rng.random() < 0.9), 1.0])
            cost.append([1e-4, 1e-3])
    return OutcomeTable([f"r{i}" for i in range(n)], prompts, [None] * n, ["small", "big"],
                        np.array(q), np.array(cost))


@pytest.fixture(scope="module")
def fitted() -> QualityPredictor:
    return QualityPredictor(dim=512, epochs=80).fit(_table(200, 0))


def test_cross_validation_picks_the_neighbour_settings(fitted: QualityPredictor) -> None:
    assert fitted.neighbours is not None and fitted.neighbours >= 1
    assert fitted.blend is not None and 0.0 <= fitted.blend <= 1.0
    assert fitted.cv_scores  # every (k, blend) pair that was compared


def test_cost_and_quality_follow_the_task(fitted: QualityPredictor) -> None:
    test = _table(20, 1)
    q, c = fitted.predict_all(test.prompts)
    assert c is not None
    code = np.arange(20) % 2 == 0
    assert np.all(c[code, 1] > 3 * c[~code, 1].max())  # code answers cost more
    assert np.allclose(c[code, 1], 5e-3, rtol=0.2)
    assert q[code, 0].mean() < 0.5 < q[~code, 0].mean()


def test_balanced_uses_the_per_prompt_cost(fitted: QualityPredictor) -> None:
    train = _table(200, 0)
    caps = calibrate(train)
    router = Router([ScriptedTarget(m, caps[m], name=m) for m in train.models],
                    RoutingPolicy().with_weights(quality=1, speed=0, cost=1,
                                                 willingness_to_pay=0.01),
                    classifier=fitted)
    code_prompt = "Write a python function that returns item 42 of the list."
    plan = router.plan(code_prompt)
    est = {c.name: c.est_cost_usd for c in plan.candidates}
    assert est["big"] == pytest.approx(5e-3, rel=0.2)


def test_save_and_load_keep_the_index(fitted: QualityPredictor, tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    fitted.save(path)
    back = QualityPredictor.load(path)
    prompts = _table(10, 2).prompts
    q0, c0 = fitted.predict_all(prompts)
    q1, c1 = back.predict_all(prompts)
    assert c0 is not None and c1 is not None
    assert np.allclose(q0, q1, atol=5e-3)
    assert np.allclose(c0, c1, rtol=1e-3)
    assert back.neighbours == fitted.neighbours and back.blend == fitted.blend


def test_fixed_settings_skip_cross_validation() -> None:
    p = QualityPredictor(dim=256, epochs=30, neighbours=10, blend=0.5).fit(_table(60, 3))
    assert p.neighbours == 10 and p.blend == 0.5


def test_the_encoder_is_optional() -> None:
    from smartroute_llm.eval import embed

    try:
        import wordllama  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match="embed"):
            embed.WordLlamaEncoder()
        assert not embed.available()
        return
    enc = embed.WordLlamaEncoder()
    v = enc(["hello", "证明根号2是无理数"])
    assert v.shape == (2, 256)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    p = QualityPredictor(dim=256, epochs=30, embedding=enc).fit(_table(60, 4))
    assert p.embedding_dim == 256
