"""The ``smartroute`` command line (``pip install smartroute-llm[cli]``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from smartroute_llm.errors import SmartRouteError
from smartroute_llm.eval.plot import plot_curves

app = typer.Typer(
    name="smartroute",
    help="Route every LLM call to the right model: explain, evaluate and demo routing policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

EVAL_SCHEMA = """\b
--json schema ("smartroute_llm.eval/1"; costs are USD per 1,000 queries):
{"schema": "smartroute_llm.eval/1", "train": PATH, "test": PATH, "rows": N,
 "models": [COLUMN, ...],
 "scale": {"c_lo", "c_hi": cheapest/dearest single model cost per 1k,
           "q_lo": cheapest model quality, "q_best": best single model quality},
 "policies": {NAME: REPORT}, "skipped": {NAME: REASON},
 "baselines": {"best_single": REPORT, "cheapest": REPORT, "random": REPORT,
               "models": {COLUMN: REPORT}},
 "oracle": REPORT}
REPORT = {"name", "aiq", "cost_at_90", "cost_at_95" (on the hull, mixing two settings;
          null if never reached), "cost_at_90_setting", "cost_at_95_setting" (one setting
          alone), "best": POINT, "points": [POINT, ...]}
POINT = {"label", "knob" (cost weight), "quality", "cost_per_1k", "share": {COLUMN: fraction}}
\b
--decisions: {"name": POLICY, "points": [{"label": STR, "knob": NUMBER,
              "decisions": [{"row_id": ID, "model": COLUMN}, ...]}, ...]}
(one object; a JSON list of them when several policies are replayed)"""

POLICIES = ("balanced", "balanced-mean", "predictor", "adaptive", "cheapest", "highest_quality")


def _version(value: bool) -> None:
    if value:
        from smartroute_llm import __version__

        console.print(f"smartroute {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Route every LLM call to the right model: explain, evaluate and demo routing policies."""


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _guard(fn: Callable[[], Any]) -> Any:
    """Turn known input errors into one clear line and exit status 2."""
    try:
        return fn()
    except (SmartRouteError, ValueError, OSError, KeyError) as exc:
        _fail(_one_line(exc))


def _one_line(exc: BaseException) -> str:
    """The whole message on one line: a pydantic error's first line only says how many
    errors there were, the field and the allowed values follow on the next lines."""
    import re

    from pydantic import ValidationError

    text = str(exc).strip()
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    if isinstance(cause, ValidationError) and re.search(r"\d+ validation errors? for ", text):
        head = text.splitlines()[0] if text else ""
        head = re.sub(r"\d+ validation errors? for \w+\s*$", "", head).rstrip(" :")
        clauses = []
        for e in cause.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"])
            msg = str(e["msg"]).removeprefix("Value error, ")
            if where and not msg.startswith(where):
                msg = f"{where}: {msg}"
            if e["type"] != "value_error":
                msg += f" (got {e['input']!r})"
            clauses.append(msg)
        return f"{head}: {'; '.join(clauses)}" if head else "; ".join(clauses)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("For further information visit")]
    return " ".join(lines) or type(exc).__name__


