"""Where routing state lives: health, circuit breakers, learned statistics.

Everything that may need sharing across processes goes through :class:`StateStore`. Values are
JSON-compatible dicts under ``(namespace, key)``. The in-memory store is the default; a shared
store (Redis) implements the same protocol, and a store that fails must degrade to local state
rather than fail a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]


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
        self._lock = threading.Lock()

    def get(self, namespace: str, key: str) -> Record | None:
        ns = self._data.get(namespace)
        return None if ns is None else ns.get(key)

    def put(self, namespace: str, key: str, value: Record) -> None:
        with self._lock:
            self._data.setdefault(namespace, {})[key] = value

    def update(self, namespace: str, key: str, fn: Callable[[Record | None], Record]) -> Record:
        with self._lock:
            ns = self._data.setdefault(namespace, {})
            new = fn(ns.get(key))
            ns[key] = new
            return new

    def items(self, namespace: str) -> Iterator[tuple[str, Record]]:
        with self._lock:
            snapshot = list(self._data.get(namespace, {}).items())
        return iter(snapshot)

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            self._data.get(namespace, {}).pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
