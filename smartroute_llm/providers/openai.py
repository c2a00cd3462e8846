"""OpenAI chat completions, and every endpoint that speaks it (Mistral, Groq, vLLM, Ollama, ...).

Request/response reference: https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr, ValidationError

from smartroute_llm.capability import ProviderCapability
from smartroute_llm.decision import trusted
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
from smartroute_llm.response import ChatChunk, ChatResponse, TokenLogprob, ToolCallDelta, Usage

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(frozen=True)
class Preset:
    """Where a compatible vendor lives and which variable holds its key."""

    name: str
    base_url: str
    api_key_env: str
    key_required: bool = True
    max_tokens_field: str = "max_tokens"
    base_url_env: str | None = None
    # the message field that makes a final assistant message a prefix to continue (not a turn)
    prefix_field: str | None = None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("openai", "https://api.openai.com/v1", "OPENAI_API_KEY",
               max_tokens_field="max_completion_tokens", base_url_env="OPENAI_BASE_URL"),
        Preset("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", prefix_field="prefix"),
        Preset("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        # prefix completion is DeepSeek's beta; a refusal falls back to a clean restart
        Preset("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
               prefix_field="prefix"),
        Preset("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        Preset("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        Preset("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        Preset("ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY", key_required=False),
        Preset("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", key_required=False),
        Preset("lmstudio", "http://localhost:1234/v1", "LMSTUDIO_API_KEY", key_required=False),
    )
}


def _image(part: ImagePart) -> dict[str, Any]:
    image: dict[str, Any] = {"url": part.as_data_url()}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _content(message: Message) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    if not message.images:
        return message.text
    return [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else _image(p)
        for p in message.content
    ]


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        if not m.tool_call_id:
            raise ConfigurationError("a tool message needs tool_call_id= (the id of the call)")
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text}
    out: dict[str, Any] = {"role": m.role}
    if m.role == "assistant":
        out["content"] = m.text or None
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": tc.id, "type": "function",
                 "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)}}
                for tc in m.tool_calls
            ]
    elif m.role == "system":
        out["content"] = m.text
    else:
        out["content"] = _content(m)
    if m.name:
        out["name"] = m.name
    return out


def build_body(
    request: ChatRequest, model: str, stream: bool, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    """The chat-completions request body for ``request``."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        tools = []
        for t in request.tools:
            fn: dict[str, Any] = {"name": t.name, "parameters": t.parameters}
            if t.description:
                fn["description"] = t.description
            if t.strict is not None:
                fn["strict"] = t.strict
            tools.append({"type": "function", "function": fn})
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = (
            request.tool_choice if request.tool_choice in ("auto", "none", "required")
            else {"type": "function", "function": {"name": request.tool_choice}}
        )
    if request.parallel_tool_calls is not None and request.tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    rf = request.response_format
    if rf is not None and rf.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif rf is not None and rf.type == "json_schema":
        schema: dict[str, Any] = {"name": rf.name, "schema": rf.json_schema}
        if rf.strict is not None:
            schema["strict"] = rf.strict
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    copy_options(
        request,
        body,
        {"max_output_tokens": max_tokens_field, "stop": "stop", "temperature": "temperature",
         "top_p": "top_p", "seed": "seed"},
    )
    if request.logprobs or request.top_logprobs:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def parse_usage(data: Any) -> Usage:
    if not is_mapping(data):
        return Usage()
    details = data.get("prompt_tokens_details") or {}
    return trusted(  # token_count returns ints >= 0: no validation needed
        Usage,
        input_tokens=token_count(data.get("prompt_tokens"), "prompt_tokens"),
        output_tokens=token_count(data.get("completion_tokens"), "completion_tokens"),
        cached_input_tokens=token_count(details.get("cached_tokens"), "cached_tokens")
        if is_mapping(details) else 0,
    )


