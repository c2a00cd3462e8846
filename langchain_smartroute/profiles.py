"""Capabilities of LangChain candidates, and the router's own LangChain model profile.

A candidate's capability starts from the smartroute catalog (prices, tiers, limits) and takes
its features from the candidate's LangChain ``profile`` when it declares them. The router's
profile is conservative: it claims a feature only if every candidate that could be picked for
a call needing it has it, so ``create_agent`` picks a structured-output mode that works
whichever candidate answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.model_profile import ModelProfile

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability

# profile key -> capability field; the planner excludes candidates lacking these, so the
# router can claim them when at least one candidate has them
_FILTERED: dict[str, str] = {
    "tool_calling": "supports_tools",
    "image_inputs": "supports_vision",
    "structured_output": "supports_json",
}


def capability_for(
    model: BaseChatModel, model_name: str, given: ProviderCapability | Mapping[str, Any] | None
) -> ProviderCapability:
    if isinstance(given, ProviderCapability):
        return given
    if given is not None:
        return ProviderCapability.model_validate(given)
    base = catalog.lookup(model_name) or ProviderCapability()
    update: dict[str, Any] = {}
    profile = model.profile or {}
    for key, cap_field in _FILTERED.items():
        if key in profile:
            update[cap_field] = bool(profile[key])  # type: ignore[literal-required]
    if isinstance(profile.get("max_input_tokens"), int):
        update["max_tokens"] = profile["max_input_tokens"]
    if isinstance(profile.get("max_output_tokens"), int):
        update["max_output_tokens"] = profile["max_output_tokens"]
    if model.disable_streaming is True:
        update["supports_streaming"] = False
    if not update:
        return base
    data = {**base.model_dump(), **update}
    data["max_output_tokens"] = min(data["max_output_tokens"], data["max_tokens"])
    return ProviderCapability.model_validate(data)


def profile_from_capability(cap: ProviderCapability) -> ModelProfile:
    return ModelProfile(
        max_input_tokens=cap.max_tokens,
        max_output_tokens=cap.max_output_tokens,
        text_inputs=True,
        text_outputs=True,
        tool_calling=cap.supports_tools,
        image_inputs=cap.supports_vision,
        structured_output=cap.supports_json,
    )


def merge_profiles(profiles: Sequence[Mapping[str, Any]]) -> ModelProfile:
    if not profiles:
        return ModelProfile()
    merged: dict[str, Any] = {}
    keys = set().union(*profiles)
    for key in keys:
        values = [p.get(key) for p in profiles]
        if key in _FILTERED:
            merged[key] = any(v is True for v in values)
            continue
        if any(v is None for v in values):
            continue  # unknown for some candidate: claim nothing
        if all(isinstance(v, bool) for v in values):
            merged[key] = all(values)
        elif all(isinstance(v, int) for v in values):
            merged[key] = min(int(v) for v in values if v is not None)
    if merged.get("tool_calling") is False:
        merged.pop("tool_choice", None)
    return cast("ModelProfile", merged)
