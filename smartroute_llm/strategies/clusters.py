"""Online clusters of prompts from their text alone: which kind of request is this?

Learned routers mostly learn task identity (templates, formats, vocabulary), and task identity
is visible in a prompt's words, mostly at its start (the instruction) and end (the answer
format). A prompt's head and tail become a signed hashed bag of words and word bigrams
(``DIM`` buckets, digits folded to one token, log-scaled, unit length). Leader clustering puts
it in the nearest cluster whose centroid is within a cosine radius, else opens one; when the
slots are full, the cluster with the least recent weight is replaced. Two levels: coarse
(task families) and, among each coarse cluster's children only, fine (templates). Pure
Python, no training table, about 0.15 ms for a 100-word prompt with the tables full.

The radii are properties of the representation, not of a table: prompts of one template sit
well above 0.6 cosine to their centroid, different task families below it, and unrelated tasks
below 0.35.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from operator import mul
from typing import Any

from smartroute_llm.errors import ConfigurationError

DIM = 128
COARSE_RADIUS = 0.35
COARSE_MAX = 16
FINE_RADIUS = 0.6
FINE_MAX = 8
RADIUS, MAX_CLUSTERS = COARSE_RADIUS, COARSE_MAX
HEAD_CHARS = 200  # a template's instruction sits at the start of a prompt
TAIL_CHARS = 300  # and its answer format at the end; the middle is mostly content
_MIN_RATE = 0.02  # a centroid keeps following its family after 50 members
_TOKEN = re.compile(r"[a-z]+|\d+|\n|[^\sa-z\d]")
_HASH_CACHE_MAX = 200_000


class _Hash:
    def __init__(self) -> None:
        self.cache: dict[str, tuple[int, float]] = {}

    def __call__(self, token: str) -> tuple[int, float]:
        v = self.cache.get(token)
        if v is None:
            h = zlib.crc32(token.encode("utf-8"))
            v = (h % DIM, 1.0 if h & 0x80000000 else -1.0)
            if len(self.cache) < _HASH_CACHE_MAX:
                self.cache[token] = v
        return v


def _tokens(text: str) -> list[str]:
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    return ["#" if t[0].isdigit() else t for t in _TOKEN.findall(text.lower())]


class PromptClusters:
    """Leader clustering of hashed prompt vectors; thread-safe, bounded memory.

    Every cluster gets a fresh id when it opens. When all ``max_clusters`` slots are taken, a
    prompt far from every centroid replaces the cluster with the least recent weight (members
    halving every ``4 * max_clusters`` assignments): a new task family gets its own cluster
    instead of diluting an old one, and ``on_evict`` hears the id that is gone."""

    def __init__(
        self,
        *,
        radius: float = RADIUS,
        max_clusters: int = MAX_CLUSTERS,
        on_evict: Callable[[int], None] | None = None,
        new_id: Callable[[], int] | None = None,
    ) -> None:
        self.radius = radius
        self.max_clusters = max_clusters
        self.on_evict = on_evict
        self._cents: list[list[float]] = []  # running means, unit length
        self._counts: list[int] = []
        self._last: list[int] = []
        self._ids: list[int] = []
        self._next_id = 0
        self._tick = 0
        self._half = 4.0 * max_clusters
        self._new_id = new_id
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cents)

    def _nearest(self, v: list[float]) -> tuple[int, float]:
        best, best_sim = -1, -2.0
        for i, c in enumerate(self._cents):
            sim = sum(map(mul, v, c))
            if sim > best_sim:
                best, best_sim = i, sim
        return best, best_sim

    def assign(self, v: list[float]) -> int:
        """The id of the cluster of the unit vector ``v``, learning from it."""
        evicted = None
        with self._lock:
            self._tick += 1
            tick = self._tick
            i, sim = self._nearest(v)
            if i < 0 or sim < self.radius:
                cid = self._next_id if self._new_id is None else self._new_id()
                self._next_id = max(self._next_id, cid + 1)
                if len(self._cents) < self.max_clusters:
                    self._cents.append(v)
                    self._counts.append(1)
                    self._last.append(tick)
                    self._ids.append(cid)
                else:
                    i = min(range(len(self._cents)), key=self._weight)
                    evicted = self._ids[i]
                    self._cents[i], self._counts[i], self._last[i] = v, 1, tick
                    self._ids[i] = cid
            else:
                n = self._counts[i] + 1
                self._counts[i] = n
                self._last[i] = tick
                rate = max(1.0 / n, _MIN_RATE)
                c = [x + rate * (y - x) for x, y in zip(self._cents[i], v, strict=True)]
                norm = math.sqrt(sum(map(mul, c, c)))
                self._cents[i] = [x / norm for x in c] if norm > 0 else c
                cid = self._ids[i]
        if evicted is not None and self.on_evict is not None:
            self.on_evict(evicted)
        return cid

    def _weight(self, i: int) -> float:
        return float(self._counts[i] * 0.5 ** ((self._tick - self._last[i]) / self._half))

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._ids)

    # --- state ---------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        with self._lock:
            return {
                "dim": DIM,
                "tick": self._tick,
                "next_id": self._next_id,
                "ids": list(self._ids),
                "counts": list(self._counts),
                "last": list(self._last),
                "centroids": [[round(x, 6) for x in c] for c in self._cents],
            }

    def restore(self, data: Any, where: str) -> None:
        c = checked_clusters(data, self.max_clusters, where)
        with self._lock:
            self._tick, self._next_id = c["tick"], c["next_id"]
            self._ids, self._counts, self._last = c["ids"], c["counts"], c["last"]
            self._cents = c["centroids"]


class PromptContexts:
    """Two levels: coarse clusters (task families, cosine ``COARSE_RADIUS``) and, inside each,
    fine clusters (templates, ``FINE_RADIUS``). A fine cluster is only compared with its
    siblings, so a decision costs at most ``COARSE_MAX + FINE_MAX`` dot products."""

    def __init__(self, on_evict: Callable[[int], None]) -> None:
        self._on_evict = on_evict
        self._lock = threading.Lock()
        self._next = 0
        self.coarse = PromptClusters(
            radius=COARSE_RADIUS, max_clusters=COARSE_MAX, on_evict=self._drop, new_id=self._id
        )
        self.fine: dict[int, PromptClusters] = {}

    def _id(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _drop(self, coarse_id: int) -> None:
        children = self.fine.pop(coarse_id, None)
        self._on_evict(coarse_id)
        if children is not None:
            for cid in children.ids():
                self._on_evict(cid)

    def _children(self, coarse_id: int) -> PromptClusters:
        f = self.fine.get(coarse_id)
        if f is None:
            f = self.fine.setdefault(
                coarse_id,
                PromptClusters(
                    radius=FINE_RADIUS, max_clusters=FINE_MAX, on_evict=self._on_evict,
                    new_id=self._id,
                ),
            )
        return f

    def assign(self, text: str) -> tuple[int, int]:
        """(coarse id, fine id) of a prompt; ids are never reused."""
        v = vector(text)
        c = self.coarse.assign(v)
        return c, self._children(c).assign(v)

    def export(self) -> dict[str, Any]:
        return {
            "next_id": self._next,
            "coarse": self.coarse.export(),
            "fine": {str(k): f.export() for k, f in list(self.fine.items())},
        }

    def restore(self, data: Any) -> None:
        where = "adaptive state: clusters"
        if not isinstance(data, Mapping) or not isinstance(data.get("fine"), Mapping):
            raise ConfigurationError(f"{where} must be an object with 'coarse' and 'fine'")
        next_id = _int(data.get("next_id"), f"{where}: field 'next_id'")
        coarse = PromptClusters(
            radius=COARSE_RADIUS, max_clusters=COARSE_MAX, on_evict=self._drop, new_id=self._id
        )
        coarse.restore(data.get("coarse"), f"{where}.coarse")
        fine: dict[int, PromptClusters] = {}
        live = coarse.ids()
        for key, value in data["fine"].items():
            if not (isinstance(key, str) and key.isdigit() and int(key) in live):
                raise ConfigurationError(f"{where}.fine: key {key!r} is not a coarse cluster id")
            f = PromptClusters(
                radius=FINE_RADIUS, max_clusters=FINE_MAX, on_evict=self._on_evict,
                new_id=self._id,
            )
            f.restore(value, f"{where}.fine[{key}]")
            fine[int(key)] = f
        ids = [*live, *(i for f in fine.values() for i in f.ids())]
        if len(set(ids)) != len(ids) or any(i > next_id for i in ids):
            raise ConfigurationError(f"{where}: cluster ids must be distinct and <= 'next_id'")
        with self._lock:
            self._next = next_id
            self.coarse, self.fine = coarse, fine

    def live_ids(self) -> set[int]:
        out = self.coarse.ids()
        for f in list(self.fine.values()):
            out |= f.ids()
        return out


def vector(text: str) -> list[float]:
    """The unit hashed bag of words and word bigrams of a prompt's head and tail."""
    v = [0.0] * DIM
    h = _HASH
    toks = _tokens(text)
    for t in toks:
        i, s = h(t)
        v[i] += s
    for a, b in itertools.pairwise(toks):
        i, s = h(a + " " + b)
        v[i] += s
    v = [math.copysign(math.log1p(abs(x)), x) for x in v]
    n = math.sqrt(sum(map(mul, v, v)))
    return [x / n for x in v] if n > 0 else v