def _arguments(raw: Any, name: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise malformed(f"tool call {name!r}: arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise malformed(f"tool call {name!r}: arguments are not a JSON object")
    return value


def parse_logprobs(data: Any) -> list[TokenLogprob] | None:
    """OpenAI's ``choice.logprobs.content``; ``None`` when absent or not in that shape (the
    answer stands without them)."""
    content = data.get("content") if is_mapping(data) else None
    if not isinstance(content, list):
        return None
    try:
        return [TokenLogprob.model_validate(t) for t in content]
    except ValidationError:
        return None


def _finish(reason: Any, has_tools: bool) -> str:
    mapped = FINISH_REASONS.get(str(reason)) if reason else None
    return mapped or ("tool_calls" if has_tools else "stop")


def _reasoning(message: Mapping[str, Any]) -> str:
    """Reasoning text: DeepSeek, vLLM and SGLang send ``reasoning_content``; Groq, OpenRouter
    and Ollama send ``reasoning``."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""


def parse_response(data: Any) -> ChatResponse:
    """A neutral response from a chat-completion object (errors in a 200 body are raised)."""
    if is_error_body(data):
        raise error_from_body(None, data)
    if not is_mapping(data):
        raise malformed("response is not a JSON object")
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not is_mapping(choices[0]):
        raise malformed("response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not is_mapping(message):
        raise malformed("response choice has no message")
    calls = [
        ToolCall(
            id=str(tc.get("id") or f"call_{i}"),
            name=str((tc.get("function") or {}).get("name", "")),
            arguments=_arguments((tc.get("function") or {}).get("arguments"),
                                 str((tc.get("function") or {}).get("name", ""))),
        )
        for i, tc in enumerate(message.get("tool_calls") or [])
    ]
    text = message.get("content") or ""
    if isinstance(text, list):
        text = "".join(str(p.get("text", "")) for p in text if isinstance(p, Mapping))
    finish = _finish(choice.get("finish_reason"), bool(calls))
    if not text and not calls and (message.get("refusal") or finish == "content_filter"):
        raise provider_error(
            ErrorKind.CONTENT_FILTER,
            str(message.get("refusal") or "the answer was withheld by the content filter"),
        )
    model, rid = data.get("model"), data.get("id")
    logprobs = choice.get("logprobs")
    return trusted(  # every value is typed above: validation would only repeat it
        ChatResponse,
        text=str(text),
        reasoning=_reasoning(message),
        tool_calls=calls,
        usage=parse_usage(data.get("usage")),
        finish_reason=finish,
        model=model if isinstance(model, str) else None,
        response_id=rid if isinstance(rid, str) else None,
        decision=None,
        raw=data,
        logprobs=parse_logprobs(logprobs) if logprobs else None,
    )


class StreamState(StreamText):
    """Parses ``chat.completion.chunk`` events; the stream ends at ``[DONE]``, or as soon as a
    finish reason and the usage chunk have both arrived."""

    terminator = "[DONE]"
    not_json = "stream chunk is not JSON"

    def __init__(self, model: str) -> None:
        self.model = model
        self.done = False
        self._pieces: list[str] = []
        self.received_content = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.response_model: str | None = None
        self.has_tools = False

    def take(self, event: str, obj: Any) -> list[ChatChunk]:
        if not is_mapping(obj):
            raise malformed("stream chunk is not a JSON object")
        if ("error" in obj or "type" in obj) and is_error_body(obj):
            raise error_from_body(None, obj)
        self.response_model = obj.get("model") or self.response_model
        out: list[ChatChunk] = []
        for choice in obj.get("choices") or ():
            if not is_mapping(choice) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            calls = delta.get("tool_calls")
            deltas = [
                ToolCallDelta(
                    index=int(tc.get("index", 0)),
                    id=tc.get("id"),
                    name=(tc.get("function") or {}).get("name"),
                    arguments=(tc.get("function") or {}).get("arguments") or "",
                )
                for tc in calls
            ] if calls else []
            reasoning = _reasoning(delta)
            if text or deltas:
                self.received_content = True
                self._add_text(text)
                self.has_tools = self.has_tools or bool(deltas)
                self.emit(out, text, reasoning, deltas)
            elif reasoning:
                self.emit_reasoning(out, reasoning)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        usage = obj.get("usage") or (obj.get("x_groq") or {}).get("usage")
        if usage:
            self.usage = parse_usage(usage)
        if self.finish_reason is not None and self.usage is not None:
            self.done = True
        return out

    def finish(self) -> ChatChunk:
        if self.finish_reason is None:
            raise provider_error(
                ErrorKind.STREAM_INTERRUPTED,
                "the stream ended without a finish reason",
                partial_text=self.text,
            )
        reason = _finish(self.finish_reason, self.has_tools)
        if reason == "content_filter" and not self.received_content:
            raise provider_error(
                ErrorKind.CONTENT_FILTER, "the answer was withheld by the content filter"
            )
        return ChatChunk(
            usage=self.usage or Usage(),
            finish_reason=reason,
            model=self.response_model or self.model,
        )


class OpenAIWire:
    def __init__(
        self, max_tokens_field: str = "max_tokens", prefix_field: str | None = None
    ) -> None:
        self.max_tokens_field = max_tokens_field
        self.prefix_field = prefix_field

    def url(self, base_url: str, model: str, stream: bool) -> str:
        return f"{base_url}/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def body(self, request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
        body = build_body(request, model, stream, self.max_tokens_field)
        messages = body["messages"]
        if self.prefix_field and messages and messages[-1].get("role") == "assistant":
            messages[-1][self.prefix_field] = True  # continue this text, don't answer it
        return body

    def parse(self, data: Any) -> ChatResponse:
        return parse_response(data)

    def stream_parser(self, model: str) -> StreamState:
        return StreamState(model)


_FIELDS = ("max_tokens", "max_completion_tokens")


class OpenAICompatible(HTTPTarget):
    """A chat-completions endpoint. ``preset`` names a known vendor (see :data:`PRESETS`) for its
    base URL and key variable; explicit ``base_url``/``api_key_env`` win.

    >>> OpenAICompatible("gpt-4o-mini")                          # OPENAI_API_KEY
    >>> OpenAICompatible("llama-3.1-8b-instant", preset="groq")  # GROQ_API_KEY
    >>> OpenAICompatible("qwen2.5", preset="ollama")             # no key needed

    ``prefix_field`` names the message field with which the vendor continues a final assistant
    message instead of answering it (Mistral's and DeepSeek's ``"prefix"``, set by their presets;
    e.g. ``"partial"`` for Moonshot). Resumed streams then continue the delivered text in place.
    """

    vendor = "openai"

    def __init__(
        self,
        model: str,
        *,
        preset: str = "openai",
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        name: str | None = None,
        capability: ProviderCapability | None = None,
        max_tokens_field: str | None = None,
        prefix_field: str | None = None,
        transport: TransportName = "aiohttp",
        **kwargs: Any,
    ) -> None:
        p = PRESETS.get(preset)
        if p is None:
            raise ConfigurationError(
                f"OpenAICompatible: unknown preset {preset!r}; use one of {sorted(PRESETS)} or "
                "pass base_url= and api_key_env="
            )
        if base_url is not None:
            check_base_url(base_url, "OpenAICompatible")
        env_url = os.environ.get(p.base_url_env) if p.base_url_env else None
        url = base_url or env_url or p.base_url
        field = max_tokens_field or p.max_tokens_field
        if field not in _FIELDS:
            raise ConfigurationError(
                f"OpenAICompatible: max_tokens_field={field!r}; use one of {sorted(_FIELDS)}"
            )
        prefix = prefix_field or p.prefix_field
        if prefix is not None and (not isinstance(prefix, str) or not prefix):
            raise ConfigurationError("OpenAICompatible: prefix_field must be a message field name")
        self.wire = OpenAIWire(field, prefix)
        self.preset = preset
        key_required = kwargs.pop("key_required", p.key_required)
        super().__init__(
            model,
            base_url=url,
            name=name,
            api_key=api_key,
            api_key_env=api_key_env,
            vendor_key_env=p.api_key_env,
            vendor_base_url=env_url or p.base_url,
            key_required=key_required,
            capability=capability,
            provider=kwargs.pop("provider", preset),
            transport=transport,
            **kwargs,
        )
        if prefix is not None and capability is None and not self._capability.supports_prefill:
            # the vendor continues a final assistant message: resumed streams use it
            self._capability = self._capability.model_copy(update={"supports_prefill": True})
