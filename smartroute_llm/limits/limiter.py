"""Rate limits and budgets for one router: what the plan may use, and the hold each attempt
takes on its limits.

Planning reads only this process's view (no I/O): the state each reservation and settlement
last reported. The view can be behind other processes, never ahead of the truth, so a target
another process filled is found full at reservation (one round trip, atomic) and the call moves
on to its next candidate. When the shared counters fail, the process counts locally until they
are back (logged once per outage): limits then hold per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smartroute_llm import catalog
from smartroute_llm.decision import Attempt
from smartroute_llm.errors import (
    BudgetExceeded,
    ConfigurationError,
    RateLimitExceeded,
    RequestValidationError,
)
from smartroute_llm.features import RequestFeatures
from smartroute_llm.limits.counters import (
    BudgetItem,
    Counters,
    Item,
    MemoryCounters,
    RateItem,
    Reply,
)
from smartroute_llm.plan import Exclusion, Profile
from smartroute_llm.policy import Budget, RateLimit, RoutingPolicy

log = logging.getLogger("smartroute")

Tags = Mapping[str, str]

DOWNGRADE_FACTOR = 2.0  # a low budget keeps candidates within this factor of the cheapest
MAX_TAG_LEN = 200


def check_tags(tags: Any) -> dict[str, str] | None:
    """Call tags as ``{str: str}`` (numbers are turned into strings), or a clear error."""
    if tags is None:
        return None
    if not isinstance(tags, Mapping):
        raise RequestValidationError(
            "tags", f"expected a mapping like {{'team': 'a'}}, got {type(tags).__name__}"
        )
    out: dict[str, str] = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str | int) or isinstance(v, bool):
            raise RequestValidationError(
                f"tags[{k!r}]", f"tag names and values must be strings, got {v!r}"
            )
        if len(str(v)) > MAX_TAG_LEN:
            raise RequestValidationError(f"tags[{k!r}]", f"longer than {MAX_TAG_LEN} characters")
        out[k] = str(v)
    return out


def pick_tags(policy: RoutingPolicy, metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """From a framework's run metadata, the tags the policy's budgets are kept by (values that
    are strings or integers); everything else in it is not the router's."""
    if not metadata or not policy.budgets:
        return None
    out: dict[str, str] = {}
    for b in policy.budgets:
        if b.per is None:
            continue
        v = metadata.get(b.per)
        if isinstance(v, str | int) and not isinstance(v, bool):
            out[b.per] = str(v)
    return out or None


def estimate(p: Profile, f: RequestFeatures) -> tuple[int, float]:
    """Tokens (prompt + expected output) and USD one attempt on ``p`` is reserved for."""
    return (
        f.prompt_tokens + f.output_tokens,
        f.prompt_tokens * p.in_price + f.output_tokens * p.out_price,
    )


@dataclass(slots=True)
class Refusal:
    """Why a reservation failed: a rate limit (``frees_in_s``) or a budget (``error``)."""

    target: str
    model: str
    reason: str
    frees_in_s: float | None = None
    error: BudgetExceeded | None = None


class Hold:
    """One attempt's reservation; :meth:`settle` runs once, from the attempt's lease."""

    __slots__ = ("cost", "counters", "items", "limiter", "now_ms", "tokens")

    def __init__(
        self, limiter: Limiter, counters: Counters, items: list[Item], now_ms: int,
        tokens: int, cost: float,
    ) -> None:
        self.limiter = limiter
        self.counters = counters
        self.items = items
        self.now_ms = now_ms
        self.tokens = tokens
        self.cost = cost

    def settle(self, att: Attempt | None, how: str) -> None:
        """``how``: ``ok``, ``failed`` (the target refused or broke: it billed what it
        reported), ``released`` (cancelled: billed as estimated unless it reported usage), or
        ``unused`` (never sent: everything is given back)."""
        used = att.usage.total_tokens if att is not None else 0
        cost = att.cost_usd if att is not None else 0.0
        if how == "released" and not used:
            used, cost = self.tokens, self.cost
        dreq = -1 if how == "unused" else 0
        self.limiter._settle(self, dreq, used - self.tokens, cost)


class _Rule:
    __slots__ = ("key", "limit", "unit", "window_ms")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.key = f"rl:{limit.target}"
        self.window_ms = int(limit.window_s * 1000)
        w = limit.window_s
        self.unit = "" if w == 60 else f" per {w:g}s"


