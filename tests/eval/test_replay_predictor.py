"""Replay through the planner, training isolation, and the predictor's save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartroute_llm import QualityTier, Router, RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.predictor import QualityPredictor
from smartroute_llm.eval.replay import PolicySpec, calibrate, evaluate, replay, wtp_sweep
from smartroute_llm.eval.tables import OutcomeTable, open_queries, read_table
from smartroute_llm.testing import ScriptedTarget

HEADER = "row_id,prompt,split,cheap,cheap|total_cost,dear,dear|total_cost"


def _table(tmp_path: Path) -> Path:
    """Math prompts only the dear model solves; greetings both solve."""
    rows = []
    for i in range(40):
        split = "test" if i % 4 == 0 else "train"
        if i % 2:
            rows.append(f"r{i},integrate x^{i} dx and prove it,{split},0,0.001,1,0.02")
        else:
            rows.append(f"r{i},hello there friend number {i},{split},1,0.001,1,0.02")
    p = tmp_path / "t.csv"
    p.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return p


def test_calibration_uses_training_means_and_costs(tmp_path: Path) -> None:
    train = read_table(_table(tmp_path), split="train")
    caps = calibrate(train)
    assert caps["dear"].quality_tier is QualityTier.PREMIUM  # mean 1.0
    assert caps["cheap"].quality_tier is QualityTier.LOW  # mean 1/3, nearest 0.25
    assert caps["dear"].output_cost_per_1m > caps["cheap"].output_cost_per_1m


def test_training_never_reads_test_outcomes(tmp_path: Path) -> None:
    path = _table(tmp_path)
    train = read_table(path, split="train")
    queries = open_queries(path, split="test")
    pred = QualityPredictor(dim=256, epochs=150).fit(train)
    result = replay(PolicySpec("pred", classifier=pred), train, queries)
    assert not queries.outcomes_loaded  # decisions were made without the test outcomes
    assert len(result.points[0].decisions) == len(queries)
    ev = evaluate([PolicySpec("pred", classifier=pred)], train, queries)
    assert queries.outcomes_loaded
    rep = ev.policies["pred"]
    # the predictor learns that math needs the dear model and greetings do not
    assert rep.best.quality == pytest.approx(1.0)
    cheapest_perfect = rep.cost_at_95
    assert cheapest_perfect is not None and cheapest_perfect < 0.75 * 20.0


def test_adaptive_is_replayed_online(tmp_path: Path) -> None:
    path = _table(tmp_path)
    train = read_table(path, split="train")
    queries = open_queries(path, split="test")
    ev = evaluate([PolicySpec("adaptive", strategy="adaptive", knobs=[0.3])], train, queries)
    assert "adaptive" in ev.policies
    assert len(ev.policies["adaptive"].points) == 1


def test_decisions_json_names_table_columns(tmp_path: Path) -> None:
    path = _table(tmp_path)
    train = read_table(path, split="train")
    queries = open_queries(path, split="test")
    res = replay(PolicySpec("balanced", knobs=[0.0, 1.0]), train, queries)
    doc = res.decisions_json(queries.row_ids)
    assert doc["name"] == "balanced"
    assert [p["knob"] for p in doc["points"]] == [0.0, 1.0]
    first = doc["points"][0]["decisions"]
    assert [d["row_id"] for d in first] == queries.row_ids
    assert {d["model"] for d in first} <= {"cheap", "dear"}
    assert {d["model"] for d in doc["points"][1]["decisions"]} == {"cheap"}


def test_predictor_round_trip_and_plugs_into_router(tmp_path: Path) -> None:
    train = read_table(_table(tmp_path), split="train")
    pred = QualityPredictor(dim=256, epochs=150).fit(train)
    f = tmp_path / "p.npz"
    pred.save(f)
    assert f.stat().st_size < 50_000
    back = QualityPredictor.load(f)
    prompts = ["integrate x^3 dx and prove it", "hello there friend"]
    assert np.allclose(back.predict(prompts), pred.predict(prompts), atol=2e-3)
    q = back.predict(prompts)
    assert q[0, 0] < 0.5 < q[1, 0]  # cheap fails at math, succeeds at greetings
    targets = [ScriptedTarget(m, c, name=m) for m, c in calibrate(train).items()]
    router = Router(targets, RoutingPolicy().with_weights(quality=0.7, speed=0, cost=0.3),
                    classifier=back)
    assert router.plan(prompts[0]).first.name == "dear"
    assert router.plan(prompts[1]).first.name == "cheap"


def test_predictor_embeddings_and_errors(tmp_path: Path) -> None:
    train: OutcomeTable = read_table(_table(tmp_path), split="train")

    class Emb:  # the LangChain Embeddings shape
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float("prove" in t), 1.0] for t in texts]

    pred = QualityPredictor(dim=64, epochs=100, embedding=Emb()).fit(train)
    assert pred.embedding_dim == 2
    f = tmp_path / "e.npz"
    pred.save(f)
    with pytest.raises(ConfigurationError, match="pass embedding="):
        QualityPredictor.load(f)
    assert QualityPredictor.load(f, embedding=Emb()).predict(["x"]).shape == (1, 2)
    with pytest.raises(ConfigurationError, match="call fit"):
        QualityPredictor().predict(["x"])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigurationError, match="not a saved QualityPredictor"):
        QualityPredictor.load(bad)


def test_willingness_to_pay_trades_predicted_quality_against_dollars(tmp_path: Path) -> None:
    path = _table(tmp_path)
    train = read_table(path, split="train")
    queries = open_queries(path, split="test")
    sweep = wtp_sweep(train, 7)
    # from the cheapest model's mean cost (0.001) to 10,000 x the dearest's (0.02)
    assert sweep[0] == pytest.approx(0.001) and sweep[-1] == pytest.approx(200.0)
    pred = QualityPredictor(dim=256, epochs=150).fit(train)
    targets = [ScriptedTarget(m, c, name=m) for m, c in calibrate(train).items()]
    math = "integrate x^5 dx and prove it"
    q = dict(zip(pred.models, pred.predict([math])[0].tolist(), strict=True))
    gain, extra = q["dear"] - q["cheap"], 0.02 - 0.001  # extra USD of the dear call
    for wtp, expect in ((0.5 * extra / gain, "cheap"), (2.0 * extra / gain, "dear")):
        policy = RoutingPolicy().with_weights(quality=1, speed=0, cost=1, willingness_to_pay=wtp)
        plan = Router(targets, policy, classifier=pred).plan(math)
        assert plan.first.name == expect, (wtp, plan.explain())
    spec = PolicySpec("pred", classifier=pred, knob="wtp")
    assert len(spec.sweep(train)) == 100
    res = replay(spec, train, queries)
    assert not queries.outcomes_loaded
    shares = [float(np.mean(p.decisions == train.models.index("dear"))) for p in res.points]
    assert shares[0] == 0.0 and shares[-1] == 1.0
    assert 0.5 in shares  # a price at which only the math prompts are worth the dear model
    assert shares == sorted(shares)
    with pytest.raises(ConfigurationError, match="knob must be"):
        PolicySpec("bad", knob="price")
