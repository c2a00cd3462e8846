"""The record of one routed call: who answered, why, what was tried, what it cost.

It is JSON-serializable (``decision.model_dump(mode="json")``) and never holds a secret: only
target names, model names, numbers and sanitized error text.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from smartroute_llm.errors import ErrorKind, ProviderError
from smartroute_llm.request import FieldDefaults
from smartroute_llm.response import Usage

_NO_USAGE = Usage()

M = TypeVar("M", bound=BaseModel)


def _defaults(cls: type[BaseModel]) -> FieldDefaults:
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = FieldDefaults(cls)
    return found


_DEFAULTS: dict[type[BaseModel], FieldDefaults] = {}


def trusted(cls: type[M], **values: Any) -> M:
    """Build a model from values the router produced itself, which are valid by construction,
    skipping validation: :func:`made` with keywords."""
    return made(cls, values)


def made(cls: type[M], values: dict[str, Any]) -> M:
    """A model over ``values`` (a fresh dict the model keeps) without validation. This runs
    several times per routed call, where even pydantic's ``model_construct`` (which recomputes
    defaults and the fields-set per field) is the largest cost. Fields not given take their
    defaults and stay out of the fields-set, as validation leaves them (so a field added to a
    model later keeps its callers on this path). Falls back to ``model_construct`` for names
    that are not fields, or if pydantic's instance layout is not the one checked at import."""
    keys = _FIELDS.get(cls)
    if keys is None:
        keys = _FIELDS[cls] = set(cls.model_fields)
    if not _FAST:
        return cls.model_construct(**values)
    if len(values) == len(keys):
        given = keys.copy()
    elif keys.issuperset(values):
        given = set(values)
        values = _defaults(cls).values(**values)
    else:
        return cls.model_construct(**values)
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields_set(obj, given)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def assign(obj: BaseModel, **values: Any) -> None:
    """Set fields of a model the router owns, as plain assignment does (no validation, the
    names join the fields-set) but in one step instead of one ``__setattr__`` per field."""
    obj.__dict__.update(values)
    obj.__pydantic_fields_set__.update(values)


_FIELDS: dict[type[BaseModel], set[str]] = {}
# pydantic's instance slots, set directly (what object.__setattr__ would look up each time)
_new = object.__new__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    slot = vars(BaseModel).get(name)
    if slot is not None and hasattr(slot, "__set__"):
        return slot.__set__  # type: ignore[no-any-return]
    return lambda obj, value: object.__setattr__(obj, name, value)


_set_dict = _slot_setter("__dict__")
_DICT_SLOT: Any = vars(BaseModel)["__dict__"]
_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")


class Attempt(BaseModel):
    """One call to one target. Failed attempts are listed, never billed as completions."""

    target: str
    model: str
    provider: str = ""
    started_s: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    ok: bool = False
    error_kind: ErrorKind | None = None
    status_code: int | None = None
    message: str | None = None
    hedge: bool = False
    cancelled: bool = False
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    error: ProviderError | None = Field(default=None, exclude=True, repr=False)

    model_config = {"arbitrary_types_allowed": True}

    @classmethod
    def start(
        cls, target: str, model: str, provider: str, started_s: float, hedge: bool = False
    ) -> Attempt:
        """A new attempt, built without validation or default factories (hot path)."""
        values = _BLANK_ATTEMPT.copy()
        values["target"] = target
        values["model"] = model
        values["provider"] = provider
        values["started_s"] = started_s
        values["hedge"] = hedge
        return made(cls, values)


_BLANK_ATTEMPT: dict[str, Any] = {
    "target": "",
    "model": "",
    "provider": "",
    "started_s": 0.0,
    "latency_s": 0.0,
    "ttft_s": None,
    "ok": False,
    "error_kind": None,
    "status_code": None,
    "message": None,
    "hedge": False,
    "cancelled": False,
    "usage": _NO_USAGE,
    "cost_usd": 0.0,
    "error": None,
}


