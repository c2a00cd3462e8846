"""Counters behind rate limits and budgets, with one contract for every backend.

A reservation is a list of items reserved all together or not at all: a rate item counts one
request and its estimated tokens in the current bucket of a sliding window; a budget item adds
the call's estimated cost to a window's reserved spend. Settling replaces estimates with what
the attempt really used. The in-memory backend does it under a lock; the Redis one
(:mod:`smartroute_llm.limits.redis_counters`) in one Lua script, so it is exact across processes.

Sliding windows are kept as 60 buckets. A bucket counts until its *end* plus the window has
passed, so no window of ``window`` seconds ever holds more than the limit (the price: capacity
frees up to one bucket, 1/60 of the window, late).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

BUCKETS = 60


@dataclass(slots=True, frozen=True)
class RateItem:
    key: str
    window_ms: int
    rpm: int  # 0: no request limit
    tpm: int  # 0: no token limit
    tokens: int

    @property
    def bucket_ms(self) -> int:
        return max(1, -(-self.window_ms // BUCKETS))


@dataclass(slots=True, frozen=True)
class BudgetItem:
    key: str  # already includes the window's index
    limit: float
    cost: float
    ttl_ms: int


Item = RateItem | BudgetItem


@dataclass(slots=True)
class Reply:
    """``ok``: everything was reserved. Otherwise ``failed`` is the index of the first item that
    did not fit and ``frees_in_s`` when it may (rate items only). ``states`` has, per item, what
    is used after this reservation (refused: only the failed item's, before it): for a rate
    item ``(requests, tokens, seconds until its oldest bucket frees)``, for a budget
    ``(used_usd, 0, 0)``. A rate item's bucket is ``now_ms // item.bucket_ms``."""

    ok: bool
    now_ms: int
    states: list[tuple[float, float, float]]
    failed: int = -1
    frees_in_s: float = 0.0


class Counters(Protocol):
    def reserve(self, items: Sequence[Item]) -> Reply: ...

    def settle(
        self, rates: Sequence[tuple[str, int, int, int, int]],
        budgets: Sequence[tuple[str, float, float, int]],
    ) -> list[float]:
        """Rate items: ``(key, bucket, request_delta, token_delta, ttl_ms)``; budgets: ``(key,
        reserved, actual, ttl_ms)`` (a key that expired meanwhile lives at most ``ttl_ms``).
        Returns each budget's used USD after settling."""
        ...


def frees_in_ms(
    buckets: Sequence[tuple[int, float]], over: float, bucket_ms: int, window_ms: int, now: int
) -> int:
    """How long until ``over`` units leave the window (buckets oldest first)."""
    freed = 0.0
    for b, n in buckets:
        freed += n
        if freed >= over:
            return max(0, (b + 1) * bucket_ms + window_ms - now)
    return window_ms


class MemoryCounters:
    """Per process; ``clock`` is wall-clock seconds (the router's, so tests can move time)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._rates: dict[str, dict[int, list[int]]] = {}
        self._budgets: dict[str, list[float]] = {}  # key -> [reserved, spent, expires_ms]
        self._lock = threading.Lock()

    def reserve(self, items: Sequence[Item]) -> Reply:
        now = int(self.clock() * 1000)
        states: list[tuple[float, float, float]] = []
        with self._lock:
            for i, it in enumerate(items):
                if isinstance(it, RateItem):
                    bm = it.bucket_ms
                    buckets = self._live(it.key, bm, it.window_ms, now)
                    req = sum(v[0] for v in buckets.values())
                    tok = sum(v[1] for v in buckets.values())
                    over = _rate_over(it, req, tok)
                    if over is not None:
                        dim, amount = over
                        order = sorted((b, v[dim]) for b, v in buckets.items())
                        wait = frees_in_ms(order, amount, bm, it.window_ms, now)
                        state = (float(req), float(tok), wait / 1000)
                        return Reply(False, now, [state], failed=i, frees_in_s=wait / 1000)
                    first = min(buckets, default=now // bm)
                    frees = ((first + 1) * bm + it.window_ms - now) / 1000
                    states.append((req + 1, tok + it.tokens, frees))
                else:
                    b = self._budget(it.key, now)
                    used = b[0] + b[1]
                    if used + it.cost > it.limit:
                        return Reply(False, now, [(used, 0.0, 0.0)], failed=i)
                    states.append((used + it.cost, 0.0, 0.0))
            for it in items:
                if isinstance(it, RateItem):
                    bucket = now // it.bucket_ms
                    cell = self._rates[it.key].setdefault(bucket, [0, 0])
                    cell[0] += 1
                    cell[1] += it.tokens
                else:
                    b = self._budget(it.key, now)
                    b[0] += it.cost
                    b[2] = max(b[2], now + it.ttl_ms)
        return Reply(True, now, states)

    def settle(
        self, rates: Sequence[tuple[str, int, int, int, int]],
        budgets: Sequence[tuple[str, float, float, int]],
    ) -> list[float]:
        out: list[float] = []
        with self._lock:
            for key, bucket, dreq, dtok, _ in rates:
                cell = self._rates.get(key, {}).get(bucket)
                if cell is not None:
                    cell[0] += dreq
                    cell[1] += dtok
            for key, reserved, actual, _ in budgets:
                b = self._budgets.get(key)
                if b is None:
                    out.append(0.0)
                    continue
                b[0] = max(0.0, b[0] - reserved)
                b[1] += actual
                out.append(b[0] + b[1])
        return out

    def _live(self, key: str, bm: int, window_ms: int, now: int) -> dict[int, list[int]]:
        buckets = self._rates.setdefault(key, {})
        for b in [b for b in buckets if (b + 1) * bm + window_ms <= now]:
            del buckets[b]
        return buckets

    def _budget(self, key: str, now: int) -> list[float]:
        if len(self._budgets) > 4096:  # old windows and tags: drop the expired
            for k in [k for k, v in self._budgets.items() if v[2] <= now]:
                del self._budgets[k]
        return self._budgets.setdefault(key, [0.0, 0.0, 0.0])


def _rate_over(it: RateItem, req: float, tok: float) -> tuple[int, float] | None:
    """Which dimension (0 requests, 1 tokens) is over, and by how much, if this one is added."""
    if it.rpm and req + 1 > it.rpm:
        return 0, req + 1 - it.rpm
    if it.tpm and tok + it.tokens > it.tpm:
        return 1, tok + it.tokens - it.tpm
    return None
