"""Routing strategies: each ranks eligible candidates for one request."""

from __future__ import annotations

from typing import Any

from smartroute_llm.errors import StrategyNotAvailableError
from smartroute_llm.policy import RoutingPolicy, RoutingStrategy
from smartroute_llm.strategies.balanced import BalancedStrategy, balanced_weights
from smartroute_llm.strategies.base import Strategy
from smartroute_llm.strategies.simple import (
    CheapestStrategy,
    FastestStrategy,
    HighestQualityStrategy,
    RoundRobinStrategy,
    WeightedStrategy,
)


def build_strategy(policy: RoutingPolicy, **context: Any) -> Strategy:
    """The strategy object for ``policy.strategy``. ``context`` carries the router's state store
    and clock for strategies that learn."""
    s = policy.strategy
    if s is RoutingStrategy.BALANCED:
        return BalancedStrategy(policy)
    if s is RoutingStrategy.CHEAPEST:
        return CheapestStrategy()
    if s is RoutingStrategy.FASTEST:
        return FastestStrategy()
    if s is RoutingStrategy.HIGHEST_QUALITY:
        return HighestQualityStrategy()
    if s is RoutingStrategy.ROUND_ROBIN:
        return RoundRobinStrategy()
    if s is RoutingStrategy.WEIGHTED:
        return WeightedStrategy(policy)
    if s is RoutingStrategy.ADAPTIVE:
        try:
            from smartroute_llm.strategies.adaptive import AdaptiveStrategy
        except ImportError as exc:
            raise StrategyNotAvailableError(
                "strategy: ADAPTIVE is not available in this build; use BALANCED"
            ) from exc
        return AdaptiveStrategy(policy, **context)
    if s is RoutingStrategy.CASCADE:
        from smartroute_llm.cascade.ladder import LadderStrategy

        return LadderStrategy(policy)
    raise StrategyNotAvailableError(f"strategy: {s!r} is not available")


__all__ = [
    "BalancedStrategy",
    "CheapestStrategy",
    "FastestStrategy",
    "HighestQualityStrategy",
    "RoundRobinStrategy",
    "Strategy",
    "WeightedStrategy",
    "balanced_weights",
    "build_strategy",
]
