"""LangChain integration: ``SmartRouterChatModel``, a chat model that routes every call."""

from langchain_smartroute.chat_model import SmartRouterChatModel
from langchain_smartroute.errors import to_langchain_error
from langchain_smartroute.target import LangChainCall, LangChainTarget, classify

__all__ = [
    "LangChainCall",
    "LangChainTarget",
    "SmartRouterChatModel",
    "classify",
    "to_langchain_error",
]
