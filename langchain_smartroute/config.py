"""Building a ``SmartRouterChatModel`` from data: a dict, or a YAML/JSON file.

Shape::

    policy: {strategy: balanced, fallback: [claude-3-haiku]}   # RoutingPolicy.from_dict
    candidates:                                               # or "targets"
      - langchain: openai:gpt-4o-mini                         # init_chat_model spec
        name: mini                                            # optional
        capability: {speed_tier: fast}                        # optional
        params: {temperature: 0}                              # optional init kwargs
      - model: gpt-4o                                         # smartroute provider target
        provider: openai                                      # smartroute_llm.config.build_targets
    model: my-router                                          # any other chat-model field

Keys never come from the file: providers read them from the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.policy import RoutingPolicy


def _load(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    path = Path(config)
    if not path.is_file():
        raise ConfigurationError(f"config: {str(path)!r} is not a file; pass a dict or a path")
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigurationError("config: YAML needs PyYAML (pip install pyyaml)") from exc
        data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"config: {str(path)!r} must hold a mapping at the top level")
    return dict(data)


def _candidate(i: int, spec: Any) -> Any:
    if not isinstance(spec, Mapping):
        return spec  # already a chat model, a target or a model name
    entry: dict[str, Any] = {k: spec[k] for k in ("name", "capability") if k in spec}
    if "langchain" in spec:
        from langchain.chat_models import init_chat_model

        entry["model"] = init_chat_model(spec["langchain"], **dict(spec.get("params") or {}))
    elif isinstance(spec.get("model"), str):
        from smartroute_llm.config import build_targets

        return build_targets([spec])[0]
    elif "model" in spec:
        entry["model"] = spec["model"]
    else:
        raise ConfigurationError(
            f"candidates[{i}]: give 'langchain: provider:model' (a LangChain chat model) or "
            "'model: <catalog name>' (a smartroute provider)"
        )
    return entry


def chat_model_kwargs(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Constructor keyword arguments of ``SmartRouterChatModel`` described by ``config``."""
    data = _load(config)
    kwargs = {k: v for k, v in data.items() if k not in ("policy", "candidates", "targets")}
    if "candidates" in data and "targets" in data:
        raise ConfigurationError("config: give 'candidates' or 'targets', not both")
    specs = data.get("candidates", data.get("targets")) or []
    if not isinstance(specs, list):
        raise ConfigurationError("config: 'candidates' must be a list")
    kwargs["candidates"] = [_candidate(i, s) for i, s in enumerate(specs)]
    policy = data.get("policy")
    if isinstance(policy, Mapping):
        kwargs["policy"] = RoutingPolicy.from_dict(policy)
    elif policy is not None:
        kwargs["policy"] = policy
    return kwargs
