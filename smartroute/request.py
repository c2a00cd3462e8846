"""A neutral chat request: what every target is asked, whatever vendor or framework it came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    """A complete tool call requested by the model; ``arguments`` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Role
    content: str | list[ContentPart] = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

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
    """Accept a ready request, a prompt string, or a list of messages (dicts or Message)."""
    if isinstance(value, ChatRequest):
        return value.model_copy(update=kwargs) if kwargs else value
    if value is None:
        if "messages" not in kwargs:
            raise TypeError("pass a prompt string, a list of messages, or a ChatRequest")
        return ChatRequest(**kwargs)
    if isinstance(value, str):
        return ChatRequest(messages=[Message(role="user", content=value)], **kwargs)
    msgs = [m if isinstance(m, Message) else Message.model_validate(m) for m in value]
    return ChatRequest(messages=msgs, **kwargs)
