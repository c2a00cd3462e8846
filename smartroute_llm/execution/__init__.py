"""Executing a plan: fallback, retries, deadlines, time-to-first-token and stall limits,
circuit breakers, hedged racing and streaming failover.

Where to look:

- :mod:`~smartroute_llm.execution.call`: the bookkeeping of one routed call (which candidate is
  next, what an error means, backoff, accounting, the final decision);
- :mod:`~smartroute_llm.execution.guards`: the limits on one attempt's stream (TTFT, stall,
  attempt timeout, deadline);
- :mod:`~smartroute_llm.execution.async_driver` and
  :mod:`~smartroute_llm.execution.sync_driver`: the two drivers, which only differ in how they wait;
- :mod:`~smartroute_llm.execution.session`: a streamed call across attempts (failover, resume);
- :mod:`smartroute_llm.race`: hedged racing.
"""

from smartroute_llm.execution.call import CONTINUE_PROMPT, Call, as_provider_error, attempt_options
from smartroute_llm.execution.executor import Executor

__all__ = ["CONTINUE_PROMPT", "Call", "Executor", "as_provider_error", "attempt_options"]
