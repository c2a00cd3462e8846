"""The predictor's neighbour index is capped, so decision time does not grow with the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.predictor import QualityPredictor
from tests.eval.test_predictor_neighbours import _table


def test_the_index_keeps_at_most_max_index_rows_and_still_finds_the_task(tmp_path: Path) -> None:
    table = _table(300, 0)
    pred = QualityPredictor(dim=512, epochs=80, max_index=64).fit(table)
    assert pred._y is not None and len(pred._y) == 64
    assert pred.neighbours is not None and pred.neighbours < 32  # k chosen for the capped pool
    code, quiz = pred.predict_all([
        "Write a python function that returns item 77 of the list.",
        "Which answer is right for question 77? A, B, C or D.",
    ])[0]
    assert code[0] < 0.5 < quiz[0]  # "small" fails the code task, passes the quiz
    pred.save(tmp_path / "p.npz")
    again = QualityPredictor.load(tmp_path / "p.npz")
    assert again._y is not None and len(again._y) == 64


def test_the_cap_is_deterministic_and_none_keeps_every_row() -> None:
    table = _table(120, 1)
    a = QualityPredictor(dim=256, epochs=20, max_index=50).fit(table)
    b = QualityPredictor(dim=256, epochs=20, max_index=50).fit(table)
    assert a._space is not None and b._space is not None
    assert np.array_equal(a._space, b._space)
    full = QualityPredictor(dim=256, epochs=20, max_index=None).fit(table)
    assert full._y is not None and len(full._y) == 120


@pytest.mark.parametrize("bad", [0, -5])
def test_max_index_must_be_positive(bad: int) -> None:
    with pytest.raises(ConfigurationError, match="max_index: must be a positive number"):
        QualityPredictor(max_index=bad)
