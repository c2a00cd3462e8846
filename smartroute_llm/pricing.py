"""Where each target's price comes from, and how a target without a known price is ranked.

A price is never invented. For each target, in order:

1. ``given``: the capability the caller passed (``ProviderCapability(...)``, a policy's
   ``add_provider``, ``catalog.register``) states prices that differ from the built-in catalog.
   ``0`` is a stated price (a free local model).
2. ``genai-prices``: the maintained price data of the ``genai-prices`` package
   (``pip install 'smartroute-llm[prices]'``), when it is installed and knows the model. Its
   data ships inside the package; nothing is downloaded (its optional updater is never started
   here).
3. ``catalog``: the built-in catalog (``data/models.json``, dated :func:`catalog.prices_as_of`),
   which also gives the speed and quality tiers.
4. ``unknown``: none of these. Such a target is **never treated as free**: for ranking it costs
   twice the dearest known price among the router's targets (input and output separately; when
   no target has a non-zero price, the dearest price in the catalog), so it never counts as
   cheaper than a priced candidate. The router warns once when it is built, and ``explain()``
   shows "price unknown". Give its prices to rank it on them.

``SMARTROUTE_PRICES=catalog`` (or :func:`use_genai_prices(False) <use_genai_prices>`) skips
genai-prices, e.g. to reproduce rankings made with the catalog alone.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability

UNKNOWN = "unknown"
GIVEN = "given"
_GENAI = "genai-prices"
# our provider names where genai-prices spells them differently
_PROVIDER_IDS = {"gemini": "google"}
_PROBE_TOKENS = 1000  # well inside every model's first (shortest-context) price band
_UNKNOWN_FACTOR = 2.0

_genai_enabled: bool | None = None  # None: on unless SMARTROUTE_PRICES=catalog


class PriceUnknownWarning(UserWarning):
    """A target's model has no known price; it is ranked as the dearest candidate for cost."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens and where the numbers come from (``source``)."""

    input_per_1m: float
    output_per_1m: float
    source: str

    @property
    def known(self) -> bool:
        return self.source != UNKNOWN


def use_genai_prices(on: bool | None) -> None:
    """Turn the genai-prices source on or off for this process (``None``: the default)."""
    global _genai_enabled
    _genai_enabled = on
    _genai_price.cache_clear()


def genai_prices_enabled() -> bool:
    if _genai_enabled is not None:
        return _genai_enabled
    return os.environ.get("SMARTROUTE_PRICES", "").strip().lower() != "catalog"


@lru_cache(maxsize=1)
def _genai_module() -> Any:
    try:
        return importlib.import_module("genai_prices")
    except Exception:  # not installed, or broken: the catalog still prices
        return None


def genai_version() -> str | None:
    mod = _genai_module()
    return None if mod is None else str(getattr(mod, "__version__", "")) or "?"


@lru_cache(maxsize=1024)
def _genai_price(model: str, provider: str) -> tuple[float, float] | None:
    mod = _genai_module()
    if mod is None or not genai_prices_enabled():
        return None
    pid = _PROVIDER_IDS.get(provider, provider) or None
    try:
        ins = mod.calc_price(mod.Usage(input_tokens=_PROBE_TOKENS), model, provider_id=pid)
        outs = mod.calc_price(mod.Usage(output_tokens=_PROBE_TOKENS), model, provider_id=pid)
        scale = 1_000_000 / _PROBE_TOKENS
        return float(ins.input_price) * scale, float(outs.output_price) * scale
    except Exception:  # LookupError for a model it does not know; never fail a router build
        return None


def genai_price(model: str, provider: str = "") -> tuple[float, float] | None:
    """``(input, output)`` USD per 1M tokens from genai-prices, or ``None``."""
    return _genai_price(model, provider)


def resolve(model: str, capability: ProviderCapability) -> Price:
    """The price of ``model`` served with ``capability``, and its source (see module doc)."""
    builtin = catalog.builtin(model)
    stated = capability.price_known
    if stated and (builtin is None or not _same_price(capability, builtin)):
        return Price(capability.input_cost_per_1m, capability.output_cost_per_1m, GIVEN)
    provider = capability.provider or (builtin.provider if builtin else "")
    g = genai_price(model, provider)
    if g is None and catalog.canonical_name(model) != model:
        g = genai_price(catalog.canonical_name(model), provider)
    if g is not None:
        return Price(g[0], g[1], f"{_GENAI} {genai_version()}")
    if builtin is not None:
        return Price(
            builtin.input_cost_per_1m,
            builtin.output_cost_per_1m,
            f"catalog {catalog.prices_as_of()}",
        )
    return Price(0.0, 0.0, UNKNOWN)


def unknown_rank_price(known: Sequence[Price]) -> tuple[float, float]:
    """USD per 1M (input, output) a target of unknown price is ranked at (module doc)."""
    ins = max((p.input_per_1m for p in known), default=0.0)
    outs = max((p.output_per_1m for p in known), default=0.0)
    if ins <= 0 and outs <= 0:
        caps = [c for _, c in catalog.items()]
        ins = max((c.input_cost_per_1m for c in caps), default=1.0)
        outs = max((c.output_cost_per_1m for c in caps), default=1.0)
    return ins * _UNKNOWN_FACTOR, outs * _UNKNOWN_FACTOR


def warn_unknown(names: Sequence[str], stacklevel: int = 2) -> None:
    """One warning naming every target whose price is unknown."""
    if not names:
        return
    warnings.warn(
        f"price unknown for {', '.join(names)}: ranked as the dearest candidate for cost, "
        "never as free. Give its prices (ProviderCapability(input_cost_per_1m=..., "
        "output_cost_per_1m=...); 0 for a free local model) or install "
        "'smartroute-llm[prices]' (genai-prices) if it is a public model",
        PriceUnknownWarning,
        stacklevel=stacklevel + 1,
    )


def _same_price(a: ProviderCapability, b: ProviderCapability) -> bool:
    return (a.input_cost_per_1m, a.output_cost_per_1m) == (
        b.input_cost_per_1m,
        b.output_cost_per_1m,
    )
