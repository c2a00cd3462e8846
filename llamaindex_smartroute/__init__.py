"""LlamaIndex integration: ``SmartRouterLLM``, a function-calling LLM that routes every call."""

from llamaindex_smartroute.llm import SmartRouterLLM
from llamaindex_smartroute.provider_llm import TargetLLM
from llamaindex_smartroute.target import LlamaIndexTarget

__all__ = ["LlamaIndexTarget", "SmartRouterLLM", "TargetLLM"]
