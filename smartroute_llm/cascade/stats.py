"""Where a cascade starts: per cluster of similar prompts, how often each rung's answers pass.

A rung that the verifiers keep rejecting for one kind of prompt is paid for and thrown away on
every call of that kind. After ``start_higher_after`` rejections in a row of a rung for a
cluster, calls of the cluster start above it; every ``reprobe_every``-th such call starts at
the bottom again, so a rung that has got better (or a cluster that drifted) is found again: an
accepted probe resets the count. Prompts are clustered by their text as ADAPTIVE does
(:mod:`smartroute_llm.strategies.clusters`, the template level). In-process only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from smartroute_llm.strategies.clusters import PromptContexts


@dataclass(slots=True)
class _RungStats:
    accepted: int = 0
    rejected: int = 0
    streak: int = 0  # rejections in a row


@dataclass(slots=True)
class _ClusterStats:
    rungs: dict[str, _RungStats] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    skipping: int = 0  # calls that started above the bottom since the last probe


@dataclass(frozen=True, slots=True)
class Start:
    """Where one call's ladder starts: rung index, the prompt's cluster, and why."""

    index: int
    cluster: int | None
    reason: str = ""
    probe: bool = False


class LadderStats:
    """Per (cluster, rung key) acceptance counts; thread-safe, bounded by the clustering."""

    def __init__(self, after: int, reprobe_every: int) -> None:
        self.after = after
        self.reprobe_every = reprobe_every
        self._lock = threading.Lock()
        self._clusters: dict[int, _ClusterStats] = {}
        self._contexts = PromptContexts(on_evict=self._evict) if after > 0 else None

    def _evict(self, cluster: int) -> None:
        self._clusters.pop(cluster, None)

    def start(self, text: str, keys: list[str]) -> Start:
        """The first rung to try for a prompt whose rungs are ``keys`` (bottom first)."""
        if self._contexts is None or len(keys) < 2:
            return Start(0, None)
        cluster = self._contexts.assign(text)[1]
        with self._lock:
            st = self._clusters.get(cluster)
            if st is None:
                return Start(0, cluster)
            i = 0
            while i < len(keys) - 1 and self._failing(st, keys[i]):
                i += 1
            if i == 0:
                st.skipping = 0
                return Start(0, cluster)
            st.skipping += 1
            if st.skipping >= self.reprobe_every:
                st.skipping = 0
                return Start(0, cluster, "re-probing the bottom rung", probe=True)
        skipped = ", ".join(keys[:i])
        return Start(
            i, cluster, f"{skipped} rejected {self.after}+ times in a row for prompts like this"
        )

    def _failing(self, st: _ClusterStats, key: str) -> bool:
        r = st.rungs.get(key)
        return r is not None and r.streak >= self.after

    def record(self, cluster: int | None, key: str, accepted: bool) -> None:
        """A verifier's verdict on ``key``'s answer for a prompt of ``cluster``."""
        if cluster is None:
            return
        with self._lock:
            st = self._clusters.setdefault(cluster, _ClusterStats())
            r = st.rungs.setdefault(key, _RungStats())
            if accepted:
                r.accepted += 1
                r.streak = 0
            else:
                r.rejected += 1
                r.streak += 1

    def answered(self, cluster: int | None, key: str) -> None:
        if cluster is None:
            return
        with self._lock:
            st = self._clusters.setdefault(cluster, _ClusterStats())
            st.answered[key] = st.answered.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """Per cluster: each rung's accepted/rejected counts and current rejection streak,
        and which rung answered how often."""
        with self._lock:
            return {
                str(cid): {
                    "rungs": {
                        k: {"accepted": r.accepted, "rejected": r.rejected, "streak": r.streak}
                        for k, r in st.rungs.items()
                    },
                    "answered": dict(st.answered),
                }
                for cid, st in self._clusters.items()
            }
