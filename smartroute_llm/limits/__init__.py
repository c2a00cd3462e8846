"""Client-side rate limits and spend budgets (``policy.rate_limit`` / ``policy.budget``).

- :mod:`~smartroute_llm.limits.counters`: the counters' contract and the in-memory backend;
- :mod:`~smartroute_llm.limits.redis_counters`: the same on Redis (one Lua script per reservation);
- :mod:`~smartroute_llm.limits.limiter`: what a plan may use and the hold each attempt takes.
"""

from smartroute_llm.limits.limiter import Hold, Limiter, Refusal, check_tags, pick_tags

__all__ = ["Hold", "Limiter", "Refusal", "check_tags", "pick_tags"]
