"""Verified escalation (``RoutingStrategy.CASCADE``): answer with the cheapest rung of a ladder,
check the answer, and pay for a stronger rung only when a verifier rejects it. See
docs/cascade.md."""

from smartroute_llm.cascade.driver import Cascade
from smartroute_llm.cascade.ladder import LadderStrategy
from smartroute_llm.cascade.stats import LadderStats
from smartroute_llm.decision import CascadeRecord, CascadeRung
from smartroute_llm.policy import CascadeConfig

__all__ = [
    "Cascade",
    "CascadeConfig",
    "CascadeRecord",
    "CascadeRung",
    "LadderStats",
    "LadderStrategy",
]
