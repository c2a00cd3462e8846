"""RouterBench (11 models, ARC-C / MBPP / Winogrande) train/test replay: AIQ and cost to reach
95% of the best single model, for the trained predictor, the default heuristic classifier and
the baselines, all measured in this run.

The RouterBench rows are not shipped with smartroute (their data licence is unclear); this
script reads them from ``../shared/routing-data/routerbench-subset/outcomes.csv`` or the path
given as the first argument. Usage::

    python benchmarks/bench_eval.py [PATH/TO/outcomes.csv]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from smartroute.eval.metrics import PolicyReport
from smartroute.eval.predictor import QualityPredictor
from smartroute.eval.replay import MeanQualityClassifier, PolicySpec, evaluate
from smartroute.eval.tables import open_queries, read_table

SHARED = Path(__file__).resolve().parents[2] / "shared" / "routing-data"
DEFAULT = SHARED / "routerbench-subset" / "outcomes.csv"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(f"RouterBench table: {path} (evaluation only, not redistributed)")
    kw = {"task_column": "eval_name", "drop_incomplete": True}
    train = read_table(path, split="train", **kw)
    queries = open_queries(path, split="test", **kw)
    t0 = time.perf_counter()
    predictor = QualityPredictor().fit(train)
    fit_s = time.perf_counter() - t0
    specs = [
        PolicySpec("predictor (BALANCED)", classifier=predictor),
        PolicySpec("heuristic (BALANCED, tiers)"),
        PolicySpec("mean quality (BALANCED)", classifier=MeanQualityClassifier(train)),
        PolicySpec("adaptive (online)", strategy="adaptive"),
    ]
    t0 = time.perf_counter()
    ev = evaluate(specs, train, queries)
    replay_s = time.perf_counter() - t0
    gpt4 = ev.baselines["best_single"].best
    print(f"train {len(train)} rows, test {len(queries)} rows; predictor fit {fit_s:.1f}s, "
          f"replay of {len(specs)} policies {replay_s:.1f}s")
    print(f"best single model: {gpt4.label} quality {gpt4.quality:.3f} at "
          f"${gpt4.cost_per_1k:.2f}/1k; 95% of it = {0.95 * gpt4.quality:.3f}")
    print(f"{'policy':<32}{'AIQ':>7}{'$/1k to 90%':>13}{'$/1k to 95%':>13}{'vs best $':>11}")

    def line(name: str, r: PolicyReport) -> None:
        c90, c95 = r.cost_at_90, r.cost_at_95
        ratio = "-" if c95 is None else f"{c95 / gpt4.cost_per_1k:.2f}x"
        print(f"{name:<32}{r.aiq:>7.3f}"
              f"{'-' if c90 is None else f'{c90:.3f}':>13}"
              f"{'-' if c95 is None else f'{c95:.3f}':>13}{ratio:>11}")

    for name, r in ev.policies.items():
        line(name, r)
    for name in ("best_single", "cheapest", "random", "oracle"):
        line(f"[baseline] {name}", ev.baselines[name])
    p = ev.policies["predictor (BALANCED)"]
    print(f"target AIQ > 0.87: {'met' if p.aiq > 0.87 else 'NOT met'} ({p.aiq:.3f}); "
          f"target 95% under $0.75/1k: "
          f"{'met' if p.cost_at_95 is not None and p.cost_at_95 < 0.75 else 'NOT met'}")


if __name__ == "__main__":
    main()