@app.command()
def models(
    provider: Annotated[str | None, typer.Option(help="only this provider's models")] = None,
) -> None:
    """The built-in model catalog: tiers, prices (USD per 1M tokens), context and features."""
    from smartroute_llm import catalog

    if provider is not None and not catalog.items(provider):
        known = sorted({cap.provider for _, cap in catalog.items() if cap.provider})
        _fail(f"--provider {provider!r}: no such provider in the catalog; use one of "
              f"{', '.join(known)}")

    table = Table(
        title=f"smartroute catalog (USD per 1M tokens, as of {catalog.prices_as_of()})",
        caption="features: t = tools, v = vision, j = JSON output, p = assistant prefill",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("provider")
    table.add_column("quality")
    table.add_column("speed")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("context", justify="right")
    table.add_column("feat.")
    for name, cap in catalog.items(provider):
        feats = "".join(
            flag
            for flag, on in (
                ("t", cap.supports_tools), ("v", cap.supports_vision),
                ("j", cap.supports_json), ("p", cap.supports_prefill),
            )
            if on
        )
        table.add_row(
            name, cap.provider, cap.quality_tier.value, cap.speed_tier.value.replace("_", " "),
            f"{cap.input_cost_per_1m:g}", f"{cap.output_cost_per_1m:g}",
            f"{cap.max_tokens // 1000:,}k", feats,
        )
    Console(width=max(console.width, 130)).print(table)


DEFAULT_EXPLAIN_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku", "claude-3-5-sonnet")


def _default_router() -> Any:
    from smartroute_llm import RoutingPolicy, catalog
    from smartroute_llm.router import Router
    from smartroute_llm.testing import ScriptedTarget

    names = [m for m in DEFAULT_EXPLAIN_MODELS if catalog.lookup(m) is not None]
    if len(names) < 2:
        names = catalog.list_models()[:4]
    policy = (
        RoutingPolicy.balanced()
        .prefer_fast_for_simple_requests(True)
        .prefer_quality_for_complex_requests(True)
    )
    return Router([ScriptedTarget(m) for m in names], policy)


@app.command()
def explain(
    prompt: Annotated[str, typer.Argument(help="the request text")],
    config: Annotated[
        Path | None, typer.Option(help="router config (YAML/JSON) for smartroute_llm.config")
    ] = None,
) -> None:
    """Plan PROMPT and print every candidate's score and every exclusion's reason (no calls)."""

    def run() -> str:
        if config is not None:
            from smartroute_llm.config import build_router

            if not config.is_file():
                raise ValueError(f"{config}: no such config file")
            router = build_router(str(config))
        else:
            router = _default_router()
        return str(router.explain(prompt))

    console.print(_guard(run), highlight=False, markup=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True,
        # not a terminal: no bar, whose last frame would run into the table's title
        disable=not err.is_terminal,
    )


def _specs(names: Sequence[str], train: Any, predictor: Path | None) -> list[Any]:
    from smartroute_llm.eval.predictor import QualityPredictor
    from smartroute_llm.eval.replay import MeanQualityClassifier, PolicySpec

    specs = []
    for n in names:
        if n not in POLICIES:
            raise ValueError(f"--policy {n!r}: unknown; use one of {', '.join(POLICIES)}")
        if n == "balanced":
            specs.append(PolicySpec(n))
        elif n == "balanced-mean":
            specs.append(PolicySpec(n, classifier=MeanQualityClassifier(train)))
        elif n == "predictor":
            pred = (
                QualityPredictor.load(predictor) if predictor is not None
                else QualityPredictor().fit(train)
            )
            if pred.models != train.models:
                raise ValueError(
                    f"--predictor: trained on models {pred.models}, the table has {train.models}"
                )
            specs.append(PolicySpec(n, classifier=pred, knob="wtp"))
        elif n == "adaptive":
            specs.append(PolicySpec(n, strategy="adaptive", knob="wtp"))
        else:
            specs.append(PolicySpec(n, strategy=n, knobs=[0.0]))
    return specs


@app.command(epilog=EVAL_SCHEMA)
def eval(
    train: Annotated[Path, typer.Option(help="training outcome table (CSV or JSONL)")],
    test: Annotated[Path, typer.Option(help="test outcome table; outcomes read only to score")],
    policy: Annotated[
        list[str] | None,
        typer.Option(help=f"repeatable; one of {', '.join(POLICIES)} (default: all but adaptive "
                         "and cheapest, which the cheapest baseline row already shows)"),
    ] = None,
    train_split: Annotated[str | None, typer.Option(help="keep train rows with split=")] = None,
    test_split: Annotated[str | None, typer.Option(help="keep test rows with split=")] = None,
    task_column: Annotated[str, typer.Option(help="column naming each row's task")] = "task",
    drop_incomplete: Annotated[bool, typer.Option(help="skip rows with missing outcomes")] = False,
    predictor: Annotated[
        Path | None, typer.Option(help="a saved QualityPredictor (else trained on --train)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the cost-quality plot (PNG)")] = None,
    decisions: Annotated[Path | None, typer.Option(help="write every decision")] = None,
    cascade: Annotated[
        bool,
        typer.Option("--cascade", help="also replay a cheapest-first cascade with a SIMULATED "
                                       "verifier (see --false-accept, --false-reject)"),
    ] = False,
    ladder: Annotated[
        list[str] | None,
        typer.Option(help="repeatable; a cascade ladder 'MODEL>MODEL[>MODEL]' tried in that "
                          "order (default: ladders chosen on --train)"),
    ] = None,
    false_accept: Annotated[
        float, typer.Option(help="simulated verifier: chance a wrong answer is accepted")
    ] = 0.1,
    false_reject: Annotated[
        float, typer.Option(help="simulated verifier: chance a right answer is rejected")
    ] = 0.1,
    max_rungs: Annotated[int, typer.Option(help="longest cascade ladder considered")] = 3,
    seed: Annotated[int, typer.Option(help="seed of the simulated verifier's draws")] = 0,
    score_verifiers: Annotated[
        bool,
        typer.Option("--score-verifiers",
                     help="with --cascade: run the built-in verifiers that need no model call "
                          "on the cheap rung's recorded answers (columns M|response of --test) "
                          "and print their accept/reject accuracy against the recorded grades"),
    ] = False,
) -> None:
    """Replay routing policies over recorded outcomes and report quality, cost and AIQ.

    With --cascade, also a cascade (cheap model first, escalate when the verifier rejects)
    whose verifier is simulated: right answers are rejected at --false-reject, wrong ones
    accepted at --false-accept (answers count as right at quality >= 0.5)."""
    from smartroute_llm.eval.replay import evaluate, total_steps
    from smartroute_llm.eval.tables import open_queries, read_table

    names = policy or ["balanced", "balanced-mean", "predictor", "highest_quality"]
    for option, path in (("--json", json_out), ("--plot", plot), ("--decisions", decisions)):
        if path is not None:
            _writable(option, path)
    tr = _guard(lambda: read_table(train, split=train_split, task_column=task_column,
                                   drop_incomplete=drop_incomplete))
    queries = _guard(lambda: open_queries(test, split=test_split, models=tr.models,
                                          task_column=task_column,
                                          drop_incomplete=drop_incomplete))
    specs = _guard(lambda: _specs(names, tr, predictor))
    verifier, ladders = _guard(lambda: _cascade_setup(cascade, ladder, tr.models,
                                                      false_accept, false_reject, max_rungs,
                                                      seed, score_verifiers))
    with _progress() as bar:
        task = bar.add_task("replaying", total=total_steps(specs, len(queries)))
        ev = _guard(lambda: evaluate(specs, tr, queries, progress=lambda k: bar.advance(task, k)))
    note = None
    if verifier is not None:
        note = _guard(lambda: _add_cascade(ev, tr, queries, verifier, ladders, max_rungs))
    _print_eval(ev)
    if note is not None:
        console.print(note, highlight=False, markup=False)
    if score_verifiers:
        lines = _guard(lambda: _verifier_lines(test, tr, ladders))
        console.print("\n".join(lines), highlight=False, markup=False)
    if json_out is not None:
        _guard(lambda: json_out.write_text(json.dumps(ev.to_json(), indent=2), encoding="utf-8"))
    if decisions is not None:
        docs = [r.decisions_json(ev.row_ids) for r in ev.replays.values()]
        text = json.dumps(docs[0] if len(docs) == 1 else docs, indent=1)
        _guard(lambda: decisions.write_text(text, encoding="utf-8"))
    if plot is not None:
        _guard(lambda: plot_curves(ev, plot))
        err.print(f"plot written to {plot}")


def _cascade_setup(on: bool, ladders: Sequence[str] | None, models: Sequence[str],
                   false_accept: float, false_reject: float, max_rungs: int,
                   seed: int, score: bool) -> tuple[Any, list[tuple[str, ...]] | None]:
    """The simulated verifier and the ladders of ``--cascade``, checked before any replay
    (no verifier: no cascade)."""
    from smartroute_llm.eval.cascade import SimulatedVerifier

    if not on:
        if ladders or score:
            what = "--ladder" if ladders else "--score-verifiers"
            raise ValueError(f"{what}: only with --cascade; add --cascade")
        return None, None
    given = [tuple(m.strip() for m in lad.split(">")) for lad in ladders] if ladders else None
    for lad in given or ():
        unknown = [m for m in lad if m not in models]
        if unknown or len(set(lad)) != len(lad):
            raise ValueError(f"--ladder {'>'.join(lad)!r}: unknown models {unknown} or a model "
                             f"twice; use 'MODEL>MODEL' with models of the table: {list(models)}")
    for option, v in (("--false-accept", false_accept), ("--false-reject", false_reject)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{option} {v:g}: a rate in [0, 1], e.g. 0.1")
    if max_rungs < 1:
        raise ValueError(f"--max-rungs {max_rungs}: at least 1")
    return SimulatedVerifier(false_accept, false_reject, seed=seed), given


def _add_cascade(ev: Any, train: Any, queries: Any, verifier: Any,
                 given: list[tuple[str, ...]] | None, max_rungs: int) -> str:
    """Score the cascade on the evaluation's test rows; add it to the policies; say what was
    simulated and how the ladders were chosen."""
    from smartroute_llm.eval.cascade import evaluate_cascade

    name = "cascade (simulated verifier)"
    r = evaluate_cascade(queries.load_outcomes(), verifier, train=train, ladders=given,
                         max_rungs=max_rungs, name=name)
    ev.policies[name] = r.report
    ladders_used = "; ".join(" > ".join(run.ladder) for run in r.runs)
    return (f"{name}: simulated verifier, not a real one: each recorded answer is checked "
            f"against its recorded correctness and the verdict flipped at random (false accept "
            f"{verifier.false_accept:g}, false reject {verifier.false_reject:g}, seed "
            f"{verifier.seed}); cost = the rungs tried. Ladders ({r.selected_on}): "
            f"{ladders_used}")


def _verifier_lines(test: Path, train: Any, ladders: list[tuple[str, ...]] | None) -> list[str]:
    """Real (not simulated) verifier scores on the test table's recorded answer texts: the
    cheap rung is the first ladder's first model (else the cheapest training model), the
    strong one its last (else the best training model)."""
    from smartroute_llm.eval.verifier_scores import score_verifiers

    if ladders and len(ladders[0]) > 1:
        cheap, strong = ladders[0][0], ladders[0][-1]
    else:
        cost, qual = train.mean_cost(), train.mean_quality()
        cheap = min(train.models, key=lambda m: (cost[m], -qual[m]))
        strong = max(train.models, key=lambda m: (qual[m], -cost[m]))
    return ["measured, not simulated:", *score_verifiers(test, cheap=cheap, strong=strong).lines()]


def _writable(option: str, path: Path) -> None:
    """Refuse an output path before minutes of work, not after."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        _fail(f"{option} {path}: is a directory; give a file name")
    if not parent.is_dir():
        _fail(f"{option} {path}: directory {parent} does not exist; create it or pick another")
    if not os.access(parent, os.W_OK):
        _fail(f"{option} {path}: directory {parent} is not writable")


def _print_eval(ev: Any) -> None:
    t = Table(title=f"{ev.test_source}: {len(ev.row_ids)} rows, {len(ev.models)} models")
    for col in ("policy", "AIQ", "best quality", "at $/1k", "$/1k to 90%", "$/1k to 95%",
                "one setting 95%"):
        if col == "policy":
            t.add_column(col, no_wrap=True, min_width=15)
        else:
            t.add_column(col, justify="right")

    def row(name: str, r: Any) -> None:
        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        t.add_row(name, f"{r.aiq:.3f}", f"{r.best.quality:.3f}", f"{r.best.cost_per_1k:.3f}",
                  fmt(r.cost_at_90), fmt(r.cost_at_95), fmt(r.cost_at_95_setting))

    for name, r in ev.policies.items():
        row(name, r)
    for name in ("best_single", "cheapest", "random", "oracle"):
        label = f"{name} (baseline)" if name in ev.policies else name
        row(f"[dim]{label}[/dim]", ev.baselines[name])
    console.print(t)
    for name, why in ev.skipped.items():
        err.print(f"skipped {name}: {why}")


FAULT_HELP = (
    "MODEL=KIND[:ARG], repeatable; MODEL '*' means every model. The fault is permanent: every "
    "request to MODEL gets it until the server stops. ARG is the kind's parameter, never a count: "
    "rate_limited:2 = HTTP 429 with Retry-After 2 s; overloaded:529 = that status (default 503); "
    "slow_first_token:5 = first token after 5 s; stream_cut:N, stream_stall:N, "
    "malformed_chunk:N = after N chunks; content_filter:MODE. Other kinds: server_error, "
    "connection_reset, no_response, missing_done, context_length, prefill_rejected, "
    "authentication, empty_body, error_body. For a fault lasting a while, use --flap."
)


@app.command("fake-provider")
def fake_provider(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 0,
    latency: Annotated[float, typer.Option(help="seconds before each answer")] = 0.0,
    chunk_delay: Annotated[float, typer.Option(help="seconds between stream chunks")] = 0.0,
    fault: Annotated[list[str] | None, typer.Option(help=FAULT_HELP)] = None,
    flap: Annotated[
        list[str] | None,
        typer.Option(help="MODEL=SECONDS: the model answers 503 for SECONDS after start; "
                          "repeatable"),
    ] = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="keep no record of attempts (long benchmarks)")
    ] = False,
) -> None:
    """Serve the fault-injecting fake OpenAI/Anthropic/Gemini server until interrupted."""
    from smartroute_llm.testing.fake_provider import FakeProvider, _parse_fault, serve_forever

    if not 0 <= port <= 65535:
        _fail(f"--port {port}: use 0 (a free port) to 65535")
    for option, value in (("--latency", latency), ("--chunk-delay", chunk_delay)):
        if value < 0:
            _fail(f"{option} {value:g}: seconds, must be >= 0")
    faults = []
    for spec in fault or ():
        try:
            faults.append(_parse_fault(spec))
        except Exception as exc:  # argparse.ArgumentTypeError, already one clear line
            _fail(str(exc))
    flaps = []
    for spec in flap or ():
        model, _, secs = spec.partition("=")
        try:
            seconds = float(secs)
        except ValueError:
            seconds = -1.0
        if not model or seconds < 0:
            _fail(f"--flap {spec!r}: use MODEL=SECONDS, e.g. gpt-4o=5")
        flaps.append((model, seconds))
    fp = FakeProvider(host=host, port=port, latency=latency, chunk_delay=chunk_delay,
                      record=not no_record)
    for model, f in faults:
        fp.fail(model, f)
    for model, seconds in flaps:
        fp.flap(model, seconds)
    _guard(fp.start)
    serve_forever(fp)


@app.command()
def demo(
    rows: Annotated[
        int | None, typer.Option(help="route only the first ROWS questions (default: all)")
    ] = None,
    plot: Annotated[Path, typer.Option(help="where to write the cost-quality plot")] = Path(
        "smartroute-demo.png"
    ),
    budget: Annotated[
        float,
        typer.Option(help="spend, as a fraction of the way from the cheaper model's cost to "
                          "the dearer's, in [0, 1]"),
    ] = 0.5,
    faults: Annotated[
        int, typer.Option(help="requests to the dearer model that fail with an injected 503")
    ] = 3,
) -> None:
    """Offline, no keys: route real recorded GSM8K answers of GPT-4 and Mixtral through a
    LangChain chain on SmartRouterChatModel, over the local fake provider's HTTP, and compare
    the router with a random split of the two models at the same cost."""
    from smartroute_llm.eval.demo import run_demo

    if rows is not None and rows < 1:
        _fail(f"--rows {rows}: must be at least 1 (leave it out to route every question)")
    _guard(lambda: run_demo(console, rows=rows, plot=plot, budget=budget, faults=faults))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="smartroute")


if __name__ == "__main__":
    main()
