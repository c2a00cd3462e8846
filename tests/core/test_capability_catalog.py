import pytest
from pydantic import ValidationError

from smartroute_llm import ProviderCapability, QualityTier, SpeedTier, catalog


def test_seed_cost_per_token_is_usd_per_1k_and_converted_once():
    cap = ProviderCapability(
        speed_tier=SpeedTier.FAST,
        quality_tier=QualityTier.HIGH,
        cost_per_token=0.03,
        max_tokens=128000,
    )
    assert cap.input_cost_per_1m == pytest.approx(30.0)
    assert cap.output_cost_per_1m == pytest.approx(30.0)
    assert cap.cost_per_token == pytest.approx(0.03)
    # 1,000 input + 1,000 output tokens at $0.03 / 1K each
    assert cap.cost(1000, 1000) == pytest.approx(0.06)
    assert "cost_per_token" not in cap.model_dump()


def test_tier_strings_are_accepted_in_any_case():
    cap = ProviderCapability(speed_tier="Very-Fast", quality_tier="PREMIUM")
    assert cap.speed_tier is SpeedTier.VERY_FAST
    assert cap.quality_tier is QualityTier.PREMIUM


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input_cost_per_1m": -1}, "input_cost_per_1m"),
        ({"output_cost_per_1m": -0.5}, "output_cost_per_1m"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"quality_tier": "ultra"}, "quality_tier"),
        ({"speed_tier": "warp"}, "speed_tier"),
        ({"cost_per_token": -0.1}, "cost_per_token"),
        ({"input_cost_per_1m": 5000}, "input_cost_per_1m"),
        ({"cost_per_token": 0.01, "input_cost_per_1m": 1}, "cost_per_token"),
    ],
)
def test_bad_capability_names_the_field(kwargs, field):
    with pytest.raises(ValidationError) as info:
        ProviderCapability(**kwargs)
    assert field in str(info.value)


def test_implausible_price_explains_the_unit():
    with pytest.raises(ValidationError, match="per 1M tokens"):
        ProviderCapability(input_cost_per_1m=2500)


def test_catalog_has_every_seed_model_and_each_vendor():
    for name in ("gpt-4o", "claude-3-haiku", "mistral-medium"):
        assert catalog.lookup(name) is not None
    providers = {cap.provider for _, cap in catalog.items()}
    assert {"openai", "anthropic", "mistral", "google", "groq", "deepseek"} <= providers
    assert catalog.prices_as_of()[:4].isdigit()


def test_catalog_prices_are_per_million_list_prices():
    gpt4o = catalog.get("gpt-4o")
    assert gpt4o.input_cost_per_1m == 2.5 and gpt4o.output_cost_per_1m == 10.0
    assert gpt4o.max_tokens == 128_000
    haiku = catalog.get("claude-3-haiku")
    assert haiku.input_cost_per_1m < gpt4o.input_cost_per_1m
    assert haiku.supports_prefill


def test_catalog_resolves_snapshots_prefixes_and_latest():
    assert catalog.canonical_name("claude-3-haiku-20240307") == "claude-3-haiku"
    assert catalog.canonical_name("openai/gpt-4o") == "gpt-4o"
    assert catalog.canonical_name("mistral-medium-latest") == "mistral-medium"
    assert catalog.lookup("no-such-model") is None


def test_catalog_unknown_model_error_names_the_fix():
    with pytest.raises(ValueError, match="register"):
        catalog.get("gpt-999")


def test_catalog_register_overrides_per_process():
    try:
        catalog.register("gpt-4o", {"input_cost_per_1m": 1.0, "quality_tier": "premium"})
        assert catalog.get("gpt-4o").input_cost_per_1m == 1.0
        catalog.register("my-local-llama", ProviderCapability(provider="ollama"))
        assert "my-local-llama" in catalog.list_models()
    finally:
        catalog.unregister("gpt-4o")
        catalog.unregister("my-local-llama")
    assert catalog.get("gpt-4o").input_cost_per_1m == 2.5
