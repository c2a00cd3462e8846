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
from operator import attrgetter

from smartroute_llm.features import RequestFeatures
from smartroute_llm.plan import Candidate, Profile
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.strategies.base import cost_terms, predicted_quality

Ranked = tuple[list[Candidate], dict[str, float]]


def _components(eligible: list[Profile], features: RequestFeatures) -> list[Candidate]:
    costs, scores = cost_terms(eligible, features)
    if features.model_quality is None:
        return [
            Candidate(p, 0.0, p.quality, p.speed, c, est)
            for p, est, c in zip(eligible, costs, scores, strict=True)
        ]
    return [
        Candidate(p, 0.0, predicted_quality(p, features), p.speed, c, est)
        for p, est, c in zip(eligible, costs, scores, strict=True)
    ]


class _SingleObjective:
    """Ranks by ``keys`` (attribute, descending?) lexicographically, then declared order; the
    displayed score is the first objective's component score."""

    name: str
    score: str
    keys: tuple[tuple[str, bool], ...]

    def rank(self, eligible: list[Profile], features: RequestFeatures) -> Ranked:
        out = _components(eligible, features)
        get = attrgetter(self.score)
        for c in out:
            c.score = get(c)
        # stable sorts from the last key to the first give a lexicographic order whose final
        # tie-break is the declared order
        for attr, descending in reversed(self.keys):
            out.sort(key=attrgetter(attr), reverse=descending)
        return out, {self.score: 1.0}


class CheapestStrategy(_SingleObjective):
    name = "cheapest"
    score = "cost"
    keys = (("est_cost_usd", False), ("quality", True), ("speed", True))


class FastestStrategy(_SingleObjective):
    name = "fastest"
    score = "speed"
    keys = (("speed", True), ("est_cost_usd", False), ("quality", True))


class HighestQualityStrategy(_SingleObjective):
    name = "highest_quality"
    score = "quality"
    keys = (("quality", True), ("est_cost_usd", False), ("speed", True))


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
