"""The router's entry to execution: one :class:`Call` per routed call, run by a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from smartroute_llm.execution import async_driver, sync_driver
from smartroute_llm.execution.call import Call, attempt_options
from smartroute_llm.plan import RoutingPlan
from smartroute_llm.response import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from smartroute_llm.router import Router


class Executor:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.breakers = router.breakers
        self.fixed_options = attempt_options(router.policy, None)

    # ``tags``: the call's tags (budgets per key), checked by the router

    def complete(self, plan: RoutingPlan, tags: dict[str, str] | None = None) -> ChatResponse:
        return sync_driver.complete(Call(self, plan, tags))

    def acomplete(
        self, plan: RoutingPlan, tags: dict[str, str] | None = None
    ) -> Coroutine[Any, Any, ChatResponse]:
        """The driver's coroutine itself: no frame of our own to await through."""
        return async_driver.acomplete(Call(self, plan, tags))

    def stream(
        self, plan: RoutingPlan, tags: dict[str, str] | None = None
    ) -> Iterator[ChatChunk]:
        return sync_driver.stream(self, plan, tags)

    def astream(
        self, plan: RoutingPlan, tags: dict[str, str] | None = None
    ) -> AsyncIterator[ChatChunk]:
        return async_driver.astream(self, plan, tags)
