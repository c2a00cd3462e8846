"""for_model, build_targets and build_router: vendor choice and clear configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartroute_llm import (
    AllTargetsFailed,
    ConfigurationError,
    ProviderCapability,
    Router,
    RoutingPolicy,
)
from smartroute_llm.config import build_router, build_targets
from smartroute_llm.providers import Anthropic, Gemini, OpenAICompatible, for_model
from smartroute_llm.testing import FakeProvider


@pytest.mark.parametrize(("model", "cls", "base"), [
    ("gpt-4o", OpenAICompatible, "https://api.openai.com/v1"),
    ("mistral-small", OpenAICompatible, "https://api.mistral.ai/v1"),
    ("llama-3.1-8b-instant", OpenAICompatible, "https://api.groq.com/openai/v1"),
    ("deepseek-chat", OpenAICompatible, "https://api.deepseek.com/v1"),
    ("claude-3-5-haiku-latest", Anthropic, "https://api.anthropic.com"),
    ("gemini-2.0-flash", Gemini, "https://generativelanguage.googleapis.com/v1beta"),
])
def test_for_model_picks_vendor_from_catalog(
    model: str, cls: type, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    t = for_model(model)
    assert isinstance(t, cls) and t.base_url == base and t.model == model
    assert t.capability.provider


def test_for_model_capability_override_wins() -> None:
    cap = ProviderCapability(provider="anthropic", quality_tier="premium")
    t = for_model("my-claude-finetune", cap)
    assert isinstance(t, Anthropic) and t.capability is cap


def test_for_model_unknown_vendor_is_clear() -> None:
    with pytest.raises(ConfigurationError, match="provider="):
        for_model("totally-unknown-model")


def test_router_without_targets_builds_http_targets_without_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    router = Router(policy=RoutingPolicy.balanced().allow(["gpt-4o-mini", "claude-3-5-haiku"]))
    assert {type(t).__name__ for t in router.targets} == {"OpenAICompatible", "Anthropic"}
    assert router.plan("hello").candidates
    with pytest.raises(AllTargetsFailed) as info:
        router.chat("hello")
    errors = [a.error for a in info.value.attempts]
    assert all(isinstance(e, ConfigurationError) for e in errors)
    assert {a.error_kind for a in info.value.attempts} == {"authentication"}
    text = " ".join(str(e) for e in errors)
    assert "OPENAI_API_KEY" in text and "ANTHROPIC_API_KEY" in text


def test_missing_key_names_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    t = OpenAICompatible("llama-3.1-8b-instant", preset="groq")
    with pytest.raises(ConfigurationError, match="GROQ_API_KEY"):
        t.complete(__import__("smartroute_llm").to_request("hi"))


def test_build_targets_fields_and_errors(fake_provider: FakeProvider) -> None:
    targets = build_targets([
        {"model": "gpt-4o-mini", "base_url": fake_provider.base_url, "api_key_env": "X_KEY"},
        {"model": "llama3.1", "provider": "ollama", "name": "local",
         "capability": {"speed_tier": "fast", "quality_tier": "low"}},
    ])
    assert targets[0].name == "gpt-4o-mini" and targets[1].name == "local"
    assert targets[1].capability.speed_tier == "fast"
    with pytest.raises(ConfigurationError, match=r"targets\[0\]: unknown field\(s\) \['api_key'\]"):
        build_targets([{"model": "gpt-4o", "api_key": "sk-secret"}])
    with pytest.raises(ConfigurationError, match=r"targets\[0\].model: required"):
        build_targets([{"provider": "openai"}])
    with pytest.raises(ConfigurationError, match=r"targets\[0\]: .*unknown provider 'nope'"):
        build_targets([{"model": "x", "provider": "nope"}])
    with pytest.raises(ConfigurationError, match=r"targets\[0\].capability"):
        build_targets([{"model": "x", "provider": "openai", "capability": {"speed_tier": "warp"}}])
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    [claude] = build_targets([{"model": "claude-sonnet-4-5", "provider": "anthropic",
                               "extra_body": thinking}])
    assert claude.extra_body == thinking  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"targets\[0\]: .*extra_body must be a mapping"):
        build_targets([{"model": "gpt-4o", "provider": "openai", "extra_body": "thinking"}])


def test_build_router_from_yaml_and_json(tmp_path: Path, fake_provider: FakeProvider) -> None:
    cfg = {
        "policy": {"allow": ["a", "b"]},
        "targets": [
            {"model": "gpt-4o-mini", "name": "a", "provider": "vllm",
             "base_url": fake_provider.base_url},
            {"model": "gpt-4o", "name": "b", "provider": "vllm",
             "base_url": fake_provider.base_url},
        ],
    }
    (tmp_path / "r.json").write_text(json.dumps(cfg))
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(cfg))
    for path in (tmp_path / "r.json", str(tmp_path / "r.yaml")):
        with build_router(path) as router:
            resp = router.chat("hello")
            assert resp.text.endswith("hello") and resp.model_used in ("gpt-4o-mini", "gpt-4o")
    with pytest.raises(ConfigurationError, match="unknown top-level"):
        build_router({"polcy": {}})
    with pytest.raises(ConfigurationError, match="does not exist"):
        build_router(tmp_path / "missing.yaml")
