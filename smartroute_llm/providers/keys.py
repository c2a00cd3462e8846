"""Which key may go to which host, and headers that never show the key.

A vendor's default key variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...) holds a secret
for that vendor only. It is read for the vendor's default host, or for the host in the vendor's
own base-URL variable (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``: set by whoever set the key,
the official SDKs pair them the same way). Any other ``base_url`` needs the key stated for it:
``api_key=`` (the value itself), or ``api_key_env=`` naming a variable that is *not* another
vendor's default key variable; otherwise building the target raises :class:`ConfigurationError`.
Servers without authentication (``key_required=False``: Ollama, vLLM, a local test server) need
neither.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from smartroute_llm.errors import ConfigurationError

__all__ = ["SecretHeaders", "bind", "vendor_hosts"]

_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr``, ``str`` and pickled form never show credentials."""

    __slots__ = ()

    def _shown(self) -> dict[str, str]:
        return {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in self.items()}

    def __repr__(self) -> str:
        return f"SecretHeaders({self._shown()!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        return (SecretHeaders, (self._shown(),))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def vendor_hosts() -> dict[str, str]:
    """Each vendor default key variable and the base URL it belongs to."""
    from smartroute_llm.providers.anthropic import DEFAULT_BASE_URL as ANTHROPIC_URL
    from smartroute_llm.providers.gemini import DEFAULT_BASE_URL as GEMINI_URL
    from smartroute_llm.providers.openai import PRESETS

    owners = {p.api_key_env: p.base_url for p in PRESETS.values() if p.key_required}
    owners["ANTHROPIC_API_KEY"] = ANTHROPIC_URL
    owners["GEMINI_API_KEY"] = GEMINI_URL
    owners["GOOGLE_API_KEY"] = GEMINI_URL
    return owners


def bind(
    where: str,
    base_url: str,
    *,
    api_key_set: bool,
    api_key_env: str | None,
    vendor_key_env: str | None,
    vendor_base_url: str | None,
    key_required: bool,
) -> str | None:
    """The variable to read the key from for ``base_url``, after checking it may go there.

    ``api_key_env`` is what the caller named (or ``None``); ``vendor_key_env`` and
    ``vendor_base_url`` are the vendor's defaults, and ``vendor_base_url`` also lists the URL
    taken from the vendor's own base-URL variable when that is where ``base_url`` came from.
    """
    if api_key_env is not None and not isinstance(api_key_env, str):
        raise ConfigurationError(f"{where}: api_key_env must be the name of a variable")
    origin = _origin(base_url)
    owners = vendor_hosts()

    def allowed(env: str) -> set[tuple[str, str, int | None]]:
        hosts = {_origin(owners[env])} if env in owners else set()
        if env == vendor_key_env and vendor_base_url:
            hosts.add(_origin(vendor_base_url))
        return hosts

    if api_key_env:
        if api_key_env in owners and origin not in allowed(api_key_env) and not api_key_set:
            raise ConfigurationError(
                f"{where}: api_key_env={api_key_env!r} holds {_host(owners[api_key_env])}'s "
                f"key, which is only sent there, not to {base_url!r}; pass api_key= with the "
                "key for this host, or api_key_env= naming a variable of your own"
            )
        return api_key_env
    if not vendor_key_env:
        return None
    if origin in allowed(vendor_key_env):
        return vendor_key_env
    if api_key_set or not key_required:
        return None
    raise ConfigurationError(
        f"{where}: base_url={base_url!r} is not {_host(vendor_base_url or '')}, so "
        f"{vendor_key_env} is not sent there; pass api_key= or api_key_env= for this host, "
        "or key_required=False for a server without authentication"
    )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url
