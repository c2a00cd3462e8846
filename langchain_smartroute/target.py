"""Any LangChain chat model as a smartroute :class:`~smartroute_llm.target.Target`.

Delegation is leaf-level: the router's own ``_generate``/``_stream`` call the candidate's
``_generate``/``_stream`` (never ``invoke``), handing over the router's run manager, so a routed
call is one chat-model run in callbacks and traces however many candidates were tried. The
original LangChain messages, tools and call options travel beside the neutral request in
:class:`LangChainCall`, so a candidate sees exactly what it would see if called directly.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableBinding

from langchain_smartroute.messages import (
    REASONING_KEY,
    neutral_usage,
    reasoning_of,
    to_langchain_message,
)
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ErrorKind, ProviderError, provider_error
from smartroute_llm.providers.errors import error_from_sdk
from smartroute_llm.request import ChatRequest, ToolCall
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta
from smartroute_llm.target import NO_LIMITS, AttemptOptions, TargetIdentity

CALL_KEY = "langchain"

# Keys that describe a whole answer; the router reports them once, on its last chunk.
_ANSWER_KEYS = frozenset(
    {"model_name", "finish_reason", "stop_reason", "model", "system_fingerprint", "service_tier"}
)
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "max_tokens": "length",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "refusal": "content_filter",
}


@dataclass(slots=True, eq=False)
class LangChainCall:
    """One routed call as LangChain made it; rides in ``ChatRequest.metadata[CALL_KEY]``."""

    messages: list[BaseMessage]
    neutral_len: int
    stop: list[str] | None = None
    run_manager: Any = None
    streaming: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    tool_options: dict[str, Any] = field(default_factory=dict)
    # per target name: the candidate's whole-answer metadata and summed usage
    answers: dict[str, tuple[dict[str, Any], UsageMetadata | None]] = field(default_factory=dict)


def model_name_of(model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def finish_reason(meta: Mapping[str, Any], has_tool_calls: bool) -> str:
    raw = meta.get("finish_reason") or meta.get("stop_reason")
    if isinstance(raw, str) and raw:
        return _FINISH.get(raw, raw)
    return "tool_calls" if has_tool_calls else "stop"


class LangChainTarget(TargetIdentity):
    """A LangChain chat model the router can call."""

    def __init__(
        self, model: BaseChatModel, capability: ProviderCapability, *, name: str | None = None
    ) -> None:
        self.chat_model = model
        self._model = model_name_of(model)
        self._name = name or self._model
        self._capability = capability
        self._gen_takes_rm = "run_manager" in inspect.signature(model._generate).parameters
        self._agen_takes_rm = "run_manager" in inspect.signature(model._agenerate).parameters
        cls = type(model)
        self._sync_streams = cls._stream is not BaseChatModel._stream
        self._async_streams = self._sync_streams or cls._astream is not BaseChatModel._astream
        self._bound: dict[tuple[int, str], tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LangChainTarget(name={self._name!r}, model={type(self.chat_model).__name__})"

    # --- preparing a call -----------------------------------------------------------------

    def _tool_kwargs(self, call: LangChainCall) -> dict[str, Any]:
        """The candidate's own ``bind_tools`` output for this call's tools, cached per tool set."""
        tools = call.tools
        if not tools:
            return {}
        key = (id(tools), repr(sorted(call.tool_options.items())))
        cached = self._bound.get(key)
        if cached is not None and cached[0] is tools:
            return cached[1]
        options = {k: v for k, v in call.tool_options.items() if v is not None}
        try:
            bound = self.chat_model.bind_tools(tools, **options)
        except TypeError:
            # this candidate's bind_tools takes fewer options; keep what every one takes
            keep = {k: v for k, v in options.items() if k == "tool_choice"}
            bound = self.chat_model.bind_tools(tools, **keep)
        kwargs = dict(bound.kwargs) if isinstance(bound, RunnableBinding) else {"tools": tools}
        with self._lock:
            if len(self._bound) > 64:
                self._bound.clear()
            self._bound[key] = (tools, kwargs)
        return kwargs

    def _prepare(
        self, request: ChatRequest
    ) -> tuple[LangChainCall, list[BaseMessage], dict[str, Any]]:
        call = request.metadata.get(CALL_KEY)
        if not isinstance(call, LangChainCall):
            # called with a plain neutral request (e.g. by a Router used on its own)
            msgs = [to_langchain_message(m) for m in request.messages]
            call = LangChainCall(messages=msgs, neutral_len=len(msgs), stop=request.stop)
            return call, msgs, {}
        msgs = call.messages
        if len(request.messages) != call.neutral_len:
            # the core continued an interrupted stream: it appended plain-text messages
            tail = request.messages[call.neutral_len :]
            msgs = [*msgs, *(to_langchain_message(m) for m in tail)]
        kwargs = {**call.kwargs, **self._tool_kwargs(call)}
        return call, msgs, kwargs

    def _streams(self, kwargs: Mapping[str, Any], async_api: bool) -> bool:
        m = self.chat_model
        if not (self._async_streams if async_api else self._sync_streams):
            return False
        if m.disable_streaming is True:
            return False
        return not (m.disable_streaming == "tool_calling" and kwargs.get("tools"))

    # --- results --------------------------------------------------------------------------

    def _response(self, call: LangChainCall, result: ChatResult) -> ChatResponse:
        gen = result.generations[0]
        msg = gen.message
        meta = {**(result.llm_output or {}), **(gen.generation_info or {}), **msg.response_metadata}
        if not isinstance(msg, AIMessage):
            msg = AIMessage(content=msg.content, id=msg.id)
        msg = msg.model_copy(update={"response_metadata": meta})
        call.answers[self._name] = (meta, msg.usage_metadata)
        model = meta.get("model_name") or meta.get("model")
        return ChatResponse(
            text=msg.text,
            reasoning=reasoning_of(msg),
            tool_calls=[
                ToolCall(id=tc.get("id") or f"call_{i}", name=tc["name"], arguments=tc["args"])
                for i, tc in enumerate(msg.tool_calls)
            ],
            usage=neutral_usage(msg.usage_metadata),
            finish_reason=finish_reason(meta, bool(msg.tool_calls)),
            model=model if isinstance(model, str) else self._model,
            response_id=msg.id,
            raw=msg,
        )

    def _single_chunk(self, resp: ChatResponse) -> list[ChatChunk]:
        msg = resp.raw
        chunk = AIMessageChunk(
            content=msg.content,
            tool_call_chunks=[
                {
                    "type": "tool_call_chunk",
                    "name": tc["name"],
                    "args": _json(tc["args"]),
                    "id": tc.get("id"),
                    "index": i,
                }
                for i, tc in enumerate(msg.tool_calls)
            ],
            additional_kwargs={
                k: v for k, v in msg.additional_kwargs.items() if k == REASONING_KEY
            },
            id=msg.id,
        )
        deltas = [
            ToolCallDelta(index=i, id=c.id, name=c.name, arguments=_json(c.arguments))
            for i, c in enumerate(resp.tool_calls)
        ]
        return [
            ChatChunk(text=resp.text, reasoning=resp.reasoning, tool_call_deltas=deltas, raw=chunk),
            ChatChunk(usage=resp.usage, finish_reason=resp.finish_reason, model=resp.model),
        ]

    # --- the Target protocol --------------------------------------------------------------

    def complete(self, request: ChatRequest, options: AttemptOptions = NO_LIMITS) -> ChatResponse:
        call, msgs, kwargs = self._prepare(request)
        m = self.chat_model
        if m.rate_limiter is not None:
            m.rate_limiter.acquire(blocking=True)
        if self._gen_takes_rm and not call.streaming:
            kwargs = {**kwargs, "run_manager": call.run_manager}
        try:
            result = m._generate(msgs, stop=call.stop, **kwargs)
        except Exception as exc:
            raise classify(exc, self._name, self._model) from exc
        return self._response(call, result)

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> ChatResponse:
        call, msgs, kwargs = self._prepare(request)
        m = self.chat_model
        if m.rate_limiter is not None:
            await m.rate_limiter.aacquire(blocking=True)
        if self._agen_takes_rm and not call.streaming:
            kwargs = {**kwargs, "run_manager": call.run_manager}
        try:
            result = await m._agenerate(msgs, stop=call.stop, **kwargs)
        except Exception as exc:
            raise classify(exc, self._name, self._model) from exc
        return self._response(call, result)

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> Iterator[ChatChunk]:
        call, msgs, kwargs = self._prepare(request)
        if not self._streams(kwargs, async_api=False):
            yield from self._single_chunk(self.complete(request, options))
            return
        m = self.chat_model
        if m.rate_limiter is not None:
            m.rate_limiter.acquire(blocking=True)
        state = _StreamState(self._model)
        rm = call.run_manager if call.streaming else None
        try:
            for gen in m._stream(msgs, stop=call.stop, run_manager=rm, **kwargs):
                chunk = state.feed(gen)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            raise classify(exc, self._name, self._model) from exc
        call.answers[self._name] = (state.meta, state.usage)
        yield state.final()

    async def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> AsyncIterator[ChatChunk]:
        call, msgs, kwargs = self._prepare(request)
        if not self._streams(kwargs, async_api=True):
            for chunk in self._single_chunk(await self.acomplete(request, options)):
                yield chunk
            return
        m = self.chat_model
        if m.rate_limiter is not None:
            await m.rate_limiter.aacquire(blocking=True)
        state = _StreamState(self._model)
        rm = call.run_manager if call.streaming else None
        try:
            async for gen in m._astream(msgs, stop=call.stop, run_manager=rm, **kwargs):
                piece = state.feed(gen)
                if piece is not None:
                    yield piece
        except Exception as exc:
            raise classify(exc, self._name, self._model) from exc
        call.answers[self._name] = (state.meta, state.usage)
        yield state.final()


def _json(args: Any) -> str:
    import json

    return args if isinstance(args, str) else json.dumps(args)


class _StreamState:
    """Turns a candidate's chunks into neutral ones. Content chunks keep the native message
    (without usage or whole-answer metadata, which the router reports once at the end)."""

    __slots__ = ("meta", "model", "tool_calls", "usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self.meta: dict[str, Any] = {}
        self.usage: UsageMetadata | None = None
        self.tool_calls = False

    def feed(self, gen: ChatGenerationChunk) -> ChatChunk | None:
        msg = gen.message
        info = gen.generation_info
        usage = getattr(msg, "usage_metadata", None)
        if usage:
            self.usage = add_usage(self.usage, usage)
        md = msg.response_metadata
        if md:
            self.meta.update(md)
        if info:
            self.meta.update(info)
        tccs = getattr(msg, "tool_call_chunks", None) or []
        text = msg.text
        reasoning = reasoning_of(msg)
        if not text and not tccs and not reasoning:
            return None
        deltas = [
            ToolCallDelta(
                index=c.get("index") if c.get("index") is not None else i,
                id=c.get("id"),
                name=c.get("name"),
                arguments=c.get("args") or "",
            )
            for i, c in enumerate(tccs)
        ]
        if deltas:
            self.tool_calls = True
        extra = {k: v for k, v in (info or {}).items() if k not in _ANSWER_KEYS}
        if usage or extra or (md and not _ANSWER_KEYS.isdisjoint(md)):
            keep = {k: v for k, v in md.items() if k not in _ANSWER_KEYS}
            msg = msg.model_copy(
                update={"usage_metadata": None, "response_metadata": {**keep, **extra}}
            )
        return ChatChunk(text=text, reasoning=reasoning, tool_call_deltas=deltas, raw=msg)

    def final(self) -> ChatChunk:
        model = self.meta.get("model_name") or self.meta.get("model")
        return ChatChunk(
            usage=neutral_usage(self.usage) if self.usage else None,
            finish_reason=finish_reason(self.meta, self.tool_calls),
            model=model if isinstance(model, str) else self.model,
        )


# --- errors ---------------------------------------------------------------------------------

_BY_LC_CLASS: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (ContextOverflowError, ErrorKind.CONTEXT_LENGTH),
    (ModelRateLimitError, ErrorKind.RATE_LIMITED),
    (ModelTimeoutError, ErrorKind.TIMEOUT),
    (ModelConnectionError, ErrorKind.CONNECTION),
    (ModelAuthenticationError, ErrorKind.AUTHENTICATION),
    (ModelPermissionDeniedError, ErrorKind.AUTHENTICATION),
    (ModelNotFoundError, ErrorKind.NOT_FOUND),
    (ModelInvalidRequestError, ErrorKind.INVALID_REQUEST),
    (ModelRefusalError, ErrorKind.CONTENT_FILTER),
    (ModelAPIError, ErrorKind.OVERLOADED),
)


def classify(exc: BaseException, target: str, model: str) -> ProviderError:
    """A candidate's exception as a :class:`ProviderError` the router's fallback rules act on.

    langchain-core's ``ModelError`` family names the kind when the SDK-level classification
    (status, vendor error body, SDK class names) cannot; then the candidate's ``is_retryable``."""
    err = error_from_sdk(exc, target=target, model=model)
    if isinstance(exc, ProviderError):
        return err
    # a specific langchain-core class is the integration's own verdict; the generic
    # ModelAPIError (last in the table) only fills in when nothing else knew
    kind = next((k for cls, k in _BY_LC_CLASS[:-1] if isinstance(exc, cls)), None)
    generic = isinstance(exc, _BY_LC_CLASS[-1][0]) or (
        isinstance(exc, ModelError) and exc.is_retryable
    )
    if kind is None and err.kind is ErrorKind.UNKNOWN and generic:
        kind = ErrorKind.OVERLOADED
    if kind is None or kind is err.kind:
        return err
    out = provider_error(
        kind,
        err.message,
        target=target,
        model=model,
        status_code=err.status_code,
        retry_after=err.retry_after,
        provider_message=err.provider_message,
    )
    out.__cause__ = exc
    return out
