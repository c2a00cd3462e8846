"""Per-target circuit breakers: closed -> open (cooldown) -> half-open (one probe) -> closed.

The truth lives in the router's :class:`StateStore` (namespace ``"breaker"``), so routers that
share a store share their circuits. Times in it are wall-clock seconds (``time.time``), which
mean the same in every process and host. Each router keeps a local mirror of the circuits that
are not closed, refreshed when the store says it changed (``revision``) or, for stores that
cannot say, at most every :data:`SYNC_INTERVAL_S`; so the planner's check stays a dict lookup.

The lifecycle, as documented in docs and enforced here:

- closed: every call may go; ``failure_threshold`` consecutive failures, a failure rate over the
  window, or an authentication error opens the circuit for ``cooldown_s``.
- open: no call goes upstream. Failures of attempts admitted before it opened change nothing.
- half-open (the cooldown is over): exactly one attempt, the probe, is admitted: one request,
  its retries included (the executor asks :meth:`acquire` before every request). The probe's
  claim is a lease in the store, so a process that dies holding it frees it after
  ``probe_lease_s``. A successful probe closes the circuit; a failed one re-opens it with the
  cooldown doubled (once per failed probe, capped at ``max_cooldown_s``); a probe that ends
  without a verdict (cancelled) frees the slot for the next call.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from smartroute_llm.errors import ErrorKind
from smartroute_llm.policy import CircuitBreakerConfig
from smartroute_llm.state import Record, StateStore

log = logging.getLogger("smartroute")

NS = "breaker"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SYNC_INTERVAL_S = 0.5
# Errors that say nothing about the target's health.
_NEUTRAL = {
    ErrorKind.CONTENT_FILTER,
    ErrorKind.INVALID_REQUEST,
    ErrorKind.CONTEXT_LENGTH,
    ErrorKind.DEADLINE,
    ErrorKind.CIRCUIT_OPEN,
}


def cooldown_for(cfg: CircuitBreakerConfig, opens: int) -> float:
    """``cooldown_s`` doubled per failed probe, capped; never raises, whatever ``opens`` is."""
    exp = min(max(int(opens) - 1, 0), 64)
    value = min(cfg.max_cooldown_s, cfg.cooldown_s * math.ldexp(1.0, exp))
    return value if math.isfinite(value) else cfg.max_cooldown_s


class CircuitBreakers:
    def __init__(
        self, config: CircuitBreakerConfig, store: StateStore, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock  # wall-clock seconds (or a test's fake clock)
        # target -> (open until, probe lease until); only circuits that are not closed
        self._open: dict[str, tuple[float, float]] = {}
        self._probing: dict[str, str] = {}  # target -> token of the probe this router holds
        self._lock = threading.Lock()
        self._revision = getattr(store, "revision", None)
        self._seen: Any = None
        self._synced = -math.inf

    # --- reading ---------------------------------------------------------------------------

    def state(self, target: str) -> str:
        rec = self.store.get(NS, target)
        if rec is None or rec.get("state") == CLOSED:
            return CLOSED
        if self.clock() >= float(rec.get("until", 0.0)):
            return HALF_OPEN
        return OPEN

    def _sync(self) -> None:
        """Refresh the mirror when another router (or process) may have changed a circuit."""
        rev = None if self._revision is None else self._revision(NS)
        if rev is not None:
            if rev == self._seen:
                return
            self._seen = rev
        else:
            now = time.monotonic()
            if now - self._synced < SYNC_INTERVAL_S:
                return
            self._synced = now
        mirror = {}
        for name, rec in self.store.items(NS):
            if rec.get("state") == OPEN:
                mirror[name] = (float(rec.get("until", 0.0)), float(rec.get("probe_until", 0.0)))
        self._open = mirror

    def blocked(self) -> dict[str, str]:
        """Targets the planner must skip now, with the reason."""
        if not self.config.enabled:
            return {}
        self._sync()
        if not self._open:
            return {}
        now = self.clock()
        out = {}
        for name, (until, probe_until) in list(self._open.items()):
            if now < until:
                out[name] = f"circuit open for another {until - now:.1f}s"
            elif probe_until > now:
                out[name] = "circuit half-open, probe in flight"
        return out

    def retry_in(self, targets: list[str] | None = None) -> float | None:
        """Seconds until the earliest of ``targets`` (default: all) may be tried again."""
        self._sync()
        now = self.clock()
        waits = [
            max(0.0, until - now, probe_until - now)
            for name, (until, probe_until) in self._open.items()
            if targets is None or name in targets
        ]
        return min(waits) if waits else None

    # --- attempts --------------------------------------------------------------------------

    def acquire(self, target: str) -> bool:
        """Before every request to ``target`` (retries included): False if the circuit refuses
        it. Admitting a half-open probe claims the probe lease; the caller then owes exactly one
        :meth:`record_success`, :meth:`record_failure` or :meth:`release`."""
        if not self.config.enabled:
            return True
        entry = self._open.get(target)
        if entry is None:
            return True
        now = self.clock()
        if now < entry[0] or entry[1] > now or target in self._probing:
            return False
        token = os.urandom(8).hex()
        rec = self.store.update(NS, target, _claim(now, now + self.config.probe_lease_s, token))
        self._mirror(target, rec)
        if rec.get("state") == CLOSED:
            return True  # another router closed it meanwhile
        if rec.get("probe_token") != token:
            return False
        with self._lock:
            if target in self._probing:  # a concurrent claim in this router won
                return False
            self._probing[target] = token
        return True

    def record_success(self, target: str) -> None:
        if not self.config.enabled:
            return
        with self._lock:
            token = self._probing.pop(target, None)
        if token is None and target not in self._open and _settled(
            self.store.get(NS, target), self.config.window
        ):
            return  # closed, and the window is all successes: another one changes nothing
        self._mirror(target, self.store.update(NS, target, _success(self.config)))

    def record_failure(self, target: str, kind: ErrorKind) -> None:
        if not self.config.enabled:
            return
        if kind in _NEUTRAL:
            self.release(target)
            return
        with self._lock:
            token = self._probing.pop(target, None)
        rec = self.store.update(NS, target, _failure(self.config, self.clock(), kind, token))
        self._mirror(target, rec)

    def release(self, target: str) -> None:
        """An attempt ended without a verdict (cancelled, or the client's own lag): free the
        probe slot it may hold. Safe to call when it holds none."""
        with self._lock:
            token = self._probing.pop(target, None)
        if token is not None:
            self._mirror(target, self.store.update(NS, target, _free(token)))

    def snapshot(self) -> dict[str, Any]:
        return {k: dict(v, state=self.state(k)) for k, v in self.store.items(NS)}

    def _mirror(self, target: str, rec: Record) -> None:
        if rec.get("state") == OPEN:
            self._open[target] = (float(rec.get("until", 0.0)), float(rec.get("probe_until", 0.0)))
        else:
            self._open.pop(target, None)


def _empty() -> Record:
    return {
        "state": CLOSED,
        "failures": 0,
        "window": [],
        "until": 0.0,
        "opens": 0,
        "last_failure": 0.0,
        "probe_until": 0.0,
        "probe_token": None,
    }


def _settled(rec: Record | None, window: int) -> bool:
    if rec is None or rec.get("state") != CLOSED or rec.get("failures"):
        return False
    w = rec.get("window", ())
    return len(w) == window and not any(w)


def _claim(now: float, lease_until: float, token: str) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = {**_empty(), **(rec or {})}
        if rec["state"] != OPEN:
            return rec
        if now < rec["until"] or rec["probe_until"] > now:
            return rec
        rec.update(probe_until=lease_until, probe_token=token)
        return rec

    return fn


def _free(token: str) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = {**_empty(), **(rec or {})}
        if rec["probe_token"] == token:
            rec.update(probe_until=0.0, probe_token=None)
        return rec

    return fn


def _success(cfg: CircuitBreakerConfig) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = {**_empty(), **(rec or {})}
        if rec["state"] != CLOSED:
            return _empty()
        rec["failures"] = 0
        rec["window"] = [*rec["window"], 0][-cfg.window :]
        return rec

    return fn


def _failure(
    cfg: CircuitBreakerConfig, now: float, kind: ErrorKind, token: str | None
) -> Callable[[Record | None], Record]:
    def fn(rec: Record | None) -> Record:
        rec = {**_empty(), **(rec or {})}
        rec["last_failure"] = now
        if rec["state"] == OPEN:
            if token is not None and rec["probe_token"] == token:
                opens = min(int(rec["opens"]) + 1, 64)  # the probe failed: escalate, once
                rec.update(opens=opens, until=now + cooldown_for(cfg, opens),
                           probe_until=0.0, probe_token=None)
            return rec  # an attempt admitted before the circuit opened: already counted
        rec["failures"] = int(rec["failures"]) + 1
        window = [*rec["window"], 1][-cfg.window :]
        rec["window"] = window
        rate_trip = len(window) >= cfg.min_calls and sum(window) / len(window) >= cfg.failure_rate
        if rec["failures"] >= cfg.failure_threshold or rate_trip or (
            kind is ErrorKind.AUTHENTICATION
        ):
            rec.update(state=OPEN, opens=1, until=now + cooldown_for(cfg, 1), window=[],
                       failures=0, probe_until=0.0, probe_token=None)
        return rec

    return fn
