"""Any LlamaIndex ``LLM`` as a smartroute :class:`~smartroute_llm.target.Target`.

The router calls a candidate through the candidate's own public methods, which LlamaIndex
decorates: that decoration is what emits the LLM start/end event on the legacy callback manager
and on the instrumentation dispatcher. The router's own methods are not decorated, and the
candidate shares the router's callback manager, so a routed call emits exactly one pair.

For the same reason a candidate is called at the level where it is decorated once. LlamaIndex's
``CustomLLM`` implements ``chat`` by calling its decorated ``complete`` (two event pairs for one
call), so such candidates are called through ``complete``/``stream_complete`` directly, and
their default async twins, which only call the sync ones, are run on a worker thread instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.generic_utils import completion_response_to_chat_response
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools.types import BaseTool, ToolMetadata, ToolOutput

from llamaindex_smartroute.calls import NativeCall, native_call
from llamaindex_smartroute.errors import to_provider_error
from llamaindex_smartroute.messages import (
    THINKING_DELTA,
    reasoning_of,
    to_llama_messages,
    tool_calls_of,
)
from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.decision import trusted
from smartroute_llm.features import estimate_tokens
from smartroute_llm.request import ChatRequest, ToolSpec
from smartroute_llm.response import ChatChunk, ToolCallDelta, Usage
from smartroute_llm.response import ChatResponse as NeutralResponse
from smartroute_llm.target import NO_LIMITS, AttemptOptions, TargetIdentity


@dataclass(frozen=True, slots=True)
class _Levels:
    """Where a candidate class is decorated exactly once."""

    chat_via_complete: bool
    stream_via_complete: bool
    achat_in_thread: bool
    acomplete_in_thread: bool
    astream_chat_in_thread: bool
    astream_complete_in_thread: bool

    @classmethod
    def of(cls, llm: LLM) -> _Levels:
        def default(method: str, *owners: type) -> bool:
            # the class that defines it (methods are wrapped anew on every attribute access)
            owner = next(c for c in type(llm).__mro__ if method in c.__dict__)
            return owner in owners

        return cls(
            chat_via_complete=default("chat", CustomLLM),
            stream_via_complete=default("stream_chat", CustomLLM),
            achat_in_thread=default("achat", CustomLLM, MockFunctionCallingLLM),
            acomplete_in_thread=default("acomplete", CustomLLM),
            astream_chat_in_thread=default("astream_chat", CustomLLM),
            astream_complete_in_thread=default("astream_complete", CustomLLM),
        )


@dataclass
class _SpecToolMetadata(ToolMetadata):
    parameters: dict[str, Any] = field(default_factory=dict)

    def get_parameters_dict(self) -> dict[str, Any]:
        return self.parameters


class SpecTool(BaseTool):
    """A neutral :class:`ToolSpec` as a LlamaIndex tool, for requests that came without native
    tools; only its schema is read, the router never runs it."""

    def __init__(self, spec: ToolSpec) -> None:
        self._metadata = _SpecToolMetadata(
            description=spec.description, name=spec.name, parameters=spec.parameters
        )

    @property
    def metadata(self) -> ToolMetadata:
        return self._metadata

    def __call__(self, input: Any) -> ToolOutput:
        raise NotImplementedError(f"tool {self._metadata.name!r} is only a schema")


def model_name_of(llm: LLM) -> str:
    name = llm.metadata.model_name
    if name and name != "unknown":
        return name
    model = getattr(llm, "model", None)
    return model if isinstance(model, str) and model else llm.class_name()


def _calls_tools(llm: LLM) -> bool:
    return isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model


def capability_of(llm: LLM, model: str) -> ProviderCapability:
    """The catalog's entry for ``model`` if it has one, else what the LLM's metadata says; tool
    support also needs a function-calling LlamaIndex class."""
    meta = llm.metadata
    can_call_tools = _calls_tools(llm)
    known = catalog.lookup(model)
    if known is not None:
        return known.model_copy(update={"supports_tools": known.supports_tools and can_call_tools})
    window = max(1, meta.context_window)
    return ProviderCapability(
        max_tokens=window,
        max_output_tokens=min(meta.num_output if meta.num_output > 0 else 4096, window),
        supports_tools=can_call_tools,
        provider=llm.class_name(),
    )


def _usage_from(native: ChatResponse) -> Usage | None:
    sources: list[Any] = [native.additional_kwargs]
    raw = native.raw
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if usage is not None:
        sources.append(usage)
    for src in sources:
        get = src.get if isinstance(src, dict) else lambda k, s=src: getattr(s, k, None)
        inp = get("prompt_tokens") or get("input_tokens")
        out = get("completion_tokens") or get("output_tokens")
        if isinstance(inp, int) or isinstance(out, int):
            return Usage(input_tokens=int(inp or 0), output_tokens=int(out or 0))
    return None


def _finish_reason(native: ChatResponse, has_tool_calls: bool) -> str:
    raw = native.raw
    choices = raw.get("choices") if isinstance(raw, dict) else getattr(raw, "choices", None)
    if choices:
        first = choices[0]
        reason = first.get("finish_reason") if isinstance(first, dict) else getattr(
            first, "finish_reason", None
        )
        if isinstance(reason, str) and reason:
            return reason
    return "tool_calls" if has_tool_calls else "stop"


class LlamaIndexTarget(TargetIdentity):
    """A LlamaIndex LLM as a routing candidate.

    ``name`` defaults to the model name; ``capability`` to the catalog entry of the model, or to
    what the LLM's metadata tells (context window, output tokens, function calling).
    """

    def __init__(
        self,
        llm: LLM,
        *,
        name: str | None = None,
        model: str | None = None,
        capability: ProviderCapability | dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(llm, LLM):
            raise TypeError(
                f"LlamaIndexTarget needs a LlamaIndex LLM, got {type(llm).__name__}; wrap "
                "smartroute targets with TargetLLM or pass them to SmartRouterLLM directly"
            )
        self.llm = llm
        self._model = model or model_name_of(llm)
        self._name = name or self._model
        if isinstance(capability, dict):
            capability = ProviderCapability.model_validate(capability)
        if capability is not None and capability.supports_tools and not _calls_tools(llm):
            capability = capability.model_copy(update={"supports_tools": False})
        self._capability = capability or capability_of(llm, self._model)
        self._levels = _Levels.of(llm)
        self._callbacks: Callable[[], CallbackManager] | None = None

    def share_callbacks(self, source: Callable[[], CallbackManager]) -> None:
        """Make the candidate report to ``source()``'s callback manager on every call (read at
        call time: query engines replace an LLM's manager after it was built)."""
        self._callbacks = source

    def __repr__(self) -> str:
        return f"LlamaIndexTarget(name={self._name!r}, llm={self.llm.class_name()})"

    # --- request translation -----------------------------------------------------------------

    def _prepare(self, request: ChatRequest) -> tuple[list[ChatMessage], NativeCall]:
        if self._callbacks is not None:
            manager = self._callbacks()
            if self.llm.callback_manager is not manager:
                self.llm.callback_manager = manager
        call = native_call(request)
        if call is None:
            call = NativeCall(
                messages=to_llama_messages(request.messages),
                tools=[SpecTool(s) for s in request.tools] or None,
                tool_required=request.tool_choice == "required",
                allow_parallel_tool_calls=bool(request.parallel_tool_calls),
            )
            return call.messages, call
        if call.neutral is not None and request.messages is not call.neutral:
            resumed = NativeCall(
                messages=to_llama_messages(request.messages),
                kwargs=call.kwargs,
                tools=call.tools,
                tool_required=call.tool_required,
                allow_parallel_tool_calls=call.allow_parallel_tool_calls,
            )
            return resumed.messages, resumed
        return call.messages, call

    def _chat_kwargs(
        self, request: ChatRequest, options: AttemptOptions, messages: list[ChatMessage],
        call: NativeCall,
    ) -> dict[str, Any]:
        from llamaindex_smartroute.provider_llm import TargetLLM

        if isinstance(self.llm, TargetLLM):
            return {"messages": messages, "smartroute_request": request,
                    "smartroute_options": options}
        if call.tools:
            if not isinstance(self.llm, FunctionCallingLLM):
                raise TypeError(f"{self.llm.class_name()} cannot call tools")
            return self.llm._prepare_chat_with_tools_compat(
                call.tools,
                chat_history=list(messages),
                allow_parallel_tool_calls=call.allow_parallel_tool_calls,
                tool_required=call.tool_required,
                **call.kwargs,
            )
        return {"messages": messages, **call.kwargs}

    def _prompt(self, messages: list[ChatMessage], call: NativeCall) -> tuple[str, bool]:
        if call.prompt is not None:
            return call.prompt, call.formatted
        to_prompt = self.llm.messages_to_prompt
        assert to_prompt is not None
        return to_prompt(messages), True

    # --- answer translation ------------------------------------------------------------------

    def _neutral(self, native: ChatResponse, request: ChatRequest) -> NeutralResponse:
        text = native.message.content or ""
        calls = tool_calls_of(native.message)
        # every value is built (and so checked) here: text and reasoning are str
        return trusted(
            NeutralResponse,
            text=text,
            reasoning=reasoning_of(native.message),
            tool_calls=calls,
            usage=self._usage(native, request, text),
            finish_reason=_finish_reason(native, bool(calls)),
            model=self._model,
            response_id=None,
            decision=None,
            raw=native,
        )

    def _usage(self, native: ChatResponse, request: ChatRequest, text: str) -> Usage:
        reported = _usage_from(native)
        if reported is not None:
            return reported
        prompt = "\n".join(m.text for m in request.messages)
        return Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text))

    def _closing(
        self, last: ChatResponse | None, request: ChatRequest, text: str
    ) -> list[ChatChunk]:
        if last is None:
            return []
        calls = tool_calls_of(last.message)
        out = []
        if calls:
            deltas = [
                ToolCallDelta(index=i, id=c.id, name=c.name, arguments=json.dumps(c.arguments))
                for i, c in enumerate(calls)
            ]
            out.append(ChatChunk(tool_call_deltas=deltas, model=self._model, raw=last))
        out.append(
            ChatChunk(
                usage=self._usage(last, request, text),
                finish_reason=_finish_reason(last, bool(calls)),
                model=self._model,
                raw=last,
            )
        )
        return out

    def _fail(self, exc: Exception) -> Exception:
        return to_provider_error(exc, target=self._name, model=self._model)

    # --- the Target protocol -----------------------------------------------------------------

    def complete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> NeutralResponse:
        messages, call = self._prepare(request)
        try:
            if self._levels.chat_via_complete:
                prompt, formatted = self._prompt(messages, call)
                native = completion_response_to_chat_response(
                    self.llm.complete(prompt, formatted=formatted, **call.kwargs)
                )
            else:
                native = self.llm.chat(**self._chat_kwargs(request, options, messages, call))
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._neutral(native, request)

    async def acomplete(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> NeutralResponse:
        messages, call = self._prepare(request)
        lv, llm = self._levels, self.llm
        try:
            if lv.chat_via_complete:
                prompt, formatted = self._prompt(messages, call)
                if lv.acomplete_in_thread:
                    done: CompletionResponse = await asyncio.to_thread(
                        llm.complete, prompt, formatted=formatted, **call.kwargs
                    )
                else:
                    done = await llm.acomplete(prompt, formatted=formatted, **call.kwargs)
                native = completion_response_to_chat_response(done)
            else:
                kwargs = self._chat_kwargs(request, options, messages, call)
                if lv.achat_in_thread:
                    native = await asyncio.to_thread(lambda: llm.chat(**kwargs))
                else:
                    native = await llm.achat(**kwargs)
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._neutral(native, request)

    def _native_stream(
        self, request: ChatRequest, options: AttemptOptions, messages: list[ChatMessage],
        call: NativeCall,
    ) -> Iterator[ChatResponse]:
        if self._levels.stream_via_complete:
            prompt, formatted = self._prompt(messages, call)
            for r in self.llm.stream_complete(prompt, formatted=formatted, **call.kwargs):
                yield _completion_chunk(r)
        else:
            yield from self.llm.stream_chat(**self._chat_kwargs(request, options, messages, call))

    async def _anative_stream(
        self, request: ChatRequest, options: AttemptOptions, messages: list[ChatMessage],
        call: NativeCall,
    ) -> AsyncIterator[ChatResponse]:
        lv, llm = self._levels, self.llm
        if lv.stream_via_complete:
            prompt, formatted = self._prompt(messages, call)
            if lv.astream_complete_in_thread:
                async for r in _in_thread(
                    lambda: llm.stream_complete(prompt, formatted=formatted, **call.kwargs)
                ):
                    yield _completion_chunk(r)
            else:
                gen = await llm.astream_complete(prompt, formatted=formatted, **call.kwargs)
                async for r in gen:
                    yield _completion_chunk(r)
            return
        kwargs = self._chat_kwargs(request, options, messages, call)
        if lv.astream_chat_in_thread:
            async for item in _in_thread(lambda: llm.stream_chat(**kwargs)):
                yield item
        else:
            agen = await llm.astream_chat(**kwargs)
            async for item in agen:
                yield item

    def stream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> Iterator[ChatChunk]:
        messages, call = self._prepare(request)
        fold = _DeltaFold(self._model)
        try:
            for native in self._native_stream(request, options, messages, call):
                chunk = fold.add(native)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            raise self._fail(exc) from exc
        yield from self._closing(fold.last, request, fold.text)

    async def astream(
        self, request: ChatRequest, options: AttemptOptions = NO_LIMITS
    ) -> AsyncIterator[ChatChunk]:
        messages, call = self._prepare(request)
        fold = _DeltaFold(self._model)
        try:
            async for native in self._anative_stream(request, options, messages, call):
                chunk = fold.add(native)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            raise self._fail(exc) from exc
        for chunk in self._closing(fold.last, request, fold.text):
            yield chunk


class _DeltaFold:
    """Native cumulative responses -> neutral chunks holding only the new text (and the
    ``thinking_delta`` LlamaIndex integrations report beside it)."""

    __slots__ = ("last", "model", "parts", "seen")

    def __init__(self, model: str) -> None:
        self.model = model
        self.last: ChatResponse | None = None
        self.parts: list[str] = []
        self.seen = ""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, native: ChatResponse) -> ChatChunk | None:
        self.last = native
        content = native.message.content or ""
        if native.delta is not None:
            delta = native.delta
        else:
            delta = content[len(self.seen):] if content.startswith(self.seen) else ""
        self.seen = content
        thinking = native.additional_kwargs.get(THINKING_DELTA) or ""
        if not delta and not thinking:
            return None
        if delta:
            self.parts.append(delta)
        return ChatChunk(text=delta, reasoning=str(thinking), model=self.model, raw=native)


def _completion_chunk(r: CompletionResponse) -> ChatResponse:
    return completion_response_to_chat_response(r).model_copy(update={"delta": r.delta})


async def _in_thread(make: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """A blocking generator read on worker threads, one item per hop, so the loop stays free."""
    it = await asyncio.to_thread(lambda: iter(make()))
    done = object()
    try:
        while True:
            item = await asyncio.to_thread(next, it, done)
            if item is done:
                return
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

