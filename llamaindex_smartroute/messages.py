"""LlamaIndex chat messages and tools <-> smartroute's neutral request and response types.

Native messages go to LlamaIndex candidates untouched; this translation serves routing (the
core reads the neutral request to estimate tokens and needs), smartroute's own provider
targets, and answers the core assembled itself (a resumed stream, a guarded completion).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection

from smartroute_llm.decision import trusted
from smartroute_llm.request import ImagePart, Message, TextPart, ToolCall, ToolSpec

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

_ROLE_IN: dict[MessageRole, str] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments as a dict, whether a model sent a dict or (possibly empty) JSON text."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return {"__raw__": raw}
    return value if isinstance(value, dict) else {"value": value}


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def tool_calls_of(message: ChatMessage) -> list[ToolCall]:
    """Tool calls carried as ``ToolCallBlock``s, or the OpenAI-style ``tool_calls`` kwarg that
    older integrations still fill."""
    calls = [
        ToolCall(
            id=b.tool_call_id or f"call_{i}",
            name=b.tool_name,
            arguments=parse_arguments(b.tool_kwargs),
        )
        for i, b in enumerate(x for x in message.blocks if isinstance(x, ToolCallBlock))
    ]
    if calls:
        return calls
    for i, tc in enumerate(message.additional_kwargs.get("tool_calls") or ()):
        if isinstance(tc, ToolSelection):
            calls.append(ToolCall(id=tc.tool_id, name=tc.tool_name, arguments=tc.tool_kwargs))
            continue
        fn = _get(tc, "function")
        if fn is None:
            continue
        calls.append(
            ToolCall(
                id=_get(tc, "id") or f"call_{i}",
                name=_get(fn, "name") or "",
                arguments=parse_arguments(_get(fn, "arguments")),
            )
        )
    return calls


def _image_part(block: ImageBlock) -> ImagePart:
    if block.url is not None:
        return ImagePart(url=str(block.url), detail=_detail(block.detail))
    data = block.resolve_image(as_base64=True).read().decode("ascii")
    return ImagePart(data=data, media_type=block.image_mimetype, detail=_detail(block.detail))


def _detail(value: str | None) -> Any:
    return value if value in ("auto", "low", "high") else None


def to_neutral_message(message: ChatMessage) -> Message:
    role = _ROLE_IN.get(message.role, "user")
    parts: list[TextPart | ImagePart] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append(TextPart(text=block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
    content: str | list[TextPart | ImagePart]
    if all(isinstance(p, TextPart) for p in parts):
        content = "\n".join(p.text for p in parts if isinstance(p, TextPart))
    else:
        content = parts
    if role != "tool":
        # LlamaIndex validated the blocks (text is ``str``); nothing here needs checking again
        return trusted(
            Message,
            role=role,
            content=content,
            tool_calls=tool_calls_of(message) if role == "assistant" else [],
            tool_call_id=None,
            name=None,
        )
    kw = message.additional_kwargs  # free-form: validated
    return Message(
        role=role, content=content, tool_call_id=kw.get("tool_call_id"), name=kw.get("name")
    )


def to_neutral_messages(messages: Iterable[ChatMessage]) -> list[Message]:
    return [to_neutral_message(m) for m in messages]


def to_llama_message(message: Message) -> ChatMessage:
    blocks: list[Any] = []
    if isinstance(message.content, str):
        if message.content or not message.tool_calls:
            blocks.append(TextBlock(text=message.content))
    else:
        for part in message.content:
            if isinstance(part, TextPart):
                blocks.append(TextBlock(text=part.text))
            else:
                blocks.append(ImageBlock(url=part.as_data_url(), detail=part.detail))
    blocks.extend(tool_call_blocks(message.tool_calls))
    kwargs: dict[str, Any] = {}
    if message.tool_call_id is not None:
        kwargs["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        kwargs["name"] = message.name
    return ChatMessage(role=MessageRole(message.role), blocks=blocks, additional_kwargs=kwargs)


def to_llama_messages(messages: Iterable[Message]) -> list[ChatMessage]:
    return [to_llama_message(m) for m in messages]


def tool_call_blocks(calls: Iterable[ToolCall]) -> list[ToolCallBlock]:
    return [
        ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=c.arguments) for c in calls
    ]


THINKING_DELTA = "thinking_delta"


def reasoning_of(message: ChatMessage) -> str:
    return "".join(b.content or "" for b in message.blocks if isinstance(b, ThinkingBlock))


def assistant_message(
    text: str, tool_calls: Sequence[ToolCall] = (), reasoning: str = ""
) -> ChatMessage:
    """An answer as LlamaIndex integrations shape it: the thinking block if any, a text block,
    then one block per call."""
    blocks: list[Any] = [ThinkingBlock(content=reasoning)] if reasoning else []
    blocks.append(TextBlock(text=text))
    blocks.extend(tool_call_blocks(tool_calls))
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def tool_spec(tool: BaseTool) -> ToolSpec:
    meta = tool.metadata
    return ToolSpec(
        name=meta.get_name(),
        description=meta.description,
        parameters=meta.get_parameters_dict(),
    )


def tool_specs(tools: Iterable[BaseTool]) -> list[ToolSpec]:
    return [tool_spec(t) for t in tools]


def tool_selections(calls: Iterable[ToolCall]) -> list[ToolSelection]:
    return [ToolSelection(tool_id=c.id, tool_name=c.name, tool_kwargs=c.arguments) for c in calls]
