"""What a cascade asks of a verifier: given the request and one rung's answer, accept or reject.

A verifier sees a :class:`Check`, not a bare response, because the useful checks need more than
the answer: consistency asks the same rung again, a judge asks another model. Those extra calls
go through the :class:`Check` (so the cascade can count their cost and keep them inside the
call's deadline) rather than through a router the verifier holds itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatResponse


@dataclass(frozen=True, slots=True)
class Verdict:
    """``confidence`` in [0, 1] where the verifier has one (log-probabilities, a judge's
    grade); ``reason`` is one short human line ("refusal", "truncated", "2 of 3 samples
    disagree") that ends up in the routing decision."""

    accepted: bool
    reason: str = ""
    confidence: float | None = None
    verifier: str = ""


CallModel = Callable[[ChatRequest, "str | None"], ChatResponse]
ACallModel = Callable[[ChatRequest, "str | None"], Awaitable[ChatResponse]]


@dataclass(slots=True)
class Check:
    """One rung's answer under review.

    ``call(request, model)`` / ``acall(...)`` make one more model call on the cascade's behalf:
    ``model=None`` is the rung's own candidate (consistency samples), a name pins another
    candidate of the router (a judge). Every response obtained this way is appended to
    ``extra_responses`` so the cascade adds its cost to the call's. A check built outside a
    cascade (tests, offline scoring) has no caller; verifiers that need one then say so."""

    request: ChatRequest
    response: ChatResponse
    rung: str = ""
    call_model: CallModel | None = None
    acall_model: ACallModel | None = None
    extra_responses: list[ChatResponse] = field(default_factory=list)

    def call(self, request: ChatRequest, model: str | None = None) -> ChatResponse:
        if self.call_model is None:
            raise RuntimeError("this check cannot call models (it was not built by a cascade)")
        response = self.call_model(request, model)
        self.extra_responses.append(response)
        return response

    async def acall(self, request: ChatRequest, model: str | None = None) -> ChatResponse:
        if self.acall_model is None:
            raise RuntimeError("this check cannot call models (it was not built by a cascade)")
        response = await self.acall_model(request, model)
        self.extra_responses.append(response)
        return response


@runtime_checkable
class Verifier(Protocol):
    """``verify``/``averify`` judge a whole answer. ``check_prefix`` judges the first text of a
    streamed answer before any of it leaves (``None``: cannot tell yet / no opinion), which is
    what lets a cascade stream its cheap rung and still escalate."""

    name: str

    def verify(self, check: Check) -> Verdict: ...

    async def averify(self, check: Check) -> Verdict: ...

    def check_prefix(self, request: ChatRequest, text: str) -> Verdict | None: ...


class BaseVerifier:
    """Sync verifiers implement ``verify``; the async twin runs it inline (verifiers that call
    models override ``averify`` too). No prefix opinion unless overridden."""

    name: str = "verifier"

    def verify(self, check: Check) -> Verdict:
        raise NotImplementedError

    async def averify(self, check: Check) -> Verdict:
        return self.verify(check)

    def check_prefix(self, request: ChatRequest, text: str) -> Verdict | None:
        return None

    def prepare(self, request: ChatRequest) -> ChatRequest:
        """The request a rung should be sent so this verifier can judge its answer (the
        confidence verifier asks for log-probabilities). Optional: not part of
        :class:`Verifier`, so a cascade calls it where a verifier has it."""
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


VerifierResult = Verdict | bool | tuple[bool, str]
UserCheck = Callable[[ChatRequest, ChatResponse], Any]


class CallableVerifier(BaseVerifier):
    """Any user function ``(request, response) -> bool | (bool, reason) | Verdict`` (or a
    coroutine function returning one) as a verifier."""

    def __init__(self, fn: UserCheck, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"a verifier must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "callable"))
        self._is_async = inspect.iscoroutinefunction(fn)

    def verify(self, check: Check) -> Verdict:
        if self._is_async:
            raise TypeError(
                f"verifier {self.name!r} is a coroutine function: use the async call "
                "(achat/astream), or give a plain function"
            )
        return self._verdict(self.fn(check.request, check.response))

    async def averify(self, check: Check) -> Verdict:
        result = self.fn(check.request, check.response)
        if inspect.isawaitable(result):
            result = await result
        return self._verdict(result)

    def _verdict(self, result: Any) -> Verdict:
        if isinstance(result, Verdict):
            return result if result.verifier else _named(result, self.name)
        if isinstance(result, bool):
            return Verdict(result, "" if result else "rejected", verifier=self.name)
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], bool)
            and isinstance(result[1], str)
        ):
            return Verdict(result[0], result[1], verifier=self.name)
        raise TypeError(
            f"verifier {self.name!r} returned {type(result).__name__}: return a bool, "
            "(bool, reason) or a Verdict"
        )


def as_verifier(value: Verifier | UserCheck) -> Verifier:
    """A verifier as given, or a user callable wrapped as one."""
    if isinstance(value, Verifier):
        return value
    return CallableVerifier(value)


def _named(v: Verdict, name: str) -> Verdict:
    return Verdict(v.accepted, v.reason, v.confidence, name)
