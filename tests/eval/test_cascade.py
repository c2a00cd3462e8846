"""Cascade replay with a simulated verifier: what a perfect, a lax and a strict verifier do to
quality and cost, seeded determinism, and ladders chosen on the training rows only."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval import RecordedVerdicts, SimulatedVerifier, evaluate_cascade, run_ladder
from smartroute_llm.eval.metrics import (
    Scale,
    oracle_decisions,
    report,
    score,
    single_model_points,
)
from smartroute_llm.eval.tables import OutcomeTable, TableError

MODELS = ["cheap", "mid", "dear"]
LADDER = ("cheap", "mid", "dear")


def _table(n: int = 2000, seed: int = 1, p: tuple[float, ...] = (0.6, 0.75, 0.9)) -> OutcomeTable:
    rng = np.random.default_rng(seed)
    quality = (rng.random((n, 3)) < np.array(p)).astype(np.float64)
    cost = np.tile([0.001, 0.004, 0.02], (n, 1)) * rng.uniform(0.5, 1.5, (n, 1))
    return OutcomeTable([f"r{i}" for i in range(n)], [f"q {i}" for i in range(n)], [None] * n,
                        list(MODELS), quality, cost, "synthetic")


def _mean(table: OutcomeTable, ladder: tuple[str, ...], fa: float, fr: float,
          seed: int = 0) -> tuple[float, float]:
    run = run_ladder(table, ladder, SimulatedVerifier(fa, fr, seed=seed))
    return float(run.quality.mean()), float(run.cost.mean())


def test_a_perfect_verifier_reaches_the_oracle_quality_for_less_than_the_dear_model() -> None:
    t = _table()
    run = run_ladder(t, LADDER, SimulatedVerifier(0.0, 0.0))
    oracle = score(t, oracle_decisions(t))
    assert run.quality.mean() == pytest.approx(oracle.quality)
    assert run.cost.mean() < t.cost[:, 2].mean()
    # a correct cheap answer is never escalated, a wrong one always is
    cheap_right = t.quality[:, 0] == 1.0
    assert np.all(run.tried[cheap_right] == 1)
    assert np.all(run.tried[~cheap_right] >= 2)


def test_cost_is_the_sum_of_the_rungs_tried_and_quality_the_returned_answer() -> None:
    t = _table(300)
    run = run_ladder(t, LADDER, SimulatedVerifier(0.2, 0.2, seed=3))
    rows = np.arange(len(t))
    expected = np.array([t.cost[i, : run.tried[i]].sum() for i in rows])
    assert np.allclose(run.cost, expected)
    assert np.array_equal(run.quality, t.quality[rows, run.answered])
    # the last rung's answer is returned as is
    assert np.all(run.answered[run.tried == 3] == 2)


def test_false_accepts_lower_quality_and_cost_monotonically() -> None:
    t = _table()
    curve = [_mean(t, LADDER, fa, 0.0) for fa in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)]
    quals = [q for q, _ in curve]
    costs = [c for _, c in curve]
    assert all(a >= b for a, b in itertools.pairwise(quals))
    assert all(a >= b for a, b in itertools.pairwise(costs))
    assert quals[0] - quals[3] > 0.05
    # accepting everything is the cheap model alone
    assert quals[-1] == pytest.approx(t.quality[:, 0].mean())
    assert costs[-1] == pytest.approx(t.cost[:, 0].mean())


def test_false_rejects_raise_cost_monotonically() -> None:
    t = _table()
    costs = [_mean(t, LADDER, 0.0, fr)[1] for fr in (0.0, 0.1, 0.2, 0.3, 1.0)]
    assert all(a <= b for a, b in itertools.pairwise(costs))
    assert costs[3] > 1.1 * costs[0]
    # rejecting everything pays every rung and returns the last one's answer
    assert costs[-1] == pytest.approx(t.cost.sum(axis=1).mean())
    assert _mean(t, LADDER, 0.0, 1.0)[0] == pytest.approx(t.quality[:, 2].mean())


def test_simulated_error_rates_are_the_rates_asked_for() -> None:
    t = _table(20_000)
    acc = SimulatedVerifier(0.2, 0.1, seed=5).accepts(t)
    right = t.quality == 1.0
    assert acc[~right].mean() == pytest.approx(0.2, abs=0.02)
    assert (~acc[right]).mean() == pytest.approx(0.1, abs=0.02)


def test_same_seed_same_replay_other_seed_other_draws() -> None:
    t = _table()
    a = run_ladder(t, LADDER, SimulatedVerifier(0.2, 0.2, seed=7))
    b = run_ladder(t, LADDER, SimulatedVerifier(0.2, 0.2, seed=7))
    c = run_ladder(t, LADDER, SimulatedVerifier(0.2, 0.2, seed=8))
    assert np.array_equal(a.answered, b.answered) and np.array_equal(a.cost, b.cost)
    assert not np.array_equal(a.answered, c.answered)
    r1 = evaluate_cascade(t, SimulatedVerifier(0.1, 0.1, seed=2))
    r2 = evaluate_cascade(t, SimulatedVerifier(0.1, 0.1, seed=2))
    assert r1.aiq == r2.aiq and r1.cost_at_95 == r2.cost_at_95


def test_curve_is_scored_with_the_routers_metrics() -> None:
    t = _table()
    r = evaluate_cascade(t, SimulatedVerifier(0.0, 0.0))
    scale = Scale.of(t)
    hull = report("hull", single_model_points(t), scale)
    assert r.aiq > hull.aiq + 0.05
    assert r.report.aiq == report("x", r.report.points, scale).aiq
    assert r.cost_at_95 is not None and r.cost_at_95 < hull.cost_at_95  # type: ignore[operator]
    worse = evaluate_cascade(t, SimulatedVerifier(0.3, 0.3))
    assert worse.aiq < r.aiq


def test_ladders_are_chosen_on_the_training_rows_only() -> None:
    train, test = _table(1500, seed=2), _table(800, seed=3)
    v = SimulatedVerifier(0.1, 0.1)
    a = evaluate_cascade(test, v, train=train)
    flipped = OutcomeTable(test.row_ids, test.prompts, test.tasks, test.models,
                           1.0 - test.quality, test.cost[:, ::-1].copy(), "flipped")
    b = evaluate_cascade(flipped, v, train=train)
    assert a.selected_on == b.selected_on == "train"
    assert [r.ladder for r in a.runs] == [r.ladder for r in b.runs]
    order = {m: i for i, m in enumerate(MODELS)}  # cheapest first
    assert all(list(r.ladder) == sorted(r.ladder, key=order.__getitem__) for r in a.runs)
    assert any(len(r.ladder) > 1 for r in a.runs)


def test_given_ladders_are_replayed_as_given() -> None:
    t = _table(200)
    r = evaluate_cascade(t, SimulatedVerifier(), ladders=[("dear",), ("mid", "dear")])
    assert [run.ladder for run in r.runs] == [("dear",), ("mid", "dear")]
    assert r.report.points[1].label == "cascade mid > dear"


@pytest.mark.parametrize(
    ("make", "exc", "words"),
    [
        (lambda t: SimulatedVerifier(1.5, 0.0), ConfigurationError, "false_accept"),
        (lambda t: SimulatedVerifier(0.0, -0.1), ConfigurationError, "false_reject"),
        (lambda t: SimulatedVerifier(correct_at=0.0), ConfigurationError, "correct_at"),
        (lambda t: run_ladder(t, ("cheap", "gpt-9"), SimulatedVerifier()), TableError, "gpt-9"),
        (lambda t: run_ladder(t, ("cheap", "cheap"), SimulatedVerifier()), ConfigurationError,
         "twice"),
        (lambda t: run_ladder(t, (), SimulatedVerifier()), ConfigurationError, "ladder"),
        (lambda t: evaluate_cascade(t, SimulatedVerifier(), ladders=[]), ConfigurationError,
         "ladders"),
    ],
)
def test_bad_input_names_the_field(make, exc, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=words):
        make(_table(50))


def test_recorded_verdicts_replay_each_rows_own_verdict() -> None:
    t = _table(6)
    verdicts = (True, False, True, False, False, True)
    run = run_ladder(t, ("cheap", "dear"), RecordedVerdicts("cheap", verdicts))
    assert list(run.answered) == [0 if v else 2 for v in verdicts]
    expected = [t.cost[i, 0] + (0.0 if v else t.cost[i, 2]) for i, v in enumerate(verdicts)]
    assert np.allclose(run.cost, expected)
    with pytest.raises(ConfigurationError, match="6 rows"):
        run_ladder(t, ("cheap", "dear"), RecordedVerdicts("cheap", (True,) * 5))
