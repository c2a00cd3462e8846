"""A neutral chat request: what every target is asked, whatever vendor or framework it came from."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartroute_llm.errors import RequestValidationError

_M = TypeVar("_M", bound=BaseModel)
Role = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset(("system", "user", "assistant", "tool"))


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
    def _openai_shape(cls, data: Any) -> Any:
        """OpenAI's message shape is accepted as is: see :func:`_message_from_openai`. A plain
        ``{"role", "content": str}`` dict is passed on untouched (the common case)."""
        if (
            type(data) is dict
            and len(data) <= 2
            and type(data.get("content")) is str
            and data.get("role") in _ROLES
        ):
            return data
        return _message_from_openai(data)

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
    """A function the model may call; ``parameters`` is a JSON Schema object.

    OpenAI's tool shape (``{"type": "function", "function": {"name", "description",
    "parameters", "strict"}}``) is accepted too."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _openai_shape(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "name" not in data and "type" in data:
            if data["type"] != "function" or not isinstance(data.get("function"), Mapping):
                raise ValueError(
                    f"tool type {data['type']!r} is not supported; give "
                    '{"type": "function", "function": {"name", "parameters"}}'
                )
            data = {k: v for k, v in data["function"].items() if v is not None}
        return data


class ResponseFormat(BaseModel):
    """``text``, ``json_object`` (any JSON) or ``json_schema`` (JSON matching ``json_schema``)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _openai_shape(cls, data: Any) -> Any:
        """OpenAI's ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``,
        or a pydantic model class (as OpenAI's ``parse()`` takes it)."""
        if isinstance(data, type) and issubclass(data, BaseModel):
            return {"type": "json_schema", "json_schema": data.model_json_schema(),
                    "name": data.__name__, "strict": True}
        if isinstance(data, Mapping):
            wrapped = data.get("json_schema")
            if isinstance(wrapped, Mapping) and "name" in wrapped and _OPENAI_SCHEMA.issuperset(
                wrapped
            ):
                out = {k: v for k, v in data.items() if k != "json_schema"}
                out["json_schema"] = wrapped.get("schema") or {"type": "object"}
                out["name"] = wrapped["name"]
                if wrapped.get("strict") is not None:
                    out["strict"] = wrapped["strict"]
                return out
        return data

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and not self.json_schema:
            raise ValueError("ResponseFormat: type='json_schema' needs json_schema={...}")
        return self


ToolChoice = Literal["auto", "none", "required"] | str


class ChatRequest(BaseModel):
    """One chat call. ``model`` pins a candidate by name, bypassing the policy's ranking
    (``"auto"``: no pin)."""

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
    # token log-probabilities of the answer, where the target returns them (OpenAI-compatible)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    model: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("model", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        """``"auto"`` asks the router to choose, as no model does."""
        return None if value == "auto" else value

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _named_choice(cls, value: Any) -> Any:
        """OpenAI names a forced tool as ``{"type": "function", "function": {"name": ...}}``."""
        if isinstance(value, Mapping):
            fn = value.get("function")
            if value.get("type") == "function" and isinstance(fn, Mapping) and fn.get("name"):
                return fn["name"]
            raise ValueError(
                'give "auto", "none", "required", a tool name or {"type": "function", '
                '"function": {"name": ...}}'
            )
        return value

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

    ``kwargs`` are request fields, in our names or in OpenAI's chat-completions names
    (``max_tokens``, ``user``, ``n``, ...; see :func:`from_openai_kwargs`), so
    ``to_request(**kwargs_written_for_openai)`` works. Bad input raises one
    :class:`RequestValidationError` naming the field.

    The result is checked with :func:`check_request`: this is the edge every routed call
    passes, so input no target could send is refused here, before any target is charged.
    """
    if not kwargs and _FAST:
        req = _plain(value)
        if req is not None:
            return req
    if kwargs and not _NATIVE.issuperset(kwargs):
        kwargs = from_openai_kwargs(kwargs)
    try:
        if isinstance(value, ChatRequest):
            req = type(value).model_validate({**value.__dict__, **kwargs}) if kwargs else value
        elif value is None:
            if "messages" not in kwargs:
                raise TypeError("pass a prompt string, a list of messages, or a ChatRequest")
            req = ChatRequest(**kwargs)
        elif isinstance(value, str):
            req = ChatRequest(messages=[Message(role="user", content=value)], **kwargs)
        else:
            msgs = []
            for i, m in enumerate(value):
                try:
                    msgs.append(m if isinstance(m, Message) else Message.model_validate(m))
                except ValidationError as exc:
                    raise _validation_error(exc, f"messages[{i}]") from exc
            req = ChatRequest(messages=msgs, **kwargs)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    check_request(req)
    return req


# --- the common case, built without validation ------------------------------------------------

_slots = BaseModel.__dict__
_set_dict = _slots["__dict__"].__set__
_set_fields = _slots["__pydantic_fields_set__"].__set__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__
_new = object.__new__


def built(cls: type[_M], values: dict[str, Any], given: set[str]) -> _M:
    """An instance holding ``values`` (every field, in order), as validation would leave it with
    ``given`` the fields set by the caller; only for values already known to be valid (the
    router's own, on every call). ``model_construct`` when the layout check failed."""
    if not _FAST:
        return cls.model_construct(given, **values)
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields(obj, given)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


class FieldDefaults:
    """Every field of ``cls`` in order with its default, read from the model so a field added
    later is built too (a hand-written list would silently turn the direct build off)."""

    def __init__(self, cls: type[BaseModel]) -> None:
        self.template: dict[str, Any] = {}
        self.factories: list[tuple[str, Callable[[], Any]]] = []
        for name, info in cls.model_fields.items():
            self.template[name] = None if info.is_required() else info.default
            if info.default_factory is not None:
                self.factories.append((name, info.default_factory))  # type: ignore[arg-type]

    def values(self, **given: Any) -> dict[str, Any]:
        out = self.template.copy()
        for name, factory in self.factories:
            out[name] = factory()
        out.update(given)
        return out


_MESSAGE = FieldDefaults(Message)
_REQUEST = FieldDefaults(ChatRequest)
_GIVEN_MESSAGE = frozenset({"role", "content"})
_GIVEN_REQUEST = frozenset({"messages"})


_MESSAGE_TEMPLATE, _MESSAGE_FRESH = _MESSAGE.template, tuple(_MESSAGE.factories)
_REQUEST_TEMPLATE, _REQUEST_FRESH = _REQUEST.template, tuple(_REQUEST.factories)


def _message(role: str, content: str) -> Message:
    # ``built(Message, _MESSAGE.values(role=..., content=...), ...)`` written out: every
    # routed call builds one per message
    if not _FAST:
        return built(Message, _MESSAGE.values(role=role, content=content), set(_GIVEN_MESSAGE))
    values = _MESSAGE_TEMPLATE.copy()
    for name, factory in _MESSAGE_FRESH:
        values[name] = factory()
    values["role"] = role
    values["content"] = content
    obj = _new(Message)
    _set_dict(obj, values)
    _set_fields(obj, {"role", "content"})
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _request(messages: list[Message]) -> ChatRequest:
    if not _FAST:
        return built(ChatRequest, _REQUEST.values(messages=messages), set(_GIVEN_REQUEST))
    values = _REQUEST_TEMPLATE.copy()
    for name, factory in _REQUEST_FRESH:
        values[name] = factory()
    values["messages"] = messages
    obj = _new(ChatRequest)
    _set_dict(obj, values)
    _set_fields(obj, {"messages"})
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _plain(value: Any) -> ChatRequest | None:
    """A prompt string, or a list of ``{"role", "content": str}`` dicts and Messages, built
    directly and checked (:func:`check_request`) in the same pass: nothing in them can fail
    validation, and this is most routed calls. Anything else is left to pydantic (None)."""
    t = type(value)
    if t is str:
        req = _request([_message("user", value)])
        if not value.isascii():
            check_request(req)
        return req
    if (t is not list and t is not tuple) or not value:
        return None
    msgs: list[Message] = []
    plain = True  # ASCII text only: nothing for check_request to find
    for m in value:
        if type(m) is dict:
            if len(m) != 2:
                return None
            role, content = m.get("role"), m.get("content")
            if type(content) is not str or type(role) is not str or role not in _ROLES:
                return None
            if plain and (role == "tool" or not content.isascii()):
                plain = False
            msgs.append(_message(role, content))
        elif isinstance(m, Message):
            plain = False
            msgs.append(m)
        else:
            return None
    req = _request(msgs)
    if not plain:
        check_request(req)  # after every message was built, as on the validating path
    return req


def _fast_layout_ok() -> bool:
    """The direct build must give what validation gives (checked once, at import); a pydantic
    with another instance layout, or a field added to the models, turns the direct build off."""
    try:
        want = ChatRequest(messages=[Message(role="user", content="x")])
        got = _request([_message("user", "x")])
        return bool(
            got == want
            and got.__dict__ == want.__dict__
            and got.model_fields_set == want.model_fields_set
            and got.messages[0].model_fields_set == want.messages[0].model_fields_set
            and got.model_dump() == want.model_dump()
            and got.model_copy(update={"seed": 1}).seed == 1
        )
    except Exception:
        return False


_FAST = True  # while checking
_FAST = _fast_layout_ok()


# --- the OpenAI chat-completions shape --------------------------------------------------------

_NATIVE = frozenset(ChatRequest.model_fields)
_OPENAI_SCHEMA = frozenset(("name", "schema", "strict", "description"))
# OpenAI parameters the neutral request has no place for: accepted while they ask for nothing
# (their default), refused otherwise, since dropping them would change the answer unseen.
_INERT: dict[str, tuple[Any, ...]] = {
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "store": (False,),
    "service_tier": ("auto", "default"),
    "modalities": (["text"],),
    "functions": ([],),
    "function_call": ("auto", "none"),
    "reasoning_effort": (),
    "verbosity": (),
    "prediction": (),
    "audio": (),
    "web_search_options": (),
    "prompt_cache_key": (),
    "safety_identifier": (),
    "extra_headers": ({},),
    "extra_query": ({},),
    "extra_body": ({},),
    "timeout": (),
}
_WHY_NOT = {
    "functions": "use tools=[{'type': 'function', 'function': {...}}]",
    "function_call": "use tool_choice=",
    "timeout": "set a deadline on the RoutingPolicy",
}
_MAPPED = sorted(_NATIVE | {
    "max_tokens", "max_completion_tokens", "user", "n", "stream", "stream_options"})
_KNOWN = sorted(_INERT.keys() | _MAPPED)


def from_openai_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Map keyword arguments written for OpenAI's ``chat.completions.create`` onto ours.

    ``max_tokens``/``max_completion_tokens`` -> ``max_output_tokens``; ``user`` and
    ``metadata`` -> ``metadata``; ``n`` must be 1; ``stream`` must be false here (the router's
    ``stream()``/``astream()`` take it); ``stream_options`` is accepted (usage always arrives on
    the last chunk); ``model="auto"`` means no pin; ``logprobs``/``top_logprobs`` are kept
    (targets that cannot return log-probabilities answer without them). Parameters we cannot
    honour are accepted only at their default; the OpenAI SDK's ``NOT_GIVEN``/``omit`` count
    as absent. Anything else raises :class:`RequestValidationError` naming the field.
    """
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None or type(value).__name__ in ("NotGiven", "Omit"):
            continue
        if key in _NATIVE:
            if key == "metadata":
                out["metadata"] = {**out.get("metadata", {}), **value}
            else:
                out[key] = value
        elif key in ("max_tokens", "max_completion_tokens"):
            if out.setdefault("max_output_tokens", value) != value:
                raise RequestValidationError(
                    key, "max_tokens and max_completion_tokens differ; give one of them"
                )
        elif key == "user":
            out["metadata"] = {**out.get("metadata", {}), "user": value}
        elif key == "n":
            if value != 1:
                raise RequestValidationError(
                    "n", f"only one choice per call is supported (got {value!r}); call n times"
                )
        elif key == "stream":
            if value:
                raise RequestValidationError(
                    "stream", "this call returns one answer; use router.stream(...) or "
                    "router.astream(...) for chunks"
                )
        elif key == "stream_options":
            if not isinstance(value, Mapping) or not set(value) <= {"include_usage",
                                                                   "include_obfuscation"}:
                raise RequestValidationError(
                    "stream_options", "only {'include_usage': ...} is accepted (usage always "
                    "arrives on the last chunk)"
                )
        elif key in _INERT:
            if value not in _INERT[key]:
                fix = _WHY_NOT.get(key, "remove it (the router cannot apply it to every target)")
                raise RequestValidationError(key, f"{value!r} is not supported; {fix}")
        else:
            close = difflib.get_close_matches(key, _KNOWN, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RequestValidationError(
                key, f"unknown chat request field; {hint}accepted: {', '.join(_MAPPED)}"
            )
    return out


_UNSUPPORTED_PARTS = {"input_audio": "audio input", "file": "file input"}


def _message_from_openai(data: Any) -> Any:
    """``role: "developer"`` -> system; ``content: null`` -> ""; ``{"type": "image_url"}`` and
    ``{"type": "refusal"}`` parts; ``tool_calls: null``; the OpenAI SDK's own message objects.
    Fields no target could use (``refusal``, ``annotations``) are dropped; legacy
    ``function_call`` and audio references are refused by name."""
    if not isinstance(data, Mapping):
        dump = getattr(data, "model_dump", None)
        if dump is None or isinstance(data, Message):
            return data
        data = dump(exclude_none=True)
    data = dict(data)
    role = data.get("role")
    if role == "developer":
        data["role"] = "system"
    elif role == "function":
        raise ValueError("role 'function' (legacy) is not supported; use role 'tool' with "
                         "tool_call_id")
    for key in ("function_call", "audio"):
        if data.pop(key, None) is not None:
            raise ValueError(f"{key} is not supported in messages; use tool_calls / text")
    data.pop("refusal", None)
    data.pop("annotations", None)
    content = data.get("content", "")
    if content is None:
        data["content"] = ""
    elif isinstance(content, list):
        data["content"] = [_part_from_openai(j, p) for j, p in enumerate(content)]
    if data.get("tool_calls", ()) is None:
        data["tool_calls"] = []
    return data


def _part_from_openai(j: int, part: Any) -> Any:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, Mapping):
        return part
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, str):
            return {"type": "image", "url": image}
        if not isinstance(image, Mapping) or not image.get("url"):
            raise ValueError(f"content[{j}].image_url: give {{'url': ...}}")
        return {"type": "image", "url": image["url"], "detail": image.get("detail")}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal") or ""}
    if kind in _UNSUPPORTED_PARTS:
        raise ValueError(
            f"content[{j}]: {_UNSUPPORTED_PARTS[kind]} ({kind!r}) is not supported; "
            "give text and image_url parts"
        )
    return part


def _union_tag(step: str, after_index: bool) -> bool:
    """Unions add the branch as a path step (``str``, ``list[...]``, a part's ``text`` tag)."""
    return step == "str" or "[" in step or (after_index and step in ("text", "image"))


def _validation_error(exc: ValidationError, prefix: str = "") -> RequestValidationError:
    """One line naming the field, in place of pydantic's multi-line report."""
    errors = exc.errors(include_url=False)
    first = max(errors, key=lambda e: len(e.get("loc", ())))  # the deepest is the most exact
    field, after_index = prefix, False
    for step in first.get("loc", ()):
        if isinstance(step, int):
            field += f"[{step}]"
        elif not _union_tag(step, after_index):
            field += f".{step}" if field else str(step)
        after_index = isinstance(step, int)
    msg = str(first.get("msg", "invalid"))
    for lead in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(lead)
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return RequestValidationError(field or "request", msg + more)


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
