"""One error taxonomy for the whole library.

Providers translate whatever their vendor returns into a :class:`ProviderError` whose
:class:`ErrorKind` tells the router what is sensible next (retry the same target, fall back to
another, or stop). Messages never contain secrets: they are built from status codes and the
vendor's own error text, never from request headers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartroute_llm.decision import Attempt
    from smartroute_llm.plan import Exclusion


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    CONNECT_TIMEOUT = "connect_timeout"
    TTFT_TIMEOUT = "ttft_timeout"
    STREAM_STALL = "stream_stall"
    STREAM_INTERRUPTED = "stream_interrupted"
    CONNECTION = "connection"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    AUTHENTICATION = "authentication"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    MALFORMED_RESPONSE = "malformed_response"
    CIRCUIT_OPEN = "circuit_open"
    DEADLINE = "deadline"
    UNKNOWN = "unknown"


# (retry the same target?, fall back to another target?)
_KIND_ACTIONS: dict[ErrorKind, tuple[bool, bool]] = {
    ErrorKind.RATE_LIMITED: (True, True),
    ErrorKind.OVERLOADED: (True, True),
    ErrorKind.TIMEOUT: (False, True),
    ErrorKind.CONNECT_TIMEOUT: (False, True),
    ErrorKind.TTFT_TIMEOUT: (False, True),
    ErrorKind.STREAM_STALL: (False, True),
    ErrorKind.STREAM_INTERRUPTED: (False, True),
    ErrorKind.CONNECTION: (False, True),
    ErrorKind.CONTEXT_LENGTH: (False, True),
    ErrorKind.CONTENT_FILTER: (False, False),
    ErrorKind.AUTHENTICATION: (False, True),
    ErrorKind.INVALID_REQUEST: (False, False),
    ErrorKind.NOT_FOUND: (False, True),
    ErrorKind.MALFORMED_RESPONSE: (True, True),
    ErrorKind.CIRCUIT_OPEN: (False, True),
    ErrorKind.DEADLINE: (False, False),
    ErrorKind.UNKNOWN: (False, True),
}


class SmartRouteError(Exception):
    """Base class of every error smartroute raises."""


class ConfigurationError(SmartRouteError, ValueError):
    """Bad configuration, found at build time. The message names the field and the fix."""


class RequestValidationError(SmartRouteError, ValueError):
    """The caller's request cannot be sent as given, found before any target is tried.

    Distinct from :class:`InvalidRequestError` (a vendor refusing a request it received): this
    one is raised by the router itself, so no target is charged for it. ``field`` names the
    offending part, e.g. ``messages[2].content``.
    """

    kind = ErrorKind.INVALID_REQUEST

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class StrategyNotAvailableError(ConfigurationError):
    """A strategy was selected that this installation cannot run."""


class ProviderError(SmartRouteError):
    """A failed call to one target, classified by :class:`ErrorKind`."""

    kind: ErrorKind = ErrorKind.UNKNOWN
    # True when a router limit fired because this process was too busy to read the answer
    # (event-loop lag): no verdict on the target, so no breaker failure and nothing learned.
    client_side: bool = False

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        target: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        provider_message: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.message = message
        self.target = target
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        self.provider_message = provider_message
        self.body = body

    @property
    def retryable(self) -> bool:
        """Whether trying the same target again could succeed."""
        return _KIND_ACTIONS[self.kind][0]

    @property
    def fallback_ok(self) -> bool:
        """Whether another target could answer the same request."""
        return _KIND_ACTIONS[self.kind][1]

    def __str__(self) -> str:
        where = f" [{self.target}]" if self.target else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{self.kind.value}{where}{status}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RateLimitError(ProviderError):
    kind = ErrorKind.RATE_LIMITED


class OverloadedError(ProviderError):
    kind = ErrorKind.OVERLOADED


class TimeoutError_(ProviderError):
    kind = ErrorKind.TIMEOUT


class ConnectionFailedError(ProviderError):
    kind = ErrorKind.CONNECTION


class ContextLengthError(ProviderError):
    kind = ErrorKind.CONTEXT_LENGTH


class ContentFilterError(ProviderError):
    kind = ErrorKind.CONTENT_FILTER


class AuthenticationError(ProviderError):
    kind = ErrorKind.AUTHENTICATION


class InvalidRequestError(ProviderError):
    kind = ErrorKind.INVALID_REQUEST


class MalformedResponseError(ProviderError):
    kind = ErrorKind.MALFORMED_RESPONSE


class StreamInterrupted(ProviderError):
    """A stream broke after text reached the caller; ``partial_text`` holds what was sent."""

    kind = ErrorKind.STREAM_INTERRUPTED

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text


_CLASS_BY_KIND: dict[ErrorKind, type[ProviderError]] = {
    ErrorKind.RATE_LIMITED: RateLimitError,
    ErrorKind.OVERLOADED: OverloadedError,
    ErrorKind.TIMEOUT: TimeoutError_,
    ErrorKind.CONNECT_TIMEOUT: TimeoutError_,
    ErrorKind.TTFT_TIMEOUT: TimeoutError_,
    ErrorKind.STREAM_STALL: TimeoutError_,
    ErrorKind.CONNECTION: ConnectionFailedError,
    ErrorKind.CONTEXT_LENGTH: ContextLengthError,
    ErrorKind.CONTENT_FILTER: ContentFilterError,
    ErrorKind.AUTHENTICATION: AuthenticationError,
    ErrorKind.INVALID_REQUEST: InvalidRequestError,
    ErrorKind.MALFORMED_RESPONSE: MalformedResponseError,
    ErrorKind.STREAM_INTERRUPTED: StreamInterrupted,
}


def provider_error(kind: ErrorKind, message: str, **kwargs: Any) -> ProviderError:
    """Build the most specific :class:`ProviderError` subclass for ``kind``."""
    cls = _CLASS_BY_KIND.get(kind, ProviderError)
    return cls(message, kind=kind, **kwargs)


def kind_actions(kind: ErrorKind) -> tuple[bool, bool]:
    """``(retry_same_target, fall_back)`` defaults for an error kind."""
    return _KIND_ACTIONS[kind]


class NoCandidatesError(SmartRouteError, ValueError):
    """Every target was excluded for this request; the message lists why, per target."""

    def __init__(self, exclusions: Sequence[Exclusion]) -> None:
        self.exclusions = list(exclusions)
        if not self.exclusions:
            msg = "no targets configured: pass targets=[...] to Router"
        else:
            lines = "; ".join(f"{e.target}: {e.reason}" for e in self.exclusions)
            msg = f"no target can serve this request ({lines})"
        super().__init__(msg)


class AllTargetsFailed(SmartRouteError):
    """Every attempt failed. ``attempts`` lists each one (target, error kind, status, latency).

    The message ends with each distinct failure's own text (the fix, e.g. "set OPENAI_API_KEY
    or pass api_key="), once, with the targets it applies to: the attempts are where the
    answer is, and a traceback's last line is often all that is read.
    """

    def __init__(self, attempts: Sequence[Attempt], message: str | None = None) -> None:
        self.attempts = list(attempts)
        parts = [
            f"{a.target} -> {a.error_kind}"
            + (f" (HTTP {a.status_code})" if a.status_code else "")
            + f" after {a.latency_s * 1000:.0f} ms"
            for a in self.attempts
        ]
        head = message or f"all {len(self.attempts)} attempt(s) failed"
        text = head + (": " + "; ".join(parts) if parts else "")
        hints = failure_hints(self.attempts)
        if hints:
            text += "\n" + "\n".join(f"  {', '.join(ts)}: {h}" for h, ts in hints)
        super().__init__(text)

    @property
    def last_error(self) -> ProviderError | None:
        for a in reversed(self.attempts):
            if a.error is not None:
                return a.error
        return None


_MAX_HINTS = 5
_MAX_HINT_CHARS = 300
# "<Class> target '<name>': " -- the target is listed beside the hint, so two targets
# failing for the same reason share one line
_TARGET_PREFIX = re.compile(r"^\w+ target '[^']*': ")


def failure_hints(attempts: Sequence[Attempt]) -> list[tuple[str, list[str]]]:
    """Each distinct failure text of ``attempts`` with the targets it came from, in order."""
    found: dict[str, list[str]] = {}
    for a in attempts:
        if a.ok or a.cancelled:
            continue
        text = a.message or (a.error.message if a.error is not None else "")
        text = _TARGET_PREFIX.sub("", " ".join(text.split()))
        if not text:
            continue
        if len(text) > _MAX_HINT_CHARS:
            text = text[: _MAX_HINT_CHARS - 3] + "..."
        targets = found.setdefault(text, [])
        if a.target not in targets:
            targets.append(a.target)
    return list(found.items())[:_MAX_HINTS]


class CircuitOpenError(AllTargetsFailed):
    """Every candidate's circuit is open (or half-open with its one probe in flight), so the
    call failed fast without sending anything. ``retry_after_s`` is when the earliest of them
    may be tried again; ``exclusions`` says why each target was not tried."""

    def __init__(
        self,
        exclusions: Sequence[Exclusion],
        retry_after_s: float | None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        self.exclusions = list(exclusions)
        self.retry_after_s = retry_after_s
        when = "" if retry_after_s is None else f"; earliest retry in {retry_after_s:.1f}s"
        why = "; ".join(f"{e.target}: {e.reason}" for e in self.exclusions)
        super().__init__(
            attempts, f"every candidate's circuit is open{when} ({why})"
        )


class RateLimitExceeded(NoCandidatesError):
    """Every candidate that could serve the request is at its client-side rate limit
    (``policy.rate_limit``), so nothing was sent. ``retry_after_s`` is when the earliest frees."""

    kind = ErrorKind.RATE_LIMITED

    def __init__(self, exclusions: Sequence[Exclusion], retry_after_s: float | None) -> None:
        super().__init__(exclusions)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.args = (f"{self.args[0]}; earliest slot in {retry_after_s:.1f}s",)


class BudgetExceeded(SmartRouteError):
    """A spend budget (``policy.budget``) cannot pay for this call: nothing was sent.

    ``budget`` is its name, ``key`` the tag value it was kept for (``None`` for a router-wide
    budget), ``resets_at`` the wall-clock time (epoch seconds) its window ends."""

    def __init__(
        self,
        budget: str,
        key: str | None,
        *,
        limit_usd: float,
        spent_usd: float,
        needed_usd: float,
        resets_at: float,
        resets_in_s: float,
    ) -> None:
        import datetime as _dt

        self.budget = budget
        self.key = key
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.needed_usd = needed_usd
        self.resets_at = resets_at
        self.resets_in_s = resets_in_s
        who = budget if key is None else f"{budget} ({key})"
        when = _dt.datetime.fromtimestamp(resets_at, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"budget {who!s} is spent: ${spent_usd:.4g} of ${limit_usd:g} used, this call needs "
            f"~${needed_usd:.2g}; it resets in {_duration(resets_in_s)} (at {when})"
        )


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
