"""``smartroute demo``: a trained router on real recorded answers, offline, with no keys.

The shipped sample (``smartroute_llm/data/demo``, RouteLLM, Apache-2.0) holds GSM8K questions with
GPT-4-1106's and Mixtral-8x7B's recorded answers and whether each was correct. It is cross-
fitted: a :class:`QualityPredictor` trained on the first half routes the second half, one
trained on the second half routes the first, so every question is routed by a predictor that
never saw it and the whole sample is the test set. Each question goes through a LangChain chain
on ``SmartRouterChatModel``, whose router calls ``OpenAICompatible`` targets over HTTP on a
local :class:`~smartroute_llm.testing.FakeProvider` that answers with the recorded text of the
model asked. A few requests to the dearer model fail with an injected 503, so the run shows the
router falling back.

The payoff is judged against not routing at the same spend: a random split of the two models
costing what the router spent (the line between the two single models). The operating point
is a budget (a fraction of the way from the cheaper model's cost to the dearer's), turned into
a willingness to pay on the training half only
(:func:`~smartroute_llm.eval.operating.wtp_for_budget`).
Within one task the prompt says little about which questions a model gets right (docs/eval.md),
so the gain is small; it comes from the neighbours' per-prompt estimates of quality and cost.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from smartroute_llm.eval.operating import split_quality, split_share, wtp_for_budget
from smartroute_llm.eval.predictor import QualityPredictor
from smartroute_llm.eval.tables import COST_SUFFIX, OutcomeTable, read_table

RESPONSE_SUFFIX = "|response"
WINDOW = 10  # rows kept on screen while routing
FAULT_EVERY = 5  # every 5th request to the faulted model fails, up to --faults of them


def sample_path() -> Path:
    """The shipped demo table (an ordinary outcome table plus ``M|response`` columns)."""
    data = resources.files("smartroute_llm").joinpath("data/demo/routellm_gsm8k_sample.csv")
    return Path(str(data))


def recorded_responses(path: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for col, text in row.items():
                if col.endswith(RESPONSE_SUFFIX):
                    out[(col[: -len(RESPONSE_SUFFIX)], row["prompt"])] = text
    return out


def demo_predictor() -> QualityPredictor:
    """The demo's predictor: small hashed features and the neighbour estimate alone. With a
    hundred training prompts the logistic part fits noise (cross-fitted over 20 splits of the
    sample it gained +0.006 over the random split at half budget, the neighbours alone +0.013)."""
    return QualityPredictor(dim=1024, epochs=150, blend=1.0)


@dataclass(slots=True)
class _Part:
    """One cross-fitting half: the router trained on ``train`` routes ``rows``."""

    train: OutcomeTable
    rows: list[int]
    predictor: QualityPredictor
    wtp: float
    llm: Any = None


@dataclass(slots=True)
class _Outage:
    """Fails every ``FAULT_EVERY``-th request to ``model``, ``limit`` times in all."""

    model: str
    limit: int
    seen: int = 0
    failed: list[str] = field(default_factory=list)

    def hit(self, model: str, prompt: str) -> bool:
        if model != self.model or len(self.failed) >= self.limit:
            return False
        self.seen += 1
        if self.seen % FAULT_EVERY:
            return False
        self.failed.append(prompt)
        return True


def _text(body: dict[str, Any]) -> str:
    last = next(m for m in reversed(body["messages"]) if m.get("role") == "user")
    content = last["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def run_demo(console: Console, *, rows: int | None = None, plot: Path | None = None,
             budget: float = 0.5, faults: int = 3) -> dict[str, Any]:
    """Route the sample (or its first ``rows`` questions) and print the payoff, three
    explanations and the fallbacks; returns the figures (see :func:`_summary`)."""
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_smartroute import SmartRouterChatModel
    from smartroute_llm.eval.replay import PolicySpec, calibrate
    from smartroute_llm.providers import OpenAICompatible
    from smartroute_llm.router import Router
    from smartroute_llm.testing import FakeProvider
    from smartroute_llm.testing.fake_provider import Fault

    if faults < 0:
        raise ValueError(f"--faults: must be >= 0, got {faults}")
    path = sample_path()
    table = read_table(path)
    half = len(table) // 2
    first, second = list(range(half)), list(range(half, len(table)))
    parts = []
    for train_rows, test_rows in ((first, second), (second, first)):
        train = table.take(train_rows)
        parts.append(_Part(train, test_rows, demo_predictor().fit(train),
                           wtp_for_budget(train, demo_predictor, budget)))
    order = [(p, i) for p in parts for i in p.rows]
    if rows is not None:
        if rows < 1:
            raise ValueError(f"--rows: must be >= 1, got {rows}")
        order = order[:rows]
    answers = recorded_responses(path)
    mean_cost = table.cost.mean(axis=0)
    dear = table.models[int(mean_cost.argmax())]
    outage = _Outage(dear, faults)

    def responder(model: str, body: dict[str, Any]) -> Any:
        text = _text(body)
        if outage.hit(model, text):
            return Fault.overloaded()
        return answers.get((model, text), "(no recorded answer)")

    results: list[dict[str, Any]] = []
    with FakeProvider(responder=responder) as fp:
        for part in parts:
            caps = calibrate(part.train)
            targets = [
                OpenAICompatible(m, base_url=fp.base_url, api_key="offline-demo", name=m,
                                 capability=caps[m])
                for m in table.models
            ]
            policy = PolicySpec("trained router", knob="wtp").policy(part.wtp)
            router = Router(targets, policy, classifier=part.predictor)
            part.llm = ChatPromptTemplate.from_messages([("human", "{question}")]) | (
                SmartRouterChatModel(router=router)
            )
        bar = Progress(TextColumn("routing"), BarColumn(), MofNCompleteColumn(), console=console)
        task = bar.add_task("route", total=len(order))
        title = f"smartroute demo: GSM8K, {' vs '.join(table.models)} (recorded answers)"
        with Live(Group(_window(title, results), bar), console=console, refresh_per_second=8,
                  vertical_overflow="visible") as live:
            for part, i in order:
                prompt = table.prompts[i]
                msg = part.llm.invoke({"question": prompt})
                meta = msg.response_metadata["smartroute"]
                results.append(_record(table, i, msg.content, meta, answers, part.wtp))
                bar.advance(task)
                live.update(Group(_window(title, results), bar))
    summary = _summary(console, table, results, budget)
    _explain(console, results)
    _fallbacks(console, results, outage.model)
    if plot is not None:
        _plot(plot, table, parts[0], results)
        console.print(f"cost-quality plot written to {plot}")
    return summary


def _record(table: OutcomeTable, i: int, content: Any, meta: dict[str, Any],
            answers: dict[tuple[str, str], str], wtp: float) -> dict[str, Any]:
    model = meta["target"]
    j = table.models.index(model)
    failed = [a for a in meta.get("attempts", []) if not a.get("ok")]
    return {
        "row": i, "row_id": table.row_ids[i], "prompt": table.prompts[i], "model": model,
        "quality": float(table.quality[i, j]), "cost": float(table.cost[i, j]),
        "complexity": meta.get("complexity"), "cost_http": meta.get("cost_usd") or 0.0,
        "answer_matches": content == answers[(model, table.prompts[i])],
        "candidates": meta.get("candidates", []), "wtp": wtp,
        "failed": [(a["target"], a.get("status_code"), a.get("error_kind")) for a in failed],
    }


def _window(title: str, results: list[dict[str, Any]]) -> Table:
    t = Table(title=title, expand=True)
    t.add_column("#", justify="right")
    t.add_column("prompt", ratio=5, no_wrap=True)
    t.add_column("model", no_wrap=True)
    t.add_column("correct?", justify="center")
    t.add_column("cost $", justify="right")
    t.add_column("note", no_wrap=True)
    start = max(0, len(results) - WINDOW)
    for n, r in enumerate(results[start:], start + 1):
        note = f"fallback: {r['failed'][0][0]} {r['failed'][0][1]}" if r["failed"] else ""
        t.add_row(str(n), r["prompt"].replace("\n", " ")[:90], r["model"],
                  "[green]yes[/green]" if r["quality"] >= 0.5 else "[red]no[/red]",
                  f"{r['cost']:.5f}", note)
    return t


def _summary(console: Console, table: OutcomeTable, results: list[dict[str, Any]],
             budget: float) -> dict[str, Any]:
    n = len(results)
    idx = [r["row"] for r in results]
    quality, cost = table.quality[idx], table.cost[idx]
    routed_q = sum(r["quality"] for r in results) / n
    routed_c = sum(r["cost"] for r in results) / n
    q = quality.mean(axis=0)
    c = cost.mean(axis=0)
    best, cheap = int(q.argmax()), int(c.argmin())
    split_q = split_quality(quality, cost, routed_c)
    share_dear = split_share(cost, routed_c, cheap, int(c.argmax()))
    share = {m: sum(r["model"] == m for r in results) / n for m in table.models}
    t = Table(title=f"summary over {n} questions (recorded correctness and cost)")
    for col in ("policy", "accuracy", "$ per 1k queries", "traffic"):
        t.add_column(col, justify="left" if col in ("policy", "traffic") else "right",
                     no_wrap=col == "policy")
    t.add_row("smartroute (trained router)", f"{routed_q:.3f}", f"{1000 * routed_c:.3f}",
              ", ".join(f"{m} {s:.0%}" for m, s in share.items()))
    dear_m = table.models[int(c.argmax())]
    t.add_row("random split, same cost", f"{split_q:.3f}", f"{1000 * routed_c:.3f}",
              f"{dear_m} {share_dear:.0%}, {table.models[cheap]} {1 - share_dear:.0%}")
    t.add_row(f"always {table.models[best]}", f"{q[best]:.3f}", f"{1000 * c[best]:.3f}", "")
    t.add_row(f"always {table.models[cheap]}", f"{q[cheap]:.3f}", f"{1000 * c[cheap]:.3f}", "")
    console.print(t)
    gain = routed_q - split_q
    verdict = "on or above" if gain >= -1e-12 else "BELOW"
    console.print(
        f"the router is {verdict} the line between the two single models: {gain:+.3f} accuracy "
        f"against a random split at the same cost (budget {budget:.0%} of the way from "
        f"{table.models[cheap]}'s cost to {dear_m}'s, set on each training half)."
    )
    matched = sum(r["answer_matches"] for r in results)
    console.print(f"{matched}/{n} answers arrived over HTTP exactly as recorded; cost column "
                  f"uses recorded-answer token estimates ({COST_SUFFIX}).")
    return {"routed": (routed_q, 1000 * routed_c), "split": (split_q, 1000 * routed_c),
            "gain": gain, "best": (float(q[best]), float(1000 * c[best])),
            "cheapest": (float(q[cheap]), float(1000 * c[cheap])), "share": share,
            "results": results}


def _pick(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three rows worth explaining: the first sent to each model and the closest call."""
    ok = [r for r in results if not r["failed"] and len(r["candidates"]) >= 2]
    chosen: list[dict[str, Any]] = []
    for model in dict.fromkeys(r["model"] for r in ok):
        chosen.append(next(r for r in ok if r["model"] == model))

    def margin(r: dict[str, Any]) -> float:
        return float(r["candidates"][0]["score"] - r["candidates"][1]["score"])

    rest = sorted((r for r in ok if r not in chosen), key=margin)
    return (chosen + rest)[:3]


