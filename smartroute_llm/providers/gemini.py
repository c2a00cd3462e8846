"""Google's Gemini API: ``generateContent`` and ``streamGenerateContent?alt=sse``.

Reference: https://ai.google.dev/api/generate-content. Gemini matches a function response to its
call by function name, so tool results are sent with the name of the call they answer.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"inlineData": {"mimeType": part.media_type or "image/png", "data": part.data}}
    url = str(part.url)
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return {"inlineData": {"mimeType": head[5:].split(";")[0] or "image/png", "data": data}}
    return {"fileData": {"mimeType": part.media_type or "image/jpeg", "fileUri": url}}


def _parts(m: Message) -> list[dict[str, Any]]:
    if isinstance(m.content, str):
        return [{"text": m.content}] if m.content else []
    return [{"text": p.text} if isinstance(p, TextPart) else _image(p) for p in m.content]


def _tool_result(m: Message, names: Mapping[str, str]) -> dict[str, Any]:
    if not m.tool_call_id:
        raise ConfigurationError("a tool message needs tool_call_id= (the id of the call)")
    name = m.name or names.get(m.tool_call_id)
    if not name:
        raise ConfigurationError(
            f"tool result {m.tool_call_id!r}: no earlier assistant tool call has this id; "
            "Gemini needs the function name (pass name= on the tool message)"
        )
    try:
        value = json.loads(m.text)
    except (ValueError, RecursionError):
        value = m.text
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            part = _tool_result(m, names)
            if out and out[-1]["role"] == "user" and all(
                "functionResponse" in p for p in out[-1]["parts"]
            ):
                out[-1]["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
            continue
        parts = _parts(m)
        if m.role == "assistant":
            for tc in m.tool_calls:
                names[tc.id] = tc.name
                parts.append({"functionCall": {"name": tc.name, "args": tc.arguments}})
        out.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
    return out


def build_body(request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    if request.tools:
        decls = []
        for t in request.tools:
            decl: dict[str, Any] = {"name": t.name, "parameters": t.parameters}
            if t.description:
                decl["description"] = t.description
            decls.append(decl)
        body["tools"] = [{"functionDeclarations": decls}]
        tc = request.tool_choice
        if tc is not None:
            mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(tc)
            config: dict[str, Any] = {"mode": mode or "ANY"}
            if mode is None:
                config["allowedFunctionNames"] = [tc]
            body["toolConfig"] = {"functionCallingConfig": config}
    gen: dict[str, Any] = {}
    copy_options(
        request,
        gen,
        {"stop": "stopSequences", "max_output_tokens": "maxOutputTokens",
         "temperature": "temperature", "top_p": "topP", "seed": "seed"},
    )
    rf = request.response_format
    if rf is not None and rf.type != "text":
        gen["responseMimeType"] = "application/json"
        if rf.type == "json_schema":
            gen["responseJsonSchema"] = rf.json_schema
    if gen:
        body["generationConfig"] = gen
    return body


def parse_usage(data: Any) -> Usage:
    if not is_mapping(data):
        return Usage()
    return Usage(
        input_tokens=token_count(data.get("promptTokenCount"), "promptTokenCount"),
        output_tokens=token_count(data.get("candidatesTokenCount"), "candidatesTokenCount")
        + token_count(data.get("thoughtsTokenCount"), "thoughtsTokenCount"),
        cached_input_tokens=token_count(
            data.get("cachedContentTokenCount"), "cachedContentTokenCount"
        ),
    )


def _call(part: Mapping[str, Any], index: int) -> ToolCall:
    fc = part["functionCall"]
    args = fc.get("args") or {}
    if not isinstance(args, dict):
        raise malformed(f"functionCall {fc.get('name')!r}: args is not an object")
    return ToolCall(id=str(fc.get("id") or f"call_{index}_{uuid.uuid4().hex[:8]}"),
                    name=str(fc.get("name", "")), arguments=args)


def _candidate(data: Any) -> Mapping[str, Any] | None:
    if is_error_body(data):
        raise error_from_body(None, data)
    if not is_mapping(data):
        raise malformed("response is not a JSON object")
    cands = data.get("candidates")
    if not cands:
        block = (data.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise provider_error(ErrorKind.CONTENT_FILTER, f"prompt blocked: {block}")
        return None
    first = cands[0]
    return first if is_mapping(first) else None


def _finish(reason: Any, has_tools: bool) -> str:
    if has_tools:
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop") if reason else "stop"


def parse_response(data: Any) -> ChatResponse:
    cand = _candidate(data)
    if cand is None:
        raise malformed("response has no candidates")
    text, reasoning, calls = "", "", list[ToolCall]()
    for part in (cand.get("content") or {}).get("parts") or ():
        if "text" in part and part.get("thought"):
            reasoning += str(part["text"])
        elif "text" in part:
            text += str(part["text"])
        elif "functionCall" in part:
            calls.append(_call(part, len(calls)))
    finish = _finish(cand.get("finishReason"), bool(calls))
    if finish == "content_filter" and not text:
        raise provider_error(
            ErrorKind.CONTENT_FILTER, f"answer blocked: {cand.get('finishReason')}"
        )
    return ChatResponse(
        text=text, reasoning=reasoning, tool_calls=calls,
        usage=parse_usage(data.get("usageMetadata")),
        finish_reason=finish, model=data.get("modelVersion"), response_id=data.get("responseId"),
        raw=data,
    )


class StreamState(StreamText):
    """Each event is a partial ``GenerateContentResponse``; the one with a finish reason ends
    the answer (Gemini sends no terminator of its own)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.done = False
        self._pieces: list[str] = []
        self.received_content = False
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.response_model: str | None = None
        self.calls = 0

    def take(self, event: str, obj: Any) -> list[ChatChunk]:
        cand = _candidate(obj)
        if obj.get("usageMetadata"):
            self.usage = parse_usage(obj["usageMetadata"])
        self.response_model = obj.get("modelVersion") or self.response_model
        if cand is None:
            return []
        out: list[ChatChunk] = []
        thoughts: list[ChatChunk] = []
        content = False
        for part in (cand.get("content") or {}).get("parts") or ():
            piece = part.get("text")
            if piece and part.get("thought"):
                self.emit_reasoning(thoughts, str(piece))
            elif piece:
                content = True
                self._add_text(str(piece))
                self.emit_text(out, str(piece))
            elif "functionCall" in part:
                content = True
                call = _call(part, self.calls)
                self.emit_tools(out, [ToolCallDelta(
                    index=self.calls, id=call.id, name=call.name,
                    arguments=json.dumps(call.arguments),
                )])
                self.calls += 1
        if content:
            self.received_content = True
        out = thoughts + out
        if cand.get("finishReason"):
            self.finish_reason = str(cand["finishReason"])
            self.done = True
        return out

    def finish(self) -> ChatChunk:
        if self.finish_reason is None:
            raise provider_error(
                ErrorKind.STREAM_INTERRUPTED, "the stream ended without a finish reason",
                partial_text=self.text,
            )
        reason = _finish(self.finish_reason, self.calls > 0)
        if reason == "content_filter" and not self.received_content:
            raise provider_error(
                ErrorKind.CONTENT_FILTER, f"answer blocked: {self.finish_reason}"
            )
        return ChatChunk(usage=self.usage, finish_reason=reason,
                         model=self.response_model or self.model)


