"""Neutral responses: a whole answer, or the chunks of a streamed one."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from smartroute_llm.request import ToolCall

if TYPE_CHECKING:
    from smartroute_llm.decision import RoutingDecision


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``usage`` object (``prompt_tokens`` include the cached ones, as there)."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_input_tokens},
        }

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
        )


class TokenLogprob(BaseModel):
    """One answer token's natural-log probability; ``top_logprobs`` are the most likely
    alternatives at that position, where they were asked for (``ChatRequest.top_logprobs``)."""

    token: str
    logprob: float
    top_logprobs: list[TokenLogprob] = Field(default_factory=list)


class ChatResponse(BaseModel):
    """A complete answer. ``decision`` is set by the router: who answered, why, at what cost.

    ``reasoning`` is the model's visible thinking where the vendor returns it (DeepSeek's
    ``reasoning_content``, Anthropic's thinking blocks, Gemini's thought parts); it is kept out
    of ``text`` so that the answer reads the same whichever candidate produced it."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None
    response_id: str | None = None
    decision: RoutingDecision | None = None
    # The target's native answer object (e.g. a LangChain AIMessage); never serialized.
    raw: Any = Field(default=None, exclude=True, repr=False)
    # per-token log-probabilities, when asked for (ChatRequest.logprobs) and the target gave them
    logprobs: list[TokenLogprob] | None = None

    @property
    def provider_used(self) -> str | None:
        return self.decision.provider if self.decision else None

    @property
    def model_used(self) -> str | None:
        return self.decision.model if self.decision else self.model

    @property
    def latency(self) -> float | None:
        """Seconds from the call to the complete answer, retries and fallbacks included."""
        return self.decision.latency_s if self.decision else None

    @property
    def cost(self) -> float | None:
        """USD for the whole call, every started attempt included."""
        return self.decision.cost_usd if self.decision else None

    @property
    def quality_score(self) -> float | None:
        return self.decision.quality if self.decision else None

    def to_openai(self) -> dict[str, Any]:
        """This answer as OpenAI's ``chat.completion`` object (a dict), so code written for the
        OpenAI SDK reads it unchanged: ``ChatCompletion.model_validate(r.to_openai())``.
        ``model`` is the model that answered; ``message`` can be appended to the next call's
        messages as it is. Reasoning, where given, rides as ``reasoning_content``."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text if self.text or not self.tool_calls else None,
        }
        if self.tool_calls:
            message["tool_calls"] = [_openai_call(c) for c in self.tool_calls]
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        return {
            "id": self.response_id or _new_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_used or "unknown",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": _openai_finish(self.finish_reason, bool(self.tool_calls)),
                    "logprobs": _openai_logprobs(self.logprobs),
                }
            ],
            "usage": self.usage.to_openai(),
        }


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call; ``arguments`` is a fragment of its JSON text."""

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(BaseModel):
    """One streamed piece. ``usage``/``finish_reason``/``decision`` arrive on the final chunks.

    A chunk may carry only ``reasoning``: it is forwarded and counts as the first token (the
    model is answering), but it is not answer content, so a stream that fails after reasoning
    alone can still fall back to another candidate."""

    text: str = ""
    reasoning: str = ""
    tool_call_deltas: list[ToolCallDelta] = Field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    decision: RoutingDecision | None = None
    raw: Any = Field(default=None, exclude=True, repr=False)

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.tool_call_deltas)

    @property
    def has_output(self) -> bool:
        """Content or reasoning: anything a caller should see as it arrives."""
        return bool(self.text or self.tool_call_deltas or self.reasoning)

    def to_openai(
        self, *, id: str | None = None, created: int | None = None, first: bool = True
    ) -> dict[str, Any]:
        """This chunk as OpenAI's ``chat.completion.chunk`` (a dict). A stream's chunks share
        one ``id`` and ``created``: give them, or use :func:`to_openai_stream`, which does.
        ``first`` puts ``role: "assistant"`` in the delta, as OpenAI's first chunk has it."""
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if self.text or not (self.tool_call_deltas or self.reasoning):
            delta["content"] = self.text
        if self.reasoning:
            delta["reasoning_content"] = self.reasoning
        if self.tool_call_deltas:
            delta["tool_calls"] = [_openai_delta(d) for d in self.tool_call_deltas]
        finish = None
        if self.finish_reason is not None:
            finish = _openai_finish(self.finish_reason, bool(self.tool_call_deltas))
        out: dict[str, Any] = {
            "id": id or _new_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()) if created is None else created,
            "model": (self.decision.model if self.decision else self.model) or "unknown",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.usage is not None:
            out["usage"] = self.usage.to_openai()
        return out


def to_openai_stream(chunks: Iterable[ChatChunk]) -> Iterator[dict[str, Any]]:
    """``chat.completion.chunk`` dicts for a stream, sharing one id and creation time."""
    id_, created = _new_id(), int(time.time())
    for i, chunk in enumerate(chunks):
        yield chunk.to_openai(id=id_, created=created, first=i == 0)


async def ato_openai_stream(chunks: AsyncIterable[ChatChunk]) -> AsyncIterator[dict[str, Any]]:
    """:func:`to_openai_stream` for ``router.astream(...)``."""
    id_, created, first = _new_id(), int(time.time()), True
    async for chunk in chunks:
        yield chunk.to_openai(id=id_, created=created, first=first)
        first = False


# OpenAI's finish reasons; providers map theirs onto these, anything else reads as a stop
_OPENAI_FINISH = frozenset(("stop", "length", "tool_calls", "content_filter", "function_call"))


def _openai_finish(reason: str | None, has_tools: bool) -> str:
    if reason in _OPENAI_FINISH:
        return reason
    return "tool_calls" if has_tools else "stop"


def _openai_logprobs(tokens: list[TokenLogprob] | None) -> dict[str, Any] | None:
    if tokens is None:
        return None

    def entry(t: TokenLogprob) -> dict[str, Any]:
        return {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode())}

    return {
        "content": [
            {**entry(t), "top_logprobs": [entry(a) for a in t.top_logprobs]} for t in tokens
        ],
        "refusal": None,
    }


def _openai_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def _openai_delta(d: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": d.index}
    if d.id is not None:
        out["id"] = d.id
        out["type"] = "function"
    fn: dict[str, Any] = {"arguments": d.arguments}
    if d.name is not None:
        fn["name"] = d.name
    out["function"] = fn
    return out


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]
