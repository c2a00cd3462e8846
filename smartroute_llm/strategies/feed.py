"""What a learning strategy needs from the router, as small protocols.

Strategies sit below the router and its execution: they rank, they do not call. A learning
strategy still has to hear what happened, so the router hands it a :class:`LearningFeed` (the
router's feedback loop implements it) and the strategy subscribes as an
:class:`OutcomeListener`. Nothing here imports from above ``smartroute_llm.strategies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from smartroute_llm.errors import ErrorKind
from smartroute_llm.plan import Profile


class OutcomeLike(Protocol):
    """One finished attempt, as a strategy reads it (``smartroute_llm.feedback.Outcome``)."""

    @property
    def target(self) -> str: ...
    @property
    def complexity_class(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def latency_s(self) -> float: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def error_kind(self) -> ErrorKind | None: ...
    @property
    def at(self) -> float: ...


class OutcomeListener(Protocol):
    def on_outcome(self, outcome: OutcomeLike) -> None: ...

    def on_quality(
        self,
        target: str,
        complexity_class: str,
        quality: float,
        at: float,
        context: tuple[int, ...] | None = None,
    ) -> None:
        """A quality score in [0, 1] for a decision; ``context`` holds the prompt cluster ids
        the strategy reported in the decision's candidate parts, when it did."""
        ...


class LearningFeed(Protocol):
    """Outcomes as they happen, the load in flight, and the router's targets."""

    def subscribe(self, listener: OutcomeListener) -> None: ...

    def inflight(self, target: str) -> int: ...

    @property
    def profiles(self) -> Sequence[Profile]: ...
