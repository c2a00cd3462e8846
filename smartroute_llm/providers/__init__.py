"""HTTP targets for real vendors: OpenAI-compatible endpoints, Anthropic and Gemini."""

from smartroute_llm.providers.anthropic import Anthropic
from smartroute_llm.providers.base import DEFAULT_LIMITS, DEFAULT_TIMEOUT, HTTPTarget
from smartroute_llm.providers.gemini import Gemini
from smartroute_llm.providers.openai import PRESETS, OpenAICompatible, Preset
from smartroute_llm.providers.registry import build_target, for_model, vendor_of

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "PRESETS",
    "Anthropic",
    "Gemini",
    "HTTPTarget",
    "OpenAICompatible",
    "Preset",
    "build_target",
    "for_model",
    "vendor_of",
]
