"""smartroute answers -> LlamaIndex ``ChatResponse``s, whole or streamed.

When the answering candidate was a LlamaIndex LLM its own ``ChatResponse`` travels in the
neutral answer's ``raw``; its message is kept as it is (so that candidate's own tool-call parser
reads it) unless the core changed the text, e.g. by resuming a broken stream elsewhere.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse

from llamaindex_smartroute.messages import THINKING_DELTA, assistant_message
from smartroute_llm.response import ChatChunk, Usage
from smartroute_llm.response import ChatResponse as NeutralResponse
from smartroute_llm.streaming import ChunkAccumulator

DECISION_KEY = "smartroute"


def usage_kwargs(usage: Usage) -> dict[str, int]:
    """Token counts under the keys LlamaIndex integrations (OpenAI and others) use."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def native_of(value: Any) -> ChatResponse | None:
    return value if isinstance(value, ChatResponse) else None


def _message(text: str, native: ChatResponse | None, fallback: ChunkAccumulator | None = None,
             tool_calls: Any = (), reasoning: str = "") -> ChatMessage:
    if native is not None and (native.message.content or "") == text:
        return native.message
    if fallback is not None:
        return assistant_message(text, fallback.tool_calls(), fallback.reasoning)
    return assistant_message(text, tool_calls, reasoning)


def to_llama_response(resp: NeutralResponse) -> ChatResponse:
    """A whole answer, with the routing decision and token usage in ``additional_kwargs``."""
    native = native_of(resp.raw)
    extra: dict[str, Any] = dict(native.additional_kwargs) if native is not None else {}
    extra.update(usage_kwargs(resp.usage))
    if resp.decision is not None:
        extra[DECISION_KEY] = resp.decision.model_dump(mode="json")
    return ChatResponse(
        message=_message(resp.text, native, tool_calls=resp.tool_calls, reasoning=resp.reasoning),
        raw=native.raw if native is not None else resp.raw,
        additional_kwargs=extra,
    )


class StreamFolder:
    """Turns neutral chunks into the cumulative ``ChatResponse``s LlamaIndex streams yield.

    Each content chunk becomes one response whose ``message`` holds everything so far and whose
    ``delta`` is the new text; the closing chunk becomes a last response with an empty delta
    that carries the usage and the routing decision.
    """

    def __init__(self) -> None:
        self._acc = ChunkAccumulator()
        self._native: ChatResponse | None = None

    def add(self, chunk: ChatChunk) -> ChatResponse | None:
        self._acc.add(chunk)
        native = native_of(chunk.raw)
        if native is not None:
            self._native = native
        closing = not chunk.has_output and (
            chunk.decision is not None or chunk.usage is not None or bool(chunk.finish_reason)
        )
        if not closing and not chunk.has_output:
            return None
        source = native or (self._native if closing else None)
        extra: dict[str, Any] = dict(source.additional_kwargs) if source is not None else {}
        if closing or chunk.usage is not None:
            extra.update(usage_kwargs(chunk.usage or self._acc.usage or Usage()))
        if chunk.decision is not None:
            extra[DECISION_KEY] = chunk.decision.model_dump(mode="json")
        extra.pop(THINKING_DELTA, None)
        if chunk.reasoning:
            extra[THINKING_DELTA] = chunk.reasoning
        return ChatResponse(
            message=_message(self._acc.text, source, self._acc),
            delta=chunk.text,
            raw=source.raw if source is not None else chunk.raw,
            additional_kwargs=extra,
        )


def to_completion(resp: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=resp.message.content or "",
        delta=resp.delta,
        raw=resp.raw,
        additional_kwargs=resp.additional_kwargs,
    )
