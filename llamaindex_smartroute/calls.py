"""One LlamaIndex call as a neutral request, with the caller's native arguments riding along.

The router plans on the neutral request (tokens, tools, vision, JSON); the candidate that is
picked gets the caller's own ``ChatMessage``s, tools and keyword arguments from
``ChatRequest.metadata`` (a context variable would not reach the worker thread a guarded sync
stream is read on), so nothing is lost in translation for LlamaIndex candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.llms.llm import ToolSelection

from llamaindex_smartroute.messages import (
    to_neutral_messages,
    tool_calls_of,
    tool_selections,
    tool_specs,
)
from smartroute_llm.decision import trusted
from smartroute_llm.request import ChatRequest, Message

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

METADATA_KEY = "llamaindex"
PIN_KWARG = "smartroute_model"


@dataclass(slots=True)
class NativeCall:
    """What a LlamaIndex caller passed.

    ``neutral`` is the very list placed in the request: when the core rewrites the request (a
    resumed stream) its messages are a new list, and the candidate is given those instead.
    """

    messages: list[ChatMessage]
    kwargs: dict[str, Any] = field(default_factory=dict)
    tools: list[BaseTool] | None = None
    tool_required: bool = False
    allow_parallel_tool_calls: bool = False
    prompt: str | None = None
    formatted: bool = False
    neutral: list[Message] | None = None


def native_call(request: ChatRequest) -> NativeCall | None:
    call = request.metadata.get(METADATA_KEY)
    return call if isinstance(call, NativeCall) else None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def build_request(
    messages: Sequence[ChatMessage],
    kwargs: dict[str, Any],
    *,
    prompt: str | None = None,
    formatted: bool = False,
) -> ChatRequest:
    """The neutral request for a ``chat(messages, **kwargs)`` call.

    ``tools``, ``tool_required`` and ``allow_parallel_tool_calls`` are the neutral tool form
    ``_prepare_chat_with_tools`` returns; ``smartroute_model`` pins a candidate by name. Every
    other keyword goes to the candidate unchanged.
    """
    rest = dict(kwargs)
    tools = list(rest.pop("tools", None) or ()) or None
    tool_required = bool(rest.pop("tool_required", False))
    parallel = rest.pop("allow_parallel_tool_calls", None)
    pin = rest.pop(PIN_KWARG, None)
    msgs = list(messages)
    choice = rest.get("tool_choice")
    stop = rest.get("stop")
    temperature = rest.get("temperature")
    call = NativeCall(
        messages=msgs,
        kwargs=rest,
        tools=tools,
        tool_required=tool_required,
        allow_parallel_tool_calls=bool(parallel),
        prompt=prompt,
        formatted=formatted,
    )
    fields: dict[str, Any] = {
        "messages": to_neutral_messages(msgs),
        "tools": tool_specs(tools) if tools else [],
        "tool_choice": (
            ("required" if tool_required else choice if isinstance(choice, str) else None)
            if tools
            else None
        ),
        "parallel_tool_calls": bool(parallel) if tools and parallel is not None else None,
        "response_format": None,
        "max_output_tokens": _positive_int(rest.get("max_tokens")),
        "stop": (
            [stop] if isinstance(stop, str) else list(stop) if isinstance(stop, list) else None
        ),
        "temperature": temperature if isinstance(temperature, int | float) else None,
        "top_p": None,
        "seed": None,
        "model": pin,
        "metadata": {METADATA_KEY: call},
    }
    request = (
        trusted(ChatRequest, **fields) if _valid_as_is(fields) else ChatRequest(**fields)
    )
    call.neutral = request.messages
    return request


def _valid_as_is(f: dict[str, Any]) -> bool:
    """The common call, whose fields need no validating; any other goes through
    ``ChatRequest``'s validation and its errors."""
    t, stop, pin, most = f["temperature"], f["stop"], f["model"], f["max_output_tokens"]
    return (
        bool(f["messages"])
        and (most is None or type(most) is int)
        and not f["tools"]
        and (t is None or (type(t) is float and 0 <= t <= 2))
        and (stop is None or all(type(s) is str for s in stop))
        and (pin is None or (type(pin) is str and pin != "auto"))
    )


def tools_kwargs(
    tools: Sequence[BaseTool],
    user_msg: str | ChatMessage | None,
    chat_history: list[ChatMessage] | None,
    allow_parallel_tool_calls: bool,
    tool_required: bool,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """``chat`` arguments for a tool call in neutral form; each candidate translates the tools
    itself when it is picked (``build_request`` reads them back)."""
    messages = list(chat_history or [])
    if isinstance(user_msg, str):
        messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
    elif user_msg is not None:
        messages.append(user_msg)
    kwargs = {k: v for k, v in kwargs.items() if k != "verbose"}
    return {
        "messages": messages,
        "tools": list(tools),
        "tool_required": tool_required,
        "allow_parallel_tool_calls": allow_parallel_tool_calls,
        **kwargs,
    }


def selections_of(response: ChatResponse, error_on_no_tool_call: bool) -> list[ToolSelection]:
    calls = tool_selections(tool_calls_of(response.message))
    if not calls and error_on_no_tool_call:
        raise ValueError(
            "Expected at least one tool call, but got 0 tool calls; the model answered in text"
        )
    return calls


def single_tool_call(response: ChatResponse) -> ChatResponse:
    """Keep only the first tool call, for callers that asked for no parallel calls."""
    from llama_index.core.base.llms.types import ToolCallBlock

    seen = False
    kept = []
    for block in response.message.blocks:
        if isinstance(block, ToolCallBlock):
            if seen:
                continue
            seen = True
        kept.append(block)
    response.message.blocks = kept
    return response