_HASH = _Hash()


def checked_clusters(data: Any, max_clusters: int, where: str) -> dict[str, Any]:
    """The fields of an exported clustering, or a :class:`ConfigurationError` naming the bad
    field."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where} must be an object")
    if data.get("dim") != DIM:
        raise ConfigurationError(f"{where}: field 'dim' must be {DIM}, got {data.get('dim')!r}")
    out: dict[str, Any] = {}
    for name in ("tick", "next_id"):
        out[name] = _int(data.get(name), f"{where}: field {name!r}")
    lists = {}
    for name in ("ids", "counts", "last", "centroids"):
        v = data.get(name)
        if not isinstance(v, list):
            raise ConfigurationError(f"{where}: field {name!r} must be a list")
        lists[name] = v
    n = len(lists["ids"])
    if any(len(v) != n for v in lists.values()) or n > max_clusters:
        raise ConfigurationError(
            f"{where}: 'ids', 'counts', 'last', 'centroids' must have one entry per cluster "
            f"(at most {max_clusters})"
        )
    for name in ("ids", "counts", "last"):
        out[name] = [_int(x, f"{where}: {name}[{i}]") for i, x in enumerate(lists[name])]
    if len(set(out["ids"])) != n:
        raise ConfigurationError(f"{where}: 'ids' must be distinct")
    cents = []
    for i, c in enumerate(lists["centroids"]):
        if not (isinstance(c, list) and len(c) == DIM and all(_finite(x) for x in c)):
            raise ConfigurationError(
                f"{where}: centroids[{i}] must be a list of {DIM} finite numbers"
            )
        cents.append([float(x) for x in c])
    out["centroids"] = cents
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any, where: str) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise ConfigurationError(f"{where} must be an integer >= 0, got {x!r}")
    return x