class GeminiWire:
    def url(self, base_url: str, model: str, stream: bool) -> str:
        model = model.removeprefix("models/")
        if stream:
            return f"{base_url}/models/{model}:streamGenerateContent?alt=sse"
        return f"{base_url}/models/{model}:generateContent"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def body(self, request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
        return build_body(request, model, stream)

    def parse(self, data: Any) -> ChatResponse:
        return parse_response(data)

    def stream_parser(self, model: str) -> StreamState:
        return StreamState(model)


class Gemini(HTTPTarget):
    """A Gemini model; the key comes from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``)."""

    vendor = "google"
    wire = GeminiWire()

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        name: str | None = None,
        capability: ProviderCapability | None = None,
        transport: TransportName = "aiohttp",
        **kwargs: Any,
    ) -> None:
        if base_url is not None:
            check_base_url(base_url, "Gemini")
        vendor_env = (
            "GOOGLE_API_KEY"
            if "GOOGLE_API_KEY" in os.environ and "GEMINI_API_KEY" not in os.environ
            else "GEMINI_API_KEY"
        )
        super().__init__(
            model, base_url=base_url or DEFAULT_BASE_URL, name=name, api_key=api_key,
            api_key_env=api_key_env, vendor_key_env=vendor_env, vendor_base_url=DEFAULT_BASE_URL,
            capability=capability, transport=transport, **kwargs,
        )
