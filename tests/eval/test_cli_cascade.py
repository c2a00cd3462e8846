"""``smartroute eval --cascade``: the cascade's row beside the routers, said to be simulated, in
the JSON report; bad cascade options are one error line before any replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartroute_llm.cli import app
from smartroute_llm.eval.demo import sample_path
from tests.eval.test_cli import _one_line_error, _table
from tests.eval.test_cli_edges import _eval

runner = CliRunner()


def test_cascade_with_a_perfect_simulated_verifier(tmp_path: Path) -> None:
    # the table: cheap is right on even rows only, dear always; cheap costs 0.001, dear 0.02
    t = _table(tmp_path)
    out = tmp_path / "r.json"
    result = runner.invoke(app, _eval(
        t, "--policy", "balanced", "--cascade", "--ladder", "cheap>dear",
        "--false-accept", "0", "--false-reject", "0", "--json", str(out),
    ), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "simulated verifier" in result.output
    assert "cheap > dear" in result.output
    doc = json.loads(out.read_text())
    r = doc["policies"]["cascade (simulated verifier)"]
    assert r["best"]["quality"] == 1.0
    # every row pays the cheap call, the half it gets wrong also pays the dear one
    assert r["best"]["cost_per_1k"] == pytest.approx(1.0 + 0.5 * 20.0)
    assert r["best"]["share"] == {"cheap": 0.5, "dear": 0.5}
    assert r["aiq"] > doc["policies"]["balanced"]["aiq"]
    assert r["cost_at_95"] < doc["baselines"]["best_single"]["cost_at_95"]


def test_cascade_false_accepts_cost_quality(tmp_path: Path) -> None:
    t = _table(tmp_path)
    docs = []
    for fa in ("0", "1"):
        out = tmp_path / f"r{fa}.json"
        result = runner.invoke(app, _eval(
            t, "--policy", "balanced", "--cascade", "--ladder", "cheap>dear",
            "--false-accept", fa, "--false-reject", "0", "--json", str(out),
        ))
        assert result.exit_code == 0, result.output
        docs.append(json.loads(out.read_text())["policies"]["cascade (simulated verifier)"])
    # a verifier that accepts everything never escalates: the cheap model's quality and cost
    assert docs[1]["best"]["quality"] == 0.5 < docs[0]["best"]["quality"]
    assert docs[1]["points"][0]["cost_per_1k"] == pytest.approx(1.0)


def test_cascade_default_ladders_are_chosen_on_train(tmp_path: Path) -> None:
    t = _table(tmp_path)
    result = runner.invoke(app, _eval(t, "--policy", "balanced", "--cascade"),
                           terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "Ladders (train)" in result.output and "false accept 0.1" in result.output


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--cascade", "--false-accept", "1.5"], "--false-accept 1.5: a rate in [0, 1]"),
        (["--cascade", "--false-reject", "-0.1"], "--false-reject -0.1"),
        (["--cascade", "--max-rungs", "0"], "--max-rungs 0"),
        (["--ladder", "cheap>dear"], "only with --cascade"),
        (["--score-verifiers"], "--score-verifiers: only with --cascade"),
        (["--cascade", "--ladder", "cheap>gpt-9"], "unknown models ['gpt-9']"),
    ],
)
def test_bad_cascade_options_are_one_line(tmp_path: Path, extra: list[str],
                                          expected: str) -> None:
    result = runner.invoke(app, _eval(_table(tmp_path), "--policy", "balanced", *extra))
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert line.startswith("error:") and expected in line


def test_score_verifiers_measures_real_verifiers_on_recorded_answers() -> None:
    sample = str(sample_path())
    result = runner.invoke(app, [
        "eval", "--train", sample, "--test", sample, "--policy", "balanced", "--cascade",
        "--score-verifiers",
    ], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "measured, not simulated" in out and "simulated verifier" in out
    assert "mixtral-8x7b-instruct's recorded answers (200 rows" in out
    assert "structural+answer" in out and "judge model" in out


def test_score_verifiers_needs_answer_texts(tmp_path: Path) -> None:
    result = runner.invoke(app, _eval(_table(tmp_path), "--policy", "balanced", "--cascade",
                                      "--score-verifiers"))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "error:" in result.output and "|response" in result.output
