"""What one admitted attempt holds, and the one place each hold is released.

An attempt holds two things from the moment it is admitted until it ends: the breaker's slot
(taken by ``breakers.acquire`` when the candidate was chosen; a half-open target has
only one) and one count in the target's in-flight number (``feedback.started``). Every way out
of an attempt ends in exactly one of :meth:`Lease.succeeded`, :meth:`Lease.failed` or
:meth:`Lease.released`; whichever comes first wins and the others do nothing, so a
``finally`` that releases after a verdict is always safe. An attempt under rate limits or
budgets also holds its reservation (a :class:`~smartroute_llm.limits.Hold`), settled at that same
single point with what the attempt used. :meth:`Call.close
<smartroute_llm.execution.call.Call.close>` releases whatever is still held when a call ends on a
path no driver saw (cancellation, ``GeneratorExit``, ``KeyboardInterrupt``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartroute_llm.decision import Attempt
from smartroute_llm.errors import ErrorKind
from smartroute_llm.plan import Candidate

if TYPE_CHECKING:
    from smartroute_llm.breaker import CircuitBreakers
    from smartroute_llm.feedback import FeedbackLoop
    from smartroute_llm.limits import Hold


class Lease:
    __slots__ = ("att", "breakers", "c", "feedback", "hold", "open")

    def __init__(
        self,
        c: Candidate,
        att: Attempt,
        breakers: CircuitBreakers,
        feedback: FeedbackLoop,
        hold: Hold | None = None,
    ) -> None:
        self.c = c
        self.hold = hold
        self.att = att
        self.breakers = breakers
        self.feedback = feedback
        self.open = True
        feedback.started(c.name)

    def succeeded(self) -> None:
        if self._end("ok"):
            self.breakers.record_success(self.c.name)

    def failed(self, kind: ErrorKind) -> None:
        """The target's own failure: the breaker counts it."""
        if self._end("failed"):
            self.breakers.record_failure(self.c.name, kind)

    def released(self) -> None:
        """Ended without a verdict on the target (cancelled, lost a race, or a limit that fired
        because this process was too busy to read the answer)."""
        if self._end("released"):
            self.breakers.release(self.c.name)

    def _end(self, how: str) -> bool:
        if not self.open:
            return False
        self.open = False
        self.feedback.finished(self.c.name)
        if self.hold is not None:
            self.hold.settle(self.att, how)
        return True
