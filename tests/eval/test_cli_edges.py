"""CLI edges a new user hits (issue #15 item 7): every bad input is one clear line and a
non-zero exit, never a traceback; ``fake-provider --help`` documents its real options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from smartroute_llm import __version__
from smartroute_llm.cli import app
from tests.eval.test_cli import _table

runner = CliRunner()


def _one_line_error(output: str) -> str:
    assert "Traceback" not in output
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    return lines[0]


def _eval(t: Path, *extra: str) -> list[str]:
    return ["eval", "--train", str(t), "--test", str(t), "--train-split", "train",
            "--test-split", "test", *extra]


@pytest.mark.parametrize(
    ("option", "target", "expected"),
    [
        ("--plot", "/nonexistent/dir/x.png", "does not exist"),
        ("--json", "/nonexistent/dir/r.json", "does not exist"),
        ("--decisions", "{dir}", "is a directory"),
    ],
)
def test_eval_refuses_an_unwritable_output_before_replaying(
    tmp_path: Path, option: str, target: str, expected: str
) -> None:
    t = _table(tmp_path)
    target = target.replace("{dir}", str(tmp_path))
    result = runner.invoke(app, _eval(t, "--policy", "balanced", option, target))
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert option in line and expected in line


def test_models_of_an_unknown_provider_is_an_error() -> None:
    result = runner.invoke(app, ["models", "--provider", "nosuch"])
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert "nosuch" in line and "openai" in line
    ok = runner.invoke(app, ["models", "--provider", "openai"])
    assert ok.exit_code == 0 and "gpt-4o" in ok.output and "claude" not in ok.output


@pytest.mark.parametrize("rows", ["0", "-3"])
def test_demo_refuses_rows_below_one(rows: str) -> None:
    result = runner.invoke(app, ["demo", "--rows", rows])
    assert result.exit_code == 2
    assert f"--rows {rows}" in _one_line_error(result.output)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"smartroute {__version__}"


def test_eval_lists_cheapest_once(tmp_path: Path) -> None:
    t = _table(tmp_path)
    result = runner.invoke(app, _eval(t), terminal_width=160)
    assert result.exit_code == 0, result.output
    names = [ln.split("│")[1].strip() for ln in result.output.splitlines() if ln.startswith("│")]
    assert names.count("cheapest") == 1, names
    explicit = runner.invoke(app, _eval(t, "--policy", "cheapest"), terminal_width=160)
    assert explicit.exit_code == 0, explicit.output
    assert "cheapest (baseline)" in explicit.output


def _console_script() -> list[str]:
    exe = Path(sys.executable).with_name("smartroute")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "smartroute_llm.cli"]


def test_eval_output_in_a_pipe_starts_with_the_title(tmp_path: Path) -> None:
    t = _table(tmp_path)
    proc = subprocess.run(
        [*_console_script(), *_eval(t, "--policy", "balanced")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    first = proc.stdout.splitlines()[0]
    assert first.strip().startswith(f"{t}:"), proc.stdout[:500]
    assert "replaying" not in proc.stdout


# --- fake-provider --------------------------------------------------------------------------


def test_fake_provider_help_shows_its_options_and_fault_meaning() -> None:
    result = runner.invoke(app, ["fake-provider", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option in ("--host", "--port", "--latency", "--chunk-delay", "--fault", "--flap",
                   "--no-record"):
        assert option in text
    assert "Retry-After 2 s" in text and "permanent" in text and "never a count" in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fault", "gpt-4o=bogus"], "unknown fault 'bogus'"),
        (["--fault", "gpt-4o"], "MODEL=KIND[:ARG]"),
        (["--fault", "gpt-4o=rate_limited:soon"], "bad argument"),
        (["--flap", "gpt-4o=later"], "MODEL=SECONDS"),
        (["--port", "70000"], "--port 70000"),
        (["--latency", "-1"], "--latency"),
    ],
)
def test_fake_provider_bad_input_is_one_line(args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["fake-provider", *args])
    assert result.exit_code == 2
    assert expected in _one_line_error(result.output)


def test_fake_provider_serves_a_permanent_rate_limit_with_retry_after() -> None:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [*_console_script(), "fake-provider", "--fault", "gpt-4o=rate_limited:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints once it listens
        assert "OpenAI base_url=" in line, line
        base_url = line.split("OpenAI base_url=")[1].split()[0]
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=30, trust_env=False) as client:
            for _ in range(3):  # not "twice": every request
                r = client.post(f"{base_url}/chat/completions", json=body)
                assert r.status_code == 429 and r.headers["retry-after"] == "2"
            ok = client.post(f"{base_url}/chat/completions", json={**body, "model": "other"})
            assert ok.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    assert proc.returncode == 0  # Ctrl-C stops it cleanly
