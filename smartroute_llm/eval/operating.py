"""Where a router should sit on the cost axis, and what not routing gets for the same money.

A router is worth its keep when it beats the cheapest way to spend the same budget without
routing: send each request to one of the single models at random, in proportion. Those random
splits trace the line (more generally the upper hull) between the single models' points;
:func:`split_quality` reads it at a cost. :func:`wtp_for_budget` turns a budget ("spend this
fraction of the way from the cheapest to the dearest model") into a willingness to pay, using
only the training table: the predictor is cross-fitted (each fold predicted by a predictor that
never saw it) and the setting whose out-of-fold cost is nearest the budget is kept, so the
choice is not tuned to the rows it is then judged on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.metrics import frontier
from smartroute_llm.eval.predictor import QualityPredictor
from smartroute_llm.eval.replay import wtp_sweep
from smartroute_llm.eval.tables import OutcomeTable

F64 = npt.NDArray[np.float64]


def split_quality(quality: F64, cost: F64, at_cost: float) -> float:
    """Mean quality of the best random split of single models that costs ``at_cost`` per row
    (``quality``, ``cost``: rows x models, as recorded on the same rows)."""
    pts = frontier([(float(c), float(q)) for c, q in
                    zip(cost.mean(axis=0), quality.mean(axis=0), strict=True)])
    xs = [c for c, _ in pts]
    ys = [q for _, q in pts]
    return float(np.interp(at_cost, xs, ys))


def split_share(cost: F64, at_cost: float, cheap: int, dear: int) -> float:
    """The dearer model's share in a random split of ``cheap`` and ``dear`` costing
    ``at_cost`` per row."""
    c = cost.mean(axis=0)
    span = float(c[dear] - c[cheap])
    return 0.0 if span <= 0 else float(np.clip((at_cost - c[cheap]) / span, 0.0, 1.0))


def choose(q: F64, c: F64, wtp: float) -> npt.NDArray[np.intp]:
    """The model BALANCED with willingness to pay ``wtp`` picks per row: ``argmax q - c / wtp``
    (what the strategy computes for each candidate; ties to the first column)."""
    out: npt.NDArray[np.intp] = np.argmax(q - c / wtp, axis=1).astype(np.intp)
    return out


def wtp_for_budget(
    train: OutcomeTable,
    make: Callable[[], QualityPredictor],
    budget: float,
    *,
    folds: int = 5,
    seed: int = 0,
) -> float:
    """The willingness to pay (USD per unit of quality) whose out-of-fold mean cost on
    ``train`` is nearest ``c_lo + budget * (c_hi - c_lo)``, ``c_lo``/``c_hi`` the cheapest
    and dearest models' mean training costs."""
    if not 0.0 <= budget <= 1.0:
        raise ConfigurationError(f"budget: must be in [0, 1], got {budget}")
    n = len(train)
    if n < 2 * folds:
        raise ConfigurationError(f"budget: needs at least {2 * folds} training rows, got {n}")
    fold = np.random.default_rng(seed).permutation(n) % folds
    q = np.zeros_like(train.quality)
    c = np.zeros_like(train.cost)
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        pred = make().fit(train.take(np.flatnonzero(fold != f)))
        pq, pc = pred.predict_all([train.prompts[i] for i in held])
        q[held] = pq
        c[held] = pc if pc is not None else train.cost[fold != f].mean(axis=0)
    mean = train.cost.mean(axis=0)
    target = float(mean.min() + budget * (mean.max() - mean.min()))
    rows = np.arange(n)
    sweep: Sequence[float] = wtp_sweep(train)
    spent = [float(train.cost[rows, choose(q, c, w)].mean()) for w in sweep]
    return float(sweep[int(np.argmin([abs(s - target) for s in spent]))])
