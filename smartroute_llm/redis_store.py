"""Routing state shared by many processes through Redis, read from a local mirror.

Why a mirror: the planner reads circuits and learned statistics on every call, and a round trip
per read would cost more than the whole decision. So every read is a dict lookup in this
process; the mirror follows Redis through pub/sub (each write publishes its new value, applied
within a millisecond or so) and a poll of per-namespace revision counters every ``refresh_s``
(catches anything pub/sub missed, e.g. across a reconnect).

Writes are atomic across processes, never last-writer-wins: ``update(ns, key, fn)`` is a
WATCH/MULTI transaction that re-runs ``fn`` on the current shared value until it commits (so
``fn`` must be pure). Namespaces in ``write_behind`` (default: ADAPTIVE's statistics) apply
``fn`` to the mirror at once and replay it on the shared value from a background thread, in
order and still atomically, batched every ``batch_s`` (one transaction per key and batch).
Other namespaces (the circuit breakers, whose probe lease must be exact) write through,
bounded by ``write_timeout_s``.

Redis away never fails or stalls a call: the first failure is logged once, every read and
write then uses the mirror, a background thread probes Redis every ``retry_s``, and when it
answers the mirror is resynchronised (Redis stays the truth; a restarted, empty Redis is
re-seeded from the mirror) and queued write-behind updates are replayed.

Layout (``v1``): a record is ``smartroute:v1:<router>:<namespace>:<key>`` holding
``{"v": version, "d": record}``; ``smartroute:v1:<router>#keys:<namespace>`` is the set of the
namespace's keys, ``smartroute:v1:<router>#rev:<namespace>`` its revision counter, and
``smartroute:v1:<router>#events`` the pub/sub channel. Every key has a TTL (``ttl_s``),
refreshed by each write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.state import Record

if TYPE_CHECKING:  # pragma: no cover
    import redis

log = logging.getLogger("smartroute")

PREFIX = "smartroute:v1"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MAX_TRIES = 100
Fn = Callable[[Record | None], Record]


def _redis() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - redis ships with the redis extra
        raise ConfigurationError(
            "RedisStateStore needs redis-py: pip install 'smartroute-llm[redis]'"
        ) from exc
    return redis


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for reprs, logs and errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass
class _Space:
    """One namespace's mirror: ``base`` is the last known shared value (with its version),
    ``view`` what readers see (``base`` plus queued write-behind updates)."""

    base: dict[str, tuple[int, Record]] = field(default_factory=dict)
    view: dict[str, Record] = field(default_factory=dict)
    rev: int = 0  # local: bumps whenever the view changes
    remote_rev: int | None = None


class RedisStateStore:
    """A :class:`~smartroute_llm.state.StateStore` shared through Redis (see the module doc).

    Build it with :meth:`from_url`; ``router`` names the routers that share state (routers with
    different names on one Redis never see each other's keys)."""

    degrades_locally = True  # FailSafeStore passes calls straight through

    def __init__(
        self,
        client: redis.Redis,
        *,
        router: str = "default",
        background_client: redis.Redis | None = None,
        ttl_s: float = 7 * 86400.0,
        write_behind: tuple[str, ...] = ("adaptive",),
        refresh_s: float = 0.5,
        retry_s: float = 1.0,
        batch_s: float = 0.02,
        max_pending: int = 100_000,
        display_url: str = "<client>",
    ) -> None:
        if not _NAME.match(router):
            raise ConfigurationError(
                f"RedisStateStore: router name {router!r} must be letters, digits, '_', '.' "
                "or '-'"
            )
        for name, value in (("ttl_s", ttl_s), ("refresh_s", refresh_s), ("retry_s", retry_s)):
            if not (isinstance(value, int | float) and value > 0):
                raise ConfigurationError(f"RedisStateStore: {name} must be > 0, got {value!r}")
        self._fg = client
        self._bg = background_client or client
        self.router = router
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.write_behind = frozenset(write_behind)
        self.refresh_s = float(refresh_s)
        self.retry_s = float(retry_s)
        self.batch_s = max(0.0, float(batch_s))
        self._id = os.urandom(6).hex()  # tags this store's own pub/sub messages
        self.max_pending = max_pending
        self._url = display_url
        self._spaces: dict[str, _Space] = {}
        self._pending: dict[tuple[str, str], list[Fn]] = {}
        self._n_pending = 0
        self._dropped = 0
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._down = False
        self._outages = 0
        self._threads: list[threading.Thread] = []
        self._channel = f"{PREFIX}:{router}#events"

    # --- construction --------------------------------------------------------------------

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        router: str = "default",
        password_env: str | None = "SMARTROUTE_REDIS_PASSWORD",
        write_timeout_s: float = 0.05,
        timeout_s: float = 2.0,
        **options: Any,
    ) -> RedisStateStore:
        """``redis://[user:password@]host[:port][/db]``, ``rediss://`` (TLS) or ``unix://``.

        Without a password in the URL, the one in the environment variable ``password_env``
        (if set) is used. ``write_timeout_s`` bounds a write-through on the request path (a
        circuit opening, a probe's claim); ``timeout_s`` bounds the background threads' calls.
        Nothing connects here: a Redis that is down at startup only means local state until it
        answers. Other options: ``ttl_s``, ``write_behind``, ``refresh_s``, ``retry_s``,
        ``batch_s``."""
        if not isinstance(url, str) or not url:
            raise ConfigurationError("RedisStateStore.from_url: url must be a non-empty string")
        shown = redact_url(url)
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ConfigurationError(f"RedisStateStore.from_url: invalid url {shown}") from exc
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError(
                f"RedisStateStore.from_url: url {shown} must start with redis://, rediss:// or "
                "unix://"
            )
        kwargs: dict[str, Any] = {}
        if parts.password is None and password_env and os.environ.get(password_env):
            kwargs["password"] = os.environ[password_env]
        redis = _redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        def client(timeout: float) -> Any:
            try:
                return redis.Redis.from_url(  # no retries: a failure degrades at once
                    url, socket_timeout=timeout, socket_connect_timeout=timeout,
                    retry_on_timeout=False, retry=Retry(NoBackoff(), 0), **kwargs,
                )
            except ValueError as exc:
                raise ConfigurationError(
                    f"RedisStateStore.from_url: invalid url {shown}: "
                    f"{_scrub(str(exc), url, kwargs.get('password'))}"
                ) from None

        return cls(
            client(write_timeout_s), background_client=client(timeout_s), router=router,
            display_url=shown, **options,
        )

    def __repr__(self) -> str:
        state = "degraded" if self._down else "shared"
        return f"RedisStateStore({self._url}, router={self.router!r}, {state})"

    # --- keys ----------------------------------------------------------------------------

    @property
    def redis_client(self) -> redis.Redis:
        """The sync client, for shared counters (rate limits and budgets: smartroute_llm.limits)."""
        return self._fg

    @property
    def key_prefix(self) -> str:
        return f"{PREFIX}:{self.router}:"

    def record_key(self, namespace: str, key: str) -> str:
        return f"{PREFIX}:{self.router}:{namespace}:{key}"

    def index_key(self, namespace: str) -> str:
        return f"{PREFIX}:{self.router}#keys:{namespace}"

    def rev_key(self, namespace: str) -> str:
        return f"{PREFIX}:{self.router}#rev:{namespace}"

    # --- the StateStore protocol (all local but write-through updates) -------------------

    @property
    def degraded(self) -> bool:
        return self._down

    def get(self, namespace: str, key: str) -> Record | None:
        space = self._spaces.get(namespace) or self._open(namespace)
        return space.view.get(key)

    def items(self, namespace: str) -> Iterator[tuple[str, Record]]:
        space = self._spaces.get(namespace) or self._open(namespace)
        with self._lock:
            return iter(list(space.view.items()))

    def revision(self, namespace: str) -> int:
        space = self._spaces.get(namespace) or self._open(namespace)
        return space.rev

    def put(self, namespace: str, key: str, value: Record) -> None:
        self.update(namespace, key, lambda _old: value)

    def update(self, namespace: str, key: str, fn: Fn) -> Record:
        space = self._spaces.get(namespace) or self._open(namespace)
        if namespace in self.write_behind:
            return self._update_behind(space, namespace, key, fn)
        if not self._down:
            try:
                version, rec = self._transact(self._fg, namespace, key, [fn])
            except Exception as exc:
                self._went_down(exc)
            else:
                with self._lock:
                    self._set_base(space, namespace, key, version, rec, force=False)
                return rec  # what fn made, even if a newer value already arrived
        with self._lock:  # degraded: local state only (Redis stays the truth when back)
            base = space.base.get(key)
            new = fn(None if base is None else base[1])
            self._set_base(space, namespace, key, (base[0] if base else 0), new, force=True)
            return space.view[key]

    def delete(self, namespace: str, key: str) -> None:
        space = self._spaces.get(namespace) or self._open(namespace)
        if not self._down:
            try:
                self._remote_delete(namespace, key)
            except Exception as exc:
                self._went_down(exc)
        with self._lock:
            self._pending.pop((namespace, key), None)
            if space.base.pop(key, None) is not None or space.view.pop(key, None) is not None:
                space.view.pop(key, None)
                space.rev += 1

    def clear(self) -> None:
        """Forget every record of this router (all namespaces the store has seen)."""
        for ns in list(self._spaces):
            for key, _ in list(self.items(ns)):
                self.delete(ns, key)

    # --- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued write-behind updates reached Redis; False if they did not in time
        (Redis away)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._n_pending:
                    return True
            self._wake.set()
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Write what is queued (briefly), stop the background threads, close connections."""
        if self._threads and not self._down:
            self.flush(timeout=2.0)
        self._closed.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=5)
        for c in {id(self._fg): self._fg, id(self._bg): self._bg}.values():
            with contextlib.suppress(Exception):  # closing a dead connection may fail
                c.close()

    def __enter__(self) -> RedisStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the mirror ----------------------------------------------------------------------

    def _open(self, namespace: str) -> _Space:
        """A namespace's first use: load it (bounded by ``write_timeout_s``) and start the
        background threads; a failure leaves it empty until Redis answers."""
        if ":" in namespace or "#" in namespace or not namespace:
            raise ConfigurationError(
                f"RedisStateStore: namespace {namespace!r} must be non-empty, without ':' or '#'"
            )
        with self._lock:
            space = self._spaces.get(namespace)
            if space is not None:
                return space
            space = self._spaces[namespace] = _Space()
            self._start()
        if not self._down:
            try:
                self._load(self._fg, namespace)
            except Exception as exc:
                self._went_down(exc)
        return space

    def _set_base(
        self, space: _Space, ns: str, key: str, version: int, rec: Record, *, force: bool
    ) -> None:
        """Caller holds the lock. Accept a shared value unless it is older than the mirror's."""
        old = space.base.get(key)
        if not force and old is not None and version < old[0]:
            return
        space.base[key] = (version, rec)
        view = rec
        for fn in self._pending.get((ns, key), ()):
            view = fn(view)
        if space.view.get(key) != view:
            space.view[key] = view
            space.rev += 1

    def _update_behind(self, space: _Space, ns: str, key: str, fn: Fn) -> Record:
        with self._lock:
            new = fn(space.view.get(key))
            queue = self._pending.setdefault((ns, key), [])
            queue.append(fn)
            self._n_pending += 1
            if self._n_pending > self.max_pending:
                queue.pop(0)  # Redis has been away long: forget the oldest shared update
                self._n_pending -= 1
                self._dropped += 1
                if self._dropped == 1:
                    log.warning("RedisStateStore: more than %d updates queued; dropping the "
                                "oldest (they stay in this process)", self.max_pending)
                if not queue:
                    del self._pending[(ns, key)]
            if space.view.get(key) != new:
                space.view[key] = new
                space.rev += 1
        self._wake.set()
        return new

    # --- Redis -----------------------------------------------------------------------------

    def _transact(
        self, client: Any, ns: str, key: str, fns: list[Fn]
    ) -> tuple[int, Record]:
        """Apply ``fns`` in order to the shared value, atomically (WATCH/MULTI, retried)."""
        rk = self.record_key(ns, key)
        redis = _redis()
        with client.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_TRIES):
                try:
                    pipe.watch(rk)
                    version, old = _decode(pipe.get(rk))
                    new: Record | None = old
                    for fn in fns:
                        new = fn(None if new is None else dict(new))
                    assert new is not None  # fns is never empty
                    if old is not None and new == old:
                        pipe.unwatch()
                        return version, old
                    version += 1
                    pipe.multi()
                    self._queue_write(pipe, ns, key, version, new)
                    pipe.execute()
                    return version, new
                except redis.WatchError:
                    continue
        raise RuntimeError(f"update of {ns}/{key} lost {_MAX_TRIES} races in a row")

    def _queue_write(self, pipe: Any, ns: str, key: str, version: int, rec: Record) -> None:
        ttl = self.ttl_ms
        payload = json.dumps({"v": version, "d": rec}, separators=(",", ":"))
        pipe.set(self.record_key(ns, key), payload, px=ttl)
        pipe.sadd(self.index_key(ns), key)
        pipe.pexpire(self.index_key(ns), ttl)
        pipe.incr(self.rev_key(ns))
        pipe.pexpire(self.rev_key(ns), ttl)
        pipe.publish(self._channel, json.dumps(
            {"n": ns, "k": key, "v": version, "d": rec, "o": self._id}, separators=(",", ":")
        ))

    def _remote_delete(self, ns: str, key: str) -> None:
        pipe = self._fg.pipeline(transaction=True)
        pipe.delete(self.record_key(ns, key))
        pipe.srem(self.index_key(ns), key)
        pipe.incr(self.rev_key(ns))
        pipe.pexpire(self.rev_key(ns), self.ttl_ms)
        pipe.publish(self._channel, json.dumps({"n": ns, "k": key, "v": None, "d": None}))
        pipe.execute()

    def _load(self, client: Any, ns: str) -> None:
        """Replace the namespace's mirror with Redis's content."""
        pipe = client.pipeline(transaction=False)
        pipe.get(self.rev_key(ns))
        pipe.smembers(self.index_key(ns))
        rev, members = pipe.execute()
        keys = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        raws = client.mget([self.record_key(ns, k) for k in keys]) if keys else []
        gone = [k for k, raw in zip(keys, raws, strict=True) if raw is None]
        if gone:
            client.srem(self.index_key(ns), *gone)
        space = self._spaces[ns]
        with self._lock:
            fresh = {k: _decode(raw) for k, raw in zip(keys, raws, strict=True) if raw}
            for k in [k for k in space.base if k not in fresh]:
                del space.base[k]
                if (ns, k) not in self._pending:
                    space.view.pop(k, None)
                    space.rev += 1
            for k, (version, rec) in fresh.items():
                if rec is not None:
                    self._set_base(space, ns, k, version, rec, force=True)
            space.remote_rev = int(rev or 0)

    def _reseed(self, client: Any) -> None:
        """A namespace Redis lost (restarted empty, or expired) gets the mirror back."""
        for ns, space in list(self._spaces.items()):
            if client.exists(self.index_key(ns)):
                continue
            with self._lock:
                records = dict(space.base)
            if not records:
                continue
            pipe = client.pipeline(transaction=False)
            for key, (version, rec) in records.items():
                payload = json.dumps({"v": version, "d": rec}, separators=(",", ":"))
                pipe.set(self.record_key(ns, key), payload, px=self.ttl_ms, nx=True)
                pipe.sadd(self.index_key(ns), key)
            pipe.pexpire(self.index_key(ns), self.ttl_ms)
            pipe.incr(self.rev_key(ns))
            pipe.pexpire(self.rev_key(ns), self.ttl_ms)
            pipe.execute()

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
            self._outages += 1
        log.warning(
            "RedisStateStore %s: Redis failed (%s: %s); routing on this process's state, "
            "retrying every %gs", self._url, type(exc).__name__, _scrub(str(exc)), self.retry_s,
        )

    def _came_back(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.warning("RedisStateStore %s: Redis is back; state is shared again", self._url)

    # --- background threads ------------------------------------------------------------------

    def _start(self) -> None:
        if self._threads:
            return
        for target, name in ((self._listen, "listener"), (self._write, "writer")):
            t = threading.Thread(target=target, name=f"smartroute-redis-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _listen(self) -> None:
        """Follow other processes' writes (pub/sub, revision poll); resync after an outage."""
        pubsub: Any = None
        polled = 0.0
        while not self._closed.is_set():
            try:
                if pubsub is None:
                    pubsub = self._bg.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self._channel)
                    self._resync()
                    polled = time.monotonic()
                msg = pubsub.get_message(timeout=min(self.refresh_s, 0.25))
                while msg is not None:
                    self._apply(msg.get("data"))
                    msg = pubsub.get_message(timeout=0)
                if time.monotonic() - polled >= self.refresh_s:
                    polled = time.monotonic()
                    self._poll()
            except Exception as exc:
                self._went_down(exc)
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
                pubsub = None
                self._closed.wait(self.retry_s)
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()

    def _resync(self) -> None:
        self._reseed(self._bg)
        for ns in list(self._spaces):
            self._load(self._bg, ns)
        self._came_back()
        self._wake.set()

    def _poll(self) -> None:
        names = list(self._spaces)
        if not names:
            return
        revs = self._bg.mget([self.rev_key(ns) for ns in names])
        if self._down:
            self._resync()
            return
        for ns, raw in zip(names, revs, strict=True):
            if int(raw or 0) != self._spaces[ns].remote_rev:
                self._load(self._bg, ns)

    def _apply(self, data: Any) -> None:
        try:
            msg = json.loads(data)
            ns, key, version, rec = msg["n"], msg["k"], msg["v"], msg["d"]
        except (ValueError, KeyError, TypeError):
            return
        space = self._spaces.get(ns)
        if space is None:
            return
        if msg.get("o") == self._id:  # our own write: the mirror has it already
            if space.remote_rev is not None:
                space.remote_rev += 1
            return
        with self._lock:
            if version is None:
                if space.base.pop(key, None) is not None and (ns, key) not in self._pending:
                    space.view.pop(key, None)
                    space.rev += 1
            else:
                self._set_base(space, ns, key, int(version), rec, force=False)
            space.remote_rev = None if space.remote_rev is None else space.remote_rev + 1

    def _write(self) -> None:
        """Replay queued write-behind updates on the shared values, key by key, in order."""
        while not self._closed.is_set():
            self._wake.wait(self.refresh_s)
            if self._down:
                self._wake.clear()
                continue
            self._closed.wait(self.batch_s)  # let updates gather: one transaction per key
            self._wake.clear()
            with self._lock:
                work = [(k, list(fns)) for k, fns in self._pending.items() if fns]
            for (ns, key), fns in work:
                try:
                    version, rec = self._transact(self._bg, ns, key, fns)
                except Exception as exc:
                    self._went_down(exc)
                    break
                with self._lock:
                    queue = self._pending.get((ns, key), [])
                    done = min(len(fns), len(queue))
                    del queue[:done]
                    self._n_pending -= done
                    if not queue:
                        self._pending.pop((ns, key), None)
                    self._set_base(self._spaces[ns], ns, key, version, rec, force=False)


def _decode(raw: Any) -> tuple[int, Record | None]:
    if raw is None:
        return 0, None
    try:
        data = json.loads(raw)
        return int(data["v"]), dict(data["d"])
    except (ValueError, KeyError, TypeError):
        return 0, None  # not ours, or corrupt: start the record afresh


def _scrub(text: str, url: str | None = None, password: str | None = None) -> str:
    """Remove anything that could be a secret from an error message."""
    if url:
        secret = urlsplit(url).password
        if secret:
            text = text.replace(secret, "***")
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", text)
