"""Fixtures for the reliability tests, and a lag probe for the few figures that are timed.

Wall-clock bounds fail on a busy machine for reasons that are not the router's: the event loop
(or the test's thread) simply did not run. A timed assertion adds :meth:`LagProbe.margin`, which
grows with how late a 10 ms sleep woke up while the test ran, so a bound stays tight on an idle
machine and honest on a loaded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["LagProbe", "fake_provider", "fake_provider_server", "lag"]

TICK = 0.01


class LagProbe:
    """Samples how late a ``TICK`` sleep wakes up, on the running event loop or on a thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @contextlib.asynccontextmanager
    async def on_loop(self) -> AsyncIterator[LagProbe]:
        """Event-loop lag: what delays every callback of the code under test."""
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                await asyncio.sleep(TICK)
                self.samples.append(time.perf_counter() - t0 - TICK)

        task = asyncio.create_task(probe())
        try:
            yield self
        finally:
            stop.set()
            await asyncio.wait({task}, timeout=5)

    @contextlib.contextmanager
    def on_thread(self) -> Iterator[LagProbe]:
        """Scheduling lag of this process (GIL and CPU): what delays sync code and its threads."""
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                time.sleep(TICK)
                self.samples.append(time.perf_counter() - t0 - TICK)

        th = threading.Thread(target=probe, name="lag-probe", daemon=True)
        th.start()
        try:
            yield self
        finally:
            stop.set()
            th.join(5)

    @property
    def worst(self) -> float:
        return max(self.samples, default=0.0)

    def quantile(self, q: float) -> float:
        values = sorted(self.samples)
        return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    def margin(self, scale: float = 4.0) -> float:
        """Seconds to add to a timed bound: ``scale`` times the worst lag seen. A step of the
        code under test can be delayed several times (each await is one more wake-up), so the
        worst single lag is scaled up."""
        return scale * self.worst


@pytest.fixture
def lag() -> LagProbe:
    return LagProbe()