class Limiter:
    """Built by the router when its policy has rate limits or budgets."""

    def __init__(
        self,
        policy: RoutingPolicy,
        profiles: Sequence[Profile],
        state: Any,
        wall_clock: Callable[[], float],
        *,
        retry_s: float = 5.0,
    ) -> None:
        self.wall = wall_clock
        self.budgets: tuple[Budget, ...] = policy.budgets
        self.local = MemoryCounters(wall_clock)
        self.shared: Counters | None = _shared_counters(state)
        self.retry_s = retry_s
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._rules: dict[str, list[_Rule]] = {}
        rules = [_Rule(r) for r in policy.rate_limits]
        for i, rule in enumerate(rules):
            hit = [
                p for p in profiles
                if rule.limit.target in (p.name, p.model, catalog.canonical_name(p.model))
            ]
            if not hit:
                raise ConfigurationError(
                    f"policy.rate_limits[{i}].target: {rule.limit.target!r} matches no target "
                    f"(targets: {sorted(p.name for p in profiles)}); name a target or its model"
                )
            for p in hit:
                self._rules.setdefault(p.name, []).append(rule)
        # this process's view: rate key -> (requests, tokens, until wall time); budget key -> USD
        self._rates: dict[str, tuple[float, float, float]] = {}
        self._spent: dict[str, float] = {}

    @property
    def counters(self) -> Counters:
        if self.shared is not None and time.monotonic() >= self._down_until:
            return self.shared
        return self.local

    # --- planning: this process's view, no I/O ----------------------------------------------

    def filter(
        self, eligible: list[Profile], f: RequestFeatures, tags: Tags | None
    ) -> tuple[list[Profile], list[Exclusion]]:
        """Drop targets at their rate limit and, by budget, those the budget cannot pay for
        (and, when it runs low, all but the cheapest). Raises when nothing is left because of
        a limit: :class:`RateLimitExceeded` or :class:`BudgetExceeded`."""
        now = self.wall()
        kept: list[Profile] = []
        out: list[Exclusion] = []
        rate_waits: list[float] = []
        for p in eligible:
            why = self._rate_reason(p, f, now, rate_waits) if p.name in self._rules else None
            if why is None:
                kept.append(p)
            else:
                out.append(Exclusion(p.name, p.model, why))
        budget_error: BudgetExceeded | None = None
        if self.budgets and kept:
            for b in self.budgets:
                key, tag = self._budget_key(b, tags, now)
                left = b.usd - self._spent.get(key, 0.0)
                ests = {p.name: estimate(p, f)[1] for p in kept}
                fits = [p for p in kept if ests[p.name] <= left]
                if not fits:
                    budget_error = self._budget_error(b, tag, now, b.usd - left,
                                                      min(ests.values()))
                for p in kept:
                    if ests[p.name] > left:
                        out.append(Exclusion(
                            p.name, p.model,
                            f"budget {_who(b, tag)}: ${max(left, 0):.4g} of ${b.usd:g} left, "
                            f"this call ~${ests[p.name]:.2g}",
                        ))
                if fits and left < b.downgrade_below * b.usd:
                    cheapest = min(ests[p.name] for p in fits)
                    low = [p for p in fits if ests[p.name] <= cheapest * DOWNGRADE_FACTOR]
                    for p in fits:
                        if p not in low:
                            out.append(Exclusion(
                                p.name, p.model,
                                f"budget {_who(b, tag)} low (${left:.4g} of ${b.usd:g} left): "
                                "downgraded to cheaper candidates",
                            ))
                    fits = low
                kept = fits
                if not kept:
                    break
        if not kept:
            if budget_error is not None:
                raise budget_error
            if rate_waits:
                raise RateLimitExceeded(out, min(rate_waits))
        return kept, out

    def _rate_reason(
        self, p: Profile, f: RequestFeatures, now: float, waits: list[float]
    ) -> str | None:
        tokens = f.prompt_tokens + f.output_tokens
        for rule in self._rules[p.name]:
            lim = rule.limit
            if lim.tpm is not None and tokens > lim.tpm:
                return f"rate limit: this call needs ~{tokens} tokens, more than {lim.tpm} tpm"
            seen = self._rates.get(rule.key)
            if seen is None or now >= seen[2]:
                continue
            req, tok, until = seen
            if lim.rpm is not None and req + 1 > lim.rpm:
                what = f"{req:.0f}/{lim.rpm} rpm{rule.unit}"
            elif lim.tpm is not None and tok + tokens > lim.tpm:
                what = f"{tok:.0f}/{lim.tpm} tpm{rule.unit} (+{tokens})"
            else:
                continue
            waits.append(until - now)
            return f"rate limit: {what}, frees in {until - now:.0f} s"
        return None

    # --- execution: one round trip per attempt -------------------------------------------------

    def reserve(self, p: Profile, f: RequestFeatures, tags: Tags | None) -> Hold | Refusal:
        tokens, cost = estimate(p, f)
        now = self.wall()
        items: list[Item] = []
        meta: list[tuple[Any, str | None]] = []
        for rule in self._rules.get(p.name, ()):
            lim = rule.limit
            items.append(RateItem(rule.key, rule.window_ms, lim.rpm or 0, lim.tpm or 0, tokens))
            meta.append((rule, None))
        for b in self.budgets:
            key, tag = self._budget_key(b, tags, now)
            end = (int(now // b.window_s) + 1) * b.window_s
            items.append(BudgetItem(key, b.usd, cost, int((end - now + 60) * 1000)))
            meta.append((b, tag))
        if not items:
            return Hold(self, self.local, [], 0, tokens, cost)
        counters, reply = self._run(lambda c: c.reserve(items))
        self._learn(items, reply, now)
        if reply.ok:
            return Hold(self, counters, items, reply.now_ms, tokens, cost)
        what, tag = meta[reply.failed]
        if isinstance(what, Budget):
            used = reply.states[0][0]
            err = self._budget_error(what, tag, now, used, cost)
            return Refusal(p.name, p.model, str(err), error=err)
        req, tok, wait = reply.states[0]
        lim = what.limit
        shown = f"{req:.0f}/{lim.rpm} rpm" if lim.rpm and req + 1 > lim.rpm else (
            f"{tok:.0f}/{lim.tpm} tpm (+{tokens})"
        )
        why = f"rate limit: {shown}{what.unit}, frees in {wait:.0f} s"
        return Refusal(p.name, p.model, why, wait)

    def _settle(self, hold: Hold, dreq: int, dtok: int, cost: float) -> None:
        rates = []
        budgets = []
        for it in hold.items:
            if isinstance(it, RateItem):
                if dreq or dtok:
                    rates.append((it.key, hold.now_ms // it.bucket_ms, dreq, dtok,
                                  it.window_ms + 2 * it.bucket_ms))
            else:
                budgets.append((it.key, it.cost, cost, it.ttl_ms))
        if not rates and not budgets:
            return
        counters = hold.counters
        try:
            used = counters.settle(rates, budgets)
        except Exception as exc:  # the shared store went away: its window will forget it
            self._down(exc)
            return
        keys = [b[0] for b in budgets]
        with self._lock:
            self._spent.update(zip(keys, used, strict=True))

    def _run(self, fn: Callable[[Counters], Reply]) -> tuple[Counters, Reply]:
        counters = self.counters
        if counters is not self.local:
            try:
                return counters, fn(counters)
            except Exception as exc:
                self._down(exc)
        return self.local, fn(self.local)

    def _down(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning(
                "rate limits and budgets: shared counters failed (%s: %s); counting in this "
                "process for %gs", type(exc).__name__, exc, self.retry_s,
            )
        self._down_until = time.monotonic() + self.retry_s

    def _learn(self, items: Sequence[Item], reply: Reply, now: float) -> None:
        with self._lock:
            pairs = zip(items, reply.states, strict=False) if reply.ok else [
                (items[reply.failed], reply.states[0])
            ]
            for it, (a, b, wait) in pairs:
                if isinstance(it, RateItem):
                    self._rates[it.key] = (a, b, now + wait)
                else:
                    self._spent[it.key] = a
            if len(self._spent) > 4096:
                self._spent.clear()

    def _budget_key(self, b: Budget, tags: Tags | None, now: float) -> tuple[str, str | None]:
        idx = int(now // b.window_s)
        if b.per is None:
            return f"bg:{b.label}:{idx}", None
        value = (tags or {}).get(b.per, "")
        return f"bg:{b.label}:{idx}:{value}", f"{b.per}={value or '(untagged)'}"

    def _budget_error(
        self, b: Budget, tag: str | None, now: float, used: float, need: float
    ) -> BudgetExceeded:
        end = (int(now // b.window_s) + 1) * b.window_s
        return BudgetExceeded(
            b.label, tag, limit_usd=b.usd, spent_usd=used, needed_usd=need,
            resets_at=end, resets_in_s=end - now,
        )


def _who(b: Budget, tag: str | None) -> str:
    return b.label if tag is None else f"{b.label} ({tag})"


def _shared_counters(state: Any) -> Counters | None:
    """Redis counters when the router's store offers a sync redis client, else ``None``."""
    for s in (state, getattr(state, "store", None)):
        client = getattr(s, "redis_client", None)
        if client is not None:
            from smartroute_llm.limits.redis_counters import RedisCounters

            prefix = getattr(s, "key_prefix", None) or "smartroute:v1:"
            return RedisCounters(client, f"{prefix}limits:")
    return None
