"""The router's entry to execution: one :class:`Call` per routed call, run by a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from smartroute.execution import async_driver, sync_driver
from smartroute.execution.call import Call, attempt_options
from smartroute.plan import RoutingPlan
from smartroute.response import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from smartroute.router import Router


class Executor:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.breakers = router.breakers
        self.fixed_options = attempt_options(router.policy, None)

    def complete(self, plan: RoutingPlan) -> ChatResponse:
        return sync_driver.complete(Call(self, plan))

    async def acomplete(self, plan: RoutingPlan) -> ChatResponse:
        return await async_driver.acomplete(Call(self, plan))

    def stream(self, plan: RoutingPlan) -> Iterator[ChatChunk]:
        return sync_driver.stream(self, plan)

    def astream(self, plan: RoutingPlan) -> AsyncIterator[ChatChunk]:
        return async_driver.astream(self, plan)
