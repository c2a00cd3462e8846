"""Outcomes and feedback: what happened on each call, recorded automatically.

Every attempt the executor finishes becomes an :class:`Outcome` (latency, time to first token,
tokens per second, success or error kind, tokens, cost). Quality arrives later, by decision id,
from the user or from automatic scorers. Learning strategies subscribe with
:meth:`FeedbackLoop.subscribe`; the loop itself keeps per-target latency windows (for hedging
percentiles) and a bounded index of recent decisions (for feedback by id).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from smartroute_llm.errors import ConfigurationError, ErrorKind
from smartroute_llm.plan import Profile
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatResponse
from smartroute_llm.strategies.feed import OutcomeListener

if TYPE_CHECKING:
    from smartroute_llm.router import Router

log = logging.getLogger("smartroute.feedback")

QualityScorer = Callable[[ChatRequest, ChatResponse], "float | None"]


@dataclass(slots=True)
class Outcome:
    target: str
    model: str
    complexity_class: str
    ok: bool
    latency_s: float
    ttft_s: float | None = None
    output_tokens: int = 0
    input_tokens: int = 0
    tokens_per_s: float | None = None
    cost_usd: float = 0.0
    error_kind: ErrorKind | None = None
    quality: float | None = None
    decision_id: str | None = None
    at: float = 0.0


# A strategy reports the prompt context of a decision in its candidates' parts under these
# names; feedback by decision id hands them back with the quality.
CONTEXT_PARTS: tuple[str, ...] = ("cluster_coarse", "cluster")


_WINDOW = 128
_DECISIONS_KEPT = 10_000


class FeedbackLoop:
    def __init__(
        self,
        router: Router,
        *,
        scorers: Sequence[QualityScorer] = (),
        sample_rate: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigurationError(f"scorer_sample_rate: must be in [0, 1], got {sample_rate}")
        self.router = router
        self.scorers = list(scorers)
        self.sample_rate = sample_rate
        self._rng = random.Random(seed)
        self._listeners: list[OutcomeListener] = []
        self._latency: dict[str, deque[float]] = {}
        self._ttft: dict[str, deque[float]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._decisions: OrderedDict[str, tuple[str, str, tuple[int, ...] | None]] = (
            OrderedDict()
        )
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.router.policy.feedback

    def subscribe(self, listener: OutcomeListener) -> None:
        self._listeners.append(listener)

    @property
    def profiles(self) -> list[Profile]:
        return self.router.profiles

    # --- in-flight accounting (read by strategies that estimate queueing) -----------------

    def started(self, target: str) -> None:
        with self._lock:
            self._inflight[target] = self._inflight.get(target, 0) + 1

    def finished(self, target: str) -> None:
        with self._lock:
            self._inflight[target] = max(0, self._inflight.get(target, 0) - 1)

    def inflight(self, target: str) -> int:
        return self._inflight.get(target, 0)

    # --- recording ---------------------------------------------------------------------------

    def record_outcome(
        self, outcome: Outcome, context: tuple[int, ...] | None = None
    ) -> None:
        """``context``: the prompt context of a successful call's decision (the strategy's
        ``CONTEXT_PARTS``), handed back with feedback by id; noted once the listeners have
        seen the outcome."""
        target = outcome.target
        with self._lock:
            counts = self._counts.get(target)
            if counts is None:
                counts = self._counts[target] = {"ok": 0, "error": 0}
            if outcome.ok:
                counts["ok"] += 1
                window = self._latency.get(target)
                if window is None:
                    window = self._latency[target] = deque(maxlen=_WINDOW)
                window.append(outcome.latency_s)
                if outcome.ttft_s is not None:
                    window = self._ttft.get(target)
                    if window is None:
                        window = self._ttft[target] = deque(maxlen=_WINDOW)
                    window.append(outcome.ttft_s)
                if outcome.decision_id:
                    decisions = self._decisions
                    decisions[outcome.decision_id] = (target, outcome.complexity_class, None)
                    while len(decisions) > _DECISIONS_KEPT:
                        decisions.popitem(last=False)
            else:
                counts["error"] += 1
        if self._listeners and self.enabled:
            for listener in self._listeners:
                listener.on_outcome(outcome)
        if context and outcome.ok and outcome.decision_id:
            self._set_context(outcome.decision_id, context)

    def score_automatically(
        self, request: ChatRequest, response: ChatResponse, decision_id: str
    ) -> float | None:
        """Note the decision's prompt context (the strategy's ``CONTEXT_PARTS``) for feedback
        by id, then :meth:`score` the answer."""
        self._note_context(response, decision_id)
        return self.score(request, response, decision_id)

    def score(
        self, request: ChatRequest, response: ChatResponse, decision_id: str
    ) -> float | None:
        """Run the configured scorers (sampled); their mean becomes the decision's quality."""
        if not self.scorers or self._rng.random() >= self.sample_rate:
            return None
        scores = []
        for scorer in self.scorers:
            try:
                q = scorer(request, response)
            except Exception:  # a broken scorer must not fail the call
                log.warning("quality scorer %r raised; ignored", scorer, exc_info=True)
                continue
            if q is not None:
                scores.append(min(1.0, max(0.0, float(q))))
        if not scores:
            return None
        quality = sum(scores) / len(scores)
        self.record_feedback(decision_id, quality)
        return quality

    def _note_context(self, response: ChatResponse, decision_id: str) -> None:
        d = response.decision
        if d is None or not d.candidates:
            return
        parts = next((c.parts for c in d.candidates if c.target == d.target), None)
        if not parts:
            return
        ctx = tuple(int(parts[k]) for k in CONTEXT_PARTS if k in parts)
        if ctx:
            self._set_context(decision_id, ctx)

    def _set_context(self, decision_id: str, ctx: tuple[int, ...]) -> None:
        with self._lock:
            entry = self._decisions.get(decision_id)
            if entry is not None:
                self._decisions[decision_id] = (entry[0], entry[1], ctx)

    def record_feedback(self, decision_id: str, quality: float) -> bool:
        _check_quality(quality)
        entry = self._decisions.get(decision_id)
        if entry is None:
            return False
        target, cls, ctx = entry
        self._emit_quality(target, cls, quality, ctx)
        return True

    def record_external(self, provider: str, latency: float, quality: float | None) -> None:
        """The seed's ``record_routing_decision``: by target or model name."""
        if latency < 0:
            raise ValueError(f"latency: must be >= 0 seconds, got {latency}")
        name = self._resolve(provider)
        profile = self.router.profile(name)
        self.record_outcome(
            Outcome(
                target=name,
                model=profile.model,
                complexity_class="all",
                ok=True,
                latency_s=latency,
                at=self.router.clock(),
            )
        )
        if quality is not None:
            _check_quality(quality)
            self._emit_quality(name, "all", quality)

    def _emit_quality(
        self, target: str, cls: str, quality: float, context: tuple[int, ...] | None = None
    ) -> None:
        if not self.enabled:
            return
        now = self.router.clock()
        for listener in self._listeners:
            if context:
                listener.on_quality(target, cls, quality, now, context)
            else:
                listener.on_quality(target, cls, quality, now)

    def _resolve(self, provider: str) -> str:
        for p in self.router.profiles:
            if provider in (p.name, p.model):
                return p.name
        names = [p.name for p in self.router.profiles]
        raise KeyError(f"record_routing_decision: unknown provider {provider!r}; targets: {names}")

    # --- reading -----------------------------------------------------------------------------

    def latency_quantile(self, target: str, q: float, *, ttft: bool = False) -> float | None:
        window = (self._ttft if ttft else self._latency).get(target)
        if not window:
            return None
        values = sorted(window)
        return values[min(len(values) - 1, int(q * len(values)))]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.router.profiles:
            lat = self._latency.get(p.name)
            out[p.name] = {
                "model": p.model,
                "calls": dict(self._counts.get(p.name, {"ok": 0, "error": 0})),
                "latency_p50_s": self.latency_quantile(p.name, 0.5),
                "latency_p90_s": self.latency_quantile(p.name, 0.9),
                "samples": len(lat) if lat else 0,
                "inflight": self.inflight(p.name),
            }
        learned = getattr(self.router.strategy, "stats", None)
        if callable(learned):
            return {"targets": out, "learned": learned()}
        return {"targets": out}

    def save(self, path: str) -> None:
        state = getattr(self.router.strategy, "export_state", None)
        data = {
            "latency": {k: list(v) for k, v in self._latency.items()},
            "ttft": {k: list(v) for k, v in self._ttft.items()},
            "counts": self._counts,
            "learned": state() if callable(state) else None,
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)

    def load(self, path: str) -> None:
        """Restore :meth:`save`'d statistics. The whole file is checked before anything is
        replaced: a bad file raises :class:`ConfigurationError` naming the entry and field,
        and the router keeps the statistics it had."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except ValueError as exc:
            raise ConfigurationError(f"stats file {path!r}: not valid JSON ({exc})") from None
        try:
            latency, ttft, counts = _checked_stats(data)
            restore = getattr(self.router.strategy, "import_state", None)
            if callable(restore) and data.get("learned") is not None:
                restore(data["learned"])  # checks every record before storing any
        except ValueError as exc:
            raise ConfigurationError(f"stats file {path!r}: {exc}") from None
        with self._lock:
            self._latency = latency
            self._ttft = ttft
            self._counts = counts


def _checked_stats(
    data: Any,
) -> tuple[dict[str, deque[float]], dict[str, deque[float]], dict[str, dict[str, int]]]:
    """The latency windows and call counts of a saved file, or a ``ValueError`` naming the
    first bad entry."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with 'latency', 'ttft', 'counts', 'learned'")
    windows: list[dict[str, deque[float]]] = []
    for section in ("latency", "ttft"):
        entries = _section(data, section)
        out: dict[str, deque[float]] = {}
        for target, values in entries.items():
            if not isinstance(values, list) or not all(
                _is_number(v) and v >= 0 for v in values
            ):
                raise ValueError(
                    f"{section}[{target!r}]: expected a list of seconds (finite numbers >= 0)"
                )
            out[target] = deque((float(v) for v in values), maxlen=_WINDOW)
        windows.append(out)
    counts: dict[str, dict[str, int]] = {}
    for target, entry in _section(data, "counts").items():
        if not isinstance(entry, dict) or set(entry) != {"ok", "error"}:
            raise ValueError(f"counts[{target!r}]: expected an object {{'ok': n, 'error': n}}")
        for field in ("ok", "error"):
            v = entry[field]
            if not (_is_number(v) and float(v).is_integer() and v >= 0):
                raise ValueError(
                    f"counts[{target!r}]: field {field!r} must be an integer >= 0, got {v!r}"
                )
        counts[target] = {"ok": int(entry["ok"]), "error": int(entry["error"])}
    return windows[0], windows[1], counts


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    entries = data.get(name, {})
    if not isinstance(entries, dict):
        raise ValueError(f"{name!r}: expected an object of target -> entry")
    return entries


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_quality(quality: float) -> None:
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"quality: must be in [0, 1], got {quality}")


def outcome_dict(o: Outcome) -> dict[str, Any]:
    return asdict(o)
