"""Build a router from configuration data: a dict, or a YAML / JSON file.

```yaml
policy:
  strategy: balanced
  allowed: [gpt-4o-mini, claude-3-5-haiku-latest]
targets:
  - model: gpt-4o-mini
  - model: claude-3-5-haiku-latest
    provider: anthropic
  - model: llama3.1
    provider: ollama
    name: local-llama
    capability: {speed_tier: fast, quality_tier: low}
  - model: gpt-4o
    group: gpt-4o             # a deployment group: calls spread over its members
  - model: gpt-4o
    name: gpt-4o-eu
    base_url: https://llm-gateway.eu.example.com/v1
    api_key_env: EU_GATEWAY_KEY
    group: gpt-4o
state:                       # optional: share circuits and statistics between replicas
  redis_url: redis://redis:6379/0
  router: my-app             # replicas with the same name share state
```

Target entries take ``model`` (required), ``provider`` (an OpenAI-compatible preset,
``anthropic`` or ``gemini``; default: the catalog's vendor), ``name``, ``base_url``,
``api_key_env``, ``capability``, ``transport``, ``timeout``, ``extra_body``,
``max_response_bytes`` and ``group`` (targets with the same ``group`` serve one model and share
its calls; targets with the same model id group by themselves, see ``docs/groups.md``). Keys
are never read from the file: only the name of the variable holding one. A ``base_url`` that
is not the vendor's own needs its own ``api_key_env`` (a vendor's default key variable is only
sent to that vendor; see ``docs/providers.md``).

A cascade (``strategy: cascade``, see ``docs/cascade.md``) names its verifiers by built-in name,
import path, or ``{name: ..., **arguments}``::

    policy:
      strategy: cascade
      deadline: 20
      cascade:
        verifiers: [structural, {name: mypackage.checks.AnswerHasNumber, minimum: 1}]
        ladder: [gpt-4o-mini, gpt-4o]     # optional: default, every eligible target cheapest first
        stream: final                     # or first

``state`` takes ``redis_url`` (required; a password in it or in ``password_env``, default
``SMARTROUTE_REDIS_PASSWORD``), ``router``, ``ttl_s``, ``refresh_s``, ``retry_s`` and
``write_timeout_s`` (see ``docs/replicas.md``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.router import Router
from smartroute_llm.target import Target

_TARGET_FIELDS = {
    "model", "provider", "name", "base_url", "api_key_env", "capability", "transport", "timeout",
    "extra_body", "max_response_bytes", "group",
}
_STRING_FIELDS = ("name", "base_url", "api_key_env", "transport")


def _load(config: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(config, Mapping):
        return config
    path = Path(config)
    if not path.is_file():
        raise ConfigurationError(f"config file {str(path)!r} does not exist")
    text = path.read_text("utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{path}: invalid JSON: {exc}") from exc
    else:
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - pyyaml ships with the cli extra
            raise ConfigurationError(
                "reading YAML needs PyYAML: pip install 'smartroute-llm[yaml]'"
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: the top level must be a mapping with policy/targets")
    return data


def build_targets(entries: Sequence[Mapping[str, Any]]) -> list[Target]:
    """HTTP targets from ``targets:`` entries; errors name the entry and the field."""
    from smartroute_llm.providers import build_target

    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise ConfigurationError("targets: must be a list of mappings")
    out: list[Target] = []
    for i, entry in enumerate(entries):
        where = f"targets[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{where}: must be a mapping with at least model:")
        unknown = sorted(set(entry) - _TARGET_FIELDS)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown field(s) {unknown}; allowed: {sorted(_TARGET_FIELDS)}"
                + (" (API keys are read from api_key_env, never from the file)"
                   if any("key" in u for u in unknown) else "")
            )
        model = entry.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigurationError(f"{where}.model: required, a model id such as 'gpt-4o'")
        for k in _STRING_FIELDS:
            if entry.get(k) is not None and not isinstance(entry[k], str):
                raise ConfigurationError(
                    f"{where}.{k}: must be a string, got {type(entry[k]).__name__} "
                    f"{entry[k]!r}"
                )
        kwargs: dict[str, Any] = {
            k: entry[k]
            for k in (*_STRING_FIELDS, "timeout", "extra_body", "max_response_bytes")
            if entry.get(k) is not None
        }
        cap = entry.get("capability")
        if cap is not None:
            if not isinstance(cap, Mapping):
                raise ConfigurationError(f"{where}.capability: must be a mapping")
            try:
                kwargs["capability"] = ProviderCapability.model_validate(dict(cap))
            except ValueError as exc:
                raise ConfigurationError(f"{where}.capability: {exc}") from exc
        provider = entry.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ConfigurationError(f"{where}.provider: must be a string")
        try:
            out.append(build_target(model, provider, **kwargs))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
        except TypeError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
    return out


_STATE_FIELDS = {
    "redis_url", "router", "password_env", "ttl_s", "refresh_s", "retry_s", "write_timeout_s",
}


def build_state(entry: Any) -> Any:
    """A shared store from the ``state:`` entry; errors name the field (never the URL's
    password)."""
    if not isinstance(entry, Mapping):
        raise ConfigurationError("state: must be a mapping, e.g. {redis_url: redis://host:6379/0}")
    unknown = sorted(set(entry) - _STATE_FIELDS)
    if unknown:
        raise ConfigurationError(
            f"state: unknown field(s) {unknown}; allowed: {sorted(_STATE_FIELDS)}"
            + (" (put the password in redis_url or the variable named by password_env)"
               if any("pass" in u for u in unknown) else "")
        )
    url = entry.get("redis_url")
    if not isinstance(url, str) or not url:
        raise ConfigurationError("state.redis_url: required, e.g. redis://localhost:6379/0")
    kwargs = {k: entry[k] for k in _STATE_FIELDS - {"redis_url"} if entry.get(k) is not None}
    for k in ("router", "password_env"):
        if k in kwargs and not isinstance(kwargs[k], str):
            raise ConfigurationError(f"state.{k}: must be a string, got {kwargs[k]!r}")
    for k in ("ttl_s", "refresh_s", "retry_s", "write_timeout_s"):
        v = kwargs.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v <= 0):
            raise ConfigurationError(f"state.{k}: must be a number of seconds > 0, got {v!r}")
    from smartroute_llm.redis_store import RedisStateStore

    try:
        return RedisStateStore.from_url(url, **kwargs)
    except ConfigurationError as exc:
        raise ConfigurationError(f"state: {exc}") from None


def build_router(config: Mapping[str, Any] | str | os.PathLike[str]) -> Router:
    """A :class:`Router` from ``{"policy": {...}, "targets": [...], "state": {...}}`` or a
    YAML/JSON file.

    Without ``targets`` the router builds one target per model in the policy.
    """
    data = _load(config)
    unknown = sorted(set(data) - {"policy", "targets", "state"})
    if unknown:
        raise ConfigurationError(
            f"config: unknown top-level field(s) {unknown}; use policy, targets, state"
        )
    policy_data = data.get("policy") or {}
    if not isinstance(policy_data, Mapping):
        raise ConfigurationError("policy: must be a mapping (see RoutingPolicy.to_dict())")
    policy = RoutingPolicy.from_dict(policy_data)
    entries = data.get("targets")
    targets = build_targets(entries) if entries is not None else None
    state = build_state(data["state"]) if data.get("state") is not None else None
    if targets is not None and entries is not None:
        policy = _with_groups(policy, entries, targets)
    return Router(targets, policy, state=state)


def _with_groups(
    policy: RoutingPolicy, entries: Sequence[Mapping[str, Any]], targets: Sequence[Target]
) -> RoutingPolicy:
    """``group:`` on target entries, as the policy's declared equivalents."""
    groups: dict[str, list[str]] = {}
    for i, (entry, target) in enumerate(zip(entries, targets, strict=True)):
        label = entry.get("group")
        if label is None:
            continue
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(f"targets[{i}].group: must be a non-empty string")
        groups.setdefault(label, []).append(target.name)
    for label, names in groups.items():
        policy = policy.equivalent([*policy.groups.equivalent.get(label, ()), *names], name=label)
    return policy
