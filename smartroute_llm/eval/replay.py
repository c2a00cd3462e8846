"""Replay routing policies over an outcome table, through the real planner.

Every table model becomes a :class:`~smartroute_llm.testing.ScriptedTarget` whose capability is
calibrated from the **training** table only: quality tiers that let BALANCED reach the models
on the training cost-quality hull (:func:`calibrate_tiers`), and a least-squares fit of its
recorded cost against prompt tokens gives its input and output prices.
Each test prompt is planned with :meth:`Router.plan` (pure, no I/O); the first candidate is the
decision, scored later with that model's recorded quality and cost.

A policy's cost knob is either the BALANCED cost weight ``w`` (quality weight ``1 - w``, speed
weight 0), swept over :data:`COST_WEIGHTS`, or (``knob="wtp"``) BALANCED's willingness to pay
``W`` in USD per unit of quality (score ``Q - cost_usd / W``), swept log-uniformly over a range
set by the training table's per-call prices (:func:`wtp_sweep`). ADAPTIVE is replayed online,
row by row in table order: each row is sent through :meth:`Router.chat` and the router then
receives the recorded quality of the model it chose, and of no other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from smartroute_llm.capability import QUALITY_SCORE, ProviderCapability, QualityTier, SpeedTier
from smartroute_llm.errors import ConfigurationError, StrategyNotAvailableError
from smartroute_llm.eval.metrics import (
    Decisions,
    Point,
    PolicyReport,
    Scale,
    aiq,
    baselines,
    frontier,
    report,
    score,
)
from smartroute_llm.eval.tables import OutcomeTable, QueryTable, TableError
from smartroute_llm.features import (
    DEFAULT_OUTPUT_TOKENS,
    Complexity,
    ComplexityClassifier,
    HeuristicClassifier,
    analyze,
)
from smartroute_llm.policy import RoutingPolicy, RoutingStrategy
from smartroute_llm.request import ChatRequest, to_request
from smartroute_llm.router import Router
from smartroute_llm.testing import FakeClock, ScriptedTarget

# Cost weights w = k / (1 + k) for k log-spaced: dense where quality and cost trade evenly.
COST_WEIGHTS: tuple[float, ...] = (
    0.0,
    *(float(k / (1 + k)) for k in np.geomspace(0.003, 30.0, 24)),
    1.0,
)
ONLINE_COST_WEIGHTS: tuple[float, ...] = COST_WEIGHTS[::5]
WTP_POINTS = 100


def wtp_sweep(train: OutcomeTable, points: int = WTP_POINTS) -> tuple[float, ...]:
    """Willingness-to-pay values (USD per unit of quality), log-uniform from the cheapest
    model's mean training cost (a quality gain of 1 is not worth one dearer call: cheapest
    wins) to 10,000 x the dearest (a 0.0001 quality gain is worth any price: best wins)."""
    mean_cost = train.cost.mean(axis=0)
    lo = max(float(mean_cost.min()), 1e-12)
    hi = max(float(mean_cost.max()), lo) * 1e4
    return tuple(float(v) for v in np.geomspace(lo, hi, points))

Progress = Callable[[int], None]


def _prompt_tokens(prompt: str) -> int:
    return analyze(to_request(prompt), _NO_CLASSIFIER).prompt_tokens


class _Constant:
    """A classifier with a fixed answer: used where only token counts are needed."""

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        return Complexity(0.0, "simple")


_NO_CLASSIFIER = _Constant()


def _reachable(cost: Sequence[float], tier: Sequence[float], ratio: float) -> bool:
    """Whether every model (sorted by cost) wins at some cost weight of the log-scaled BALANCED
    score ``(1 - w) * tier + w * cost_score``, with a window of cost weights wide enough
    (``ratio`` between its ends, in ``w / (1 - w)``) that the evaluation's sweep lands in it."""
    logs = [math.log(max(c, 1e-15)) for c in cost]
    slopes = []
    for i in range(1, len(logs)):
        dq, dc = tier[i] - tier[i - 1], logs[i] - logs[i - 1]
        if dq <= 0 or dc <= 0:
            return False
        slopes.append(dq / dc)
    return all(a >= ratio * b for a, b in itertools.pairwise(slopes))


