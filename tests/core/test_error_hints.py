"""Errors show the fix (issue 15, item 6): AllTargetsFailed's message carries each distinct
failure's hint once; the CLI shows a validation error's field and allowed values, on one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.cli import app
from smartroute_llm.decision import Attempt
from smartroute_llm.errors import AllTargetsFailed, ConfigurationError, ErrorKind

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


def test_quickstart_without_keys_says_which_key_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    policy = RoutingPolicy.balanced().allow(["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-latest"])
    router = Router(policy=policy)
    with pytest.raises(AllTargetsFailed) as info:
        router.chat("What is the capital of France?")
    text = str(info.value)
    assert len(info.value.attempts) == 3
    # each distinct fix once, with the targets it applies to
    assert text.count("set the OPENAI_API_KEY environment variable or pass api_key=") == 1
    assert text.count("set the ANTHROPIC_API_KEY environment variable or pass api_key=") == 1
    openai_line = next(ln for ln in text.splitlines() if "OPENAI_API_KEY" in ln)
    assert "gpt-4o-mini" in openai_line and "gpt-4o" in openai_line
    assert "claude-3-5-haiku-latest" in next(
        ln for ln in text.splitlines() if "ANTHROPIC_API_KEY" in ln
    )
    # the summary line stays first
    assert text.splitlines()[0].startswith("all 3 attempt(s) failed: ")


def _failed(target: str, message: str | None, **kw: object) -> Attempt:
    return Attempt(
        target=target, model=target, error_kind=ErrorKind.NOT_FOUND, message=message, **kw
    )


def test_hints_are_deduplicated_bounded_and_skip_non_failures() -> None:
    attempts = [
        _failed("a", "OpenAICompatible target 'a': model not found; check the model name"),
        _failed("b", "OpenAICompatible target 'b': model not found; check the model name"),
        _failed("c", "x" * 1000),
        _failed("d", None),
        _failed("e", "was cancelled", cancelled=True),
        *(_failed(f"z{i}", f"distinct failure {i}") for i in range(10)),
    ]
    text = str(AllTargetsFailed(attempts))
    hint_lines = text.splitlines()[1:]
    assert hint_lines[0] == "  a, b: model not found; check the model name"
    assert len(hint_lines) == 5  # bounded
    assert all(len(ln) < 320 for ln in hint_lines)  # long vendor text is cut
    assert "was cancelled" not in text


def test_no_hint_lines_when_no_attempt_says_anything() -> None:
    text = str(AllTargetsFailed([_failed("a", None)]))
    assert text == "all 1 attempt(s) failed: a -> not_found after 0 ms"


runner = CliRunner()


def _one_error_line(output: str) -> str:
    assert "Traceback" not in output
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:")
    return lines[0]


def test_cli_shows_the_field_and_allowed_values_of_a_validation_error(tmp_path: Path) -> None:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(
        "targets:\n  - model: gpt-4o\n    capability:\n      speed_tier: warp\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["explain", "hi", "--config", str(cfg)])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert "validation error for" not in line
    assert "speed_tier" in line and "VERY_FAST, FAST, MEDIUM, SLOW" in line


def test_cli_unwraps_a_wrapped_pydantic_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: 'invalid routing policy: 1 validation error for RoutingPolicy' and
    nothing else."""
    try:
        RoutingPolicy.model_validate({"circuit": {"when_all_open": "sometimes"}})
    except ValidationError as ve:
        wrapped = ConfigurationError(f"invalid routing policy: {ve}")
        wrapped.__cause__ = ve

    def build_router(path: str) -> Router:
        raise wrapped

    monkeypatch.setattr("smartroute_llm.config.build_router", build_router)
    cfg = tmp_path / "router.yaml"
    cfg.write_text("policy: {}\n", encoding="utf-8")
    result = runner.invoke(app, ["explain", "hi", "--config", str(cfg)])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert line.startswith("error: invalid routing policy: ")
    assert "circuit" in line and "when_all_open" in line
    assert "'fail_fast' or 'wait'" in line and "'sometimes'" in line