def _explain(console: Console, results: list[dict[str, Any]]) -> None:
    picked = _pick(results)
    if not picked:
        return
    console.print(f"\nwhy: for {len(picked)} questions, the plan's score parts: the model with "
                  "the highest predicted quality - estimated USD / W wins (W: willingness to "
                  "pay, USD per unit of quality)")
    for r in picked:
        console.print(f"  {r['row_id']} \"{r['prompt'].replace(chr(10), ' ')[:70]}...\" "
                      f"-> {r['model']} (W = ${r['wtp']:.4g} per unit of quality)",
                      highlight=False)
        for cand in r["candidates"]:
            q, usd = cand["parts"]["quality"], cand["parts"]["est_cost_usd"]
            console.print(
                f"      {cand['target']:<24} quality {q:.3f} - ${usd:.5f} / W = "
                f"{q - usd / r['wtp']:+.3f}  (plan score {cand['score']:+.4f})",
                highlight=False,
            )


def _fallbacks(console: Console, results: list[dict[str, Any]], model: str) -> None:
    fell = [r for r in results if r["failed"]]
    console.print(f"\nfallback: {model}'s replay provider failed {len(fell)} request(s) with an "
                  "injected 503; the router moved each to its next candidate:")
    for r in fell:
        tried = ", ".join(f"{t} {s or k}" for t, s, k in r["failed"])
        console.print(f"  {r['row_id']}: {tried} -> answered by {r['model']}", highlight=False)


def _plot(path: Path, table: OutcomeTable, part: _Part, results: list[dict[str, Any]]) -> None:
    """The first half's predictor swept over willingness to pay on its test rows, with this
    run's point on the same rows."""
    from smartroute_llm.eval.plot import plot_curves
    from smartroute_llm.eval.replay import PolicySpec, evaluate

    mine = [r for r in results if r["row"] in set(part.rows)]
    if not mine:
        return
    test = table.take([r["row"] for r in mine])
    ev = evaluate([PolicySpec("trained router", classifier=part.predictor, knob="wtp")],
                  part.train, test.queries())
    point = (float(np.mean([r["cost"] for r in mine])) * 1000,
             float(np.mean([r["quality"] for r in mine])))
    plot_curves(ev, path, extra=[("this run", point[0], point[1])])