def calibrate_tiers(
    train: OutcomeTable, fitted: npt.NDArray[np.float64] | None = None
) -> dict[str, QualityTier]:
    """Quality tiers from training outcomes, chosen so BALANCED can reach the models that
    matter.

    With four tiers BALANCED can only ever choose the cheapest model of each tier, so nearest-
    score tiers can hide a model on the single-model cost-quality hull behind a cheaper one
    of the same tier (RouterBench: Yi-34B behind Mixtral). Here the models on the training
    hull are candidates; among subsets (always with the cheapest model) and increasing tier
    assignments whose members all win at some swept cost weight, the one with the highest
    training AIQ is kept, ties to tiers nearest the mean qualities. Every other model gets
    the highest tier of a chosen model that costs no more on any training prompt (``fitted``:
    the planner's cost estimate per prompt and model; the recorded costs by default), so it
    never wins (same tier, dearer), else the lowest tier."""
    q = train.quality.mean(axis=0)
    c = train.cost.mean(axis=0)
    order = sorted(range(len(q)), key=lambda j: (c[j], -q[j]))
    cheapest = order[0]
    scale = Scale(float(c.min()) * 1e3, float(c.max()) * 1e3, float(q[cheapest]), float(q.max()))
    hull_pts = set(frontier([(float(c[j]), float(q[j])) for j in range(len(q))]))
    hull = [j for j in order if (float(c[j]), float(q[j])) in hull_pts and j != cheapest]
    scores = [QUALITY_SCORE[t] for t in QualityTier]
    ks = sorted(COST_WEIGHTS)
    odds = [w / (1 - w) for w in ks if 0 < w < 1]
    ratio = max(b / a for a, b in itertools.pairwise(odds)) * 1.05
    best: tuple[float, float, dict[int, float]] | None = None
    for size in range(0, min(len(hull), len(scores) - 1) + 1):
        for chosen in itertools.combinations(hull, size):
            members = [cheapest, *chosen]
            for levels in itertools.combinations(scores, len(members)):
                if not _reachable([c[j] for j in members], levels, ratio):
                    continue
                pts = [Point(str(j), 0.0, float(q[j]), float(c[j]) * 1e3) for j in members]
                area = aiq(pts, scale)
                near = -sum(abs(lv - q[j]) for lv, j in zip(levels, members, strict=True))
                key = (round(area, 9), near)
                if best is None or key > best[:2]:
                    best = (key[0], key[1], dict(zip(members, levels, strict=True)))
    assigned = best[2] if best is not None else {cheapest: scores[0]}
    est = train.cost if fitted is None else fitted
    by_score = {v: k for k, v in QUALITY_SCORE.items()}
    out: dict[str, QualityTier] = {}
    for j in order:
        level = assigned.get(j)
        if level is None:
            covering = [lv for s, lv in assigned.items() if np.all(est[:, s] <= est[:, j])]
            level = max(covering, default=scores[0])
        out[train.models[j]] = by_score[level]
    return out


def _sweep_ratio() -> float:
    """Widest step between consecutive swept cost weights, as odds ``w / (1 - w)``, plus 5%:
    a window of cost weights at least this wide always holds a swept value."""
    odds = [w / (1 - w) for w in sorted(COST_WEIGHTS) if 0 < w < 1]
    return max(b / a for a, b in itertools.pairwise(odds)) * 1.05