class ScoredSummary(BaseModel):
    target: str
    model: str
    score: float
    parts: dict[str, float] = Field(default_factory=dict)


class ExcludedSummary(BaseModel):
    target: str
    model: str
    reason: str


_OMIT_NONE: dict[str, Any] = (
    {"exclude_if": lambda v: v is None}
    if "exclude_if" in inspect.signature(Field).parameters
    else {}
)


class CascadeRung(BaseModel):
    """One rung of a cascade as it went: who answered, what the verifiers said, what it cost.

    ``verdict``: ``accepted``, ``rejected`` (a whole answer, or a streamed prefix), ``final``
    (the last rung, returned as is), ``committed`` (a streamed answer whose prefix passed and
    that then left for the caller), ``error`` (the rung failed; the ladder moved on) or
    ``skipped`` (not started: deadline, circuit open, limits). ``cost_usd`` is the rung's
    answer plus its verifiers' own model calls (``verify_cost_usd``)."""

    rung: int
    target: str
    model: str = ""
    verdict: str
    verifier: str = ""
    reason: str = ""
    confidence: float | None = None
    cost_usd: float = 0.0
    verify_cost_usd: float = 0.0
    latency_s: float = 0.0


class CascadeRecord(BaseModel):
    """The ladder of a cascade call: its rungs in order, where it started (``start`` > 0 when
    the statistics of the prompt's cluster skipped rungs that usually fail), and every rung
    tried."""

    ladder: list[str] = Field(default_factory=list)
    start: int = 0
    start_reason: str = ""
    stream: str | None = None
    rungs: list[CascadeRung] = Field(default_factory=list)

    @property
    def answered(self) -> CascadeRung | None:
        """The rung whose answer was returned."""
        for r in reversed(self.rungs):
            if r.verdict in ("accepted", "final", "committed"):
                return r
        return next((r for r in reversed(self.rungs) if r.verdict == "rejected"), None)

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.rungs)

    def explain(self) -> str:
        """The ladder as lines: one per rung tried, with its verdict, reason and cost."""
        lines = [f"cascade ladder: {' -> '.join(self.ladder)}"]
        if self.start:
            lines.append(f"  started at rung {self.start + 1}: {self.start_reason}")
        for r in self.rungs:
            why = f" by {r.verifier}" if r.verifier else ""
            why += f": {r.reason}" if r.reason else ""
            lines.append(
                f"  {r.rung}. {r.target:<24} {r.verdict}{why}  ${r.cost_usd:.6f}"
                f" {r.latency_s * 1000:.0f} ms"
            )
        lines.append(f"  total ${self.cost_usd:.6f}")
        return "\n".join(lines)


