"""Outcome tables and metrics, checked against values computed by hand on tiny tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smartroute_llm.eval.metrics import (
    Point,
    Scale,
    aiq,
    baselines,
    cost_of_setting,
    cost_to_reach,
    frontier,
    oracle_decisions,
    report,
    score,
)
from smartroute_llm.eval.tables import TableError, open_queries, read_table

HEADER = "row_id,prompt,task,cheap,cheap|total_cost,dear,dear|total_cost"
ROWS = [
    "r1,what is 2+2,math,1,0.001,1,0.01",
    "r2,prove fermat,math,0,0.001,1,0.01",
    "r3,say hi,chat,1,0.001,0,0.01",
    "r4,hard one,chat,0,0.001,0,0.01",
]


def write(tmp_path: Path, rows: list[str] = ROWS, header: str = HEADER) -> Path:
    p = tmp_path / "t.csv"
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def test_reads_csv_and_jsonl_alike(tmp_path: Path) -> None:
    t = read_table(write(tmp_path))
    assert t.models == ["cheap", "dear"]
    assert t.tasks == ["math", "math", "chat", "chat"]
    assert t.quality.tolist() == [[1, 1], [0, 1], [1, 0], [0, 0]]
    j = tmp_path / "t.jsonl"
    with j.open("w") as fh:
        for i, r in enumerate(t.row_ids):
            obj = {"row_id": r, "prompt": t.prompts[i]}
            for k, m in enumerate(t.models):
                obj[m] = float(t.quality[i, k])
                obj[m + "|total_cost"] = float(t.cost[i, k])
            fh.write(json.dumps(obj) + "\n")
    t2 = read_table(j)
    assert np.array_equal(t2.quality, t.quality) and np.array_equal(t2.cost, t.cost)
    assert t2.tasks == [None] * 4


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("row_id,cheap,cheap|total_cost", ["r1,1,0.1"], "missing column 'prompt'"),
        ("row_id,prompt,cheap|total_cost", ["r1,p,0.1"], "without a quality column"),
        ("row_id,prompt,cheap", ["r1,p,1"], "no model columns"),
        (HEADER, ["r1,p,t,nan,0.1,1,0.2"], "NaN outcome for ['cheap']"),
        (HEADER, ["r1,p,t,,0.1,1,0.2"], "NaN outcome for ['cheap']"),
        (HEADER, ["r1,p,t,1,-0.1,1,0.2"], "costs must be finite USD >= 0"),
        (HEADER, ["r1,p,t,7,0.1,1,0.2"], "outside [0, 1]"),
        (HEADER, ["r1,p,t,x,0.1,1,0.2"], "is not a number"),
        (HEADER, ["r1,p,t,1,0.1,1,0.2", "r1,q,t,1,0.1,1,0.2"], "duplicate row_id"),
    ],
)
def test_bad_tables_are_named(tmp_path: Path, header: str, rows: list[str], message: str) -> None:
    with pytest.raises(TableError) as info:
        read_table(write(tmp_path, rows, header))
    assert message in str(info.value)


def test_unknown_model_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"unknown models \['gpt-9'\]"):
        read_table(write(tmp_path), models=["gpt-9"])
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_incomplete_rows_can_be_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, [*ROWS, "r5,p,t,,0.1,1,0.2"])
    assert len(read_table(p, drop_incomplete=True)) == 4
    q = open_queries(p, drop_incomplete=True)
    assert q.row_ids == ["r1", "r2", "r3", "r4"]
    assert len(q.load_outcomes()) == 4


def test_split_filter(tmp_path: Path) -> None:
    header = "row_id,prompt,split,m,m|total_cost"
    p = write(tmp_path, ["a,x,train,1,0", "b,y,test,0,0", "c,z,train,1,0"], header)
    assert read_table(p, split="train").row_ids == ["a", "c"]
    assert open_queries(p, split="test").row_ids == ["b"]
    with pytest.raises(TableError, match="no 'split' column"):
        read_table(write(tmp_path), split="train")


def test_queries_hold_outcomes_back_until_scoring(tmp_path: Path) -> None:
    q = open_queries(write(tmp_path))
    assert not q.outcomes_loaded
    assert not hasattr(q, "quality") and not hasattr(q, "cost")
    t = q.load_outcomes()
    assert q.outcomes_loaded
    assert t.row_ids == q.row_ids


def test_score_by_hand(tmp_path: Path) -> None:
    t = read_table(write(tmp_path))
    p = score(t, [0, 1, 0, 1])  # cheap, dear, cheap, dear
    assert p.quality == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert p.cost_per_1k == pytest.approx(1000 * (0.001 + 0.01 + 0.001 + 0.01) / 4)
    assert p.share == {"cheap": 0.5, "dear": 0.5}


def test_oracle_picks_cheapest_correct(tmp_path: Path) -> None:
    t = read_table(write(tmp_path))
    assert oracle_decisions(t).tolist() == [0, 1, 0, 0]
    b = baselines(t)
    assert b["oracle"].best.quality == pytest.approx(0.75)
    assert b["cheapest"].best.label == "cheap"
    # both models score 0.5: the tie goes to the cheaper one
    assert b["best_single"].best.label == "cheap"
    assert b["random"].best.quality == pytest.approx(0.5)
    assert b["random"].best.cost_per_1k == pytest.approx(1000 * 0.0055)


def test_frontier_is_upper_hull_and_non_decreasing() -> None:
    pts = [(0.0, 0.5), (0.2, 0.7), (0.3, 0.6), (0.6, 0.9), (0.8, 0.85), (1.0, 0.88)]
    assert frontier(pts) == [(0.0, 0.5), (0.2, 0.7), (0.6, 0.9)]


def test_aiq_by_hand() -> None:
    scale = Scale(c_lo=1.0, c_hi=11.0, q_lo=0.5, q_best=0.9)
    # one point at x = 0.5 (cost 6), quality 0.9: trapezoid 0..0.5 then flat
    assert aiq([Point("a", 0, 0.9, 6.0)], scale) == pytest.approx(0.5 * 0.7 + 0.5 * 0.9)
    # a point below the anchor's line adds nothing; cost beyond c_hi is clipped to x = 1
    assert aiq([Point("a", 0, 0.5, 50.0)], scale) == pytest.approx(0.5)
    two = [Point("a", 0, 0.7, 2.0), Point("b", 1, 0.9, 11.0)]
    expected = 0.1 * (0.5 + 0.7) / 2 + 0.9 * (0.7 + 0.9) / 2
    assert aiq(two, scale) == pytest.approx(expected)


def test_cost_to_reach() -> None:
    pts = [Point("a", 0, 0.80, 1.0), Point("b", 1, 0.86, 3.0), Point("c", 2, 0.9, 2.5)]
    # hull (1, 0.80) -> (2.5, 0.90); "b" lies under it. 0.85 is half-way along the segment
    assert cost_to_reach(pts, 0.85) == pytest.approx(1.75)
    assert cost_of_setting(pts, 0.85) == 2.5
    assert cost_to_reach(pts, 0.80) == 1.0
    assert cost_to_reach(pts, 0.95) is None and cost_of_setting(pts, 0.95) is None
    # with the cheapest single model (cost 0.5, quality 0.6) as the anchor, 0.7 is half-way
    # along (0.5, 0.6) -> (1, 0.8)
    anchor = Scale(c_lo=0.5, c_hi=3.0, q_lo=0.6, q_best=0.9)
    assert cost_to_reach(pts, 0.7, anchor) == pytest.approx(0.75)
    assert cost_to_reach(pts, 0.7) == 1.0
    rep = report("p", pts, anchor)
    assert rep.cost_at_95 == pytest.approx(1.0 + (0.855 - 0.8) / 0.1 * 1.5)
    assert rep.cost_at_95_setting == 2.5
    assert rep.to_dict()["cost_at_95_setting"] == 2.5
