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


def estimated_costs(eligible: list[Profile], features: RequestFeatures) -> list[float]:
    """USD of this request on each profile: prompt tokens x input + output tokens x output,
    or a trained predictor's per-prompt estimate where it has one (output length varies by
    task and model, and the price list cannot see it)."""
    pt = features.prompt_tokens
    ot = features.output_tokens
    mc = features.model_cost
    out = []
    if mc is None or features.requested_output:
        for p in eligible:
            out.append(p.in_price * pt + p.out_price * ot)
        return out
    for p in eligible:
        c = mc.get(p.name)
        if c is None:
            c = mc.get(p.model)
        out.append(p.in_price * pt + p.out_price * ot if c is None else c)
    return out


def cost_scores(costs: list[float]) -> list[float]:
    """1 for the cheapest, 0 for the dearest, log-scaled between (prices span decades)."""
    log, floor = math.log, _FLOOR
    logs = []
    for c in costs:  # loops, not comprehensions or min/max: this runs on every call
        logs.append(log(c + floor))
    lo = hi = logs[0]
    for x in logs:
        if x < lo:
            lo = x
        elif x > hi:
            hi = x
    span = hi - lo
    if span <= 1e-12:
        return [1.0] * len(costs)
    inv = 1.0 / span
    out = []
    for x in logs:
        out.append(1.0 - (x - lo) * inv)
    return out


def predicted_quality(p: Profile, features: RequestFeatures) -> float:
    mq = features.model_quality
    if mq is None:
        return p.quality
    q = mq.get(p.name)
    if q is None:
        q = mq.get(p.model, p.quality)
    return q
