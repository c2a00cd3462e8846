"""Folding streamed chunks into one answer; shared by the router and the integrations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from smartroute_llm.request import ToolCall
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta, Usage


class ChunkAccumulator:
    """Collects text, tool-call fragments, usage and finish reason from chunks."""

    __slots__ = ("_reasoning", "_text", "_tools", "chunks", "finish_reason", "model", "usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.chunks = 0

    def add(self, chunk: ChatChunk) -> None:
        self.chunks += 1
        if chunk.text:
            self._text.append(chunk.text)
        if chunk.reasoning:
            self._reasoning.append(chunk.reasoning)
        if chunk.tool_call_deltas:
            self._deltas(chunk.tool_call_deltas)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        if chunk.model:
            self.model = chunk.model

    def fold(
        self, text: str = "", reasoning: str = "", tool_call_deltas: Sequence[ToolCallDelta] = ()
    ) -> None:
        """A chunk's output without the chunk (what :meth:`add` takes from one): a stream
        parser folds an answer that is collected, not streamed, straight in."""
        if text:
            self._text.append(text)
        if reasoning:
            self._reasoning.append(reasoning)
        if tool_call_deltas:
            self._deltas(tool_call_deltas)

    def _deltas(self, deltas: Sequence[ToolCallDelta]) -> None:
        for d in deltas:
            slot = self._tools.setdefault(d.index, {"id": None, "name": None, "args": []})
            if d.id:
                slot["id"] = d.id
            if d.name:
                slot["name"] = d.name
            if d.arguments:
                slot["args"].append(d.arguments)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def has_content(self) -> bool:
        return bool(self._text or self._tools)

    def broken_tool_calls(self) -> list[str]:
        """Names of tool calls whose streamed arguments are not complete JSON (a stream cut
        mid-call): the router treats such an answer as malformed, never as a success."""
        bad = []
        for index in sorted(self._tools):
            slot = self._tools[index]
            raw = "".join(slot["args"])
            if not raw:
                continue
            try:
                json.loads(raw)
            except (ValueError, RecursionError):
                bad.append(slot["name"] or f"call_{index}")
        return bad

    def tool_calls(self) -> list[ToolCall]:
        calls = []
        for index in sorted(self._tools):
            slot = self._tools[index]
            raw = "".join(slot["args"]) or "{}"
            try:
                args = json.loads(raw)
            except json.JSONDecodeError:
                args = {"__raw__": raw}
            if not isinstance(args, dict):
                args = {"value": args}
            calls.append(
                ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"] or "", arguments=args)
            )
        return calls

    def response(self) -> ChatResponse:
        return ChatResponse(
            text=self.text,
            reasoning=self.reasoning,
            tool_calls=self.tool_calls(),
            usage=self.usage or Usage(),
            finish_reason=self.finish_reason,
            model=self.model,
        )
