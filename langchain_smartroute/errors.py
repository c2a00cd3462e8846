"""smartroute's errors as members of langchain-core's ``ModelError`` family.

A routed call that fails raises one error that is both the smartroute error (with every
attempt listed) and the matching langchain-core class, so ``except AllTargetsFailed``,
``except ModelRateLimitError``, ``with_retry`` and the agent retry middleware (which reads
``is_retryable``) all behave.
"""

from __future__ import annotations

from typing import cast

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelRefusalError,
    ModelTimeoutError,
)

from smartroute_llm.errors import AllTargetsFailed, ErrorKind, NoCandidatesError, ProviderError

_BY_KIND: dict[ErrorKind, type[ModelError]] = {
    ErrorKind.RATE_LIMITED: ModelRateLimitError,
    ErrorKind.OVERLOADED: ModelAPIError,
    ErrorKind.MALFORMED_RESPONSE: ModelAPIError,
    ErrorKind.CIRCUIT_OPEN: ModelAPIError,
    ErrorKind.TIMEOUT: ModelTimeoutError,
    ErrorKind.CONNECT_TIMEOUT: ModelTimeoutError,
    ErrorKind.TTFT_TIMEOUT: ModelTimeoutError,
    ErrorKind.STREAM_STALL: ModelTimeoutError,
    ErrorKind.DEADLINE: ModelTimeoutError,
    ErrorKind.CONNECTION: ModelConnectionError,
    ErrorKind.STREAM_INTERRUPTED: ModelConnectionError,
    ErrorKind.CONTEXT_LENGTH: ContextOverflowError,
    ErrorKind.AUTHENTICATION: ModelAuthenticationError,
    ErrorKind.INVALID_REQUEST: ModelInvalidRequestError,
    ErrorKind.NOT_FOUND: ModelNotFoundError,
    ErrorKind.CONTENT_FILTER: ModelRefusalError,
}


_MIXED: dict[tuple[type[Exception], type[ModelError]], type[Exception]] = {}


def _mixed(core: type[Exception], lc: type[ModelError]) -> type[Exception]:
    cached = _MIXED.get((core, lc))
    if cached is not None:
        return cached
    name = f"Routed{lc.__name__}" if core is not ProviderError else lc.__name__
    cls = cast(
        "type[Exception]",
        type(name, (core, lc), {"__module__": __name__, "__doc__": core.__doc__}),
    )
    _MIXED[(core, lc)] = cls
    return cls


def _lc_class(err: BaseException) -> type[ModelError]:
    if isinstance(err, AllTargetsFailed):
        last = err.last_error
        if last is None:
            return ModelAPIError
        err = last
    if isinstance(err, NoCandidatesError):
        return ModelInvalidRequestError
    if isinstance(err, ProviderError):
        if err.kind is ErrorKind.AUTHENTICATION and err.status_code == 403:
            return ModelPermissionDeniedError
        return _BY_KIND.get(err.kind, ModelError)
    return ModelError


def to_langchain_error(err: Exception) -> Exception:
    """``err`` re-typed to also be the matching langchain-core error; its state is kept."""
    if isinstance(err, ModelError) or not isinstance(
        err, ProviderError | AllTargetsFailed | NoCandidatesError
    ):
        return err
    cls = _mixed(type(err), _lc_class(err))
    new = cls.__new__(cls)
    new.__dict__.update(err.__dict__)
    new.args = err.args
    new.__cause__ = err.__cause__
    new.__traceback__ = err.__traceback__
    if isinstance(new, ModelRefusalError):
        new.raw_message = None
    return new
