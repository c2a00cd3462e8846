"""Classifying what a LlamaIndex candidate raised, so the router knows whether to retry, fall
back or stop.

LlamaIndex integrations let their vendor SDK's exceptions through (the ``openai`` SDK's, httpx's,
Anthropic's), so classification goes by the shape those share: an HTTP status code, a
``Retry-After`` header, the SDK's class names for timeouts and connection failures, and the
vendor's error code for an overlong prompt.
"""

from __future__ import annotations

from typing import Any

import httpx

from smartroute.errors import ErrorKind, ProviderError, provider_error

_STATUS_KIND: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTHENTICATION,
    403: ErrorKind.AUTHENTICATION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    409: ErrorKind.OVERLOADED,
    413: ErrorKind.CONTEXT_LENGTH,
    422: ErrorKind.INVALID_REQUEST,
    429: ErrorKind.RATE_LIMITED,
}
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "too many tokens",
    "prompt is too long",
)
_FILTER_MARKERS = ("content_filter", "content management policy")


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of an exception raised by a candidate LLM."""
    if isinstance(exc, ProviderError):
        return exc.kind
    text = str(exc).lower()
    names = _names(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return ErrorKind.CONNECT_TIMEOUT
    if isinstance(exc, httpx.TimeoutException | TimeoutError) or "APITimeoutError" in names:
        return ErrorKind.TIMEOUT
    if isinstance(exc, httpx.TransportError) or "APIConnectionError" in names:
        return ErrorKind.CONNECTION
    if any(m in text for m in _CONTEXT_MARKERS):
        return ErrorKind.CONTEXT_LENGTH
    status = _status(exc)
    if status is not None:
        if status in _STATUS_KIND:
            return _STATUS_KIND[status]
        if status >= 500:
            return ErrorKind.OVERLOADED if status in (502, 503, 529) else ErrorKind.UNKNOWN
    if any(m in text for m in _FILTER_MARKERS):
        return ErrorKind.CONTENT_FILTER
    return ErrorKind.UNKNOWN


def to_provider_error(
    exc: BaseException, *, target: str | None = None, model: str | None = None
) -> ProviderError:
    """``exc`` as a :class:`ProviderError` (unchanged if it already is one), cause kept."""
    if isinstance(exc, ProviderError):
        return exc
    kind = classify(exc)
    extra: dict[str, Any] = {}
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        extra["provider_message"] = str(body.get("message") or "")[:500] or None
    err = provider_error(
        kind,
        f"{type(exc).__name__}: {str(exc)[:500]}",
        target=target,
        model=model,
        status_code=_status(exc),
        retry_after=_retry_after(exc),
        **extra,
    )
    err.__cause__ = exc
    return err
