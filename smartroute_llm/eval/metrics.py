"""Scoring routing decisions against recorded outcomes: quality, cost, traffic, curves, AIQ.

Definitions (also in ``docs/eval.md``):

* A decision assigns one model to every row. Its **quality** is the mean recorded quality of the
  chosen models, its **cost per 1k** is 1,000 x the mean recorded USD cost of the chosen calls,
  and its **traffic share** is the fraction of rows sent to each model.
* A policy with a cost knob gives one point ``(cost per 1k, quality)`` per knob setting: its
  **cost-quality curve**.
* **AIQ** (average improvement in quality, RouterBench's area metric): costs are normalised to
  ``x = (cost - c_lo) / (c_hi - c_lo)``, where ``c_lo``/``c_hi`` are the costs of the cheapest and
  the dearest single model on the same rows, then clipped to [0, 1]. To the policy's points add
  the anchor ``(0, q_lo)``, the quality of the cheapest single model (routing everything to it is
  always available). Take the upper convex hull of these points (random mixing of two settings
  reaches every point on the segment between them), make it non-decreasing (a running maximum
  from the left: spending more never has to lose quality), extend it flat from its rightmost
  point to ``x = 1``, and integrate over [0, 1]. A single model's AIQ is the area under the
  segment from the anchor to its point, then flat.
* **cost to reach p%** is read off the same hull, in USD per 1k and without clipping: the
  policy's points plus the cheapest single model's point, upper convex hull, non-decreasing; the
  lowest cost at which the hull's quality is at least p% of the best single model's quality on
  the same rows, interpolating along a segment (``None`` when the hull never gets there). A
  point on a segment is realised by sending each request to one of its two end settings at
  random, in proportion. ``cost_at_*_setting`` is the stricter figure: the lowest cost of a
  single knob setting that reaches p% on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from smartroute_llm.eval.tables import OutcomeTable, TableError

Decisions = npt.NDArray[np.intp]


@dataclass(slots=True)
class Point:
    """One knob setting of a policy, scored."""

    label: str
    knob: float
    quality: float
    cost_per_1k: float
    share: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PolicyReport:
    """A policy's curve and the summary figures derived from it."""

    name: str
    points: list[Point]
    aiq: float
    cost_at_90: float | None
    cost_at_95: float | None
    best: Point
    cost_at_90_setting: float | None = None
    cost_at_95_setting: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aiq": self.aiq,
            "cost_at_90": self.cost_at_90,
            "cost_at_95": self.cost_at_95,
            "cost_at_90_setting": self.cost_at_90_setting,
            "cost_at_95_setting": self.cost_at_95_setting,
            "best": self.best.to_dict(),
            "points": [p.to_dict() for p in self.points],
        }


def score(table: OutcomeTable, decisions: Sequence[int] | Decisions, *, label: str = "",
          knob: float = 0.0) -> Point:
    """Mean quality, cost per 1k queries and traffic share of one decision per row."""
    d = np.asarray(decisions, dtype=np.intp)
    if d.shape != (len(table),):
        raise TableError(f"decisions: expected {len(table)} entries, got {d.shape[0]}")
    if d.size and (d.min() < 0 or d.max() >= len(table.models)):
        raise TableError(f"decisions: model index out of range 0..{len(table.models) - 1}")
    rows = np.arange(len(table))
    counts = np.bincount(d, minlength=len(table.models))
    return Point(
        label=label,
        knob=float(knob),
        quality=float(table.quality[rows, d].mean()),
        cost_per_1k=float(table.cost[rows, d].mean() * 1000.0),
        share={m: float(c / len(table)) for m, c in zip(table.models, counts, strict=True)},
    )


