"""Build a target from a model name: the catalog says which vendor serves it."""

from __future__ import annotations

from typing import Any

from smartroute import catalog
from smartroute.capability import ProviderCapability
from smartroute.errors import ConfigurationError
from smartroute.providers.anthropic import Anthropic
from smartroute.providers.base import HTTPTarget
from smartroute.providers.gemini import Gemini
from smartroute.providers.openai import PRESETS, OpenAICompatible

_NAME_HINTS = (
    ("claude", "anthropic"),
    ("gemini", "google"),
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("mistral", "mistral"),
    ("ministral", "mistral"),
    ("codestral", "mistral"),
    ("deepseek", "deepseek"),
)

VENDORS = ("anthropic", "gemini", "google", *PRESETS)


def vendor_of(model: str, capability: ProviderCapability | None = None) -> str | None:
    """The vendor serving ``model``: its capability's ``provider``, else a name prefix."""
    cap = capability or catalog.lookup(model)
    if cap is not None and cap.provider:
        return cap.provider
    lowered = model.lower().rsplit("/", 1)[-1]
    for prefix, vendor in _NAME_HINTS:
        if lowered.startswith(prefix):
            return vendor
    return None


def build_target(
    model: str,
    provider: str | None = None,
    capability: ProviderCapability | None = None,
    **kwargs: Any,
) -> HTTPTarget:
    """A target for ``model`` on ``provider`` (a preset name, ``anthropic`` or ``gemini``)."""
    vendor = provider or vendor_of(model, capability)
    if vendor is None:
        raise ConfigurationError(
            f"model {model!r}: cannot tell which vendor serves it; give provider= (one of "
            f"{sorted(VENDORS)}) or a capability with provider=..."
        )
    if vendor == "anthropic":
        return Anthropic(model, capability=capability, **kwargs)
    if vendor in ("google", "gemini"):
        return Gemini(model, capability=capability, **kwargs)
    if vendor in PRESETS:
        return OpenAICompatible(model, preset=vendor, capability=capability, **kwargs)
    raise ConfigurationError(
        f"model {model!r}: unknown provider {vendor!r}; use one of {sorted(VENDORS)}, or build "
        "OpenAICompatible(model, base_url=..., api_key_env=...) for another compatible endpoint"
    )


def for_model(model: str, capability: ProviderCapability | None = None) -> HTTPTarget:
    """The HTTP target the router builds for a policy's model when given no targets.

    Keys are read from the vendor's environment variable when the first call is made.
    """
    return build_target(model, capability=capability)
