"""LangChain messages, tools and call options <-> smartroute's neutral request and response.

The neutral request is what the router plans on (token estimate, tools, vision, JSON) and what
smartroute's own provider targets send. LangChain candidates receive the caller's original
LangChain messages instead, so nothing is lost in translation for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call, tool_call_chunk

from smartroute_llm.decision import trusted
from smartroute_llm.request import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
)
from smartroute_llm.response import ChatChunk, ChatResponse, Usage

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


# --- LangChain -> neutral ----------------------------------------------------------------------


def _image_part(block: Mapping[str, Any]) -> ImagePart | None:
    kind = block.get("type")
    if kind == "image_url":
        ref = block.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        detail = ref.get("detail") if isinstance(ref, Mapping) else None
        return ImagePart(url=str(url), detail=detail) if url else None
    if kind == "image":
        if block.get("url"):
            return ImagePart(url=str(block["url"]))
        data = block.get("base64") or block.get("data")
        if data:
            media = block.get("mime_type") or block.get("media_type")
            return ImagePart(data=str(data), media_type=media)
        source = block.get("source")
        if isinstance(source, Mapping) and source.get("data"):
            return ImagePart(data=str(source["data"]), media_type=source.get("media_type"))
    return None


def _content(content: str | list[Any]) -> str | list[TextPart | ImagePart]:
    if isinstance(content, str):
        return content
    parts: list[TextPart | ImagePart] = []
    for block in content:
        if isinstance(block, str):
            parts.append(TextPart(text=block))
        elif isinstance(block, Mapping):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(TextPart(text=block["text"]))
            else:
                image = _image_part(block)
                if image is not None:
                    parts.append(image)
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return parts


def to_neutral_message(message: BaseMessage) -> Message:
    """LangChain validated the message already (text is ``str``, tool calls have a name and
    ``dict`` args), so the neutral one is built without validating it again."""
    role = _ROLES.get(message.type)
    if role is None:
        role = {"chat": "user", "function": "tool"}.get(message.type, "user")
    if isinstance(message, ToolMessage):
        text = message.content if isinstance(message.content, str) else message.text
        return _message("tool", text, [], message.tool_call_id, message.name)
    if isinstance(message, AIMessage):
        calls = [
            trusted(ToolCall, id=tc.get("id") or f"call_{i}", name=tc["name"], arguments=tc["args"])
            for i, tc in enumerate(message.tool_calls)
        ]
        return _message("assistant", message.text, calls, None, message.name)
    return _message(role, _content(message.content), [], None, message.name)


def _message(
    role: str,
    content: str | list[TextPart | ImagePart],
    calls: list[ToolCall],
    tool_call_id: str | None,
    name: str | None,
) -> Message:
    return trusted(
        Message, role=role, content=content, tool_calls=calls, tool_call_id=tool_call_id,
        name=name,
    )


def tool_spec(tool: Mapping[str, Any]) -> ToolSpec:
    """An OpenAI-format tool (what ``convert_to_openai_tool`` returns) as a neutral spec."""
    fn = tool.get("function", tool)
    return ToolSpec(
        name=fn["name"],
        description=fn.get("description") or "",
        parameters=fn.get("parameters") or {"type": "object", "properties": {}},
        strict=fn.get("strict"),
    )


def neutral_tool_choice(choice: Any) -> str | None:
    """LangChain's spellings (``"any"``, ``True``, a name, an OpenAI dict) as the core's."""
    if choice is None or choice is False:
        return None
    if choice is True or choice == "any":
        return "required"
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        return str(name) if name else "required"
    return str(choice)


def response_format(value: Any) -> ResponseFormat | None:
    """An OpenAI-style ``response_format`` dict as the neutral one."""
    if not isinstance(value, Mapping):
        return None
    kind = value.get("type")
    if kind == "json_object":
        return ResponseFormat(type="json_object")
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        return ResponseFormat(
            type="json_schema",
            json_schema=spec.get("schema") or {"type": "object"},
            name=spec.get("name") or "response",
            strict=spec.get("strict"),
        )
    return None


def to_request(
    messages: Sequence[BaseMessage],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: Any = None,
    parallel_tool_calls: bool | None = None,
    response_format_: Any = None,
    stop: list[str] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChatRequest:
    specs = [tool_spec(t) for t in tools or ()]
    neutral = [to_neutral_message(m) for m in messages]
    if (
        neutral
        and not specs
        and response_format_ is None
        and parallel_tool_calls is None
        and (temperature is None or (type(temperature) is float and 0 <= temperature <= 2))
        and (max_tokens is None or (type(max_tokens) is int and max_tokens > 0))
        and (not stop or (type(stop) is list and all(type(s) is str for s in stop)))
        and (model is None or (type(model) is str and model != "auto"))
    ):
        # the common call: every field is valid as it stands, so it is not validated again
        # (anything else takes the validating constructor below, with its errors)
        return trusted(
            ChatRequest,
            messages=neutral,
            tools=specs,
            tool_choice=None,
            parallel_tool_calls=None,
            response_format=None,
            max_output_tokens=max_tokens,
            stop=stop or None,
            temperature=temperature,
            top_p=None,
            seed=None,
            model=model,
            metadata=metadata or {},
        )
    return ChatRequest(
        messages=neutral,
        tools=specs,
        tool_choice=neutral_tool_choice(tool_choice) if specs else None,
        parallel_tool_calls=parallel_tool_calls,
        response_format=response_format(response_format_),
        stop=stop or None,
        temperature=temperature,
        max_output_tokens=max_tokens,
        model=model,
        metadata=metadata or {},
    )


# --- neutral -> LangChain ----------------------------------------------------------------------


def to_langchain_message(message: Message) -> BaseMessage:
    """Used only for messages the core added (stream resumption), which are plain text."""
    if message.role == "assistant":
        return AIMessage(
            content=message.text,
            tool_calls=[
                tool_call(name=c.name, args=c.arguments, id=c.id) for c in message.tool_calls
            ],
        )
    if message.role == "system":
        return SystemMessage(content=message.text)
    if message.role == "tool":
        return ToolMessage(content=message.text, tool_call_id=message.tool_call_id or "")
    return HumanMessage(content=message.text)


def usage_metadata(usage: Usage | None) -> UsageMetadata:
    u = usage or Usage()
    meta = UsageMetadata(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        total_tokens=u.input_tokens + u.output_tokens,
    )
    if u.cached_input_tokens:
        meta["input_token_details"] = {"cache_read": u.cached_input_tokens}
    return meta


def neutral_usage(meta: UsageMetadata | None) -> Usage:
    if not meta:
        return Usage()
    details = meta.get("input_token_details") or {}
    return Usage(
        input_tokens=meta.get("input_tokens", 0) or 0,
        output_tokens=meta.get("output_tokens", 0) or 0,
        cached_input_tokens=details.get("cache_read", 0) or 0,
    )


REASONING_KEY = "reasoning_content"


def reasoning_of(msg: BaseMessage) -> str:
    """The reasoning text of a LangChain message: its ``reasoning`` content blocks, or the
    ``reasoning_content`` extra that DeepSeek-style integrations set (``content_blocks`` reads
    both)."""
    if not isinstance(msg.content, list) and REASONING_KEY not in msg.additional_kwargs:
        return ""
    return "".join(
        str(b.get("reasoning") or "") for b in msg.content_blocks if b.get("type") == "reasoning"
    )


def _reasoning_kwargs(reasoning: str) -> dict[str, Any]:
    return {REASONING_KEY: reasoning} if reasoning else {}


def ai_message(resp: ChatResponse, meta: dict[str, Any] | None = None) -> AIMessage:
    """A neutral answer (from one of smartroute's own provider targets) as an ``AIMessage``;
    reasoning goes where LangChain's ``content_blocks`` finds it (``reasoning_content``).
    ``meta`` is its whole ``response_metadata`` when the caller has it already."""
    if meta is None:
        meta = {"finish_reason": resp.finish_reason}
        if resp.model:
            meta["model_name"] = resp.model
    return AIMessage(
        content=resp.text,
        additional_kwargs=_reasoning_kwargs(resp.reasoning),
        tool_calls=[tool_call(name=c.name, args=c.arguments, id=c.id) for c in resp.tool_calls],
        usage_metadata=usage_metadata(resp.usage),
        response_metadata=meta,
        id=resp.response_id,
    )


def ai_chunk(chunk: ChatChunk) -> AIMessageChunk:
    return AIMessageChunk(
        content=chunk.text,
        additional_kwargs=_reasoning_kwargs(chunk.reasoning),
        tool_call_chunks=[
            tool_call_chunk(name=d.name, args=d.arguments or None, id=d.id, index=d.index)
            for d in chunk.tool_call_deltas
        ],
    )


def tool_call_args_text(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)
