"""Joining a resumed stream onto the text the caller already has, without repeating it.

When a stream breaks after text was delivered, the router asks another target to continue. A
vendor with a real continuation feature (Anthropic's assistant prefill) continues where the text
stopped; asked in words, models often restart the answer or repeat its last words. The
continuation is therefore held back until it can be classified, comparing with whitespace
collapsed (runs of spaces and newlines count as one space):

1. **restart**: it begins with the whole delivered text: that part is dropped, the rest flows;
2. **overlap**: it begins with the delivered text's last words (at least ``min_overlap``
   characters, found within the last ``window`` characters): those are dropped;
3. **fresh**: it shares neither: it flows as is;
4. **divergent restart**: it begins like the delivered text (``min_restart`` characters or more
   in common) but departs from it before covering it: the two cannot be joined cleanly, and the
   stream ends with :class:`ContinuationMismatch` (the router raises ``StreamInterrupted`` with
   the partial text) rather than return a doubled answer.

Only the first characters of a fresh continuation are held back (until they no longer match
the start or the tail of the delivered text); a restart is held back until it has covered the
delivered text.
"""

from __future__ import annotations

__all__ = ["ContinuationJoiner", "ContinuationMismatch"]


class ContinuationMismatch(Exception):
    """The continuation restarted the answer differently: it cannot be joined cleanly."""


def _normalise(text: str) -> tuple[str, list[int]]:
    """``text`` with whitespace runs collapsed to one space and leading whitespace dropped, and
    for every kept character the index just after it in ``text``."""
    out: list[str] = []
    ends: list[int] = []
    space = True  # drop leading whitespace
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                ends.append(i + 1)
                space = True
            else:
                if ends:
                    ends[-1] = i + 1
            continue
        out.append(ch)
        ends.append(i + 1)
        space = False
    return "".join(out), ends


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ContinuationJoiner:
    """Feed the continuation's text as it arrives; emit what :meth:`feed` returns."""

    def __init__(
        self, delivered: str, *, min_overlap: int = 12, min_restart: int = 8, window: int = 400
    ) -> None:
        norm, _ = _normalise(delivered)
        self._delivered = norm.rstrip()
        self._ends_space = delivered[-1:].isspace()
        self._tail = self._delivered[-window:]
        self.min_overlap = min_overlap
        self.min_restart = min(min_restart, len(self._delivered)) or 1
        self._buffer = ""
        self._decided = not self._delivered
        self.dropped = 0  # characters of the continuation dropped as repeats
        self.kind = "fresh" if self._decided else ""

    def feed(self, text: str) -> str:
        if self._decided:
            return text
        self._buffer += text
        return self._decide(final=False)

    def finish(self) -> str:
        """What is still held back, at the end of the continuation."""
        if self._decided:
            return ""
        return self._decide(final=True)

    def _decide(self, final: bool) -> str:
        buf, ends = _normalise(self._buffer)
        delivered = self._delivered
        common = _common_prefix(buf, delivered)
        if common == len(delivered):
            return self._cut(ends, common, "restart")  # covered the delivered text
        if common == len(buf) and not final:
            return ""  # still matching the start of the delivered text
        if common >= self.min_restart:
            raise ContinuationMismatch(
                f"the continuation restarted the answer differently after {common} characters"
            )
        overlap = self._overlap(buf, final)
        if overlap is None:
            return ""  # may still be repeating the delivered tail
        if overlap >= self.min_overlap:
            return self._cut(ends, overlap, "overlap")
        if final and common == len(buf) and buf:
            raise ContinuationMismatch("the continuation repeated the answer's beginning only")
        return self._cut(ends, 0, "fresh")

    def _overlap(self, buf: str, final: bool) -> int | None:
        """Length of the longest delivered tail the buffer begins with; ``None`` while the
        buffer could still be inside a longer one."""
        tail = self._tail
        if not final and buf:
            pos = tail.find(buf)
            while pos != -1:
                if pos + len(buf) < len(tail) and len(tail) - pos >= self.min_overlap:
                    return None  # the buffer is a piece of the tail: wait for more
                pos = tail.find(buf, pos + 1)
        for k in range(min(len(tail), len(buf)), self.min_overlap - 1, -1):
            if tail.endswith(buf[:k]):
                return k
        return 0

    def _cut(self, ends: list[int], n: int, kind: str) -> str:
        self._decided = True
        self.kind = kind
        raw = self._buffer
        self._buffer = ""
        cut = ends[n - 1] if n > 0 else 0
        self.dropped = cut
        out = raw[cut:]
        if self._ends_space and (n > 0 or kind == "fresh"):
            out = out.lstrip(" ")  # the delivered text already ends with the separator
        return out
