"""Build a target from a model name: the catalog says which vendor serves it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.providers.anthropic import Anthropic
from smartroute_llm.providers.base import HTTPTarget
from smartroute_llm.providers.gemini import Gemini
from smartroute_llm.providers.openai import PRESETS, OpenAICompatible

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


def for_model(
    model: str,
    capability: ProviderCapability | None = None,
    *,
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
    name: str | None = None,
) -> HTTPTarget:
    """The HTTP target the router builds for a policy's model when given no targets.

    Without ``api_key`` the key is read from the vendor's environment variable when the first
    call is made. A ``base_url`` other than the vendor's own needs ``api_key`` (keys are bound to
    their vendor's host, see :mod:`smartroute_llm.providers.keys`).
    """
    kwargs: dict[str, Any] = {}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if base_url is not None:
        kwargs["base_url"] = base_url
    if name is not None:
        kwargs["name"] = name
    return build_target(model, capability=capability, **kwargs)


def _family(vendor: str | None) -> str | None:
    return "gemini" if vendor == "google" else vendor


def for_models(
    models: Sequence[str],
    capabilities: Mapping[str, ProviderCapability | None] | None = None,
    *,
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
    names: Sequence[str | None] | None = None,
    where: str = "candidates",
    key_source: str = "api_key=",
) -> list[HTTPTarget]:
    """Targets for model names given together, sharing one ``api_key`` / ``base_url``.

    One key belongs to one vendor: it is applied when every model is served by the same vendor,
    and refused (a :class:`ConfigurationError`) when they are served by several, since sending
    it to the wrong vendor leaks it and fails anyway. The framework integrations resolve their
    model-name candidates here, so both accept the same names the same way.
    """
    caps = capabilities or {}
    if api_key is not None or base_url is not None:
        served = {m: _family(vendor_of(m, caps.get(m))) for m in models}
        vendors = sorted({v for v in served.values() if v is not None})
        if len(vendors) > 1:
            by_vendor = "; ".join(
                f"{v}: {', '.join(m for m, mv in served.items() if mv == v)}" for v in vendors
            )
            given = " and ".join(
                k for k, v in ((key_source, api_key), ("base_url=", base_url)) if v is not None
            )
            raise ConfigurationError(
                f"{where}: {given} is ambiguous, the model names are served by several vendors "
                f"({by_vendor}); set each vendor's key variable (e.g. OPENAI_API_KEY, "
                "ANTHROPIC_API_KEY) instead, or pass ready targets such as "
                "OpenAICompatible(model, api_key=...) for the ones that need their own key"
            )
    labels = list(names) if names is not None else [None] * len(models)
    return [
        for_model(m, caps.get(m), api_key=api_key, base_url=base_url, name=n)
        for m, n in zip(models, labels, strict=True)
    ]
