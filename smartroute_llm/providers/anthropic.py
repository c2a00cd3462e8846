"""Anthropic's Messages API: system prompt, content blocks, tool_use / tool_result, images.

Reference: https://docs.anthropic.com/en/api/messages and .../messages-streaming. A conversation
ending in an assistant message is sent as a prefill: the model continues it, and the answer's
text is the continuation only.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError, ErrorKind, provider_error
from smartroute_llm.providers.base import (
    HTTPTarget,
    StreamText,
    TransportName,
    check_base_url,
    copy_options,
)
from smartroute_llm.providers.errors import (
    error_from_body,
    is_error_body,
    is_mapping,
    malformed,
    token_count,
)
from smartroute_llm.request import ChatRequest, ImagePart, Message, TextPart, ToolCall
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta, Usage

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_JSON_INSTRUCTION = "Answer with a single JSON value only, no prose and no code fences."


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type or "image/png",
                  "data": part.data}
    elif part.url is not None and part.url.startswith("data:"):
        head, _, data = part.url.partition(",")
        media = head[5:].split(";")[0] or "image/png"
        source = {"type": "base64", "media_type": media, "data": data}
    else:
        source = {"type": "url", "url": str(part.url)}
    return {"type": "image", "source": source}


def _blocks(m: Message) -> str | list[dict[str, Any]]:
    if m.role == "assistant":
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
        blocks += [
            {"type": "tool_use", "id": tc.id, "name": tc.name, "input": tc.arguments}
            for tc in m.tool_calls
        ]
        return blocks if m.tool_calls else m.text
    if isinstance(m.content, str):
        return m.content
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else _image(p)
        for p in m.content
    ]


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            if not m.tool_call_id:
                raise ConfigurationError("a tool message needs tool_call_id= (the id of the call)")
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text}
            last = out[-1] if out else None
            if last is not None and last["role"] == "user" and isinstance(last["content"], list) \
                    and all(b.get("type") == "tool_result" for b in last["content"]):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        out.append({"role": m.role, "content": _blocks(m)})
    return out


def build_body(
    request: ChatRequest, model: str, stream: bool, default_max_tokens: int = 4096
) -> dict[str, Any]:
    """The Messages API request body for ``request`` (``max_tokens`` is required there)."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_output_tokens or default_max_tokens,
        "messages": _messages(request.messages),
    }
    system = request.system
    rf = request.response_format
    if rf is not None and rf.type != "text":
        schema = (
            f" The JSON must match this JSON Schema: {json.dumps(rf.json_schema)}"
            if rf.type == "json_schema" else ""
        )
        system = (system + "\n\n" if system else "") + _JSON_INSTRUCTION + schema
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            if t.description else {"name": t.name, "input_schema": t.parameters}
            for t in request.tools
        ]
        choice: dict[str, Any] | None = None
        tc = request.tool_choice
        if tc == "auto":
            choice = {"type": "auto"}
        elif tc == "required":
            choice = {"type": "any"}
        elif tc == "none":
            choice = {"type": "none"}
        elif tc is not None:
            choice = {"type": "tool", "name": tc}
        if request.parallel_tool_calls is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice
    copy_options(
        request, body, {"stop": "stop_sequences", "temperature": "temperature", "top_p": "top_p"}
    )
    if "temperature" in body:
        body["temperature"] = min(body["temperature"], 1.0)  # Anthropic's range is [0, 1]
    if stream:
        body["stream"] = True
    return body