def calibrate_scores(
    train: OutcomeTable, fitted: npt.NDArray[np.float64] | None = None
) -> dict[str, float]:
    """Numeric quality scores (``ProviderCapability.quality_score``) from training outcomes,
    chosen so BALANCED's cost-weight sweep reaches every model on the training single-model
    hull.

    BALANCED with the prefer flags off scores ``(1 - w) * Q + w * C`` with ``C`` linear in
    log cost, so along the hull (sorted by cost) model ``i`` wins for some cost weight only
    if the slopes ``(Q_i - Q_{i-1}) / (log c_i - log c_{i-1})`` decrease, and the sweep lands
    in its window only if each slope is at most the previous one over the sweep's widest step.
    The cheapest model keeps its mean quality; each next hull model gets its mean quality,
    lowered where needed to that slope bound (scores never exceed the means, stay in [0, 1]).
    Every other model takes the highest score of a hull model that costs no more on any
    training prompt (``fitted``: the planner's cost estimate; the recorded cost by default),
    so it never wins, else the cheapest model's score. No constant depends on the table."""
    q = train.quality.mean(axis=0)
    c = train.cost.mean(axis=0)
    order = sorted(range(len(q)), key=lambda j: (c[j], -q[j]))
    cheapest = order[0]
    hull_pts = set(frontier([(float(c[j]), float(q[j])) for j in range(len(q))]))
    members = [cheapest] + [
        j for j in order if j != cheapest and (float(c[j]), float(q[j])) in hull_pts
        and c[j] > c[cheapest] and q[j] > q[cheapest]
    ]
    ratio = _sweep_ratio()
    score = {cheapest: float(q[cheapest])}
    slope = math.inf
    for prev, j in itertools.pairwise(members):
        dc = math.log(max(float(c[j]), 1e-15)) - math.log(max(float(c[prev]), 1e-15))
        slope = min((float(q[j]) - float(q[prev])) / dc, slope / ratio)
        score[j] = score[prev] + slope * dc
    est = train.cost if fitted is None else fitted
    out: dict[str, float] = {}
    for j in order:
        s = score.get(j)
        if s is None:
            covering = [v for m, v in score.items() if np.all(est[:, m] <= est[:, j])]
            s = max(covering, default=score[cheapest])
        out[train.models[j]] = float(min(1.0, max(0.0, s)))
    return out


def calibrate(train: OutcomeTable) -> dict[str, ProviderCapability]:
    """Capabilities of the table's models from training outcomes only.

    Quality scores from :func:`calibrate_scores` (used in place of the tiers, which
    :func:`calibrate_tiers` still sets as labels); prices from ``cost = a * prompt_tokens + b``
    fitted by least squares (``a, b >= 0``), so that ``input price = a`` and ``output price =
    b / DEFAULT_OUTPUT_TOKENS`` per token make the planner's cost estimate for a prompt the
    fitted cost.
    """
    tokens = np.array([_prompt_tokens(p) for p in train.prompts], dtype=np.float64)
    design = np.column_stack([tokens, np.ones_like(tokens)])
    prices: list[tuple[float, float]] = []
    for j in range(len(train.models)):
        cost = train.cost[:, j]
        (a, b), *_ = np.linalg.lstsq(design, cost, rcond=None)
        if a < 0:
            a, b = 0.0, float(cost.mean())
        elif b < 0:
            a, b = float(cost @ tokens / max(float(tokens @ tokens), 1e-12)), 0.0
        prices.append((float(a), float(b)))
    fitted = np.column_stack([a * tokens + b for a, b in prices])
    tiers = calibrate_tiers(train, fitted)
    scores = calibrate_scores(train, fitted)
    caps: dict[str, ProviderCapability] = {}
    for model, (a, b) in zip(train.models, prices, strict=True):
        caps[model] = ProviderCapability(
            quality_tier=tiers[model],
            quality_score=scores[model],
            speed_tier=SpeedTier.MEDIUM,
            input_cost_per_1m=float(a) * 1e6,
            output_cost_per_1m=float(b) / DEFAULT_OUTPUT_TOKENS * 1e6,
            max_tokens=10_000_000,
            max_output_tokens=DEFAULT_OUTPUT_TOKENS,
            provider="replay",
        )
    return caps