class RoutingDecision(BaseModel):
    decision_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = Field(default_factory=time.time)
    target: str
    model: str
    provider: str = ""
    strategy: str
    reason: str = ""
    complexity: float = 0.0
    complexity_class: str = "simple"
    prompt_tokens_estimate: int = 0
    candidates: list[ScoredSummary] = Field(default_factory=list)
    excluded: list[ExcludedSummary] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    latency_s: float = 0.0
    ttft_s: float | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    quality: float | None = None
    explanation: dict[str, Any] = Field(default_factory=dict)
    # set by a cascade (RoutingStrategy.CASCADE): every rung, its verdict and cost; left out
    # of dumps when None, so other decisions serialize as before
    cascade: CascadeRecord | None = Field(None, **_OMIT_NONE)

    @property
    def fallbacks(self) -> int:
        return sum(1 for a in self.attempts if not a.ok and not a.cancelled)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def deferred(
        cls,
        values: dict[str, Any],
        summaries: Callable[[], tuple[list[ScoredSummary], list[ExcludedSummary]]],
    ) -> RoutingDecision:
        """A decision over ``values`` (every field but ``candidates`` and ``excluded``) whose
        two summaries ``summaries()`` builds when something first reads them: most routed
        calls' decisions are never inspected, and the summaries are their largest part. Every
        way to read a decision (attributes, dumps alone or nested, ``==``, repr, iteration,
        copies, pickling, ``vars()``) sees them built."""
        if not _FAST or "candidates" in values or "excluded" in values:
            scored, excluded = summaries()
            return made(cls, {**values, "candidates": scored, "excluded": excluded})
        values["candidates"] = values["excluded"] = None  # all fields given: no defaults made
        obj = made(cls, values)
        del values["candidates"], values["excluded"]
        _set_private(obj, {_PENDING: summaries})
        return obj

    def _build_summaries(self) -> dict[str, Any]:
        """The fields, with deferred summaries built (in field order among the others)."""
        have: dict[str, Any] = _DICT_SLOT.__get__(self)
        try:
            pending = self.__pydantic_private__
        except AttributeError:  # being built by pydantic itself
            return have
        if not pending or _PENDING not in pending:
            return have
        built = dict(zip(_SUMMARIES, pending[_PENDING](), strict=True))
        _set_private(self, None)
        fields = {
            name: have[name] if name in have else built[name]
            for name in _DECISION_FIELDS
            if name in have or name in built
        }
        _set_dict(self, fields)
        return fields

    if not TYPE_CHECKING:  # typed code sees the fields; these only build summaries on first read

        def __getattr__(self, name: str) -> Any:
            if name in _SUMMARIES:
                fields = self._build_summaries()
                if name in fields:
                    return fields[name]
            return super().__getattr__(name)

        # Every other way to read a model (pydantic-core's dumps, repr, iteration, vars())
        # goes through __dict__: the summaries are built there first. Equality, copies and
        # pickling read the pending summaries (private state) before it: they build first.
        __dict__ = property(_build_summaries, _set_dict)

    def __eq__(self, other: object) -> bool:
        self._build_summaries()
        if isinstance(other, RoutingDecision):
            other._build_summaries()
        return super().__eq__(other)

    def __copy__(self) -> RoutingDecision:
        self._build_summaries()
        return super().__copy__()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> RoutingDecision:
        self._build_summaries()
        return super().__deepcopy__(memo)

    def __getstate__(self) -> dict[Any, Any]:
        self._build_summaries()
        return super().__getstate__()

    @classmethod
    def build(cls, **values: Any) -> RoutingDecision:
        """Built without validation or default factories: the router's values are already
        valid and this runs on every call."""
        if "decision_id" not in values:
            values["decision_id"] = uuid.uuid4().hex
        values.setdefault("created_at", time.time())
        values.setdefault("quality", None)
        values.setdefault("explanation", {})
        values.setdefault("cascade", None)
        return trusted(cls, **values)


_SUMMARIES = ("candidates", "excluded")
_PENDING = "summaries"  # the key of a deferred decision's pending summaries
_DECISION_FIELDS = tuple(RoutingDecision.model_fields)


def _resolve_forward_refs() -> None:
    from smartroute_llm.response import ChatChunk, ChatResponse

    ns = {"RoutingDecision": RoutingDecision}
    ChatResponse.model_rebuild(_types_namespace=ns)
    ChatChunk.model_rebuild(_types_namespace=ns)


_resolve_forward_refs()


def _fast_layout_ok() -> bool:
    try:
        values = {"target": "t", "model": "m", "reason": "r"}
        check = _new(ExcludedSummary)
        _set_dict(check, dict(values))
        _set_fields_set(check, set(values))
        _set_extra(check, None)
        _set_private(check, None)
        assign(check, reason="s")
        return bool(
            ExcludedSummary(**{**values, "reason": "s"}) == check
            and check.model_dump() == {**values, "reason": "s"}
            and check.model_fields_set == set(values)
            and check.model_copy(update={"reason": "x"}).reason == "x"
        )
    except Exception:
        return False


_FAST = _fast_layout_ok()
