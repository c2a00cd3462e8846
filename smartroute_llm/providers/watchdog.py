"""A total time bound for blocking reads: at its deadline a sync call's socket is shut down.

httpx's sync timeouts bound each read, not the call: a body dripping a byte every 0.2 s, or an
SSE stream of keepalive comments, never trips a read timeout. Checking the clock between reads
catches those; a server that goes silent *during* a read is caught here. One daemon thread
keeps a heap of deadlines; when one passes, it shuts the watched socket down (a shutdown wakes a
blocked ``recv``, a close does not), and the reader's next read fails at once. Nothing is shut
down after :meth:`Watch.cancel` returns, so a connection handed back to the pool is never
touched.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

__all__ = ["Watch", "socket_of", "watch"]


class Watch:
    """One armed deadline. ``fired`` says whether the socket was shut down."""

    __slots__ = ("_lock", "_sock", "fired", "live")

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock
        self._lock = threading.Lock()
        self.fired = False
        self.live = True

    def cancel(self) -> None:
        with self._lock:
            self.live = False
            self._sock = None

    def _fire(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            if not self.live or sock is None:
                return
            self.live = False
            self.fired = True
            with contextlib.suppress(OSError):  # the base method: TLS sockets too
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, sock: socket.socket) -> Watch:
        if self._pid != os.getpid():  # forked: the thread and lock belong to the parent
            self.__init__()  # type: ignore[misc]
        w = Watch(sock)
        with self._cond:
            heap = self._heap
            if len(heap) > 256 and len(heap) > 4 * sum(1 for e in heap if e[2].live):
                heap[:] = [e for e in heap if e[2].live]
                heapq.heapify(heap)
            heapq.heappush(heap, (deadline, next(self._seq), w))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="smartroute-watchdog", daemon=True
                )
                self._thread.start()
            elif heap[0][2] is w:
                self._cond.notify()
        return w

    def _run(self) -> None:
        cond, heap = self._cond, self._heap
        while True:
            with cond:
                while not heap or heap[0][0] > time.monotonic():
                    cond.wait(None if not heap else heap[0][0] - time.monotonic())
                _, _, w = heapq.heappop(heap)
            w._fire()


_DOG = _Watchdog()


def watch(deadline: float, sock: socket.socket) -> Watch:
    """Shut ``sock`` down at ``deadline`` (``time.monotonic()``) unless cancelled first."""
    return _DOG.arm(deadline, sock)


def socket_of(extensions: Any) -> socket.socket | None:
    """The socket under an httpx response (``None`` for mock or custom transports)."""
    stream = extensions.get("network_stream") if isinstance(extensions, dict) else None
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    return sock if isinstance(sock, socket.socket) else None
