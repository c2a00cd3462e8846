"""Deployment groups: several targets serving one model, ranked as one and spread by load.

Interchangeable targets used to tie, and ties break by declared order, so three deployments
of one model sent every call to the first. Here targets with the same model id (or declared
equivalent) form a group. The strategy still scores every member (a member may have its own
price or learned statistics); the group then takes the place of its best member in the plan,
and its eligible members follow one another there, ordered by how the calls should spread:

- ``least_loaded`` (default): fewest calls in flight first (members within a quarter of the
  mean in-flight count of the least loaded count as equally loaded, so that scheduling noise
  between identical deployments does not skew their shares); among idle members, the one
  learned to be faster (median of its last 32 answers, once it has 5, in steps of 1.5x with
  50 ms of slack, so noise between identical deployments does not count; under load the
  in-flight counts already tell speeds apart); among equals, the member
  picked least so far (a member back from an outage catches up by at most 8 picks), then in
  rotation.
- ``weighted``: smooth weighted round-robin over ``weights`` (by target name, default 1),
  which gives exact proportions without randomness.

The members after the first are the in-group fallback, tried before the next group. Members
whose circuit is open are not eligible, so they are skipped. A call with a session key goes to
the member that rendezvous hashing (weighted, when weights are set) ranks first for that key
among the eligible members: the same member while it stays eligible, in every process, and on
failure the same next member for every call of the session.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartroute_llm import catalog
from smartroute_llm.errors import ConfigurationError, RequestValidationError
from smartroute_llm.plan import Candidate, GroupPick, Profile

if TYPE_CHECKING:
    from smartroute_llm.strategies.feed import OutcomeLike

SpreadMode = Literal["least_loaded", "weighted", "off"]

_LATENCY_REFRESH_S = 1.0  # medians sort a window: read them at most this often
_LATENCY_WINDOW = 32
_LATENCY_MIN_SAMPLES = 5  # one slow first call (a cold connection) must not mark a member slow
_LATENCY_SLACK_S = 0.05
_LATENCY_STEP = math.log(1.5)
_TWO64 = float(2**64)
_MAX_DEFICIT = 8


class GroupConfig(BaseModel):
    """How targets serving one model share calls (``RoutingPolicy.groups``).

    ``equivalent`` maps a group name to target names or model ids that serve the same model;
    other targets group by their model id. ``spread="off"`` keeps the old behaviour (no
    groups; ties break by declared order). ``affinity=False`` ignores session keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    spread: SpreadMode = "least_loaded"
    equivalent: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    affinity: bool = True

    @field_validator("equivalent", mode="before")
    @classmethod
    def _equivalent(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        seen: dict[str, str] = {}
        out: dict[str, tuple[str, ...]] = {}
        for group, names in v.items():
            if not isinstance(group, str) or not group.strip():
                raise ValueError("groups.equivalent: group names must be non-empty strings")
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise ValueError(
                    f"groups.equivalent[{group!r}]: expected a list of target names or model "
                    f"ids, got {names!r}"
                )
            for n in names:
                if not isinstance(n, str) or not n.strip():
                    raise ValueError(
                        f"groups.equivalent[{group!r}]: names must be non-empty strings"
                    )
                if n in seen and seen[n] != group:
                    raise ValueError(
                        f"groups.equivalent: {n!r} is in both {seen[n]!r} and {group!r}; a "
                        "target belongs to one group"
                    )
                seen[n] = group
            if not names:
                raise ValueError(f"groups.equivalent[{group!r}]: list at least one name")
            out[group] = tuple(names)
        return out

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if not w >= 0:
                raise ValueError(f"groups.weights[{name!r}]: weight must be >= 0, got {w}")
        return v


def session_key(value: Any) -> str | None:
    """The session key of a call (``session=`` or ``metadata["session"]``), checked."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise RequestValidationError(
            "session", f"expected a non-empty string (or an int), got {type(value).__name__}"
        )
    return value


class _Group:
    __slots__ = (
        "buckets", "current", "latency", "lock", "members", "name", "picks", "pos", "rr",
        "weights",
    )

    def __init__(self, name: str, members: list[str], weights: Mapping[str, float]) -> None:
        self.name = name
        self.members = tuple(members)
        self.pos = {n: i for i, n in enumerate(members)}
        self.rr = itertools.count()
        self.buckets: dict[str, int] = {}
        self.weights = {n: float(weights.get(n, 1.0)) for n in members}
        self.current = dict.fromkeys(members, 0.0)
        self.picks = dict.fromkeys(members, 0)
        self.latency: dict[str, deque[float]] = {
            n: deque(maxlen=_LATENCY_WINDOW) for n in members
        }
        self.lock = threading.Lock()


class DeploymentGroups:
    """The groups of one router, built once; :meth:`arrange` runs on every plan. It learns
    members' latencies as an outcome listener of the router's feedback loop."""

    def __init__(
        self,
        profiles: Sequence[Profile],
        config: GroupConfig,
        inflight: Callable[[str], int],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self._inflight = inflight
        self._clock = clock
        self._next_refresh = -math.inf
        self.groups: list[_Group] = []
        self.of: dict[str, _Group] = {}
        if config.spread == "off":
            self.active = False
            return
        for name, members in _membership(profiles, config).items():
            if len(members) > 1:
                g = _Group(name, members, config.weights)
                self.groups.append(g)
                for m in members:
                    self.of[m] = g
        self.active = bool(self.of)
        self._weighted = config.spread == "weighted"

    def arrange(
        self, candidates: list[Candidate], session: str | None
    ) -> tuple[list[Candidate], dict[str, GroupPick]]:
        """``candidates`` with each group's members together at its best member's place, in
        the order to try them; and each member's :class:`GroupPick`."""
        of = self.of
        found: dict[_Group, list[Candidate]] = {}
        grouped = [of.get(c.profile.name) for c in candidates]
        for c, g in zip(candidates, grouped, strict=True):
            if g is not None:
                members = found.get(g)
                if members is None:
                    found[g] = [c]
                else:
                    members.append(c)
        if not found:
            return candidates, {}
        if not self._weighted and session is None:
            now = self._clock()
            if now >= self._next_refresh:
                self._next_refresh = now + _LATENCY_REFRESH_S
                self._refresh_latency()
        out: list[Candidate] = []
        picks: dict[str, GroupPick] = {}
        for c, g in zip(candidates, grouped, strict=True):
            if g is None:
                out.append(c)
                continue
            members = found.pop(g, None)
            if members is None:
                continue  # placed with its group
            pick = self._order(g, members, session)
            out.extend(members)
            for name in pick.members:
                picks[name] = pick
        return out, picks

    def _order(self, g: _Group, members: list[Candidate], session: str | None) -> GroupPick:
        """Sort ``members`` (in place) into the order to try them."""
        k = len(members)
        load: list[int] | None = None
        if k == 1:
            how = "single"
        elif session is not None and self.config.affinity:
            how = "session"
            w = g.weights if self._weighted else None
            members.sort(key=lambda c: _rendezvous(session, c.name, w), reverse=True)
        elif self._weighted:
            how = "weighted"
            self._weighted_order(g, members)
        else:
            how = "least_loaded"
            inflight, buckets, pos = self._inflight, g.buckets, g.pos
            n = len(g.members)
            start = next(g.rr) % n
            picks = g.picks
            names = [c.profile.name for c in members]
            loads = [inflight(name) for name in names]
            lo = min(loads)
            near = lo + sum(loads) // (4 * k)  # within a quarter of the mean: equally loaded
            idle = lo == 0  # under load, load tells speed apart; latency only among idle ones
            keyed = sorted(
                [
                    (
                        lo if busy <= near else busy,
                        buckets.get(name, 0) if idle else 0,
                        picks[name],
                        (pos[name] - start) % n,
                        i,
                    )
                    for i, (name, busy) in enumerate(zip(names, loads, strict=True))
                ]
            )
            members[:] = [members[t[4]] for t in keyed]
            load = [loads[t[4]] for t in keyed]
            _count_pick(picks, members[0].profile.name)
        names = [c.profile.name for c in members]
        skipped = [] if k == len(g.members) else [n for n in g.members if n not in names]
        return GroupPick(g.name, names, how, load, skipped)

    def _weighted_order(self, g: _Group, members: list[Candidate]) -> None:
        """Smooth weighted round-robin (nginx): the chosen member first, then by weight."""
        weights, current = g.weights, g.current
        total = sum(weights[c.name] for c in members)
        if total <= 0:  # only zero-weight members left: take them in turn
            members.sort(key=lambda c: g.pos[c.name])
            return
        with g.lock:
            best = None
            for c in members:
                current[c.name] += weights[c.name]
                if best is None or current[c.name] > current[best.name]:
                    best = c
            assert best is not None
            current[best.name] -= total
        members.sort(key=lambda c: (c is not best, -weights[c.name], g.pos[c.name]))

    def on_outcome(self, outcome: OutcomeLike) -> None:
        if outcome.ok:
            g = self.of.get(outcome.target)
            if g is not None:
                g.latency[outcome.target].append(outcome.latency_s)

    def on_quality(
        self,
        target: str,
        complexity_class: str,
        quality: float,
        at: float,
        context: tuple[int, ...] | None = None,
    ) -> None:
        pass

    def _refresh_latency(self) -> None:
        for g in self.groups:
            lat = {
                n: _median(w) for n, w in g.latency.items() if len(w) >= _LATENCY_MIN_SAMPLES
            }
            if not lat:
                g.buckets = {}
                continue
            lo = min(lat.values()) + _LATENCY_SLACK_S
            g.buckets = {
                n: int(math.log((v + _LATENCY_SLACK_S) / lo) / _LATENCY_STEP)
                for n, v in lat.items()
            }

    def describe(self) -> dict[str, list[str]]:
        """Each group's members, in declared order."""
        return {g.name: list(g.members) for g in self.groups}


def groups_explanation(picks: dict[str, GroupPick]) -> dict[str, Any]:
    """The plan's groups for ``decision.explanation["groups"]`` (JSON-ready)."""
    out: dict[str, Any] = {}
    for pick in picks.values():
        if pick.group not in out:
            out[pick.group] = pick.as_dict()
    return out


def _median(window: deque[float]) -> float:
    values = sorted(window)
    return values[len(values) // 2]


def _count_pick(picks: dict[str, int], chosen: str) -> None:
    """One more pick for ``chosen``; no member trails it by more than ``_MAX_DEFICIT``, so a
    member back from an outage wins a few ties, not every call until it has caught up."""
    n = picks[chosen] = picks[chosen] + 1
    floor = n - _MAX_DEFICIT
    for m, k in picks.items():
        if k < floor:
            picks[m] = floor


def _rendezvous(session: str, member: str, weights: Mapping[str, float] | None) -> float:
    digest = hashlib.blake2b(f"{session}\x00{member}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / _TWO64
    w = 1.0 if weights is None else weights[member]
    return w / -math.log(u)


def _membership(profiles: Sequence[Profile], config: GroupConfig) -> dict[str, list[str]]:
    """Group name -> member target names: declared groups first, then by model id and
    capability. Targets given different capabilities were declared different (two wrapped
    framework models often report the same generic model name), so only a declaration groups
    them."""
    declared: dict[str, str] = {}
    for group, names in config.equivalent.items():
        for n in names:
            declared[n] = group
    out: dict[str, list[str]] = {g: [] for g in config.equivalent}
    auto: dict[tuple[str, str], list[str]] = {}
    matched: set[str] = set()
    for p in profiles:
        ids = (p.name, p.model, catalog.canonical_name(p.model))
        hits = {declared[i] for i in ids if i in declared}
        matched.update(i for i in ids if i in declared)
        if len(hits) > 1:
            raise ConfigurationError(
                f"policy.groups.equivalent: target {p.name!r} matches groups {sorted(hits)}; "
                "list it (by target name) in one group only"
            )
        if hits:
            out[hits.pop()].append(p.name)
        else:
            key = (catalog.canonical_name(p.model), p.capability.model_dump_json())
            auto.setdefault(key, []).append(p.name)
    for (model, _), members in auto.items():
        name, i = model, 1
        while name in out:
            i += 1
            name = f"{model} ({i})"
        out[name] = members
    unknown = [n for n in declared if n not in matched]
    if unknown:
        raise ConfigurationError(
            f"policy.groups.equivalent: {unknown} match no target (targets: "
            f"{sorted(p.name for p in profiles)}); use target names or model ids"
        )
    return out
