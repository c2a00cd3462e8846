"""Where routing state lives: health, circuit breakers, learned statistics.

Everything that may need sharing across processes goes through :class:`StateStore`. Values are
JSON-compatible dicts under ``(namespace, key)``; times in them are wall-clock seconds, which
mean the same in every process. The in-memory store is the default; a shared store (Redis)
implements the same protocol. The router wraps any other store in :class:`FailSafeStore`, so a
store that fails degrades routing to local state and never fails a request.

A store may also offer ``revision(namespace)``: any value that changes whenever a record of the
namespace changes. Readers that mirror a namespace locally (the circuit breakers) then re-read it
only when it changed; without it they re-read it at most every half second.

``update(fn)`` may call ``fn`` more than once (a shared store re-runs it on the current shared
value until its transaction commits), so ``fn`` must be pure.

:class:`RedisStateStore` (``pip install 'smartroute-llm[redis]'``) is imported from
:mod:`smartroute_llm.redis_store` on first use, so the core never imports redis unless asked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]

log = logging.getLogger("smartroute")


@runtime_checkable
class StateStore(Protocol):
    def get(self, namespace: str, key: str) -> Record | None: ...

    def put(self, namespace: str, key: str, value: Record) -> None: ...

    def update(self, namespace: str, key: str, fn: Callable[[Record | None], Record]) -> Record:
        """Atomically replace the record with ``fn(old)`` and return the new one."""
        ...

    def items(self, namespace: str) -> Iterator[tuple[str, Record]]: ...

    def delete(self, namespace: str, key: str) -> None: ...


class InMemoryStateStore:
    """A dict per namespace behind one lock; bounded by the number of keys callers create."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Record]] = {}
        self._revs: dict[str, int] = {}
        self._lock = threading.Lock()

    def revision(self, namespace: str) -> int:
        return self._revs.get(namespace, 0)

    def _touch(self, namespace: str) -> None:
        self._revs[namespace] = self._revs.get(namespace, 0) + 1

    def get(self, namespace: str, key: str) -> Record | None:
        ns = self._data.get(namespace)
        return None if ns is None else ns.get(key)

    def put(self, namespace: str, key: str, value: Record) -> None:
        with self._lock:
            self._data.setdefault(namespace, {})[key] = value
            self._touch(namespace)

    def update(self, namespace: str, key: str, fn: Callable[[Record | None], Record]) -> Record:
        with self._lock:
            ns = self._data.setdefault(namespace, {})
            old = ns.get(key)
            new = fn(old)
            ns[key] = new
            if new != old:
                self._touch(namespace)
            return new

    def items(self, namespace: str) -> Iterator[tuple[str, Record]]:
        with self._lock:
            snapshot = list(self._data.get(namespace, {}).items())
        return iter(snapshot)

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            if self._data.get(namespace, {}).pop(key, None) is not None:
                self._touch(namespace)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            for ns in self._revs:
                self._touch(ns)


def __getattr__(name: str) -> Any:
    if name == "RedisStateStore":
        from smartroute_llm.redis_store import RedisStateStore

        return RedisStateStore
    raise AttributeError(f"module 'smartroute_llm.state' has no attribute {name!r}")


class FailSafeStore:
    """A shared store that may fail, backed by a local one: when a call to the shared store
    raises, it is logged once per outage and the same call is served from local state; the
    shared store is tried again after ``retry_s``. What was written locally during an outage
    stays local (the shared store stays the truth once it is back)."""

    def __init__(self, store: StateStore, *, retry_s: float = 5.0) -> None:
        self.store = store
        self.local = InMemoryStateStore()
        self.retry_s = retry_s
        self._down_until = 0.0
        self._outages = 0
        self._shared_rev = getattr(store, "revision", None)
        if getattr(store, "degrades_locally", False):
            # The store keeps its own local state through outages (RedisStateStore): pass
            # straight through, so its mirror, not an empty local store, serves an outage.
            for name in ("get", "put", "update", "items", "delete", "revision"):
                setattr(self, name, getattr(store, name))

    @property
    def degraded(self) -> bool:
        own = getattr(self.store, "degraded", None) if self._passes_through else None
        if own is not None:
            return bool(own)
        return time.monotonic() < self._down_until

    @property
    def _passes_through(self) -> bool:
        return bool(getattr(self.store, "degrades_locally", False))

    def _run(self, name: str, *args: Any) -> Any:
        if self._down_until and time.monotonic() < self._down_until:
            return getattr(self.local, name)(*args)
        try:
            result = getattr(self.store, name)(*args)
            if name == "items":
                result = list(result)  # a lazy store fails while iterating
        except Exception as exc:
            if not self._down_until:
                self._outages += 1
                log.warning(
                    "state store %s failed (%s: %s); routing on local state, retrying in %gs",
                    type(self.store).__name__, type(exc).__name__, exc, self.retry_s,
                )
            self._down_until = time.monotonic() + self.retry_s
            return getattr(self.local, name)(*args)
        if self._down_until:
            self._down_until = 0.0
            log.warning("state store %s is back", type(self.store).__name__)
        return result

    def get(self, namespace: str, key: str) -> Record | None:
        return self._run("get", namespace, key)  # type: ignore[no-any-return]

    def put(self, namespace: str, key: str, value: Record) -> None:
        self._run("put", namespace, key, value)

    def update(self, namespace: str, key: str, fn: Callable[[Record | None], Record]) -> Record:
        return self._run("update", namespace, key, fn)  # type: ignore[no-any-return]

    def items(self, namespace: str) -> Iterator[tuple[str, Record]]:
        return iter(self._run("items", namespace))

    def delete(self, namespace: str, key: str) -> None:
        self._run("delete", namespace, key)

    def revision(self, namespace: str) -> Any:
        """The shared store's revision when it has one, else ``None`` (readers then re-read on
        an interval); the local store's while degraded."""
        if self.degraded:
            return ("local", self.local.revision(namespace))
        if self._shared_rev is None:
            return None
        return self._run("revision", namespace)
