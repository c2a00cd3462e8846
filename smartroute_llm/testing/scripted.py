"""An in-process target that answers from a script: for tests, demos and simulations.

A script item is a reply text, a :class:`ChatResponse`, a :class:`ProviderError` (raised), an
:class:`ErrorKind` (raised as that kind), or a callable ``(request) -> item``. Items are used in
order; the last one repeats. With a :class:`FakeClock`, latency advances the clock instead of
sleeping, so simulations of thousands of calls take milliseconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ErrorKind, ProviderError, provider_error
from smartroute_llm.features import estimate_tokens
from smartroute_llm.request import ChatRequest, ToolCall
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta, Usage
from smartroute_llm.target import NO_LIMITS, AttemptOptions, TargetIdentity

ScriptItem = str | ChatResponse | ProviderError | ErrorKind | Callable[[ChatRequest], Any]


class FakeClock:
    """A manual clock: ``clock()`` reads it, ``clock.advance(s)`` moves it forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


class ScriptedTarget(TargetIdentity):
    """A scripted model.

    ``latency`` (seconds, or ``(request) -> seconds``) is the time to the whole answer;
    ``ttft`` the time to its first chunk when streaming (default: a fifth of ``latency``).
    ``script=None`` echoes the last user message prefixed by the model name.
    """

    def __init__(
        self,
        model: str,
        capability: ProviderCapability | None = None,
        *,
        script: ScriptItem | Sequence[ScriptItem] | None = None,
        name: str | None = None,
        latency: float | Callable[[ChatRequest], float] = 0.0,
        ttft: float | None = None,
        chunk_chars: int = 8,
        clock: FakeClock | None = None,
        fail_after_chunks: int | None = None,
    ) -> None:
        self._model = model
        self._name = name or model
        self._capability = capability or catalog.lookup(model) or ProviderCapability()
        if script is None or isinstance(script, str | ChatResponse | ProviderError | ErrorKind):
            self._script: list[ScriptItem] = [] if script is None else [script]
        elif callable(script):
            self._script = [script]
        else:
            self._script = list(script)
        self.latency = latency
        self.ttft = ttft
        self.chunk_chars = max(1, chunk_chars)
        self.clock = clock
        self.fail_after_chunks = fail_after_chunks
        self.calls: list[ChatRequest] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ScriptedTarget(name={self._name!r}, model={self._model!r})"

    def set_script(self, script: ScriptItem | Sequence[ScriptItem]) -> None:
        with self._lock:
            self._script = (
                [script]
                if isinstance(script, str | ChatResponse | ProviderError | ErrorKind)
                or callable(script)
                else list(script)
            )

    def _next(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.calls.append(request)
            item: Any = self._script[0] if self._script else None
            if len(self._script) > 1:
                self._script.pop(0)
        while callable(item) and not isinstance(item, ProviderError | ErrorKind):
            item = item(request)
        if isinstance(item, ErrorKind):
            raise provider_error(
                item, f"scripted {item.value}", target=self._name, model=self._model
            )
        if isinstance(item, ProviderError):
            item.target = item.target or self._name
            raise item
        if item is None:
            last = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
            item = f"[{self._model}] {last}"
        if isinstance(item, str):
            item = ChatResponse(text=item, finish_reason="stop")
        resp: ChatResponse = item.model_copy(deep=True)
        resp.model = resp.model or self._model
        if resp.usage.total_tokens == 0:
            resp.usage = Usage(
                input_tokens=sum(estimate_tokens(m.text) + 4 for m in request.messages),
                output_tokens=max(1, estimate_tokens(resp.text)) + 10 * len(resp.tool_calls),
            )
        if resp.tool_calls and resp.finish_reason in (None, "stop"):
            resp.finish_reason = "tool_calls"
        return resp

    def _delay(self, request: ChatRequest) -> float:
        return float(self.latency(request) if callable(self.latency) else self.latency)

    def _chunks(self, resp: ChatResponse) -> list[ChatChunk]:
        out = [ChatChunk(reasoning=resp.reasoning)] if resp.reasoning else []
        out += [
            ChatChunk(text=resp.text[i : i + self.chunk_chars])
            for i in range(0, len(resp.text), self.chunk_chars)
        ]
        out += [_tool_chunk(i, tc) for i, tc in enumerate(resp.tool_calls)]
        out.append(ChatChunk(usage=resp.usage, finish_reason=resp.finish_reason, model=resp.model))
        return out

    def _wait(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)
        elif seconds > 0:
            time.sleep(seconds)

    async def _await(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)
        elif seconds > 0:
            await asyncio.sleep(seconds)

    def _cut(self, i: int) -> None:
        if self.fail_after_chunks is not None and i >= self.fail_after_chunks:
            raise provider_error(
                ErrorKind.CONNECTION, "scripted stream cut", target=self._name, model=self._model
            )

    def complete(self, request: ChatRequest, options: AttemptOptions = NO_LIMITS) -> ChatResponse:
        delay = self._delay(request)
        resp = self._next(request)
        self._wait(delay)
        return resp

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse:
        delay = self._delay(request)
        resp = self._next(request)
        await self._await(delay)
        return resp

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> Iterator[ChatChunk]:
        delay = self._delay(request)
        first = self.ttft if self.ttft is not None else delay / 5
        resp = self._next(request)
        chunks = self._chunks(resp)
        self._wait(first)
        rest = max(0.0, delay - first) / max(1, len(chunks))
        for i, chunk in enumerate(chunks):
            self._cut(i)
            if i:
                self._wait(rest)
            yield chunk

    async def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> AsyncIterator[ChatChunk]:
        delay = self._delay(request)
        first = self.ttft if self.ttft is not None else delay / 5
        resp = self._next(request)
        chunks = self._chunks(resp)
        await self._await(first)
        rest = max(0.0, delay - first) / max(1, len(chunks))
        for i, chunk in enumerate(chunks):
            self._cut(i)
            if i:
                await self._await(rest)
            yield chunk


def _tool_chunk(index: int, call: ToolCall) -> ChatChunk:
    import json

    return ChatChunk(
        tool_call_deltas=[
            ToolCallDelta(
                index=index, id=call.id, name=call.name, arguments=json.dumps(call.arguments)
            )
        ]
    )


def scripted_targets(models: Sequence[str], **kwargs: Any) -> list[ScriptedTarget]:
    return [ScriptedTarget(m, **kwargs) for m in models]
