"""Classifying what a LlamaIndex candidate raised, so the router knows whether to retry, fall
back or stop.

LlamaIndex integrations let their vendor SDK's exceptions through (the ``openai`` SDK's, httpx's,
Anthropic's), so classification goes by the shape those share: an HTTP status code, a
``Retry-After`` header, the SDK's class names for timeouts and connection failures, and the
vendor's error code for an overlong prompt.
"""

from __future__ import annotations

from smartroute_llm.errors import ErrorKind, ProviderError
from smartroute_llm.providers.errors import error_from_sdk


def classify(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of an exception raised by a candidate LLM."""
    return error_from_sdk(exc).kind


def to_provider_error(
    exc: BaseException, *, target: str | None = None, model: str | None = None
) -> ProviderError:
    """``exc`` as a :class:`ProviderError` (unchanged if it already is one), cause kept."""
    return error_from_sdk(exc, target=target, model=model)
