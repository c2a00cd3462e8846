"""``ScriptedChatModel``: a deterministic LangChain chat model for offline tests.

It answers from its input: with tools bound and a user turn last (or a forced
``tool_choice``) it calls a tool with arguments built from the tool's JSON schema (integers are
taken from the prompt in order); with a JSON ``response_format`` it answers JSON matching the
schema; otherwise it replies ``"[<model>] <last user text>"``. ``errors`` are raised first, one
per call, to exercise fallback. With ``reasoning`` set, text answers start with a reasoning
content block (streamed as its own chunk first), as thinking models' integrations do.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _value(schema: dict[str, Any], name: str, defs: dict[str, Any], numbers: list[Any]) -> Any:
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].split("/")[-1], {})
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _value(options[0], name, defs, numbers)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    ints = [n for n in numbers if isinstance(n, int)]
    if kind in ("integer", "number") and ints:
        numbers.remove(ints[0])
        return ints[0] if kind == "integer" else float(ints[0])
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(schema.get("items", {}), name, defs, numbers)]
    if kind == "object":
        props = schema.get("properties", {})
        defs = {**defs, **schema.get("$defs", {}), **schema.get("definitions", {})}
        return {k: _value(v, k, defs, numbers) for k, v in props.items()}
    quoted = [q for q in numbers if isinstance(q, str)]
    return quoted[0] if quoted else f"{name} about cats"


class ScriptedChatModel(BaseChatModel):
    model: str = "scripted"
    errors: list[Exception] = Field(default_factory=list)
    chunk_words: int = 1
    reasoning: str = ""

    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._calls

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    # --- the answer ---------------------------------------------------------------------

    def _answer(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        self._calls.append({"messages": messages, **kwargs})
        if self.errors:
            raise self.errors.pop(0)
        last_user = next((m.text for m in reversed(messages) if m.type == "human"), "")
        # integers in order, then quoted phrases: the raw material for tool arguments
        numbers: list[Any] = [int(n) for n in re.findall(r"-?\d+", last_user)]
        numbers += re.findall(r"'([^']+)'", last_user)
        tools = kwargs.get("tools") or []
        choice = kwargs.get("tool_choice")
        fmt = kwargs.get("response_format")
        usage_in = sum(_tokens(m.text) + 3 for m in messages)
        forced = choice not in (None, "auto", "none")
        if tools and choice != "none" and (forced or not isinstance(messages[-1], ToolMessage)):
            names = [t["function"]["name"] for t in tools]
            name = choice if isinstance(choice, str) and choice in names else names[0]
            if isinstance(choice, dict):
                name = choice.get("function", {}).get("name", name)
            fn = next(t["function"] for t in tools if t["function"]["name"] == name)
            args = _value(fn.get("parameters") or {"type": "object"}, name, {}, numbers)
            call = tool_call(name=name, args=args, id=f"call_{len(self._calls)}")
            return AIMessage(
                content="",
                tool_calls=[call],
                usage_metadata=_usage(usage_in, 10),
                response_metadata={"model_name": self.model, "finish_reason": "tool_calls"},
            )
        if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
            schema = (fmt.get("json_schema") or {}).get("schema") or {
                "type": "object",
                "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
            }
            text = json.dumps(_value(schema, "answer", schema.get("$defs", {}), numbers))
        elif isinstance(messages[-1], ToolMessage):
            text = f"[{self.model}] the tool said {messages[-1].text}"
        else:
            text = f"[{self.model}] {last_user}"
        stop = kwargs.get("stop")
        for s in stop or ():
            if s and s in text:
                text = text[: text.index(s)] or text
        content: Any = text
        if self.reasoning:
            content = [
                {"type": "reasoning", "reasoning": self.reasoning},
                {"type": "text", "text": text},
            ]
        return AIMessage(
            content=content,
            usage_metadata=_usage(usage_in, _tokens(text)),
            response_metadata={"model_name": self.model, "finish_reason": "stop"},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        msg = self._answer(messages, stop=stop, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _chunks(self, msg: AIMessage) -> Iterator[ChatGenerationChunk]:
        if isinstance(msg.content, list) and self.reasoning:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=[{"type": "reasoning", "reasoning": self.reasoning, "index": 0}]
                )
            )
        words = re.findall(r"\S+\s*", msg.text)
        for i in range(0, len(words), self.chunk_words):
            yield ChatGenerationChunk(
                message=AIMessageChunk(content="".join(words[i : i + self.chunk_words]))
            )
        for i, tc in enumerate(msg.tool_calls):
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(
                            name=tc["name"], args=json.dumps(tc["args"]), id=tc["id"], index=i
                        )
                    ],
                )
            )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=msg.usage_metadata,
                response_metadata=dict(msg.response_metadata),
                chunk_position="last",
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._answer(messages, stop=stop, **kwargs)
        for chunk in self._chunks(msg):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        msg = self._answer(messages, stop=stop, **kwargs)
        for chunk in self._chunks(msg):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def _usage(inp: int, out: int) -> Any:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def openai_reply(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """The FakeProvider responder with ScriptedChatModel's behaviour, on the OpenAI wire."""
    messages = body.get("messages") or []

    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))

    last_user = next(
        (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    numbers: list[Any] = [int(n) for n in re.findall(r"-?\d+", last_user)]
    numbers += re.findall(r"'([^']+)'", last_user)
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    last_is_tool = bool(messages) and messages[-1].get("role") == "tool"
    forced = choice not in (None, "auto", "none")
    if tools and choice != "none" and (forced or not last_is_tool):
        names = [t["function"]["name"] for t in tools]
        name = names[0]
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name", name)
        fn = next(t["function"] for t in tools if t["function"]["name"] == name)
        args = _value(fn.get("parameters") or {"type": "object"}, name, {}, numbers)
        return {"tool_calls": [{"name": name, "arguments": args}]}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        schema = (fmt.get("json_schema") or {}).get("schema") or {
            "type": "object",
            "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
        }
        return {"text": json.dumps(_value(schema, "answer", schema.get("$defs", {}), numbers))}
    if last_is_tool:
        return {"text": f"[{model}] the tool said {text_of(messages[-1].get('content'))}"}
    return {"text": f"[{model}] {last_user}"}
