"""The ``smartroute`` command: error paths print one line and exit non-zero; eval writes the
documented JSON; the demo runs offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartroute_llm.cli import app

runner = CliRunner()
HEADER = "row_id,prompt,split,cheap,cheap|total_cost,dear,dear|total_cost"


def _table(tmp_path: Path) -> Path:
    rows = []
    for i in range(24):
        split = "test" if i % 3 == 0 else "train"
        if i % 2:
            rows.append(f"r{i},solve the integral of x^{i},{split},0,0.001,1,0.02")
        else:
            rows.append(f"r{i},hello friend {i},{split},1,0.001,1,0.02")
    p = tmp_path / "t.csv"
    p.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return p


def _one_line_error(result: object) -> str:
    out = getattr(result, "output", "")
    assert "Traceback" not in out
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--train", "missing.csv", "--test", "missing.csv"], "no such file"),
        (["eval", "--train", "{bad}", "--test", "{t}"], "missing column 'prompt'"),
        (["eval", "--train", "{t}", "--test", "{t}", "--policy", "nope"], "unknown; use one of"),
        (["eval", "--train", "{t}", "--test", "{t}", "--train-split", "x"], "no rows with split"),
        (["explain", "hi", "--config", "missing.yaml"], "no such config file"),
        (["explain", "hi", "--config", "{badcfg}"], ""),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    t = _table(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("row_id,x\n1,2\n", encoding="utf-8")
    badcfg = tmp_path / "bad.yaml"
    badcfg.write_text("targets: 3\n", encoding="utf-8")
    subst = {"{t}": str(t), "{bad}": str(bad), "{badcfg}": str(badcfg)}
    args = [subst.get(a, a) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    line = _one_line_error(result)
    assert line.startswith("error:")
    assert expected in line


def test_eval_writes_schema_decisions_and_plot(tmp_path: Path) -> None:
    t = _table(tmp_path)
    out, dec, png = tmp_path / "r.json", tmp_path / "d.json", tmp_path / "p.png"
    result = runner.invoke(app, [
        "eval", "--train", str(t), "--test", str(t), "--train-split", "train",
        "--test-split", "test", "--policy", "balanced", "--json", str(out),
        "--decisions", str(dec), "--plot", str(png),
    ])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == "smartroute_llm.eval/1"
    assert set(doc) >= {"policies", "baselines", "oracle", "scale", "models", "rows"}
    assert set(doc["policies"]["balanced"]) >= {
        "aiq", "cost_at_90", "cost_at_95", "cost_at_90_setting", "cost_at_95_setting", "points"
    }
    assert doc["baselines"]["best_single"]["best"]["label"] == "dear"
    d = json.loads(dec.read_text())
    assert d["name"] == "balanced"
    assert all(x["model"] in ("cheap", "dear") for p in d["points"] for x in p["decisions"])
    assert len(d["points"][0]["decisions"]) == doc["rows"] == 8
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_help_shows_the_json_schema() -> None:
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    assert "smartroute_llm.eval/1" in result.output and "cost_at_95" in result.output


def test_models_and_explain_without_keys() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "gpt-4o" in result.output
    result = runner.invoke(app, ["explain", "Prove that sqrt(2) is irrational, step by step."])
    assert result.exit_code == 0, result.output
    assert "candidates:" in result.output and "complexity" in result.output


def _console_script() -> list[str]:
    exe = Path(sys.executable).with_name("smartroute")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "smartroute_llm.cli"]


def test_console_script_error_exit_in_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*_console_script(), "eval", "--train", str(tmp_path / "nope.csv"), "--test", "x.csv"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and "no such file" in proc.stderr


def test_demo_runs_offline_in_a_real_process(tmp_path: Path) -> None:
    png = tmp_path / "demo.png"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "OPENAI_API_KEY": ""}
    proc = subprocess.run(
        [*_console_script(), "demo", "--rows", "6", "--plot", str(png)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "6/6 answers arrived over HTTP exactly as recorded" in proc.stdout
    assert "always gpt-4-1106-preview" in proc.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
