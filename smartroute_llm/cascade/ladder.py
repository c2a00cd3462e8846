"""The cascade's ladder: the plan's candidates in rung order, and the rungs of one plan.

Ranking only orders (cheapest first, or the policy's explicit ``ladder``); which candidates
are eligible is the router's usual business (capabilities, exclusions, breakers, budgets), so a
rung that cannot serve a request is simply not on its ladder.
"""

from __future__ import annotations

from smartroute_llm import catalog
from smartroute_llm.features import RequestFeatures
from smartroute_llm.plan import Candidate, Profile, RoutingPlan
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.strategies.simple import CheapestStrategy

Rung = list[Candidate]  # a rung's candidates: one target, or one deployment group's members


def _ids(name: str, model: str) -> tuple[str, str, str]:
    return name, model, catalog.canonical_name(model)


def entry_index(ladder: tuple[str, ...], name: str, model: str) -> int | None:
    """The position of the first ladder entry naming this target (by name or model)."""
    ids = _ids(name, model)
    return next((i for i, e in enumerate(ladder) if e in ids), None)


class LadderStrategy:
    """Ranks for a cascade: cheapest first, or the explicit ladder's order (candidates the
    ladder does not name come last and are not rungs). ``rung`` in a candidate's parts is its
    place on the ladder."""

    name = "cascade"

    def __init__(self, policy: RoutingPolicy) -> None:
        cfg = policy.cascading
        self.ladder = cfg.ladder if cfg is not None else None
        self._cheapest = CheapestStrategy()

    def rank(
        self, eligible: list[Profile], features: RequestFeatures
    ) -> tuple[list[Candidate], dict[str, float]]:
        out, weights = self._cheapest.rank(eligible, features)
        ladder = self.ladder
        n = len(out)
        if ladder:
            last = len(ladder)
            place = {id(c): entry_index(ladder, c.name, c.model) for c in out}
            out.sort(key=lambda c: last if (i := place[id(c)]) is None else i)
            for k, c in enumerate(out):
                c.score = 1.0 - k / n
                i = place[id(c)]
                if i is not None:
                    c.extra = {"rung": float(i + 1)}
        else:
            for k, c in enumerate(out):
                c.score = 1.0 - k / n
                c.extra = {"rung": float(k + 1)}
        return out, weights

    def explain(self, candidates: list[Candidate]) -> dict[str, object]:
        if self.ladder:
            return {"ladder": list(self.ladder)}
        return {"ladder": "cheapest first"}


def rungs(plan: RoutingPlan, ladder: tuple[str, ...] | None) -> list[Rung]:
    """The rungs of ``plan`` in order. A deployment group's members share one rung (the
    others are the chosen member's fallback, as in any call); with an explicit ladder, each
    entry is one rung of every candidate it names."""
    out: list[Rung] = []
    if ladder:
        used: set[str] = set()
        for entry in ladder:
            members = [
                c for c in plan.candidates if c.name not in used and entry in _ids(c.name, c.model)
            ]
            if members:
                used.update(c.name for c in members)
                out.append(members)
        return out
    by_group: dict[str, Rung] = {}
    for c in plan.candidates:
        pick = plan.groups.get(c.name)
        if pick is None:
            out.append([c])
            continue
        rung = by_group.get(pick.group)
        if rung is None:
            rung = by_group[pick.group] = []
            out.append(rung)
        rung.append(c)
    return out
