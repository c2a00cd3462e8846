"""Neutral responses: a whole answer, or the chunks of a streamed one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from smartroute.request import ToolCall

if TYPE_CHECKING:
    from smartroute.decision import RoutingDecision


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
        )


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
