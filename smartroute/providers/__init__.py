"""HTTP targets for real vendors: OpenAI-compatible endpoints, Anthropic and Gemini."""

from smartroute.providers.base import DEFAULT_LIMITS, DEFAULT_TIMEOUT, HTTPTarget
from smartroute.providers.openai import PRESETS, OpenAICompatible, Preset

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "PRESETS",
    "HTTPTarget",
    "OpenAICompatible",
    "Preset",
]
