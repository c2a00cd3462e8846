"""BALANCED over a large fleet, ranked best first without scoring every candidate.

A score is ``a + w_c*C``: ``a = w_q*Q + w_s*S`` is the same for every candidate of one (quality,
speed) pair, and ``C`` (the cost score) is at most 1, so no member of a pair can score above
``a + w_c``. Candidates are scored pair by pair, best bound first, only while a bound can still
match the best score not yet handed out: a call that reads the first few of a thousand
candidates scores the few pairs that can hold them. Every float operation in a score is
monotonic, so the bound is exact, not approximate, and the scores are the very floats
:class:`~smartroute_llm.strategies.balanced.BalancedStrategy` computes for each candidate.

The cost score's range needs the least and the greatest ``log(usd + floor)`` over all
candidates; ``log`` is only taken of the candidates whose USD lies within 1e-8 (relative) of the
cheapest or the dearest, far wider than any ``log``'s rounding error, so the ends are exact too.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush

from smartroute_llm.features import RequestFeatures
from smartroute_llm.plan import Candidate, Profile
from smartroute_llm.strategies.base import _FLOOR
from smartroute_llm.strategies.lazy import LazyCandidates

LAZY_FROM = 32  # fewer candidates are ranked eagerly (a plain list)

_log = math.log


class Table:
    """What ranking reads of one list of eligible profiles, the same for every request: prices,
    and the candidates grouped by (quality, speed). Profiles are static facts (built once per
    router), so a table stays valid for as long as its list is the eligible one."""

    __slots__ = ("fixed", "groups", "prices", "profiles", "quality", "speed")

    def __init__(self, profiles: list[Profile], fixed: tuple[float, float, float] | None) -> None:
        self.profiles = list(profiles)
        self.prices = [(p.in_price, p.out_price) for p in profiles]
        self.quality = [p.quality for p in profiles]
        self.speed = [p.speed for p in profiles]
        by_pair: dict[tuple[float, float], list[int]] = {}
        for i, p in enumerate(profiles):
            by_pair.setdefault((p.quality, p.speed), []).append(i)
        self.groups = list(by_pair.items())
        # with fixed weights the pairs' order by bound never changes
        self.fixed = None if fixed is None else self.pairs(*fixed)

    def pairs(
        self, wq: float, ws: float, wc: float
    ) -> tuple[list[float], list[float], list[list[int]]]:
        """Each pair's ``a`` and bound ``a + w_c``, and its members, best bound first."""
        a = [wq * q + ws * s for (q, s), _ in self.groups]
        bounds = [x + wc for x in a]
        order = sorted(range(len(a)), key=bounds.__getitem__, reverse=True)
        members = [self.groups[g][1] for g in order]
        return [a[g] for g in order], [bounds[g] for g in order], members


def log_range(costs: list[float]) -> tuple[float, float]:
    """min and max of ``log(c + floor)`` over ``costs``, taking few logs."""
    f = _FLOOR
    lo_end = (min(costs) + f) * (1 + 1e-8) - f
    hi_end = (max(costs) + f) * (1 - 1e-8) - f
    ends = [c for c in costs if c <= lo_end or c >= hi_end]
    lo = min([_log(c + f) for c in ends if c <= lo_end])
    hi = max([_log(c + f) for c in ends if c >= hi_end])
    return lo, hi


class BalancedWalk:
    """Hands out the ranking best first (one candidate per call, None at the end)."""

    __slots__ = (
        "a", "bounds", "costs", "examined", "flat", "heap", "inv", "lo", "members", "next_pair",
        "table", "wc",
    )

    def __init__(
        self, table: Table, features: RequestFeatures, wq: float, ws: float, wc: float
    ) -> None:
        pt, ot = features.prompt_tokens, features.output_tokens
        self.table = table
        self.costs = costs = [i * pt + o * ot for i, o in table.prices]
        self.lo, hi = log_range(costs)
        span = hi - self.lo
        self.flat = span <= 1e-12  # every cost score 1 (base.cost_terms)
        self.inv = 0.0 if self.flat else 1.0 / span
        self.wc = wc
        self.a, self.bounds, self.members = table.fixed or table.pairs(wq, ws, wc)
        self.heap: list[tuple[float, int, float]] = []  # (-score, index, cost score)
        self.next_pair = 0
        self.examined = 0  # candidates scored so far

    def _score(self, g: int) -> None:
        a, wc, heap = self.a[g], self.wc, self.heap
        members = self.members[g]
        self.examined += len(members)
        if self.flat:
            for i in members:
                heappush(heap, (-(a + wc * 1.0), i, 1.0))
            return
        costs, lo, inv, f = self.costs, self.lo, self.inv, _FLOOR
        for i in members:
            c = 1.0 - (_log(costs[i] + f) - lo) * inv
            heappush(heap, (-(a + wc * c), i, c))

    def __call__(self) -> Candidate | None:
        heap, bounds = self.heap, self.bounds
        g = self.next_pair
        while g < len(bounds) and (not heap or bounds[g] >= -heap[0][0]):
            self._score(g)
            g += 1
        self.next_pair = g
        if not heap:
            return None
        neg, i, c = heappop(heap)
        t = self.table
        return Candidate(t.profiles[i], -neg, t.quality[i], t.speed[i], c, self.costs[i])


def ranked(
    table: Table, features: RequestFeatures, wq: float, ws: float, wc: float
) -> LazyCandidates:
    return LazyCandidates.of(len(table.profiles), BalancedWalk(table, features, wq, ws, wc))
