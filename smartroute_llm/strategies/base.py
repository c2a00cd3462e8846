"""The strategy protocol and the cost arithmetic every strategy shares."""

from __future__ import annotations

import math
from typing import Protocol

from smartroute_llm.features import RequestFeatures
from smartroute_llm.plan import Candidate, Profile


class Strategy(Protocol):
    """Ranks the eligible profiles for a request, best first. Must be pure and cheap:
    no I/O, no locks held; it runs on every call."""

    name: str

    def rank(
        self, eligible: list[Profile], features: RequestFeatures
    ) -> tuple[list[Candidate], dict[str, float]]:
        """Return the ranked candidates and the weights used (for explanations)."""
        ...


_FLOOR = 1e-12  # keeps free models finite on the log scale


def cost_terms(
    eligible: list[Profile], features: RequestFeatures
) -> tuple[list[float], list[float]]:
    """Each profile's USD for this request and its cost score, in one pass (it runs on every
    call, so loops rather than comprehensions or min/max).

    USD: prompt tokens x input + output tokens x output, or a trained predictor's per-prompt
    estimate where it has one (output length varies by task and model, and the price list
    cannot see it). Score: 1 for the cheapest, 0 for the dearest, log-scaled between (prices
    span decades)."""
    pt = features.prompt_tokens
    ot = features.output_tokens
    mc = None if features.requested_output else features.model_cost
    log, floor = math.log, _FLOOR
    costs: list[float] = []
    logs = []
    lo, hi = math.inf, -math.inf
    for p in eligible:
        c = None
        if mc is not None:
            c = mc.get(p.name)
            if c is None:
                c = mc.get(p.model)
        if c is None:
            c = p.in_price * pt + p.out_price * ot
        costs.append(c)
        x = log(c + floor)
        logs.append(x)
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    span = hi - lo
    if span <= 1e-12:
        return costs, [1.0] * len(costs)
    inv = 1.0 / span
    scores = []
    for x in logs:
        scores.append(1.0 - (x - lo) * inv)
    return costs, scores


def predicted_quality(p: Profile, features: RequestFeatures) -> float:
    mq = features.model_quality
    if mq is None:
        return p.quality
    q = mq.get(p.name)
    if q is None:
        q = mq.get(p.model, p.quality)
    return q
