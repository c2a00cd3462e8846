"""Offline scores of the verifiers on the packaged GSM8K sample, and on a small table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from smartroute_llm.eval.verifier_scores import VerifierScores, score_verifiers


def by_name(result: VerifierScores) -> dict[str, object]:
    return {s.verifier: s for s in result.scores}


def test_packaged_sample_scores_are_consistent() -> None:
    result = score_verifiers()
    assert result.rows == 200 and result.cheap == "mixtral-8x7b-instruct"
    right = round(result.cheap_accuracy * result.rows)
    for s in result.scores:
        assert s.n == 200
        assert s.right == right and s.wrong == 200 - right
        assert 0 <= s.false_accept_rate <= 1 and 0 <= s.false_reject_rate <= 1
        assert s.as_dict()["n"] == 200
    ref = next(s for s in result.scores if s.reference)
    assert "reference" in ref.verifier
    # the strong model's answer separates right from wrong far better than chance
    assert ref.accuracy > 0.85
    assert any("judge" in m for m in result.not_measured)
    assert len(result.lines()) == 3 + len(result.scores)


def write(path: Path, rows: list[tuple[str, float, str, float, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row_id", "prompt", "cheap", "cheap|response", "strong", "strong|response"])
        for i, (prompt, g1, a1, g2, a2) in enumerate(rows):
            w.writerow([i, prompt, g1, a1, g2, a2])
    return path


def test_confusion_counts_on_a_small_table(tmp_path: Path) -> None:
    table = write(tmp_path / "t.csv", [
        ("q1", 1.0, "2 + 2 = 4\n#### 4", 1.0, "The answer is 4."),      # right, agrees
        ("q2", 0.0, "#### 5", 1.0, "#### 6"),                            # wrong, disagrees
        ("q3", 0.0, "I'm sorry, but I can't help with that.", 1.0, "#### 1"),  # refusal
        ("q4", 1.0, "It is 7 apples", 1.0, "#### 8"),                   # right, disagrees
    ])
    result = score_verifiers(table, cheap="cheap", strong="strong")
    scores = {s.verifier: s for s in result.scores}
    structural = scores["structural"]
    assert (structural.true_accept, structural.false_accept,
            structural.true_reject, structural.false_reject) == (2, 1, 1, 0)
    declared = scores["declared answer"]
    assert (declared.true_accept, declared.false_accept,
            declared.true_reject, declared.false_reject) == (1, 1, 1, 1)
    agree = scores["agreement with strong (reference)"]
    assert (agree.true_accept, agree.false_accept,
            agree.true_reject, agree.false_reject) == (1, 0, 2, 1)
    assert agree.false_reject_rate == 0.5 and agree.accuracy == 0.75


def test_missing_columns_named(tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("prompt,cheap,strong\nq,1,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cheap\|response"):
        score_verifiers(table, cheap="cheap", strong="strong")