@dataclass(slots=True, frozen=True)
class Scale:
    """The rows' reference costs and qualities that AIQ and the reach targets are relative to."""

    c_lo: float  # cost per 1k of the cheapest single model
    c_hi: float  # cost per 1k of the dearest single model
    q_lo: float  # quality of the cheapest single model
    q_best: float  # quality of the best single model

    @classmethod
    def of(cls, table: OutcomeTable) -> Scale:
        cost = table.cost.mean(axis=0) * 1000.0
        qual = table.quality.mean(axis=0)
        lo = int(np.argmin(cost))
        return cls(float(cost.min()), float(cost.max()), float(qual[lo]), float(qual.max()))

    def x(self, cost_per_1k: float) -> float:
        span = self.c_hi - self.c_lo
        if span <= 0:
            return 0.0
        return min(1.0, max(0.0, (cost_per_1k - self.c_lo) / span))


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-decreasing upper convex hull of ``(x, q)`` points, left to right."""
    pts = sorted(set(points))
    best: dict[float, float] = {}
    for x, q in pts:
        best[x] = max(q, best.get(x, q))
    pts = sorted(best.items())
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    out: list[tuple[float, float]] = []
    peak = -np.inf
    for x, q in hull:
        if q > peak:
            out.append((x, q))
            peak = q
    return out


def aiq(points: Sequence[Point], scale: Scale) -> float:
    """Area under the non-decreasing hull over normalised cost [0, 1]; see the module doc."""
    xs = [(scale.x(p.cost_per_1k), p.quality) for p in points]
    hull = frontier([(0.0, scale.q_lo), *xs])
    area = 0.0
    for (x0, q0), (x1, q1) in pairwise(hull):
        area += (x1 - x0) * (q0 + q1) / 2.0
    x_last, q_last = hull[-1]
    area += (1.0 - x_last) * q_last
    return float(area)


def cost_to_reach(points: Sequence[Point], target_quality: float,
                  scale: Scale | None = None) -> float | None:
    """The lowest cost per 1k on the non-decreasing hull of ``points`` (and of the cheapest
    single model's point when ``scale`` is given) whose quality reaches ``target_quality``."""
    pts = [(p.cost_per_1k, p.quality) for p in points]
    if scale is not None:
        pts.append((scale.c_lo, scale.q_lo))
    hull = frontier(pts)
    eps = 1e-12
    if hull[0][1] >= target_quality - eps:
        return hull[0][0]
    for (c0, q0), (c1, q1) in pairwise(hull):
        if q1 >= target_quality - eps:
            return c0 + (target_quality - q0) / (q1 - q0) * (c1 - c0)
    return None


def cost_of_setting(points: Sequence[Point], target_quality: float) -> float | None:
    """The lowest cost per 1k of a single point whose quality reaches ``target_quality``."""
    costs = [p.cost_per_1k for p in points if p.quality >= target_quality - 1e-12]
    return min(costs) if costs else None


def report(name: str, points: Sequence[Point], scale: Scale) -> PolicyReport:
    if not points:
        raise ValueError(f"{name}: no points to report")
    pts = list(points)
    q90, q95 = 0.90 * scale.q_best, 0.95 * scale.q_best
    return PolicyReport(
        name=name,
        points=pts,
        aiq=aiq(pts, scale),
        cost_at_90=cost_to_reach(pts, q90, scale),
        cost_at_95=cost_to_reach(pts, q95, scale),
        best=max(pts, key=lambda p: (p.quality, -p.cost_per_1k)),
        cost_at_90_setting=cost_of_setting(pts, q90),
        cost_at_95_setting=cost_of_setting(pts, q95),
    )


# --- baselines ---------------------------------------------------------------------------------


def single_model_points(table: OutcomeTable) -> list[Point]:
    return [
        score(table, np.full(len(table), j, dtype=np.intp), label=m)
        for j, m in enumerate(table.models)
    ]


def random_point(table: OutcomeTable) -> Point:
    """The expectation of routing every row uniformly at random (exact, no sampling)."""
    m = len(table.models)
    return Point(
        label="random",
        knob=0.0,
        quality=float(table.quality.mean()),
        cost_per_1k=float(table.cost.mean() * 1000.0),
        share={name: 1.0 / m for name in table.models},
    )


def oracle_decisions(table: OutcomeTable, willingness_to_pay: float = 0.0) -> Decisions:
    """Per row, the model maximising ``quality - wtp * cost/c_ref`` (``c_ref``: mean cost of
    the dearest model), ties to the cheaper; ``wtp=0`` is the classic oracle (best quality,
    cheapest among equals)."""
    c_ref = float(table.cost.mean(axis=0).max()) or 1.0
    util = table.quality - willingness_to_pay * table.cost / c_ref
    best = util.max(axis=1, keepdims=True)
    tied = np.where(util >= best - 1e-12, table.cost, np.inf)
    out: Decisions = np.argmin(tied, axis=1).astype(np.intp)
    return out


DEFAULT_WTP = (0.0, *np.geomspace(0.01, 100.0, 25).tolist())


def oracle_points(table: OutcomeTable, knobs: Sequence[float] = DEFAULT_WTP) -> list[Point]:
    return [
        score(table, oracle_decisions(table, k), label=f"oracle wtp={k:g}", knob=k) for k in knobs
    ]


def baselines(table: OutcomeTable) -> dict[str, PolicyReport]:
    """Every single model, the best single, the cheapest single, random, and the oracle."""
    scale = Scale.of(table)
    singles = single_model_points(table)
    out = {f"model:{p.label}": report(f"model:{p.label}", [p], scale) for p in singles}
    best = max(singles, key=lambda p: (p.quality, -p.cost_per_1k))
    cheapest = min(singles, key=lambda p: (p.cost_per_1k, -p.quality))
    out["best_single"] = report("best_single", [best], scale)
    out["cheapest"] = report("cheapest", [cheapest], scale)
    out["random"] = report("random", [random_point(table)], scale)
    out["oracle"] = report("oracle", oracle_points(table), scale)
    return out
