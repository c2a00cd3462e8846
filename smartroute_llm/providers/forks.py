"""Fork safety: a child process must never use the pooled connections, clients or locks it
inherited, or parent and child read each other's answers from the same sockets.

Objects that hold such state register here; after ``os.fork()`` the child calls each one's
``_after_fork()``, which drops (never closes: the sockets are the parent's) what it held and
makes fresh locks. ``multiprocessing``'s fork start method goes through ``os.fork`` too.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

__all__ = ["ForkAware", "register"]

logger = logging.getLogger("smartroute.providers")


class ForkAware(Protocol):
    def _after_fork(self) -> None: ...


_LIVE: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def register(obj: ForkAware) -> None:
    _LIVE.add(obj)


def _reset_in_child() -> None:
    for obj in list(_LIVE):
        try:
            obj._after_fork()
        except Exception:  # pragma: no cover - a child must start even so
            logger.exception("smartroute: resetting %r after fork failed", obj)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
