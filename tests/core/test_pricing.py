"""A model without a known price is never treated as free (issue 15, item 3): it never ranks
first on cost among priced candidates, the router warns once when it is built, and explain()
says where each candidate's price came from."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from smartroute_llm import Router, RoutingPolicy, catalog, pricing
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.pricing import PriceUnknownWarning
from smartroute_llm.testing.scripted import ScriptedTarget

CATALOG = f"catalog {catalog.prices_as_of()}"
# an unknown model that looks as good as it gets on every other axis
SHINY = ProviderCapability(speed_tier="very_fast", quality_tier="premium")


@pytest.fixture(autouse=True)
def _catalog_only() -> Iterator[None]:
    """Rank with the shipped catalog, whatever is installed; each test opts in to genai."""
    pricing.use_genai_prices(False)
    yield
    pricing.use_genai_prices(None)


def _router(targets: list[Any], policy: RoutingPolicy | None = None) -> Router:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriceUnknownWarning)
        return Router(targets, policy or RoutingPolicy.cheapest())


def test_capability_without_prices_is_price_unknown_not_free() -> None:
    assert not ProviderCapability().price_known
    assert not SHINY.price_known
    assert ProviderCapability(input_cost_per_1m=0.0, output_cost_per_1m=0.0).price_known
    assert ProviderCapability(cost_per_token=0.001).price_known
    assert catalog.get("gpt-4o").price_known


@pytest.mark.parametrize(
    "policy",
    [
        RoutingPolicy.cheapest(),
        RoutingPolicy.balanced().cost_aware(True),
        RoutingPolicy.balanced().cost_aware(True).with_weights(quality=0, speed=0, cost=1),
    ],
    ids=["cheapest", "balanced", "cost-only"],
)
@pytest.mark.parametrize(
    "priced",
    [["gpt-4o"], ["gpt-4o", "gpt-4o-mini"], ["claude-3-opus", "gpt-4o"]],
)
def test_unknown_model_never_ranks_first_on_cost(policy: RoutingPolicy, priced: list[str]) -> None:
    targets = [ScriptedTarget("my-finetune", SHINY), *(ScriptedTarget(m) for m in priced)]
    plan = _router(targets, policy).plan("What is 2 + 2?")
    if policy.weights.quality == 0 or policy.strategy == "cheapest":  # ranked on cost alone
        assert plan.first.name != "my-finetune", plan.explain()
    unknown = next(c for c in plan.candidates if c.name == "my-finetune")
    assert not unknown.price_known
    # dearer than every priced candidate, so its cost score is the lowest
    assert all(unknown.cost < c.cost for c in plan.candidates if c.price_known), plan.explain()


def test_unknown_model_is_dearer_than_a_free_local_model() -> None:
    free = ProviderCapability(input_cost_per_1m=0.0, output_cost_per_1m=0.0)
    targets = [ScriptedTarget("my-finetune", SHINY), ScriptedTarget("local-llama", free)]
    plan = _router(targets).plan("hi")
    assert [c.name for c in plan.candidates] == ["local-llama", "my-finetune"]
    assert plan.prices == {"local-llama": pricing.GIVEN, "my-finetune": pricing.UNKNOWN}


def test_warning_is_emitted_once_when_the_router_is_built() -> None:
    targets = [ScriptedTarget("ft-a", SHINY), ScriptedTarget("ft-b"), ScriptedTarget("gpt-4o")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(targets, RoutingPolicy.cheapest())
        built = [w for w in caught if issubclass(w.category, PriceUnknownWarning)]
        for _ in range(3):
            router.plan("hello")
            router.explain("hello")
            router.chat("hello")
    late = [w for w in caught if issubclass(w.category, PriceUnknownWarning)]
    assert len(built) == 1 and len(late) == 1
    text = str(built[0].message)
    assert "ft-a" in text and "ft-b" in text and "gpt-4o" not in text
    assert built[0].filename == __file__  # points at the caller's Router(...) line


def test_no_warning_when_every_price_is_known() -> None:
    given = ProviderCapability(input_cost_per_1m=1.0, output_cost_per_1m=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriceUnknownWarning)
        Router([ScriptedTarget("gpt-4o"), ScriptedTarget("mine", given)])


def test_explain_shows_the_source_of_each_price() -> None:
    given = ProviderCapability(input_cost_per_1m=1.0, output_cost_per_1m=2.0)
    targets = [ScriptedTarget("gpt-4o"), ScriptedTarget("mine", given), ScriptedTarget("typo-4o")]
    text = _router(targets).explain("hello")
    assert f"{CATALOG}: gpt-4o" in text
    assert "given: mine" in text
    assert "price unknown (ranked as the dearest for cost): typo-4o" in text
    line = next(ln for ln in text.splitlines() if "typo-4o" in ln and "~$" in ln)
    assert "~$? price unknown" in line


def test_a_capability_without_prices_for_a_catalog_model_uses_the_catalog_price() -> None:
    cap = ProviderCapability(quality_tier="premium")
    plan = _router([ScriptedTarget("gpt-4o", cap)]).plan("hi")
    assert plan.prices == {"gpt-4o": CATALOG}
    billed = plan.first.profile.capability.input_cost_per_1m
    assert billed == catalog.get("gpt-4o").input_cost_per_1m


class _FakeGenai:
    """genai-prices' calc_price/Usage shape, for a model list of our choosing."""

    __version__ = "9.9"

    def __init__(self, prices: dict[str, tuple[float, float]]) -> None:
        self.prices = prices
        self.calls: list[tuple[str, str | None]] = []

    def Usage(self, input_tokens: int = 0, output_tokens: int = 0) -> Any:
        return SimpleNamespace(input_tokens=input_tokens, output_tokens=output_tokens)

    def calc_price(self, usage: Any, model: str, *, provider_id: str | None = None) -> Any:
        self.calls.append((model, provider_id))
        if model not in self.prices:
            raise LookupError(f"Unable to find model with model_ref={model!r}")
        i, o = self.prices[model]
        return SimpleNamespace(
            input_price=usage.input_tokens * i / 1e6, output_price=usage.output_tokens * o / 1e6
        )


def test_genai_prices_is_preferred_and_the_catalog_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeGenai({"gpt-4o": (2.0, 8.0), "new-model-x": (0.5, 1.0)})
    monkeypatch.setattr(pricing, "_genai_module", lambda: fake)
    pricing.use_genai_prices(True)
    targets = [ScriptedTarget(m) for m in ("gpt-4o", "gpt-4o-mini", "new-model-x")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriceUnknownWarning)  # genai knows the new model
        router = Router(targets, RoutingPolicy.cheapest())
    plan = router.plan("hello")
    assert plan.prices == {
        "gpt-4o": "genai-prices 9.9",
        "new-model-x": "genai-prices 9.9",
        "gpt-4o-mini": CATALOG,
    }
    # billed at the price it was ranked with
    assert router.profile("gpt-4o").capability.output_cost_per_1m == pytest.approx(8.0)
    assert ("gpt-4o", "openai") in fake.calls  # asked for the vendor serving it
    assert "genai-prices 9.9: " in plan.explain()


def test_real_genai_prices_prices_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("genai_prices")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"genai-prices tried to connect: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    pricing.use_genai_prices(True)
    got = pricing.resolve("gpt-4o-mini", catalog.get("gpt-4o-mini"))
    assert got.source.startswith("genai-prices ")
    assert 0 < got.input_per_1m < got.output_per_1m < 100
    assert not pricing.resolve("surely-not-a-model-7", ProviderCapability()).known
