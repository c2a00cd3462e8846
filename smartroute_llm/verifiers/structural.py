"""Structural checks: answers that are wrong by their shape, whatever the question.

Cheap (no model call) and nearly free of false rejects, so they belong at the head of every
cascade: an empty answer, a refusal, an answer cut off by the token limit (``finish_reason``
``length``), JSON that does not parse or does not match the request's ``response_format``
schema, tool calls to unknown tools or whose arguments do not match the tool's ``parameters``
schema, and a tool call the request required but did not get.

Schemas are validated with ``jsonschema`` (the ``verify`` extra: ``pip install
'smartroute-llm[verify]'``). ``schemas=None`` (the default) validates when it is installed and
otherwise only checks that JSON parses and tools exist; ``schemas=True`` requires it.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatResponse
from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict
from smartroute_llm.verifiers.refusal import is_refusal, refusal_prefix

_REASON_CHARS = 160
_VALIDATORS_KEPT = 256


class StructuralVerifier(BaseVerifier):
    """Rejects an answer that is empty, a refusal, truncated, or not the JSON / tool call the
    request asked for; each check can be switched off. The first failing check is the reason.

    ``check_prefix`` judges a streamed answer's opening: a refusal opening, or text that cannot
    start the JSON asked for, rejects; an opening long enough to rule out a refusal accepts;
    anything shorter (or nothing yet) has no verdict."""

    name = "structural"

    def __init__(
        self,
        *,
        empty: bool = True,
        refusal: bool = True,
        truncated: bool = True,
        json_format: bool = True,
        tools: bool = True,
        schemas: bool | None = None,
        name: str = "structural",
    ) -> None:
        self.empty, self.refusal, self.truncated = empty, refusal, truncated
        self.json_format, self.tools = json_format, tools
        self.name = name
        self._jsonschema: Any = None if schemas is False else _load_jsonschema(bool(schemas))
        self._validators: dict[int, tuple[Any, Any]] = {}

    def verify(self, check: Check) -> Verdict:
        problem = self.problem(check.request, check.response)
        if problem is not None:
            return Verdict(False, problem, verifier=self.name)
        return Verdict(True, "well formed", verifier=self.name)

    def problem(self, request: ChatRequest, response: ChatResponse) -> str | None:
        """The first structural fault of ``response`` to ``request`` (``None``: none)."""
        text = response.text
        if self.empty and not text.strip() and not response.tool_calls:
            return "empty answer"
        if self.truncated and response.finish_reason == "length":
            return "truncated (finish_reason length)"
        if self.refusal and not response.tool_calls and is_refusal(text):
            return "refusal"
        if self.json_format and request.needs_json and not response.tool_calls:
            fault = self._json_problem(request, text)
            if fault is not None:
                return fault
        if self.tools:
            return self._tool_problem(request, response)
        return None

    def check_prefix(self, request: ChatRequest, text: str) -> Verdict | None:
        head = text.lstrip()
        if not head:
            return None
        if self.json_format and request.needs_json:
            if head[0] not in "{[":
                return Verdict(False, "answer does not start as JSON", verifier=self.name)
            return Verdict(True, "opens as JSON", verifier=self.name)
        if self.refusal:
            opening = refusal_prefix(head)
            if opening is True:
                return Verdict(False, "refusal", verifier=self.name)
            if opening is None:
                return None
        return Verdict(True, "well-formed opening", verifier=self.name)

    # --- JSON and tools ---------------------------------------------------------------------

    def _json_problem(self, request: ChatRequest, text: str) -> str | None:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return _short(f"JSON does not parse: {exc}")
        fmt = request.response_format
        if fmt is None:
            return None
        if fmt.type == "json_object" and not isinstance(value, dict):
            return "JSON is not an object (response_format json_object)"
        if fmt.type == "json_schema" and fmt.json_schema:
            error = self._schema_error(fmt.json_schema, value)
            if error is not None:
                return _short(f"JSON does not match the response_format schema: {error}")
        return None

    def _tool_problem(self, request: ChatRequest, response: ChatResponse) -> str | None:
        calls = response.tool_calls
        choice = request.tool_choice
        if not calls:
            if request.tools and (choice == "required" or choice not in (None, "auto", "none")):
                return f"no tool call, but tool_choice is {choice!r}"
            return None
        specs = {t.name: t for t in request.tools}
        for call in calls:
            spec = specs.get(call.name)
            if spec is None:
                return _short(f"tool call to unknown tool {call.name!r}")
            if choice not in (None, "auto", "none", "required") and call.name != choice:
                return _short(f"tool call to {call.name!r}, but tool_choice is {choice!r}")
            error = self._schema_error(spec.parameters, call.arguments)
            if error is not None:
                return _short(f"tool {call.name!r} arguments do not match its schema: {error}")
        return None

    def _schema_error(self, schema: dict[str, Any], value: Any) -> str | None:
        """The first schema violation, or ``None`` (also when ``jsonschema`` is absent or the
        schema itself is invalid: the request's schema is the caller's to fix, not the
        answer's fault)."""
        if self._jsonschema is None:
            return None
        validator = self._validator(schema)
        if validator is None:
            return None
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return None
        where = getattr(error, "json_path", "$")
        return f"{where}: {error.message}"

    def _validator(self, schema: dict[str, Any]) -> Any:
        """Schemas are built once and sent on every call: each compiled validator is kept
        (by identity, holding the schema so the id stays its own)."""
        kept = self._validators.get(id(schema))
        if kept is not None and kept[0] is schema:
            return kept[1]
        js = self._jsonschema
        cls = js.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
            validator = cls(schema)
        except js.exceptions.SchemaError:
            validator = None
        if len(self._validators) >= _VALIDATORS_KEPT:
            self._validators.clear()
        self._validators[id(schema)] = (schema, validator)
        return validator


def _load_jsonschema(required: bool) -> Any:
    try:
        return importlib.import_module("jsonschema")
    except ImportError:
        if required:
            raise ImportError(
                "StructuralVerifier(schemas=True) needs jsonschema: pip install "
                "'smartroute-llm[verify]' (or pass schemas=None to check JSON syntax only)"
            ) from None
        return None


def _short(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
