"""Per-target circuit breakers: closed -> open (cooldown) -> half-open (one probe) -> closed.

State is kept in the router's :class:`StateStore` (namespace ``"breaker"``), mirrored in a
local dict of currently-open targets so the planner's check is one dict lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from smartroute.errors import ErrorKind
from smartroute.policy import CircuitBreakerConfig
from smartroute.state import Record, StateStore

if TYPE_CHECKING:
    from smartroute.plan import Profile

NS = "breaker"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Errors that say nothing about the target's health.
_NEUTRAL = {
    ErrorKind.CONTENT_FILTER,
    ErrorKind.INVALID_REQUEST,
    ErrorKind.CONTEXT_LENGTH,
    ErrorKind.DEADLINE,
    ErrorKind.CIRCUIT_OPEN,
}


class CircuitBreakers:
    def __init__(
        self, config: CircuitBreakerConfig, store: StateStore, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._open: dict[str, float] = {}  # target -> until (monotonic clock)
        self._probing: set[str] = set()
        self._lock = threading.Lock()

    def state(self, target: str) -> str:
        rec = self.store.get(NS, target)
        if rec is None or rec["state"] == CLOSED:
            return CLOSED
        if rec["state"] == OPEN and self.clock() >= rec["until"]:
            return HALF_OPEN
        return str(rec["state"])

    def blocked(self) -> dict[str, str]:
        """Targets the planner must skip now, with the reason."""
        if not self._open:
            return {}
        now = self.clock()
        out = {}
        for name, until in list(self._open.items()):
            if now < until:
                out[name] = f"circuit open for another {until - now:.1f}s"
            elif name in self._probing:
                out[name] = "circuit half-open, probe in flight"
        return out

    def acquire(self, target: str) -> bool:
        """Called before an attempt: False if the breaker refuses it (open, or a probe is
        already in flight)."""
        if not self.config.enabled:
            return True
        until = self._open.get(target)
        if until is None:
            return True
        with self._lock:
            if self.clock() < until or target in self._probing:
                return False
            self._probing.add(target)
            return True

    def probe_candidate(self, profiles: Sequence[Profile]) -> Profile | None:
        """When every target is open, the least-recently-failed one is tried anyway (a forced
        probe), so a call is never refused untried."""
        best: tuple[bool, float, Profile] | None = None
        for p in profiles:
            rec = self.store.get(NS, p.name) or {}
            key = (p.name in self._probing, float(rec.get("last_failure", 0.0)), p)
            if best is None or key[:2] < best[:2]:
                best = key
        return None if best is None else best[2]

    def force(self, target: str) -> None:
        """Admit a forced probe (see :meth:`probe_candidate`)."""
        with self._lock:
            self._probing.add(target)

    def record_success(self, target: str) -> None:
        if not self.config.enabled:
            return
        with self._lock:
            self._probing.discard(target)
            self._open.pop(target, None)
        if _settled(self.store.get(NS, target), self.config.window):
            return  # closed, and the window is all successes: another one changes nothing
        self.store.update(NS, target, _success(self.config))

    def record_failure(self, target: str, kind: ErrorKind) -> None:
        if not self.config.enabled:
            return
        if kind in _NEUTRAL:
            with self._lock:
                self._probing.discard(target)
            return
        now = self.clock()
        rec = self.store.update(NS, target, _failure(self.config, now, kind))
        with self._lock:
            self._probing.discard(target)
            if rec["state"] == OPEN:
                self._open[target] = float(rec["until"])

    def release(self, target: str) -> None:
        """An attempt ended without a verdict (cancelled): free the probe slot."""
        with self._lock:
            self._probing.discard(target)

    def snapshot(self) -> dict[str, Any]:
        return {k: dict(v, state=self.state(k)) for k, v in self.store.items(NS)}


def _empty() -> Record:
    return {
        "state": CLOSED,
        "failures": 0,
        "window": [],
        "until": 0.0,
        "opens": 0,
        "last_failure": 0.0,
    }


def _settled(rec: Record | None, window: int) -> bool:
    if rec is None or rec["state"] != CLOSED or rec["failures"]:
        return False
    w = rec["window"]
    return len(w) == window and not any(w)


def _success(cfg: CircuitBreakerConfig) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = dict(rec or _empty())
        rec["failures"] = 0
        rec["window"] = (rec["window"] + [0])[-cfg.window :]
        if rec["state"] != CLOSED:
            rec.update(state=CLOSED, opens=0, window=[])
        return rec

    return fn


def _failure(
    cfg: CircuitBreakerConfig, now: float, kind: ErrorKind
) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = dict(rec or _empty())
        rec["failures"] += 1
        rec["last_failure"] = now
        window = (rec["window"] + [1])[-cfg.window :]
        rec["window"] = window
        rate_trip = len(window) >= cfg.min_calls and sum(window) / len(window) >= cfg.failure_rate
        trip = (
            rec["state"] != CLOSED  # a failed half-open probe re-opens
            or rec["failures"] >= cfg.failure_threshold
            or rate_trip
            or kind is ErrorKind.AUTHENTICATION
        )
        if trip:
            opens = rec["opens"] + 1
            cooldown = min(cfg.max_cooldown_s, cfg.cooldown_s * 2 ** (opens - 1))
            rec.update(state=OPEN, opens=opens, until=now + cooldown, window=[])
        return rec

    return fn
