"""BALANCED: one documented score over quality, speed and cost.

    x   = request complexity in [0, 1]; k = weights.complexity_shift
    w_q = W_q * (1 + k*x)          if prefer_quality_for_complex else W_q
    w_s = W_s * (1 + k*(1 - x))    if prefer_fast_for_simple    else W_s
    w_c = W_c                      if cost_aware                else 0
    if prefer_quality_for_complex: w_s *= (1 - x)**2; w_c *= (1 - x)**2
    weights are normalised to sum to 1
    score = w_q*Q + w_s*S + w_c*C

With ``weights.willingness_to_pay = W`` (USD per unit of quality) the cost term is linear in
dollars instead: ``score = w_q*(Q - cost_usd / W) + w_s*S`` (``w_c`` only shifts ``w_q, w_s``
through the normalisation). Maximising expected quality minus a price per dollar is the
trade-off a router with a per-prompt quality predictor sweeps to trace its cost-quality curve.

Q is the quality tier score (LOW .25 ... PREMIUM 1), or a trained predictor's expected quality
for this prompt and model; S the speed tier score (SLOW .25 ... VERY_FAST 1); C the cost score
(1 for the cheapest candidate for this request, 0 for the dearest, log-scaled).
"""

from __future__ import annotations

import math
from operator import attrgetter

from smartroute_llm.features import RequestFeatures
from smartroute_llm.plan import Candidate, Profile
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.strategies.base import _FLOOR, cost_terms, predicted_quality
from smartroute_llm.strategies.bounded import LAZY_FROM, Table, ranked

_by_score = attrgetter("score")
_log = math.log
SHORTCUTS = True  # False: every ranking by rank_all (tests compare the two)


def balanced_weights(policy: RoutingPolicy, complexity: float) -> tuple[float, float, float]:
    """The normalised (quality, speed, cost) weights for a request of this complexity."""
    return BalancedWeightsFn(policy)(complexity)


class BalancedWeightsFn:
    """``balanced_weights`` for a fixed policy, with its numbers read once (hot path)."""

    def __init__(self, policy: RoutingPolicy) -> None:
        w = policy.weights
        self.wq, self.ws, self.k = w.quality, w.speed, w.complexity_shift
        self.wc = w.cost if policy.is_cost_aware else 0.0
        self.pq = policy.prefer_quality_for_complex
        self.pf = policy.prefer_fast_for_simple
        wtp = w.willingness_to_pay
        self.per_usd = 0.0 if wtp is None or not policy.is_cost_aware else 1.0 / wtp
        self.fixed: tuple[float, float, float] | None = None
        if not (self.pq or self.pf):
            self.fixed = self(0.0)

    def __call__(self, complexity: float) -> tuple[float, float, float]:
        if self.fixed is not None:
            return self.fixed
        x = 1.0 if complexity > 1.0 else (0.0 if complexity < 0.0 else complexity)
        wq = self.wq * (1 + self.k * x) if self.pq else self.wq
        ws = self.ws * (1 + self.k * (1 - x)) if self.pf else self.ws
        wc = self.wc
        if self.pq:
            keep = (1 - x) * (1 - x)
            ws *= keep
            wc *= keep
        total = wq + ws + wc
        if total <= 0:
            return 1.0, 0.0, 0.0
        return wq / total, ws / total, wc / total


class BalancedStrategy:
    name = "balanced"

    def __init__(self, policy: RoutingPolicy) -> None:
        self.policy = policy
        self._weights = BalancedWeightsFn(policy)
        self._table: Table | None = None  # of the last large eligible list

    def _table_for(self, eligible: list[Profile]) -> Table:
        table = self._table
        if table is None or table.profiles != eligible:
            self._table = table = Table(eligible, self._weights.fixed)
        return table

    def rank(
        self, eligible: list[Profile], features: RequestFeatures
    ) -> tuple[list[Candidate], dict[str, float]]:
        weights = self._weights
        # fixed weights do not read the complexity, which then is never computed
        wq, ws, wc = weights.fixed or weights(features.complexity.score)
        if (
            SHORTCUTS
            and not weights.per_usd
            and features.model_quality is None
            and (features.requested_output or features.model_cost is None)
        ):  # scored from the price list and tiers alone
            used = {"quality": wq, "speed": ws, "cost": wc}
            if len(eligible) >= LAZY_FROM:  # best first, only as far as the plan is read
                return ranked(self._table_for(eligible), features, wq, ws, wc), used
            pt, ot = features.prompt_tokens, features.output_tokens
            return _small(eligible, pt, ot, wq, ws, wc), used
        return self.rank_all(eligible, features, wq, ws, wc)

    def rank_all(
        self, eligible: list[Profile], features: RequestFeatures, wq: float, ws: float, wc: float
    ) -> tuple[list[Candidate], dict[str, float]]:
        """Every candidate scored in one pass: the general ranking (per-prompt predictions,
        willingness to pay), and the reference the shortcuts are tested against."""
        costs, cscores = cost_terms(eligible, features)
        per_usd = self._weights.per_usd
        if per_usd:
            out = []
            for p, est, c in zip(eligible, costs, cscores, strict=True):
                q = predicted_quality(p, features)
                score = wq * (q - per_usd * est) + ws * p.speed
                out.append(Candidate(p, score, q, p.speed, c, est))
            out.sort(key=_by_score, reverse=True)
            return out, {"quality": wq, "speed": ws, "usd_penalty": wq * per_usd}
        if features.model_quality is None:
            out = []
            for p, est, c in zip(eligible, costs, cscores, strict=True):
                q, s = p.quality, p.speed
                out.append(Candidate(p, wq * q + ws * s + wc * c, q, s, c, est))
        else:
            out = []
            for p, est, c in zip(eligible, costs, cscores, strict=True):
                q = predicted_quality(p, features)
                out.append(Candidate(p, wq * q + ws * p.speed + wc * c, q, p.speed, c, est))
        out.sort(key=_by_score, reverse=True)
        return out, {"quality": wq, "speed": ws, "cost": wc}


def _small(
    eligible: list[Profile], pt: int, ot: int, wq: float, ws: float, wc: float
) -> list[Candidate]:
    """``rank_all`` for a few candidates priced from the list: the same floats (the cost
    arithmetic of :func:`~smartroute_llm.strategies.base.cost_terms`) in two plain loops."""
    f = _FLOOR
    rows = []
    lo, hi = math.inf, -math.inf
    for p in eligible:
        est = p.in_price * pt + p.out_price * ot
        x = _log(est + f)
        rows.append((p, est, x))
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    span = hi - lo
    inv = 0.0 if span <= 1e-12 else 1.0 / span
    out = []
    for p, est, x in rows:
        q, s = p.quality, p.speed
        c = 1.0 if inv == 0.0 else 1.0 - (x - lo) * inv
        out.append(Candidate(p, wq * q + ws * s + wc * c, q, s, c, est))
    out.sort(key=_by_score, reverse=True)
    return out
