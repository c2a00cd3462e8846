"""The built-in model catalog (``data/models.json``) and per-process overrides.

The data is a file, not code, so prices can be updated without touching logic; its
``prices_as_of`` date says when they were taken. Users extend or override entries with
:func:`register`; a router may also be given capabilities directly.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError

_overrides: dict[str, ProviderCapability] = {}


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("smartroute_llm").joinpath("data/models.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def _builtin() -> dict[str, ProviderCapability]:
    return {
        name: ProviderCapability.model_validate({**spec, "tags": frozenset(spec.get("tags", ()))})
        for name, spec in _data()["models"].items()
    }


def prices_as_of() -> str:
    """The date the built-in list prices were taken (ISO 8601)."""
    return str(_data()["prices_as_of"])


def canonical_name(model: str) -> str:
    """Resolve dated snapshots, ``-latest`` and ``provider/`` prefixes to the catalog name."""
    if model in _overrides or model in _builtin():
        return model
    aliases: dict[str, str] = _data()["aliases"]
    if model in aliases:
        return aliases[model]
    for prefix in ("openai/", "anthropic/", "mistral/", "google/", "groq/", "deepseek/", "models/"):
        if model.startswith(prefix):
            return canonical_name(model[len(prefix) :])
    if model.endswith("-latest"):
        return canonical_name(model[: -len("-latest")])
    return model


def lookup(model: str) -> ProviderCapability | None:
    """The capability of ``model`` (user overrides first), or ``None`` when unknown."""
    name = canonical_name(model)
    return _overrides.get(name) or _builtin().get(name)


def builtin(model: str) -> ProviderCapability | None:
    """The shipped entry for ``model``, ignoring :func:`register` overrides."""
    return _builtin().get(canonical_name(model))


def get(model: str) -> ProviderCapability:
    """Like :func:`lookup`, but an unknown model is a :class:`ConfigurationError`."""
    cap = lookup(model)
    if cap is None:
        close = [m for m in list_models() if model.split("-")[0] in m][:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ConfigurationError(
            f"model {model!r} is not in the catalog.{hint} Give its capability explicitly: "
            f"ProviderCapability(...) or smartroute_llm.catalog.register({model!r}, ...)"
        )
    return cap


def register(model: str, capability: ProviderCapability | dict[str, Any]) -> ProviderCapability:
    """Add or override a model for this process."""
    cap = (
        capability
        if isinstance(capability, ProviderCapability)
        else ProviderCapability.model_validate(capability)
    )
    _overrides[model] = cap
    return cap


def unregister(model: str) -> None:
    _overrides.pop(model, None)


def list_models(provider: str | None = None) -> list[str]:
    names = sorted({*_builtin(), *_overrides})
    if provider is None:
        return names
    return [n for n in names if (lookup(n) or ProviderCapability()).provider == provider]


def items(provider: str | None = None) -> list[tuple[str, ProviderCapability]]:
    return [(n, get(n)) for n in list_models(provider)]
