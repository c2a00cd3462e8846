"""Translate what an HTTP vendor returned (status, body, transport exception) into one error kind.

Vendors disagree on shapes but agree on meaning: a 429 is a rate limit, a 529/503 is overload, a
400 whose text talks about the context window is a context-length error. This module is the one
place that knowledge lives, so the router can decide retry versus fallback without knowing who
answered.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import httpx

from smartroute_llm.errors import ErrorKind, ProviderError, provider_error

_MAX_MESSAGE = 500

_CONTEXT_RE = re.compile(
    r"context[ _-]?length|context window|maximum context|prompt is too long|too many tokens"
    r"|exceeds the maximum number of tokens|input token count|reduce the length",
    re.IGNORECASE,
)
_CONTENT_RE = re.compile(r"content[ _-]?(policy|filter|management)|safety system", re.IGNORECASE)
_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length", "request_too_large"}
_CONTENT_CODES = {"content_policy_violation", "content_filter"}
_AUTH_CODES = {
    "invalid_api_key",
    "authentication_error",
    "permission_error",
    "insufficient_quota",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
}
_OVERLOAD_CODES = {"overloaded_error", "api_error", "server_error", "UNAVAILABLE", "INTERNAL"}


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, quick for the plain dicts JSON decodes to: the ABC check
    alone costs a few thousand instructions, several times per answer."""
    return type(value) is dict or isinstance(value, Mapping)


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(message, type, code) from an OpenAI, Anthropic or Google error body."""
    if not is_mapping(body):
        return "", "", ""
    err = body.get("error", body)
    if isinstance(err, str):
        return err, "", ""
    if not is_mapping(err):
        return "", "", ""
    message = err.get("message") or body.get("message") or ""
    etype = err.get("type") or err.get("status") or ""
    code = err.get("code") or ""
    return str(message), str(etype), str(code) if not isinstance(code, int) else ""


def is_error_body(body: Any) -> bool:
    """Whether a decoded 2xx body is in fact an error object."""
    return is_mapping(body) and (
        ("error" in body and body["error"] not in (None, {})) or body.get("type") == "error"
    )


def classify(status: int | None, message: str, etype: str = "", code: str = "") -> ErrorKind:
    """The error kind of a vendor error, from its status and its own words."""
    tags = {etype, code}
    if tags & _CONTEXT_CODES or (status in (400, 413, 422, None) and _CONTEXT_RE.search(message)):
        return ErrorKind.CONTEXT_LENGTH
    if tags & _CONTENT_CODES or (status in (400, None) and _CONTENT_RE.search(message)):
        return ErrorKind.CONTENT_FILTER
    if "insufficient_quota" in tags:
        return ErrorKind.AUTHENTICATION
    if status is None:
        if tags & {"rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED"}:
            return ErrorKind.RATE_LIMITED
        if tags & _AUTH_CODES:
            return ErrorKind.AUTHENTICATION
        if tags & _OVERLOAD_CODES:
            return ErrorKind.OVERLOADED
        if tags & {"invalid_request_error", "INVALID_ARGUMENT"}:
            return ErrorKind.INVALID_REQUEST
        return ErrorKind.UNKNOWN
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status in (401, 403):
        return ErrorKind.AUTHENTICATION
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.TIMEOUT
    if status == 413:
        return ErrorKind.CONTEXT_LENGTH
    if status == 409 or status >= 500:
        return ErrorKind.OVERLOADED
    if 400 <= status < 500:
        return ErrorKind.INVALID_REQUEST
    return ErrorKind.UNKNOWN


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def error_from_body(
    status: int | None,
    body: Any,
    *,
    text: str = "",
    headers: Mapping[str, str] | None = None,
    target: str | None = None,
    model: str | None = None,
) -> ProviderError:
    """A :class:`ProviderError` for a vendor error body (``status=None``: an in-stream error)."""
    message, etype, code = _error_fields(body)
    message = (message or text or "").strip()[:_MAX_MESSAGE]
    kind = classify(status, message, etype, code)
    retry_after = parse_retry_after(headers) if headers is not None else None
    label = message or (f"HTTP {status}" if status else "error event")
    if code and code not in label:
        label = f"{label} [{code}]"
    return provider_error(
        kind,
        label,
        target=target,
        model=model,
        status_code=status,
        retry_after=retry_after,
        provider_message=message or None,
    )


def error_from_response(
    response: httpx.Response, *, target: str | None = None, model: str | None = None
) -> ProviderError:
    """A :class:`ProviderError` for a non-2xx response whose body has been read."""
    content = response.content
    return error_from_body(
        response.status_code,
        _decode(content),
        text=content[:_MAX_MESSAGE].decode("utf-8", "replace"),
        headers=response.headers,
        target=target,
        model=model,
    )


def malformed(
    message: str, *, target: str | None = None, model: str | None = None, status: int | None = None
) -> ProviderError:
    return provider_error(
        ErrorKind.MALFORMED_RESPONSE, message, target=target, model=model, status_code=status
    )


def token_count(value: Any, field: str) -> int:
    """A usage count from a vendor: absent is 0; negative, fractional or non-numeric values
    are a malformed answer (they would turn into negative or absurd costs)."""
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    if (isinstance(value, float) and value.is_integer() and value >= 0):
        return int(value)
    raise malformed(f"usage field {field!r} is not a token count: {str(value)[:40]!r}")


def _aiohttp_cause(exc: BaseException) -> ErrorKind | None:
    """httpx-aiohttp maps most aiohttp connection errors to ``ConnectTimeout``; undo that."""
    cause = exc.__cause__
    if cause is None or type(cause).__module__.split(".")[0] != "aiohttp":
        return None
    import aiohttp

    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return ErrorKind.CONNECT_TIMEOUT
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return ErrorKind.CONNECTION
    return None


def error_from_exception(
    exc: BaseException,
    *,
    target: str | None = None,
    model: str | None = None,
    streaming: bool = False,
    received_content: bool = False,
    partial_text: str = "",
) -> ProviderError:
    """A :class:`ProviderError` for a transport failure.

    While streaming, a read timeout before any content is a time-to-first-token timeout and one
    after content a stall; a dropped connection after content is an interrupted stream.
    """
    kind: ErrorKind
    if isinstance(exc, httpx.ConnectTimeout):
        kind = _aiohttp_cause(exc) or ErrorKind.CONNECT_TIMEOUT
    elif isinstance(exc, httpx.ReadTimeout):
        if streaming:
            kind = ErrorKind.STREAM_STALL if received_content else ErrorKind.TTFT_TIMEOUT
        else:
            kind = ErrorKind.TIMEOUT
    elif isinstance(exc, httpx.TimeoutException | TimeoutError):
        kind = ErrorKind.TIMEOUT
    elif isinstance(exc, httpx.TransportError):
        kind = ErrorKind.CONNECTION
    else:
        kind = ErrorKind.UNKNOWN
    if kind == ErrorKind.CONNECTION and streaming and received_content:
        kind = ErrorKind.STREAM_INTERRUPTED
    shown = exc.__cause__ if _aiohttp_cause(exc) is not None and exc.__cause__ else exc
    text = str(shown).strip() or type(shown).__name__
    message = f"{type(shown).__name__}: {text}"[:_MAX_MESSAGE]
    if kind == ErrorKind.STREAM_INTERRUPTED:
        return provider_error(kind, message, target=target, model=model, partial_text=partial_text)
    return provider_error(kind, message, target=target, model=model)


# Exception class names of the vendor SDKs and httpx, matched along the MRO so no SDK has to be
# installed for its errors to be understood.
_BY_CLASS_NAME: dict[str, ErrorKind] = {
    "ConnectTimeout": ErrorKind.CONNECT_TIMEOUT,
    "APITimeoutError": ErrorKind.TIMEOUT,
    "TimeoutException": ErrorKind.TIMEOUT,
    "ReadTimeout": ErrorKind.TIMEOUT,
    "TimeoutError": ErrorKind.TIMEOUT,
    "APIConnectionError": ErrorKind.CONNECTION,
    "ConnectError": ErrorKind.CONNECTION,
    "NetworkError": ErrorKind.CONNECTION,
    "RemoteProtocolError": ErrorKind.CONNECTION,
    "ConnectionError": ErrorKind.CONNECTION,
    "RateLimitError": ErrorKind.RATE_LIMITED,
    "AuthenticationError": ErrorKind.AUTHENTICATION,
    "PermissionDeniedError": ErrorKind.AUTHENTICATION,
    "NotFoundError": ErrorKind.NOT_FOUND,
    "InternalServerError": ErrorKind.OVERLOADED,
    "OverloadedError": ErrorKind.OVERLOADED,
    "ServiceUnavailableError": ErrorKind.OVERLOADED,
}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK or httpx exception carries, if any."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def error_from_sdk(
    exc: BaseException, *, target: str | None = None, model: str | None = None
) -> ProviderError:
    """Any exception a vendor SDK, httpx or a framework's model raised, classified like the
    HTTP providers classify responses: by status and the vendor's error body first, then by the
    exception's class names. Framework integrations use this for their candidates."""
    if isinstance(exc, ProviderError):
        exc.target = exc.target or target
        exc.model = exc.model or model
        return exc
    if isinstance(exc, httpx.TransportError):
        err = error_from_exception(exc, target=target, model=model)
        err.__cause__ = exc
        return err
    status = status_of(exc)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    retry_after = parse_retry_after(headers) if isinstance(headers, Mapping) else None
    body = getattr(exc, "body", None)
    text = str(exc)
    message, etype, code = _error_fields(body)
    kind = classify(status, message or text, etype, code) if status or message else None
    if kind is None or kind is ErrorKind.UNKNOWN:
        names = (c.__name__ for c in type(exc).__mro__)
        kind = next((_BY_CLASS_NAME[n] for n in names if n in _BY_CLASS_NAME), ErrorKind.UNKNOWN)
        if kind in (ErrorKind.UNKNOWN, ErrorKind.INVALID_REQUEST) and _CONTEXT_RE.search(text):
            kind = ErrorKind.CONTEXT_LENGTH
    err = provider_error(
        kind,
        f"{type(exc).__name__}: {text}"[:_MAX_MESSAGE],
        target=target,
        model=model,
        status_code=status,
        retry_after=retry_after,
        provider_message=(message or text)[:_MAX_MESSAGE] or None,
    )
    err.__cause__ = exc
    return err
