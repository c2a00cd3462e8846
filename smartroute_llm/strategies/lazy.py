"""A ranking read on demand: ``plan.candidates`` for large fleets.

A call reads the first candidate or two (and a decision the top ten) of a ranking that may hold
a thousand; building every :class:`~smartroute_llm.plan.Candidate` up front cost more than the
rest of planning. :class:`LazyCandidates` is a ``list`` whose entries a source builds, best
first, when first read. Reading by index, slice, iteration, ``len``, ``in`` and ``index`` builds
only what it reaches; anything else (comparison, ``repr``, mutation, pickling) builds the rest
first and then is the plain list's. Code that reads a list's storage directly, below the Python
protocols (a C extension, ``heapq``), sees only the entries built so far: pass ``list(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, SupportsIndex

from smartroute_llm.plan import Candidate

_len = list.__len__
_get = list.__getitem__
_append = list.append


class LazyCandidates(list[Candidate]):
    """``n`` candidates, the next built by ``source()`` (None once it is exhausted)."""

    __slots__ = ("_n", "_source")

    def __init__(self, iterable: Iterable[Candidate] = (), /) -> None:
        super().__init__(iterable)  # built like a list (copies, ``dataclasses.asdict``): one
        self._source: Callable[[], Candidate | None] | None = None
        self._n = 0

    @classmethod
    def of(cls, n: int, source: Callable[[], Candidate | None]) -> LazyCandidates:
        out = cls()
        out._n = n
        out._source = source
        return out

    @property
    def built(self) -> int:
        """How many entries exist so far (the rest are built when read)."""
        return _len(self)

    def _grow(self, upto: int) -> None:
        """Build entries until there are ``upto`` (or all)."""
        source = self._source
        if source is None:
            return
        while _len(self) < upto:
            c = source()
            if c is None:
                break
            _append(self, c)
        if _len(self) >= self._n:
            self._source = None

    def _all(self) -> None:
        if self._source is not None:
            self._grow(self._n)

    def __len__(self) -> int:
        return _len(self) if self._source is None else self._n

    def __getitem__(self, i: Any) -> Any:
        if self._source is not None:
            if isinstance(i, slice):
                start, stop, step = i.indices(self._n)
                if start < stop if step > 0 else start > stop:
                    self._grow(stop if step > 0 else start + 1)
            else:
                k = i.__index__()
                self._grow(k + 1 if k >= 0 else self._n)
        return _get(self, i)

    def __iter__(self) -> Iterator[Candidate]:
        i = 0
        while True:
            if i >= _len(self):
                if self._source is None:
                    return
                self._grow(i + 1)
                if i >= _len(self):
                    return
            yield _get(self, i)
            i += 1

    def __contains__(self, x: object) -> bool:
        if list.__contains__(self, x):
            return True
        if self._source is None:
            return False
        self._all()
        return list.__contains__(self, x)

    def index(self, x: Any, *args: SupportsIndex) -> int:
        if not args:
            try:
                return list.index(self, x)  # the first match among those built is the first
            except ValueError:
                if self._source is None:
                    raise
        self._all()
        return list.index(self, x, *args)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (type(self), (list(self),))


def _whole(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def whole(self: LazyCandidates, *args: Any, **kwargs: Any) -> Any:
        self._all()
        return method(self, *args, **kwargs)

    whole.__name__ = name
    whole.__doc__ = method.__doc__
    return whole


for _name in (
    "__repr__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__",
    "__mul__", "__rmul__", "__iadd__", "__imul__", "__reversed__", "__setitem__",
    "__delitem__", "__sizeof__", "append", "extend", "insert", "pop", "remove", "reverse",
    "sort", "clear", "copy", "count",
):
    setattr(LazyCandidates, _name, _whole(_name))
