"""The one protocol the router calls: anything with a model name, a capability and four methods."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse


@dataclass(frozen=True, slots=True)
class AttemptOptions:
    """Limits for one attempt, in seconds. ``None`` means no limit from the router.

    ``timeout`` bounds the whole attempt; ``read_timeout`` bounds the wait for any next bytes
    (a stall). Targets pass these to their transport; the router enforces time to first token and
    stalls itself as well, so a target that ignores them is still bounded.

    ``deadline``, when the call has one, is the same bound as an absolute ``time.monotonic()``
    instant: the attempt must be over by then however long it waited to start (for a pool slot,
    a worker thread). A sync target should bound its total read time by it (not only each
    read): the router stops waiting for a sync worker at the limit, but cannot interrupt a read
    the worker is blocked in, so a target that ignores it keeps that thread until it returns.
    """

    timeout: float | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    deadline: float | None = None


NO_LIMITS = AttemptOptions()


@runtime_checkable
class Target(Protocol):
    """A callable model. ``name`` is unique among a router's targets; ``model`` is the
    vendor's id. A target whose ``acomplete`` itself honours ``options.timeout`` may say so with
    a class attribute ``enforces_attempt_timeout = True``; the router then adds no timer."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def capability(self) -> ProviderCapability: ...

    def complete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse: ...

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse: ...

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> Iterator[ChatChunk]: ...

    def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> AsyncIterator[ChatChunk]: ...


class TargetIdentity:
    """The read-only ``name``/``model``/``capability`` every built-in target exposes; subclasses
    set ``_name``, ``_model`` and ``_capability``."""

    _name: str
    _model: str
    _capability: ProviderCapability

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return self._model

    @property
    def capability(self) -> ProviderCapability:
        return self._capability
