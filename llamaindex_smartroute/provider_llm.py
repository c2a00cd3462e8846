"""A smartroute :class:`~smartroute_llm.target.Target` (an HTTP provider, a scripted model) as a
LlamaIndex function-calling LLM.

``SmartRouterLLM`` wraps its smartroute candidates in this class so that every candidate, native
or not, emits its LLM events the LlamaIndex way: each public method is decorated once and calls
the target directly, never another decorated method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import PrivateAttr

from llamaindex_smartroute.calls import (
    METADATA_KEY,
    build_request,
    selections_of,
    single_tool_call,
    tools_kwargs,
)
from llamaindex_smartroute.responses import StreamFolder, to_completion, to_llama_response
from smartroute_llm.request import ChatRequest
from smartroute_llm.target import NO_LIMITS, AttemptOptions, Target

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


class TargetLLM(FunctionCallingLLM):
    """A smartroute target with LlamaIndex's LLM interface."""

    _target: Target = PrivateAttr()

    def __init__(self, target: Target, **kwargs: Any) -> None:
        if not isinstance(target, Target):
            raise TypeError(
                f"TargetLLM needs a smartroute Target (name, model, capability, complete, "
                f"acomplete, stream, astream), got {type(target).__name__}"
            )
        super().__init__(**kwargs)
        self._target = target

    @classmethod
    def class_name(cls) -> str:
        return "SmartRouteTargetLLM"

    @property
    def target(self) -> Target:
        return self._target

    @property
    def metadata(self) -> LLMMetadata:
        cap = self._target.capability
        # read on every call (the event payload); built from a validated capability
        return LLMMetadata.model_construct(
            context_window=cap.max_tokens,
            num_output=cap.max_output_tokens,
            is_chat_model=True,
            is_function_calling_model=cap.supports_tools,
            model_name=self._target.model,
        )

    def _request(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[ChatRequest, AttemptOptions]:
        kwargs = dict(kwargs)
        request = kwargs.pop("smartroute_request", None)
        options = kwargs.pop("smartroute_options", None) or NO_LIMITS
        if not isinstance(request, ChatRequest):
            request = build_request(messages, kwargs)
        if METADATA_KEY in request.metadata:
            # the native call is for LlamaIndex candidates; keep the request plain data
            meta = {k: v for k, v in request.metadata.items() if k != METADATA_KEY}
            request = request.model_copy(update={"metadata": meta})
        return request, options

    # --- undecorated bodies: the decorated methods below each call exactly one of these ------

    def _chat(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        request, options = self._request(messages, kwargs)
        return to_llama_response(self._target.complete(request, options))

    async def _achat(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> ChatResponse:
        request, options = self._request(messages, kwargs)
        return to_llama_response(await self._target.acomplete(request, options))

    def _stream(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> Iterator[ChatResponse]:
        request, options = self._request(messages, kwargs)
        fold = StreamFolder()
        for chunk in self._target.stream(request, options):
            item = fold.add(chunk)
            if item is not None:
                yield item

    async def _astream(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> AsyncIterator[ChatResponse]:
        request, options = self._request(messages, kwargs)
        fold = StreamFolder()
        async for chunk in self._target.astream(request, options):
            item = fold.add(chunk)
            if item is not None:
                yield item

    # --- chat --------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return (item for item in self._stream(messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        async def gen() -> ChatResponseAsyncGen:
            async for item in self._astream(messages, kwargs):
                yield item

        return gen()

    # --- completion --------------------------------------------------------------------------

    @staticmethod
    def _prompt_messages(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return to_completion(self._chat(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return to_completion(await self._achat(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return (to_completion(r) for r in self._stream(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        async def gen() -> CompletionResponseAsyncGen:
            async for r in self._astream(self._prompt_messages(prompt), kwargs):
                yield to_completion(r)

        return gen()

    # --- tools -------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return tools_kwargs(
            tools, user_msg, chat_history, allow_parallel_tool_calls, tool_required, kwargs
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return response if allow_parallel_tool_calls else single_tool_call(response)

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return selections_of(response, error_on_no_tool_call)
