"""Single-objective and load-spreading strategies.

CHEAPEST: lowest estimated cost for this request; ties -> higher quality, then faster.
FASTEST: highest speed tier; ties -> cheaper, then higher quality.
HIGHEST_QUALITY: highest quality (tier, or predicted); ties -> cheaper, then faster.
ROUND_ROBIN: the eligible candidates in declared order, rotated by one on every call.
WEIGHTED: a weighted random order (weights per target or model name, default 1; weight 0 only
when nothing else is eligible), reproducible with ``policy.seed``.
"""

from __future__ import annotations

import itertools
import random

from smartroute.features import RequestFeatures
from smartroute.plan import Candidate, Profile
from smartroute.policy import RoutingPolicy
from smartroute.strategies.base import cost_scores, estimated_costs, predicted_quality

Ranked = tuple[list[Candidate], dict[str, float]]


def _components(eligible: list[Profile], features: RequestFeatures) -> list[Candidate]:
    costs = estimated_costs(eligible, features)
    return [
        Candidate(p, 0.0, predicted_quality(p, features), p.speed, c, est)
        for p, est, c in zip(eligible, costs, cost_scores(costs), strict=True)
    ]


class CheapestStrategy:
    name = "cheapest"

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        out = _components(eligible, features)
        for c in out:
            c.score = c.cost
        out.sort(key=lambda c: (c.est_cost_usd, -c.quality, -c.speed))
        return out, {"cost": 1.0}


class FastestStrategy:
    name = "fastest"

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        out = _components(eligible, features)
        for c in out:
            c.score = c.speed
        out.sort(key=lambda c: (-c.speed, c.est_cost_usd, -c.quality))
        return out, {"speed": 1.0}


class HighestQualityStrategy:
    name = "highest_quality"

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        out = _components(eligible, features)
        for c in out:
            c.score = c.quality
        out.sort(key=lambda c: (-c.quality, c.est_cost_usd, -c.speed))
        return out, {"quality": 1.0}


class RoundRobinStrategy:
    name = "round_robin"

    def __init__(self) -> None:
        self._counter = itertools.count()

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        n = len(eligible)
        start = next(self._counter) % n
        order = eligible[start:] + eligible[:start]
        out = _components(order, features)
        for i, c in enumerate(out):
            c.score = 1.0 - i / n
        return out, {}


class WeightedStrategy:
    name = "weighted"

    def __init__(self, policy: RoutingPolicy) -> None:
        self.weights = policy.model_weights
        self._rng = random.Random(policy.seed)

    def weight(self, p: Profile) -> float:
        w = self.weights.get(p.name)
        return self.weights.get(p.model, 1.0) if w is None else w

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        out = _components(eligible, features)
        ws = [self.weight(c.profile) for c in out]
        total = sum(ws) or 1.0
        rnd = self._rng.random
        for c, w in zip(out, ws, strict=True):
            c.extra = {"weight": w / total}
            # Efraimidis-Spirakis: key u^(1/w) gives a weighted random permutation.
            c.score = rnd() ** (1.0 / w) if w > 0 else -1.0
        out.sort(key=lambda c: c.score, reverse=True)
        return out, {}
