"""A neutral chat request: what every target is asked, whatever vendor or framework it came from."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartroute.errors import RequestValidationError

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image given by URL (``https://`` or a ``data:`` URL) or by base64 ``data``."""

    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: Literal["auto", "low", "high"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ImagePart:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImagePart: give exactly one of url= or data= (base64)")
        return self

    def as_data_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"data:{self.media_type or 'image/png'};base64,{self.data}"


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(BaseModel):
    """A complete tool call requested by the model; ``arguments`` is the parsed JSON object.

    OpenAI's wire shape (``{"id", "type": "function", "function": {"name", "arguments": "<JSON
    text>"}}``) is accepted too, so a conversation can be passed back as the API returned it.
    """

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _openai_shape(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "function" in data and "name" not in data:
            return _from_openai_call(data)
        return data


class Message(BaseModel):
    role: Role
    content: str | list[ContentPart] = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        """OpenAI sends ``content: null`` beside tool calls (and ``tool_calls: null``)."""
        if isinstance(data, Mapping) and (
            data.get("content", "") is None or data.get("tool_calls", ()) is None
        ):
            data = dict(data)
            if data.get("content", "") is None:
                data["content"] = ""
            if data.get("tool_calls", ()) is None:
                data["tool_calls"] = []
        return data

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        if isinstance(self.content, str):
            return []
        return [p for p in self.content if isinstance(p, ImagePart)]


class ToolSpec(BaseModel):
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """``text``, ``json_object`` (any JSON) or ``json_schema`` (JSON matching ``json_schema``)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and not self.json_schema:
            raise ValueError("ResponseFormat: type='json_schema' needs json_schema={...}")
        return self


ToolChoice = Literal["auto", "none", "required"] | str


class ChatRequest(BaseModel):
    """One chat call. ``model`` pins a candidate by name, bypassing the policy's ranking."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    max_output_tokens: int | None = Field(None, gt=0)
    stop: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    model: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _non_empty(self) -> ChatRequest:
        if not self.messages:
            raise ValueError("ChatRequest.messages: at least one message is required")
        return self

    @property
    def needs_json(self) -> bool:
        return self.response_format is not None and self.response_format.type != "text"

    @property
    def system(self) -> str:
        return "\n\n".join(m.text for m in self.messages if m.role == "system")


RequestLike = ChatRequest | str | Iterable[Message | Mapping[str, Any]]


def to_request(value: RequestLike | None = None, /, **kwargs: Any) -> ChatRequest:
    """Accept a ready request, a prompt string, or a list of messages (dicts or Message).

    The result is checked with :func:`check_request`: this is the edge every routed call
    passes, so input no target could send is refused here, before any target is charged.
    """
    if isinstance(value, ChatRequest):
        req = value.model_copy(update=kwargs) if kwargs else value
    elif value is None:
        if "messages" not in kwargs:
            raise TypeError("pass a prompt string, a list of messages, or a ChatRequest")
        req = ChatRequest(**kwargs)
    elif isinstance(value, str):
        req = ChatRequest(messages=[Message(role="user", content=value)], **kwargs)
    else:
        msgs = [m if isinstance(m, Message) else Message.model_validate(m) for m in value]
        req = ChatRequest(messages=msgs, **kwargs)
    check_request(req)
    return req


def _from_openai_call(data: Mapping[str, Any]) -> dict[str, Any]:
    fn = data["function"]
    if not isinstance(fn, Mapping):
        raise ValueError("function: expected an object with name and arguments")
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError as exc:
            raise ValueError(f"function.arguments: not valid JSON ({exc})") from None
        if not isinstance(args, dict):
            raise ValueError("function.arguments: must encode a JSON object")
    return {"id": data.get("id"), "name": fn.get("name"), "arguments": args or {}}


# --- the edge check ---------------------------------------------------------------------------

# Deeper JSON cannot be sent safely (encoders and reprs recurse once per level); real tool
# schemas and arguments stay far below it.
MAX_NESTING = 100
_SCALARS = (int, float, bool, type(None))
_PLAIN = frozenset({int, float, bool, type(None), dict, list, tuple})
_SCHEMAS_KEPT = 512
_SCHEMAS_OK: dict[int, Any] = {}


def check_request(req: ChatRequest) -> None:
    """Refuse what no target could send, naming the field: text that is not valid UTF-8 (a
    lone surrogate), a tool result without ``tool_call_id``, tool arguments or schemas that
    are not JSON or nest deeper than :data:`MAX_NESTING`.

    Runs on every routed call, so a plain ASCII message costs a few attribute reads (ASCII
    is known from a flag); other text costs one C-level encode, and field names are only
    formatted once something is wrong.
    """
    for i, m in enumerate(req.messages):
        content = m.content
        if not (
            type(content) is str
            and content.isascii()
            and m.role != "tool"
            and not m.tool_calls
            and m.name is None
            and m.tool_call_id is None
        ):
            _check_message(i, m)
    if req.tools:
        _check_tools(req.tools)
    if req.stop:
        for i, s in enumerate(req.stop):
            _text(s, "stop[{}]", i)
    if req.tool_choice is not None:
        _text(req.tool_choice, "tool_choice")
    fmt = req.response_format
    if fmt is not None:
        _text(fmt.name, "response_format.name")
        if fmt.json_schema is not None:
            _schema(fmt.json_schema, "response_format.json_schema")


def _check_message(i: int, m: Message) -> None:
    content = m.content
    if isinstance(content, str):
        _text(content, "messages[{}].content", i)
    else:
        for j, part in enumerate(content):
            if isinstance(part, TextPart):
                _text(part.text, "messages[{}].content[{}].text", i, j)
            else:
                for attr in ("url", "data", "media_type"):
                    v = getattr(part, attr)
                    if v is not None:
                        _text(v, "messages[{}].content[{}].{}", i, j, attr)
    if m.role == "tool" and not m.tool_call_id:
        raise RequestValidationError(
            f"messages[{i}] (role tool)",
            "tool_call_id is required; pass the id of the assistant tool call it answers",
        )
    if m.tool_call_id is not None:
        _text(m.tool_call_id, "messages[{}].tool_call_id", i)
    if m.name is not None:
        _text(m.name, "messages[{}].name", i)
    for k, tc in enumerate(m.tool_calls):
        _text(tc.id, "messages[{}].tool_calls[{}].id", i, k)
        _text(tc.name, "messages[{}].tool_calls[{}].name", i, k)
        if _json_problem(tc.arguments, False) is not None:
            _json(tc.arguments, f"messages[{i}].tool_calls[{k}].arguments")


def _check_tools(tools: list[ToolSpec]) -> None:
    for i, tool in enumerate(tools):
        if not (tool.name.isascii() and tool.description.isascii()):
            _text(tool.name, "tools[{}].name", i)
            _text(tool.description, "tools[{}].description", i)
        params = tool.parameters
        if _SCHEMAS_OK.get(id(params)) is not params:
            _schema(params, f"tools[{i}].parameters")


def _schema(value: dict[str, Any], field: str) -> None:
    """Schemas are usually built once and sent on every call: each one that passed is
    remembered (by identity, holding a reference so the id stays its own) and not walked
    again. Changes made in place to a schema after it passed are not seen."""
    if _SCHEMAS_OK.get(id(value)) is value:
        return
    _json(value, field)
    if len(_SCHEMAS_OK) >= _SCHEMAS_KEPT:
        _SCHEMAS_OK.clear()
    _SCHEMAS_OK[id(value)] = value


def _text(s: str, field: str, *where: object) -> None:
    if not s.isascii() and (bad := _surrogate(s)):
        raise RequestValidationError(field.format(*where), bad)


def _json(value: Any, field: str) -> None:
    if _json_problem(value, False) is not None:
        path, problem = _json_problem(value, True) or ("", "")
        raise RequestValidationError(field + path, problem)


def _json_problem(value: Any, locate: bool) -> tuple[str, str] | None:
    """Iterative, so any depth is safe to inspect. ``locate`` builds the path of each node;
    it is only asked for once a problem is known, keeping the common pass allocation-light."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth, path = pop()
        t = type(v)
        if t is str or (t not in _PLAIN and isinstance(v, str)):
            if not v.isascii() and (bad := _surrogate(v)):
                return path, bad
            continue
        if t in _SCALARS:
            continue
        if t is dict or (t not in _PLAIN and isinstance(v, Mapping)):
            if depth > MAX_NESTING:
                return "", f"nested deeper than {MAX_NESTING} levels; flatten it"
            for key, item in v.items():
                if type(key) is not str and not isinstance(key, str):
                    if not isinstance(key, _SCALARS):
                        return path, f"key {key!r} is not a string"
                elif not key.isascii() and _surrogate(key):
                    return f"{path}[{key!r}]", "key is not valid UTF-8 text"
                push((item, depth + 1, f"{path}[{key!r}]" if locate else ""))
        elif t is list or t is tuple or isinstance(v, list | tuple):
            if depth > MAX_NESTING:
                return "", f"nested deeper than {MAX_NESTING} levels; flatten it"
            for k, item in enumerate(v):
                push((item, depth + 1, f"{path}[{k}]" if locate else ""))
        elif not isinstance(v, _SCALARS):
            return path, (
                f"a {t.__name__} is not JSON; use strings, numbers, booleans, None, "
                "lists and dicts"
            )
    return None


def _surrogate(s: str) -> str | None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"lone surrogate {s[exc.start]!r} at index {exc.start}; encode text as valid UTF-8"
        )
    return None
