"""Fixtures: LLM-event recorders on both LlamaIndex channels, and the loopback fake provider."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["Events", "events", "fake_provider", "fake_provider_server"]

_LLM_EVENTS = {
    "LLMChatStartEvent": "start",
    "LLMChatEndEvent": "end",
    "LLMCompletionStartEvent": "start",
    "LLMCompletionEndEvent": "end",
}


class _Legacy(BaseCallbackHandler):
    def __init__(self, counts: Counter[str]) -> None:
        super().__init__([], [])
        self.counts = counts

    def on_event_start(self, event_type: CBEventType, payload: Any = None, event_id: str = "",
                       parent_id: str = "", **kwargs: Any) -> str:
        if event_type == CBEventType.LLM:
            self.counts["start"] += 1
        return event_id

    def on_event_end(self, event_type: CBEventType, payload: Any = None, event_id: str = "",
                     **kwargs: Any) -> None:
        if event_type == CBEventType.LLM:
            self.counts["end"] += 1

    def start_trace(self, trace_id: str | None = None) -> None:
        return None

    def end_trace(self, trace_id: str | None = None, trace_map: Any = None) -> None:
        return None


class _Instrumented(BaseEventHandler):
    counts: Any = None
    seen: Any = None

    @classmethod
    def class_name(cls) -> str:
        return "LLMEventCounter"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        kind = _LLM_EVENTS.get(type(event).__name__)
        if kind is not None:
            self.counts[kind] += 1
            self.seen.append(event)


class Events:
    """LLM start/end counts on the legacy callback manager and the instrumentation dispatcher."""

    def __init__(self) -> None:
        self.legacy: Counter[str] = Counter()
        self.dispatched: Counter[str] = Counter()
        self.seen: list[BaseEvent] = []
        self.manager = CallbackManager([_Legacy(self.legacy)])
        self.handler = _Instrumented(counts=self.dispatched, seen=self.seen)

    def reset(self) -> None:
        self.legacy.clear()
        self.dispatched.clear()
        self.seen.clear()

    def pairs(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (
            (self.legacy["start"], self.legacy["end"]),
            (self.dispatched["start"], self.dispatched["end"]),
        )


@pytest.fixture
def events() -> Iterator[Events]:
    ev = Events()
    root = get_dispatcher()
    root.add_event_handler(ev.handler)
    try:
        yield ev
    finally:
        root.event_handlers.remove(ev.handler)
