"""Trained-predictor routing measured on real outcome tables, side by side with baselines.

1. RouterBench (11 models, ARC-C / MBPP / Winogrande), its own train/test split: AIQ and cost
   to reach 90% / 95% of the best single model (read off the non-decreasing hull, as AIQ is:
   a point between two knob settings is reached by mixing them; "one setting 95%" is the
   cheapest single setting that gets there alone), for the trained predictor (BALANCED with a
   willingness-to-pay sweep, and with the cost-weight sweep), the default heuristic classifier,
   training mean qualities, a per-task lookup (which needs the task label), ADAPTIVE, and the
   single-model, random and oracle baselines, all measured in this run.
2. RouteLLM GPT-4-1106 vs Mixtral-8x7B (MMLU, GSM8K, MT-Bench; contaminated rows dropped), a
   table the predictor was never tuned on, with a seeded 70/30 split. It records no cost, so
   each call is priced at list prices (GPT-4-1106 $10 / $30, Mixtral $0.60 / $0.60 per 1M input
   / output tokens) with prompt tokens = characters / 4 and 256 output tokens; MT-Bench scores
   (1-10) become quality by dividing by 10.

The tables are not shipped with smartroute (RouterBench's data licence is unclear); they are
read from ``../shared/routing-data/`` or the RouterBench path given as the first argument::

    python benchmarks/bench_eval.py [PATH/TO/routerbench/outcomes.csv]
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

from smartroute.eval.metrics import PolicyReport
from smartroute.eval.predictor import QualityPredictor
from smartroute.eval.replay import Evaluation, MeanQualityClassifier, PolicySpec, evaluate
from smartroute.eval.tables import OutcomeTable, QueryTable, open_queries, read_table, split_table
from smartroute.features import Complexity
from smartroute.request import ChatRequest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "routing-data"
ROUTERBENCH = SHARED / "routerbench-subset" / "outcomes.csv"
ROUTELLM = SHARED / "routellm-gpt4-mixtral" / "outcomes.csv"


class TaskLookup:
    """Per-task training mean quality of every model (needs the task label at routing time)."""

    def __init__(self, train: OutcomeTable, queries: QueryTable) -> None:
        self.by_prompt: dict[str, dict[str, float]] = {}
        tasks = np.array([str(t) for t in train.tasks])
        means = {
            t: dict(zip(train.models, train.quality[tasks == t].mean(axis=0).tolist(), strict=True))
            for t in set(tasks.tolist())
        }
        overall = train.mean_quality()
        for p, t in zip(queries.prompts, queries.tasks, strict=True):
            self.by_prompt[p] = means.get(str(t), overall)

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        return Complexity(0.5, "moderate", {}, self.by_prompt[prompt])


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def line(name: str, r: PolicyReport, ref_cost: float) -> None:
    c95 = r.cost_at_95
    ratio = "-" if c95 is None else f"{c95 / ref_cost:.2f}x"
    print(f"{name:<40}{r.aiq:>7.3f}{fmt(r.cost_at_90):>13}{fmt(c95):>13}{ratio:>11}"
          f"{fmt(r.cost_at_95_setting):>17}")


def show(ev: Evaluation, note: str) -> None:
    best = ev.baselines["best_single"].best
    print(note)
    print(f"best single model: {best.label} quality {best.quality:.3f} at "
          f"${best.cost_per_1k:.2f}/1k; 95% of it = {0.95 * best.quality:.3f}")
    print(f"{'policy':<40}{'AIQ':>7}{'$/1k to 90%':>13}{'$/1k to 95%':>13}{'vs best $':>11}"
          f"{'one setting 95%':>17}")
    for name, r in ev.policies.items():
        line(name, r, best.cost_per_1k)
    for name in ("best_single", "cheapest", "random", "oracle"):
        line(f"[baseline] {name}", ev.baselines[name], best.cost_per_1k)


def specs(train: OutcomeTable, queries: QueryTable, predictor: QualityPredictor,
          *, adaptive: bool) -> list[PolicySpec]:
    out = [
        PolicySpec("predictor (BALANCED, wtp)", classifier=predictor, knob="wtp"),
        PolicySpec("predictor (BALANCED, cost weight)", classifier=predictor),
        PolicySpec("heuristic (BALANCED, tiers)"),
        PolicySpec("mean quality (BALANCED, wtp)", classifier=MeanQualityClassifier(train),
                   knob="wtp"),
    ]
    if any(t is not None for t in train.tasks):
        out.append(PolicySpec("per-task lookup (BALANCED, wtp)",
                              classifier=TaskLookup(train, queries), knob="wtp"))
    if adaptive:
        out.append(PolicySpec("adaptive (online)", strategy="adaptive"))
    return out


def routerbench(path: Path) -> None:
    print(f"== RouterBench table: {path} (evaluation only, not redistributed)")
    train = read_table(path, split="train", task_column="eval_name", drop_incomplete=True)
    queries = open_queries(path, split="test", task_column="eval_name", drop_incomplete=True)
    t0 = time.perf_counter()
    predictor = QualityPredictor().fit(train)
    fit_s = time.perf_counter() - t0
    sp = specs(train, queries, predictor, adaptive=True)
    t0 = time.perf_counter()
    ev = evaluate(sp, train, queries)
    show(ev, f"train {len(train)} rows, test {len(queries)} rows; predictor fit {fit_s:.1f}s, "
             f"replay of {len(sp)} policies {time.perf_counter() - t0:.1f}s")
    p = ev.policies["predictor (BALANCED, wtp)"]
    print(f"target AIQ > 0.87: {'met' if p.aiq > 0.87 else 'NOT met'} ({p.aiq:.3f}); "
          f"target 95% under $0.75/1k: "
          f"{'met' if p.cost_at_95 is not None and p.cost_at_95 < 0.75 else 'NOT met'}")


PRICES = {  # USD per token: (input, output), list prices
    "gpt-4-1106-preview": (10e-6, 30e-6),
    "mixtral-8x7b-instruct": (0.6e-6, 0.6e-6),
}
OUTPUT_TOKENS = 256


def routellm_table(path: Path) -> OutcomeTable:
    ids, prompts, tasks, qual, cost = [], [], [], [], []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["contaminated"] == "True":
                continue
            scale = 10.0 if row["benchmark"] == "mt_bench" else 1.0
            tokens = len(row["prompt"]) / 4
            ids.append(f"{row['benchmark']}:{row['item_id']}")
            prompts.append(row["prompt"])
            tasks.append(row["benchmark"])
            qual.append([float(row["score_gpt4"]) / scale, float(row["score_mixtral"]) / scale])
            cost.append([i * tokens + o * OUTPUT_TOKENS for i, o in PRICES.values()])
    return OutcomeTable(ids, prompts, tasks, list(PRICES), np.array(qual), np.array(cost),
                        str(path))


def routellm(path: Path) -> None:
    print(f"\n== RouteLLM GPT-4 vs Mixtral table: {path} (seeded 70/30 split, seed 0)")
    train, test = split_table(routellm_table(path), 0.3, seed=0)
    queries = test.queries()
    t0 = time.perf_counter()
    predictor = QualityPredictor().fit(train)
    fit_s = time.perf_counter() - t0
    sp = specs(train, queries, predictor, adaptive=False)
    t0 = time.perf_counter()
    ev = evaluate(sp, train, queries)
    show(ev, f"train {len(train)} rows, test {len(queries)} rows; predictor fit {fit_s:.1f}s, "
             f"replay of {len(sp)} policies {time.perf_counter() - t0:.1f}s")


def main() -> None:
    routerbench(Path(sys.argv[1]) if len(sys.argv) > 1 else ROUTERBENCH)
    if ROUTELLM.is_file():
        routellm(ROUTELLM)


if __name__ == "__main__":
    main()