class MeanQualityClassifier:
    """Predicts every model's training mean quality for every prompt: the exact-calibration
    alternative to quality tiers (complexity itself comes from ``base``)."""

    def __init__(self, train: OutcomeTable, base: ComplexityClassifier | None = None) -> None:
        self.quality = train.mean_quality()
        self.base = base or HeuristicClassifier()

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        c = self.base.classify(request, prompt)
        return Complexity(c.score, c.label, c.signals, self.quality)


class _Memo:
    """Classifies each distinct prompt once across all knob settings."""

    def __init__(self, inner: ComplexityClassifier, precomputed: dict[str, Complexity]) -> None:
        self.inner = inner
        self.cache = precomputed

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        c = self.cache.get(prompt)
        if c is None:
            c = self.cache[prompt] = self.inner.classify(request, prompt)
        return c


@dataclass(slots=True)
class PolicySpec:
    """A policy to replay: a strategy, an optional classifier, and its cost knob to sweep:
    ``knob="cost_weight"`` (BALANCED's cost weight) or ``knob="wtp"`` (willingness to pay,
    USD per unit of quality)."""

    name: str
    strategy: RoutingStrategy | str = RoutingStrategy.BALANCED
    classifier: ComplexityClassifier | None = None
    knobs: Sequence[float] | None = None
    base: RoutingPolicy = field(default_factory=RoutingPolicy)
    knob: str = "cost_weight"

    def __post_init__(self) -> None:
        if self.knob not in ("cost_weight", "wtp"):
            raise ConfigurationError(
                f"{self.name}: knob must be 'cost_weight' or 'wtp', got {self.knob!r}"
            )

    def policy(self, value: float) -> RoutingPolicy:
        base = self.base.routing_strategy(self.strategy).retries(0)
        if self.knob == "wtp":
            return base.with_weights(quality=1.0, speed=0.0, cost=1.0, willingness_to_pay=value)
        w = min(1.0, max(0.0, value))
        return base.with_weights(quality=1.0 - w, speed=0.0, cost=w)

    @property
    def online(self) -> bool:
        return RoutingStrategy(self.strategy) is RoutingStrategy.ADAPTIVE

    def sweep(self, train: OutcomeTable | None = None) -> Sequence[float]:
        if self.knobs is not None:
            return self.knobs
        if self.knob == "wtp":
            points = WTP_POINTS // 5 if self.online else WTP_POINTS
            if train is None:
                return tuple(float(v) for v in np.geomspace(1e-6, 1e3, points))
            return wtp_sweep(train, points)
        return ONLINE_COST_WEIGHTS if self.online else COST_WEIGHTS


@dataclass(slots=True)
class ReplayPoint:
    label: str
    knob: float
    decisions: Decisions


@dataclass(slots=True)
class ReplayResult:
    name: str
    models: list[str]
    points: list[ReplayPoint]

    def decisions_json(self, row_ids: Sequence[str]) -> dict[str, Any]:
        """``{"name", "points": [{"label", "knob", "decisions": [{"row_id", "model"}]}]}``."""
        return {
            "name": self.name,
            "points": [
                {
                    "label": p.label,
                    "knob": p.knob,
                    "decisions": [
                        {"row_id": rid, "model": self.models[int(d)]}
                        for rid, d in zip(row_ids, p.decisions, strict=True)
                    ],
                }
                for p in self.points
            ],
        }


def _targets(caps: dict[str, ProviderCapability], clock: FakeClock | None) -> list[ScriptedTarget]:
    return [
        ScriptedTarget(m, cap, name=m, script="(replayed)", clock=clock, latency=1.0)
        for m, cap in caps.items()
    ]


def _check_models(train: OutcomeTable, queries: QueryTable) -> None:
    if list(queries.models) != list(train.models):
        missing = sorted(set(queries.models) ^ set(train.models))
        raise TableError(
            f"the training and test tables have different models ({missing}); evaluate on "
            "tables with the same model columns"
        )


