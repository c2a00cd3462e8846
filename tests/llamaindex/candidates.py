"""Offline candidates for the LlamaIndex tests: LlamaIndex's own mocks, named, with capabilities
chosen so the routing outcome is known in advance."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_chat_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llamaindex_smartroute import LlamaIndexTarget
from smartroute_llm import ProviderCapability

FAST = ProviderCapability(
    speed_tier="very_fast", quality_tier="low", max_tokens=16_000, max_output_tokens=1_000,
    input_cost_per_1m=0.1, output_cost_per_1m=0.2,
)
STRONG = ProviderCapability(
    speed_tier="slow", quality_tier="premium", max_tokens=64_000, max_output_tokens=4_000,
    input_cost_per_1m=5.0, output_cost_per_1m=15.0,
)


def fc_llm(
    generator: Callable[..., Any] | None = None, **kwargs: Any
) -> MockFunctionCallingLLM:
    return MockFunctionCallingLLM(response_generator=generator, **kwargs)


def reply(text: str) -> Callable[..., ChatMessage]:
    def gen(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)

    return gen


class _Pieces:
    """Streamed message pieces, iterable both ways as LlamaIndex's mock needs."""

    def __init__(self, parts: Sequence[str], fail_after: int | None) -> None:
        self.parts, self.fail_after = parts, fail_after

    def __iter__(self) -> Iterator[ChatMessage]:
        for i, p in enumerate(self.parts):
            if self.fail_after is not None and i == self.fail_after:
                raise ConnectionError("connection reset by peer")
            yield ChatMessage(role=MessageRole.ASSISTANT, content=p)

    async def __aiter__(self) -> AsyncIterator[ChatMessage]:
        for m in self:
            yield m


def pieces(*parts: str, fail_after: int | None = None) -> Callable[..., _Pieces]:
    """A streamed answer in ``parts`` (each one a delta); optionally breaking after some."""

    def gen(messages: Sequence[ChatMessage], **kwargs: Any) -> _Pieces:
        return _Pieces(parts, fail_after)

    return gen


def named(llm: Any, name: str, capability: ProviderCapability = FAST) -> LlamaIndexTarget:
    return LlamaIndexTarget(llm, name=name, capability=capability)


def mock_llm(name: str = "echo", capability: ProviderCapability = FAST) -> LlamaIndexTarget:
    return named(MockLLM(), name, capability)


class ThinkingLLM(MockFunctionCallingLLM):
    """Answers ``text`` after ``thinking``, shaped as LlamaIndex's thinking integrations shape
    it: a ``ThinkingBlock`` in the message, and while streaming a first response whose delta is
    empty and whose ``additional_kwargs["thinking_delta"]`` holds the thinking."""

    thinking: str = "Let me think."
    text: str = "Paris."

    def _message(self, text: str) -> ChatMessage:
        blocks: list[Any] = [ThinkingBlock(content=self.thinking), TextBlock(text=text)]
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)

    def _responses(self) -> list[ChatResponse]:
        first = ChatResponse(
            message=self._message(""), delta="",
            additional_kwargs={"thinking_delta": self.thinking},
        )
        return [first, ChatResponse(message=self._message(self.text), delta=self.text)]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=self._message(self.text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        yield from self._responses()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        async def gen() -> ChatResponseAsyncGen:
            for r in self._responses():
                yield r

        return gen()
