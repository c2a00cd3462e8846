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
3. A cascade (cheapest model first, escalate when the verifier rejects; ladders chosen on the
   train split only) on both tables' test rows, beside the pre-call routers, with a SIMULATED
   verifier wrong at 0, 10, 20 and 30% (false accept = false reject = that rate; seeded: seed 0,
   and the spread over seeds 0-4): ``smartroute_llm.eval.cascade``.
4. The measured accept/reject accuracy of the structural and answer-extraction verifiers on the
   packaged RouteLLM GSM8K sample (Mixtral's recorded answers against their recorded grades).

The tables are not shipped with smartroute (RouterBench's data licence is unclear); they are
read from ``../shared/routing-data/`` or the RouterBench path given as the first argument::

    python benchmarks/bench_eval.py [PATH/TO/routerbench/outcomes.csv]
"""

from __future__ import annotations

import os

# One BLAS thread: a routing decision is a few small matrix-vector products, and on a shared
# machine OpenBLAS's worker threads cost ~25x more than the arithmetic (measured: 0.96 ms per
# decision with one thread, 28 ms with the default under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import csv
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from smartroute_llm.eval.cascade import (
    RecordedVerdicts,
    SimulatedVerifier,
    evaluate_cascade,
    run_ladder,
)
from smartroute_llm.eval.demo import sample_path
from smartroute_llm.eval.metrics import PolicyReport, Scale, report, single_model_points
from smartroute_llm.eval.operating import split_quality
from smartroute_llm.eval.predictor import QualityPredictor, _sigmoid
from smartroute_llm.eval.replay import Evaluation, MeanQualityClassifier, PolicySpec, evaluate
from smartroute_llm.eval.tables import (
    OutcomeTable,
    QueryTable,
    open_queries,
    read_table,
    split_table,
)
from smartroute_llm.features import Complexity
from smartroute_llm.request import ChatRequest

SHARED = next(
    (d / "shared" / "routing-data" for d in Path(__file__).resolve().parents
     if (d / "shared" / "routing-data").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "routing-data",
)
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


class TfidfLogistic:
    """The reference text router: TF-IDF of words and word bigrams (5,000 most frequent in the
    training prompts, sublinear tf, L2-normalised) and one L2-regularised logistic regression
    per model (full-batch Adam, the same solver and settings as the predictor's)."""

    def __init__(self, train: OutcomeTable, vocab: int = 5000) -> None:
        docs = [self._terms(p) for p in train.prompts]
        df: dict[str, int] = {}
        for d in docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        top = sorted(df, key=lambda t: -df[t])[:vocab]
        self.index = {t: i for i, t in enumerate(top)}
        self.idf = np.log((1 + len(docs)) / (1 + np.array([df[t] for t in top]))) + 1
        self.models = list(train.models)
        x = self.matrix(train.prompts)
        helper = QualityPredictor(dim=16, cv_folds=0)
        self.w, self.b = helper._logistic(x, train.quality.astype(np.float32))

    @staticmethod
    def _terms(text: str) -> list[str]:
        words = text.lower().split()
        return words + [a + " " + b for a, b in itertools.pairwise(words)]

    def matrix(self, prompts: list[str]) -> np.ndarray:
        x = np.zeros((len(prompts), len(self.index)), dtype=np.float32)
        for r, p in enumerate(prompts):
            for t in self._terms(p):
                i = self.index.get(t)
                if i is not None:
                    x[r, i] += 1
        x = np.where(x > 0, 1 + np.log(np.maximum(x, 1)), 0) * self.idf
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
        return x.astype(np.float32)

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        q = _sigmoid(self.matrix([prompt]) @ self.w + self.b)[0]
        return Complexity(0.5, "moderate", {}, dict(zip(self.models, q.tolist(), strict=True)))

    def classify_many(self, prompts: list[str]) -> list[Complexity]:
        q = _sigmoid(self.matrix(prompts) @ self.w + self.b)
        return [Complexity(0.5, "moderate", {}, dict(zip(self.models, r.tolist(), strict=True)))
                for r in q]


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


def specs(train: OutcomeTable, queries: QueryTable, predictors: dict[str, QualityPredictor],
          *, adaptive: bool) -> list[PolicySpec]:
    out = [PolicySpec(name, classifier=p, knob="wtp") for name, p in predictors.items()]
    out += [
        PolicySpec("tf-idf + logistic (wtp)", classifier=TfidfLogistic(train), knob="wtp"),
        PolicySpec("balanced (heuristic, tiers)"),
        PolicySpec("mean quality (BALANCED, wtp)", classifier=MeanQualityClassifier(train),
                   knob="wtp"),
    ]
    if any(t is not None for t in train.tasks):
        out.append(PolicySpec("per-task lookup (BALANCED, wtp)",
                              classifier=TaskLookup(train, queries), knob="wtp"))
    if adaptive:
        out.append(PolicySpec("adaptive (online)", strategy="adaptive", knob="wtp"))
    return out


def decision_ms(predictor: QualityPredictor, repeats: int = 200) -> float:
    """Median ms of one routing decision's classify() for a 100-word prompt."""
    from smartroute_llm.request import to_request

    sentence = ("which of the following best explains why a metal spoon feels colder than a "
                "wooden spoon at the same room temperature")
    words = sentence.split(" ")
    prompt = " ".join(words[i % len(words)] for i in range(100))
    req = to_request(prompt)
    predictor.classify(req, prompt)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.classify(req, prompt)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def fit_predictors(train: OutcomeTable) -> dict[str, QualityPredictor]:
    out: dict[str, QualityPredictor] = {}
    t0 = time.perf_counter()
    out["predictor"] = QualityPredictor().fit(train)
    print(f"predictor (n-grams): fit {time.perf_counter() - t0:.1f}s, "
          f"k={out['predictor'].neighbours} blend={out['predictor'].blend}, "
          f"{decision_ms(out['predictor']):.2f} ms per decision (100-word prompt)")
    try:
        from smartroute_llm.eval.embed import WordLlamaEncoder

        enc = WordLlamaEncoder()
    except Exception as exc:  # the embed extra is optional
        print(f"predictor + embeddings: skipped ({exc})")
        return out
    t0 = time.perf_counter()
    out["predictor + wordllama"] = QualityPredictor(embedding=enc).fit(train)
    p = out["predictor + wordllama"]
    print(f"predictor + wordllama: fit {time.perf_counter() - t0:.1f}s, k={p.neighbours} "
          f"blend={p.blend}, {decision_ms(p):.2f} ms per decision (100-word prompt)")
    return out


def gates(ev: Evaluation, hull: PolicyReport) -> None:
    tfidf = ev.policies["tf-idf + logistic (wtp)"]
    task = ev.policies.get("per-task lookup (BALANCED, wtp)")
    refs = [r for r in (tfidf, task) if r is not None]
    ref_aiq = max(r.aiq for r in refs)
    ref_costs = [r.cost_at_95 for r in refs if r.cost_at_95 is not None]
    ref_cost = min(ref_costs) if ref_costs else None
    for name in [n for n in ev.policies if n.startswith("predictor")]:
        r = ev.policies[name]
        ok_aiq = r.aiq >= ref_aiq - 0.005
        ok_cost = (ref_cost is None or
                   (r.cost_at_95 is not None and r.cost_at_95 <= 1.10 * ref_cost))
        print(f"gate {name}: AIQ {r.aiq:.3f} >= {ref_aiq:.3f} - 0.005: "
              f"{'met' if ok_aiq else 'NOT met'}; $ to 95% {fmt(r.cost_at_95)} <= 1.10 x "
              f"{fmt(ref_cost)}: {'met' if ok_cost else 'NOT met'}")
    b = ev.policies["balanced (heuristic, tiers)"]
    print(f"gate balanced: AIQ {b.aiq:.4f} >= single-model hull {hull.aiq:.4f}: "
          f"{'met' if b.aiq >= hull.aiq - 1e-9 else 'NOT met'}")


def run(train: OutcomeTable, queries: QueryTable, *, adaptive: bool) -> None:
    predictors = fit_predictors(train)
    sp = specs(train, queries, predictors, adaptive=adaptive)
    t0 = time.perf_counter()
    ev = evaluate(sp, train, queries)
    test = queries.load_outcomes()
    hull = report("single-model hull", single_model_points(test), Scale.of(test))
    show(ev, f"train {len(train)} rows, test {len(queries)} rows; replay of {len(sp)} policies "
             f"{time.perf_counter() - t0:.1f}s")
    line("[baseline] single-model hull", hull, ev.baselines["best_single"].best.cost_per_1k)
    gates(ev, hull)
    cascade(train, test, ev)


CASCADE_ERRORS = (0.0, 0.1, 0.2, 0.3)
CASCADE_SEEDS = range(5)
PRE_CALL = ("predictor", "predictor + wordllama", "per-task lookup (BALANCED, wtp)",
            "tf-idf + logistic (wtp)", "balanced (heuristic, tiers)")


def cascade(train: OutcomeTable, test: OutcomeTable, ev: Evaluation) -> None:
    """The cascade's curve at each simulated verifier error rate, beside the pre-call routers
    (the same test rows, scale and metrics)."""
    best = ev.baselines["best_single"].best.cost_per_1k
    print("\ncascade, cheapest first, ladders of up to 3 models chosen on the train split; "
          "SIMULATED verifier (false accept = false reject = error rate; seed 0, then the "
          "range over seeds 0-4)")
    print(f"{'policy':<40}{'AIQ':>7}{'$/1k to 90%':>13}{'$/1k to 95%':>13}{'vs best $':>11}"
          f"{'one setting 95%':>17}")
    for name in PRE_CALL:
        if name in ev.policies:
            line(f"[pre-call] {name.removesuffix(' (BALANCED, wtp)')}", ev.policies[name], best)
    for e in CASCADE_ERRORS:
        runs = [evaluate_cascade(test, SimulatedVerifier(e, e, seed=s), train=train)
                for s in CASCADE_SEEDS]
        line(f"cascade, verifier error {e:.0%}", runs[0].report, best)
        aiqs = [r.aiq for r in runs]
        c95 = [r.cost_at_95 for r in runs if r.cost_at_95 is not None]
        reach = f"{min(c95):.3f}-{max(c95):.3f}" if c95 else "-"
        ladders = "; ".join(" > ".join(m.split("/")[-1] for m in run.ladder)
                            for run in runs[0].runs)
        print(f"    seeds 0-4: AIQ {min(aiqs):.3f}-{max(aiqs):.3f}, $/1k to 95% {reach} "
              f"({len(c95)}/{len(runs)} reach it); ladders (seed 0): {ladders}")


def verifier_accuracy() -> None:
    """Accept/reject accuracy of the built-in verifiers on the packaged GSM8K sample, and a
    cascade simulated at each verifier's measured error rates on the same rows."""
    print("\n== Verifiers on the packaged RouteLLM GSM8K sample (recorded answers and grades)")
    try:
        from smartroute_llm.eval.verifier_scores import score_verifiers
    except ImportError as exc:  # the scoring module lands with the verifiers
        print(f"skipped: {exc}")
        return
    scores = score_verifiers()
    for text in scores.lines():
        print(text)
    table = read_table(sample_path())
    ladder = (scores.cheap, scores.strong)
    j = table.model_index(scores.strong)
    print(f"\ncascade {scores.cheap} > {scores.strong} on the same {len(table)} rows: 'real' "
          "replays each verifier's own verdict per row (measured); 'simulated' draws errors at "
          "its measured rates independently of the row (seed 0)")
    print(f"{'verifier':<36}{'':>10}{'quality':>8}{'$/1k':>8}{'escalated':>10}"
          f"{'split at same $':>16}")
    for sc in scores.scores:
        if sc.reference:  # needs the strong model's answer: the cascade would pay it always
            continue
        for kind, verdicts in (
            ("real", RecordedVerdicts(scores.cheap, sc.verdicts)),
            ("simulated", SimulatedVerifier(sc.false_accept_rate, sc.false_reject_rate, seed=0)),
        ):
            run = run_ladder(table, ladder, verdicts)
            cost = float(run.cost.mean())
            print(f"{sc.verifier:<36}{kind:>10}{run.quality.mean():>8.3f}{cost * 1000:>8.3f}"
                  f"{run.escalation_rate:>10.1%}"
                  f"{split_quality(table.quality, table.cost, cost):>16.3f}")
    print(f"{'(GPT-4 alone)':<36}{table.quality[:, j].mean():>8.3f}"
          f"{table.cost[:, j].mean() * 1000:>8.3f}")


def routerbench(path: Path) -> None:
    print(f"== RouterBench table: {path} (evaluation only, not redistributed)")
    train = read_table(path, split="train", task_column="eval_name", drop_incomplete=True)
    queries = open_queries(path, split="test", task_column="eval_name", drop_incomplete=True)
    run(train, queries, adaptive=True)


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
    run(train, test.queries(), adaptive=False)


def main() -> None:
    routerbench(Path(sys.argv[1]) if len(sys.argv) > 1 else ROUTERBENCH)
    if ROUTELLM.is_file():
        routellm(ROUTELLM)
    verifier_accuracy()


if __name__ == "__main__":
    main()