def replay(
    spec: PolicySpec,
    train: OutcomeTable,
    queries: QueryTable,
    *,
    progress: Progress | None = None,
) -> ReplayResult:
    """Decide every query row at every knob setting. Only ADAPTIVE (online) reads outcomes,
    and only the recorded quality of the model it chose, after choosing."""
    _check_models(train, queries)
    caps = calibrate(train)
    index = {m: j for j, m in enumerate(train.models)}
    classifier = spec.classifier or HeuristicClassifier()
    pre: dict[str, Complexity] = {}
    many = getattr(classifier, "classify_many", None)
    if callable(many) and not spec.online:
        pre = dict(zip(queries.prompts, many(queries.prompts), strict=True))
    memo = _Memo(classifier, pre)
    requests = [to_request(p) for p in queries.prompts]
    points: list[ReplayPoint] = []
    outcomes = queries.load_outcomes() if spec.online else None
    for w in spec.sweep(train):
        decisions = np.empty(len(queries), dtype=np.intp)
        if outcomes is None:
            router = Router(_targets(caps, None), spec.policy(w), classifier=memo)
            for i, req in enumerate(requests):
                decisions[i] = index[router.plan(req).first.name]
                if progress is not None:
                    progress(1)
        else:
            clock = FakeClock()
            router = Router(
                _targets(caps, clock), spec.policy(w), classifier=classifier, clock=clock
            )
            for i, req in enumerate(requests):
                resp = router.chat(req)
                assert resp.decision is not None
                j = index[resp.decision.target]
                decisions[i] = j
                router.record_feedback(resp.decision.decision_id, float(outcomes.quality[i, j]))
                if progress is not None:
                    progress(1)
        points.append(ReplayPoint(f"{spec.name} w={w:.3g}", float(w), decisions))
    return ReplayResult(spec.name, list(train.models), points)


@dataclass(slots=True)
class Evaluation:
    """Reports of every replayed policy and of the baselines, on the same test rows."""

    train_source: str
    test_source: str
    models: list[str]
    scale: Scale
    policies: dict[str, PolicyReport]
    baselines: dict[str, PolicyReport]
    replays: dict[str, ReplayResult]
    row_ids: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        base = self.baselines
        return {
            "schema": SCHEMA_VERSION,
            "train": self.train_source,
            "test": self.test_source,
            "rows": len(self.row_ids),
            "models": self.models,
            "scale": {
                "c_lo": self.scale.c_lo,
                "c_hi": self.scale.c_hi,
                "q_lo": self.scale.q_lo,
                "q_best": self.scale.q_best,
            },
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "skipped": dict(self.skipped),
            "baselines": {
                "best_single": base["best_single"].to_dict(),
                "cheapest": base["cheapest"].to_dict(),
                "random": base["random"].to_dict(),
                "models": {
                    k.removeprefix("model:"): v.to_dict()
                    for k, v in base.items()
                    if k.startswith("model:")
                },
            },
            "oracle": base["oracle"].to_dict(),
        }


SCHEMA_VERSION = "smartroute_llm.eval/1"


def evaluate(
    specs: Sequence[PolicySpec],
    train: OutcomeTable,
    queries: QueryTable,
    *,
    progress: Progress | None = None,
) -> Evaluation:
    """Replay every policy, then load the held-back outcomes and score all decisions."""
    results: dict[str, ReplayResult] = {}
    skipped: dict[str, str] = {}
    for spec in specs:
        try:
            results[spec.name] = replay(spec, train, queries, progress=progress)
        except StrategyNotAvailableError as exc:
            skipped[spec.name] = str(exc)
    test = queries.load_outcomes()
    scale = Scale.of(test)
    reports = {
        name: report(
            name,
            [score(test, p.decisions, label=p.label, knob=p.knob) for p in r.points],
            scale,
        )
        for name, r in results.items()
    }
    return Evaluation(
        train.source,
        queries.source,
        list(test.models),
        scale,
        reports,
        baselines(test),
        results,
        list(queries.row_ids),
        skipped,
    )


def total_steps(specs: Sequence[PolicySpec], rows: int) -> int:
    """Planning steps :func:`evaluate` will report to ``progress``."""
    return sum(len(s.sweep()) for s in specs) * rows