def parse_usage(data: Any) -> Usage:
    """Anthropic counts cached and uncached input separately; the neutral total includes both."""
    if not is_mapping(data):
        return Usage()
    read = token_count(data.get("cache_read_input_tokens"), "cache_read_input_tokens")
    created = token_count(data.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    return Usage(
        input_tokens=token_count(data.get("input_tokens"), "input_tokens") + read + created,
        output_tokens=token_count(data.get("output_tokens"), "output_tokens"),
        cached_input_tokens=read,
    )


def _finish(reason: Any, has_tools: bool) -> str:
    mapped = STOP_REASONS.get(str(reason)) if reason else None
    return mapped or ("tool_calls" if has_tools else "stop")


def parse_response(data: Any) -> ChatResponse:
    if is_error_body(data):
        raise error_from_body(None, data)
    if not is_mapping(data) or not isinstance(data.get("content"), list):
        raise malformed("response is not a Messages API message")
    text, reasoning, calls = "", "", list[ToolCall]()
    for block in data["content"]:
        if not is_mapping(block):
            continue
        if block.get("type") == "text":
            text += str(block.get("text", ""))
        elif block.get("type") == "thinking":
            reasoning += str(block.get("thinking", ""))
        elif block.get("type") == "tool_use":
            args = block.get("input") or {}
            if not isinstance(args, dict):
                raise malformed(f"tool_use {block.get('name')!r}: input is not an object")
            calls.append(ToolCall(id=str(block.get("id", "")), name=str(block.get("name", "")),
                                  arguments=args))
    finish = _finish(data.get("stop_reason"), bool(calls))
    if finish == "content_filter" and not text and not calls:
        raise provider_error(ErrorKind.CONTENT_FILTER, "the model refused to answer")
    return ChatResponse(
        text=text, reasoning=reasoning, tool_calls=calls, usage=parse_usage(data.get("usage")),
        finish_reason=finish,
        model=data.get("model"), response_id=data.get("id"), raw=data,
    )


class StreamState(StreamText):
    """Parses Messages streaming events. The answer is complete at ``message_delta`` (which
    carries the stop reason and final output count); ``message_stop`` is not waited for."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.done = False
        self._pieces: list[str] = []
        self.received_content = False
        self.stop_reason: str | None = None
        self.usage = Usage()
        self.response_model: str | None = None
        self._tool_index: dict[int, int] = {}

    def take(self, event: str, obj: Any) -> list[ChatChunk]:
        if not is_mapping(obj):
            raise malformed("stream event is not a JSON object")
        etype = obj.get("type") or event
        if etype == "error" or is_error_body(obj):
            raise error_from_body(None, obj)
        out: list[ChatChunk] = []
        if etype == "message_start":
            msg = obj.get("message") or {}
            self.usage = parse_usage(msg.get("usage"))
            self.response_model = msg.get("model")
        elif etype == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                idx = len(self._tool_index)
                self._tool_index[int(obj.get("index", 0))] = idx
                self.received_content = True
                self.emit_tools(out, [
                    ToolCallDelta(index=idx, id=block.get("id"), name=block.get("name"))
                ])
            elif block.get("type") == "text" and block.get("text"):
                self._text(out, str(block["text"]))
        elif etype == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                self._text(out, str(delta.get("text", "")))
            elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                self.emit_reasoning(out, str(delta["thinking"]))
            elif delta.get("type") == "input_json_delta":
                idx = self._tool_index.get(int(obj.get("index", 0)), 0)
                fragment = str(delta.get("partial_json", ""))
                if fragment:
                    self.emit_tools(out, [ToolCallDelta(index=idx, arguments=fragment)])
        elif etype == "message_delta":
            self.stop_reason = (obj.get("delta") or {}).get("stop_reason") or self.stop_reason
            n = (obj.get("usage") or {}).get("output_tokens")
            if n is not None:
                self.usage = Usage(
                    input_tokens=self.usage.input_tokens, output_tokens=int(n),
                    cached_input_tokens=self.usage.cached_input_tokens,
                )
            if self.stop_reason:
                self.done = True
        elif etype == "message_stop":
            self.done = True
        return out

    def _text(self, out: list[ChatChunk], text: str) -> None:
        if not text:
            return
        self.received_content = True
        self._add_text(text)
        self.emit_text(out, text)

    def finish(self) -> ChatChunk:
        if self.stop_reason is None:
            raise provider_error(
                ErrorKind.STREAM_INTERRUPTED, "the stream ended without a stop reason",
                partial_text=self.text,
            )
        reason = _finish(self.stop_reason, bool(self._tool_index))
        if reason == "content_filter" and not self.received_content:
            raise provider_error(ErrorKind.CONTENT_FILTER, "the model refused to answer")
        return ChatChunk(usage=self.usage, finish_reason=reason,
                         model=self.response_model or self.model)


class AnthropicWire:
    def __init__(self, default_max_tokens: int, version: str = API_VERSION) -> None:
        self.default_max_tokens = default_max_tokens
        self.version = version

    def url(self, base_url: str, model: str, stream: bool) -> str:
        return f"{base_url}/v1/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(self, request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
        return build_body(request, model, stream, self.default_max_tokens)

    def parse(self, data: Any) -> ChatResponse:
        return parse_response(data)

    def stream_parser(self, model: str) -> StreamState:
        return StreamState(model)


class Anthropic(HTTPTarget):
    """A Claude model over the Messages API; the key comes from ``ANTHROPIC_API_KEY``.

    ``base_url`` is the API root (``https://api.anthropic.com``, or ``ANTHROPIC_BASE_URL``);
    ``max_tokens`` is sent when a request does not set ``max_output_tokens`` (the API requires
    one), defaulting to the model's catalog limit.
    """

    vendor = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        name: str | None = None,
        capability: ProviderCapability | None = None,
        max_tokens: int | None = None,
        api_version: str = API_VERSION,
        transport: TransportName = "aiohttp",
        **kwargs: Any,
    ) -> None:
        import os

        if base_url is not None:
            check_base_url(base_url, "Anthropic")
        env_url = os.environ.get("ANTHROPIC_BASE_URL")
        url = base_url or env_url or DEFAULT_BASE_URL
        if url.rstrip("/").endswith("/v1"):
            url = url.rstrip("/")[: -len("/v1")]
        self.wire = AnthropicWire(1, api_version)
        super().__init__(
            model, base_url=url, name=name, api_key=api_key, api_key_env=api_key_env,
            vendor_key_env="ANTHROPIC_API_KEY", vendor_base_url=env_url or DEFAULT_BASE_URL,
            capability=capability, transport=transport, **kwargs,
        )
        if max_tokens is not None and max_tokens <= 0:
            raise ConfigurationError("Anthropic: max_tokens must be a positive integer")
        self.wire.default_max_tokens = max_tokens or self.capability.max_output_tokens
