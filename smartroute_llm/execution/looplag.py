"""How much time an event loop has lost: seconds in which it could not run its callbacks on
time because this process was busy (a burst of calls, CPU-bound work, a blocking call), or in
which the process was saturated (its threads used most of a core, so under the GIL an answer
may have waited unread, or an in-process server unserved).

A router limit that fires after the loop lost time measures the client as much as the
provider, so guards push such limits back by the lost time and never blame a provider for it.
The monitor ticks only while some guarded attempt is running on the loop.
"""

from __future__ import annotations

import asyncio
import time
import weakref

TICK_S = 0.02
# A process whose threads used this share of one core over a wait was saturated throughout.
BUSY_SHARE = 0.85

Mark = tuple[float, float, float]  # (loop time lost, process CPU time, loop time)


class LoopLag:
    __slots__ = ("_due", "_handle", "_loop", "_users", "lost", "tolerance")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # weak: the registry below must not keep loops alive
        self.lost = 0.0
        # lateness below this is scheduling noise, not lag
        self.tolerance = 0.05
        self._users = 0
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        assert loop is not None
        return loop

    @classmethod
    def current(cls) -> LoopLag:
        loop = asyncio.get_running_loop()
        lag = _PER_LOOP.get(loop)
        if lag is None:
            lag = _PER_LOOP[loop] = cls(loop)
        return lag

    def enter(self) -> None:
        self._users += 1
        if self._handle is None:
            self._due = self.loop.time() + TICK_S
            self._handle = self.loop.call_at(self._due, self._tick)

    def exit(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._handle is not None:
            self._users = 0
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self.loop.time()
        late = now - self._due
        if late > 0.005:
            self.lost += late
        self._due = now + TICK_S
        self._handle = self.loop.call_at(self._due, self._tick)

    def _pending(self) -> float:
        """Lateness of the tick that has not run yet (the loop may be lagging right now)."""
        if self._handle is None:
            return 0.0
        return max(0.0, self.loop.time() - self._due)

    def mark(self) -> Mark:
        return self.lost + self._pending(), time.process_time(), self.loop.time()

    def lost_since(self, mark: Mark) -> float:
        lost, cpu, at = self.mark()
        late = max(0.0, lost - mark[0])
        wall, used = at - mark[2], cpu - mark[1]
        busy = wall if wall > 0 and used >= BUSY_SHARE * wall else 0.0
        return max(late, busy)


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = (
    weakref.WeakKeyDictionary()
)
