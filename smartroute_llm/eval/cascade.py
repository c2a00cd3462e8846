"""Replay a verified-escalation cascade on outcome tables, with a *simulated* verifier.

A cascade tries the models of a ladder in order (cheapest first by default). Each rung's answer
is checked; the first accepted answer is returned and the last rung's answer is returned as is.
An outcome table records every model's quality and cost on every row, so a cascade can be
replayed without calling anything: the cost of a row is the sum of the costs of the rungs tried,
its quality the recorded quality of the answer returned.

The verifier here is simulated, not run: a rung whose recorded answer is correct (quality >=
``correct_at``) is accepted unless a false reject is drawn (probability ``false_reject``); an
incorrect one is rejected unless a false accept is drawn (``false_accept``). Draws come from a
seeded RNG, one uniform number per row and model shared by every ladder and every error rate
(common random numbers), so a higher error rate only flips more verdicts and curves at
different rates differ by the error rates, not by the luck of the draw. Real verifiers can be
scored offline only where a table holds the answers' text (``verifier_scores``).

Ladders are the cascade's cost knob: each ladder is one point, scored with
:func:`smartroute_llm.eval.metrics.score`'s definitions and reported by
:func:`smartroute_llm.eval.metrics.report` (AIQ, cost to 95% of the best single model), so the
figures compare with the pre-call routers'. When a training table is given, the models worth
considering (not dominated on mean cost and quality), the ladder order and the ladders kept
(those on the training curve's frontier) are chosen on it alone; the test rows only score.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.metrics import Point, PolicyReport, Scale, frontier, report
from smartroute_llm.eval.tables import OutcomeTable, TableError

F64 = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Ladder = tuple[str, ...]

MAX_MODELS = 6  # candidate models kept by default: ladders grow combinatorially with them


@dataclass(frozen=True, slots=True)
class SimulatedVerifier:
    """A verifier that is wrong at given rates, independently per row and model (simulated)."""

    false_accept: float = 0.0
    false_reject: float = 0.0
    seed: int = 0
    correct_at: float = 0.5

    def __post_init__(self) -> None:
        for name in ("false_accept", "false_reject"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigurationError(f"{name}: a rate in [0, 1], got {v}")
        if not 0.0 < self.correct_at <= 1.0:
            raise ConfigurationError(
                f"correct_at: the quality at which an answer counts as correct, in (0, 1], "
                f"got {self.correct_at}"
            )

    def accepts(self, table: OutcomeTable) -> npt.NDArray[np.bool_]:
        """Rows x models: whether the simulated verifier accepts each recorded answer."""
        u = np.random.default_rng(self.seed).random(table.quality.shape)
        correct = table.quality >= self.correct_at
        out: npt.NDArray[np.bool_] = np.where(correct, u >= self.false_reject,
                                               u < self.false_accept)
        return out


@dataclass(frozen=True, slots=True)
class RecordedVerdicts:
    """Real verdicts replayed: ``accepted[i]`` is what a verifier said of ``model``'s recorded
    answer on row ``i`` (in the table's order). Other models' answers count as accepted, so
    this replays two-rung ladders that start at ``model``."""

    model: str
    accepted: tuple[bool, ...]

    def accepts(self, table: OutcomeTable) -> npt.NDArray[np.bool_]:
        if len(self.accepted) != len(table):
            raise ConfigurationError(
                f"recorded verdicts: {len(self.accepted)} verdicts for a table of "
                f"{len(table)} rows; score the verifier on the same table"
            )
        out = np.ones(table.quality.shape, dtype=bool)
        out[:, table.model_index(self.model)] = self.accepted
        return out


Verdicts = SimulatedVerifier | RecordedVerdicts


@dataclass(slots=True)
class CascadeRun:
    """One ladder replayed: per row, the model whose answer was returned, the rungs tried and
    the total cost."""

    ladder: Ladder
    answered: Ints
    tried: Ints
    cost: F64
    quality: F64

    def point(self, models: Sequence[str], *, knob: float = 0.0) -> Point:
        """Mean quality and cost per 1k; ``share`` is the fraction of rows each model answered."""
        counts = np.bincount(self.answered, minlength=len(models))
        n = len(self.answered)
        return Point(
            label="cascade " + " > ".join(self.ladder),
            knob=float(knob),
            quality=float(self.quality.mean()),
            cost_per_1k=float(self.cost.mean() * 1000.0),
            share={m: float(c / n) for m, c in zip(models, counts, strict=True)},
        )

    @property
    def escalation_rate(self) -> float:
        """Fraction of rows that went past the first rung."""
        return float((self.tried > 1).mean())


def run_ladder(table: OutcomeTable, ladder: Sequence[str], verifier: Verdicts) -> CascadeRun:
    """Replay ``ladder`` (model names, tried in order) on every row of ``table``."""
    if not ladder:
        raise ConfigurationError("ladder: name at least one model")
    if len(set(ladder)) != len(ladder):
        raise ConfigurationError(f"ladder: a model appears twice in {list(ladder)}")
    idx = [table.model_index(m) for m in ladder]
    return _run(table, idx, verifier.accepts(table))


def _run(table: OutcomeTable, idx: Sequence[int], accepts: npt.NDArray[np.bool_]) -> CascadeRun:
    n = len(table)
    rows = np.arange(n)
    answered = np.full(n, idx[-1], dtype=np.intp)
    tried = np.full(n, len(idx), dtype=np.intp)
    cost = np.zeros(n)
    open_ = np.ones(n, dtype=bool)
    for r, j in enumerate(idx):
        cost += np.where(open_, table.cost[:, j], 0.0)
        done = open_ & accepts[:, j] if r < len(idx) - 1 else open_
        answered[done] = j
        tried[done] = r + 1
        open_ &= ~done
    ladder = tuple(table.models[j] for j in idx)
    return CascadeRun(ladder, answered, tried, cost, table.quality[rows, answered])


def candidate_models(table: OutcomeTable, max_models: int = MAX_MODELS) -> list[str]:
    """The models no cheaper model matches on mean quality, cheapest first; when more than
    ``max_models``, those on the convex cost-quality frontier, then the cheapest ones and the
    best."""
    c = table.cost.mean(axis=0)
    q = table.quality.mean(axis=0)
    order = sorted(range(len(c)), key=lambda j: (c[j], -q[j]))
    keep: list[int] = []
    for j in order:
        if not keep or q[j] > q[keep[-1]]:
            keep.append(j)
    if len(keep) > max_models:
        hull = set(frontier([(float(c[j]), float(q[j])) for j in keep]))
        keep = [j for j in keep if (float(c[j]), float(q[j])) in hull]
    if len(keep) > max_models:
        keep = [*keep[: max_models - 1], keep[-1]]
    return [table.models[j] for j in keep]


def all_ladders(models: Sequence[str], *, min_rungs: int = 1,
                max_rungs: int = 3) -> list[Ladder]:
    """Every ladder of ``min_rungs`` to ``max_rungs`` of ``models``, keeping their order (pass
    them cheapest first for cheapest-first ladders)."""
    if not 1 <= min_rungs <= max_rungs:
        raise ConfigurationError(
            f"min_rungs/max_rungs: need 1 <= min_rungs <= max_rungs, got {min_rungs}/{max_rungs}"
        )
    out: list[Ladder] = []
    for k in range(min_rungs, min(max_rungs, len(models)) + 1):
        out.extend(itertools.combinations(models, k))
    return out


def frontier_ladders(table: OutcomeTable, ladders: Sequence[Ladder],
                     verifier: SimulatedVerifier) -> list[Ladder]:
    """The ladders whose replay on ``table`` lies on its non-decreasing upper hull (with the
    cheapest single model's point); ladders off it never improve the curve there."""
    accepts = verifier.accepts(table)
    pts = []
    for lad in ladders:
        run = _run(table, [table.model_index(m) for m in lad], accepts)
        pts.append((float(run.cost.mean()), float(run.quality.mean())))
    hull = set(frontier(pts))
    return [lad for lad, p in zip(ladders, pts, strict=True) if p in hull]


@dataclass(slots=True)
class CascadeReport:
    """A cascade's curve on the test rows: the metrics report, every ladder's run, and the
    ladders chosen (on the training table when one was given)."""

    report: PolicyReport
    runs: list[CascadeRun]
    verifier: SimulatedVerifier
    selected_on: str

    @property
    def aiq(self) -> float:
        return self.report.aiq

    @property
    def cost_at_95(self) -> float | None:
        return self.report.cost_at_95


def evaluate_cascade(
    test: OutcomeTable,
    verifier: SimulatedVerifier,
    *,
    train: OutcomeTable | None = None,
    ladders: Sequence[Sequence[str]] | None = None,
    min_rungs: int = 1,
    max_rungs: int = 3,
    max_models: int = MAX_MODELS,
    name: str | None = None,
) -> CascadeReport:
    """Replay cascades on ``test`` and report their curve.

    ``ladders`` given: exactly those. Otherwise the ladders of ``min_rungs``..``max_rungs`` of
    :func:`candidate_models`, cheapest first; with ``train`` the candidates, the order and the
    ladders kept (:func:`frontier_ladders`) come from ``train`` only, without it every
    candidate ladder is scored on ``test`` (an optimistic curve: the hull then picks ladders on
    the rows it is judged on)."""
    if train is not None and list(train.models) != list(test.models):
        differ = sorted(set(train.models) ^ set(test.models))
        raise TableError(
            f"train and test tables have different models ({differ}); use tables with the "
            "same model columns"
        )
    if ladders is not None:
        chosen = [tuple(lad) for lad in ladders]
        if not chosen:
            raise ConfigurationError("ladders: give at least one ladder")
        selected_on = "given"
    else:
        ref = train if train is not None else test
        cands = all_ladders(candidate_models(ref, max_models), min_rungs=min_rungs,
                            max_rungs=max_rungs)
        if train is not None:
            chosen = frontier_ladders(train, cands, verifier)
            selected_on = "train"
        else:
            chosen = cands
            selected_on = "test (every candidate ladder; optimistic)"
    accepts = verifier.accepts(test)
    runs = []
    for lad in chosen:
        if not lad or len(set(lad)) != len(lad):
            raise ConfigurationError(f"ladder {list(lad)}: name distinct models, at least one")
        runs.append(_run(test, [test.model_index(m) for m in lad], accepts))
    label = name or (f"cascade (simulated verifier: false accept {verifier.false_accept:g}, "
                     f"false reject {verifier.false_reject:g})")
    points = [r.point(test.models, knob=k) for k, r in enumerate(runs)]
    return CascadeReport(report(label, points, Scale.of(test)), runs, verifier, selected_on)
