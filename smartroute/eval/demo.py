"""``smartroute demo``: a trained router on real recorded answers, offline, with no keys.

The shipped sample (``smartroute/data/demo``, RouteLLM, Apache-2.0) holds GSM8K questions with
GPT-4-1106's and Mixtral-8x7B's recorded answers and whether each was correct. The first half
trains a :class:`QualityPredictor`; the other questions go through a LangChain chain on
``SmartRouterChatModel``, whose router calls ``OpenAICompatible`` targets over HTTP on a local
:class:`~smartroute.testing.FakeProvider` that answers with the recorded text of the model asked.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from smartroute.eval.tables import COST_SUFFIX, OutcomeTable, read_table

RESPONSE_SUFFIX = "|response"


def sample_path() -> Path:
    """The shipped demo table (an ordinary outcome table plus ``M|response`` columns)."""
    return Path(str(resources.files("smartroute").joinpath("data/demo/routellm_gsm8k_sample.csv")))


def recorded_responses(path: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for col, text in row.items():
                if col.endswith(RESPONSE_SUFFIX):
                    out[(col[: -len(RESPONSE_SUFFIX)], row["prompt"])] = text
    return out


def run_demo(console: Console, *, rows: int = 40, plot: Path | None = None,
             cost_weight: float = 0.2) -> dict[str, Any]:
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_smartroute import SmartRouterChatModel
    from smartroute.eval.predictor import QualityPredictor
    from smartroute.eval.replay import PolicySpec, calibrate, evaluate
    from smartroute.providers import OpenAICompatible
    from smartroute.router import Router
    from smartroute.testing import FakeProvider

    if not 0.0 <= cost_weight <= 1.0:
        raise ValueError(f"--cost-weight: must be in [0, 1], got {cost_weight}")
    path = sample_path()
    table = read_table(path)
    half = len(table) // 2
    rows = max(1, min(rows, len(table) - half))
    train = table.take(range(half))
    test = table.take(range(half, half + rows))
    answers = recorded_responses(path)
    predictor = QualityPredictor(dim=1024, epochs=150).fit(train)
    caps = calibrate(train)
    spec = PolicySpec("trained router", classifier=predictor)

    def responder(model: str, body: dict[str, Any]) -> str:
        last = next(m for m in reversed(body["messages"]) if m.get("role") == "user")
        content = last["content"]
        text = content if isinstance(content, str) else "".join(
            p.get("text", "") for p in content if isinstance(p, dict)
        )
        return answers.get((model, text), "(no recorded answer)")

    results: list[dict[str, Any]] = []
    with FakeProvider(responder=responder) as fp:
        targets = [
            OpenAICompatible(m, base_url=fp.base_url, api_key="offline-demo", name=m,
                             capability=caps[m])
            for m in table.models
        ]
        router = Router(targets, spec.policy(cost_weight), classifier=predictor)
        llm = SmartRouterChatModel(router=router)
        chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm

        live_table = Table(title="smartroute demo: GSM8K, GPT-4-1106 vs Mixtral-8x7B (recorded)",
                           expand=True)
        live_table.add_column("prompt", ratio=5, no_wrap=True)
        live_table.add_column("complexity", justify="right")
        live_table.add_column("model")
        live_table.add_column("correct?", justify="center")
        live_table.add_column("cost $", justify="right")
        bar = Progress(TextColumn("routing"), BarColumn(), MofNCompleteColumn(), console=console)
        task = bar.add_task("route", total=len(test))
        with Live(Group(live_table, bar), console=console, refresh_per_second=8,
                  vertical_overflow="visible"):
            for i, prompt in enumerate(test.prompts):
                msg = chain.invoke({"question": prompt})
                meta = msg.response_metadata["smartroute"]
                model = meta["target"]
                j = table.models.index(model)
                q = float(test.quality[i, j])
                results.append({"row_id": test.row_ids[i], "model": model, "quality": q,
                                "complexity": meta.get("complexity"),
                                "cost_http": meta.get("cost_usd") or 0.0,
                                "cost": float(test.cost[i, j]),
                                "answer_matches": msg.content == answers[(model, prompt)]})
                live_table.add_row(
                    prompt.replace("\n", " ")[:90], f"{meta.get('complexity') or 0:.2f}",
                    model, "[green]yes[/green]" if q >= 0.5 else "[red]no[/red]",
                    f"{float(test.cost[i, j]):.5f}",
                )
                bar.advance(task)
    summary = _summary(console, test, results)
    if plot is not None:
        from smartroute.cli import plot_curves

        ev = evaluate([spec], train, test.queries())
        plot_curves(ev, plot, extra=[("this run", summary["routed"][1], summary["routed"][0])])
        console.print(f"cost-quality plot written to {plot}")
    return summary


def _summary(console: Console, test: OutcomeTable, results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    routed = (sum(r["quality"] for r in results) / n, 1000 * sum(r["cost"] for r in results) / n)
    q = test.quality.mean(axis=0)
    c = test.cost.mean(axis=0) * 1000
    best = int(q.argmax())
    cheap = int(c.argmin())
    t = Table(title=f"summary over {n} questions (recorded correctness and cost)")
    for col in ("policy", "accuracy", "$ per 1k queries", "traffic"):
        t.add_column(col, justify="left" if col in ("policy", "traffic") else "right",
                     no_wrap=col == "policy")
    share = {m: sum(r["model"] == m for r in results) / n for m in test.models}
    t.add_row("smartroute (trained router)", f"{routed[0]:.3f}", f"{routed[1]:.3f}",
              ", ".join(f"{m} {s:.0%}" for m, s in share.items()))
    t.add_row(f"always {test.models[best]}", f"{q[best]:.3f}", f"{c[best]:.3f}", "")
    t.add_row(f"always {test.models[cheap]}", f"{q[cheap]:.3f}", f"{c[cheap]:.3f}", "")
    console.print(t)
    matched = sum(r["answer_matches"] for r in results)
    console.print(f"{matched}/{n} answers arrived over HTTP exactly as recorded; cost column "
                  f"uses recorded-answer token estimates ({COST_SUFFIX}).")
    return {"routed": routed, "best": (float(q[best]), float(c[best])),
            "cheapest": (float(q[cheap]), float(c[cheap])), "share": share, "results": results}
