"""``smartroute demo``'s content: the router at or above the line between the two single
models (a random split at the same cost), three explained decisions, fallbacks shown; and the
library never importing its command line."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

from rich.console import Console

import smartroute_llm.eval
from smartroute_llm.eval.demo import run_demo, sample_path
from smartroute_llm.eval.operating import split_quality, split_share
from smartroute_llm.eval.tables import read_table


def test_demo_beats_a_random_split_explains_and_falls_back(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    png = tmp_path / "demo.png"
    s = run_demo(console, plot=png, faults=3)
    text = out.getvalue()
    table = read_table(sample_path())
    results = s["results"]
    assert len(results) == len(table)
    assert sorted(r["row"] for r in results) == list(range(len(table)))
    assert all(r["answer_matches"] for r in results)
    # the payoff: at least the random split's accuracy at the router's own cost
    q, c = s["routed"]
    assert s["split"][1] == c
    assert q >= s["split"][0] - 1e-12
    assert s["best"][1] > c > s["cheapest"][1]
    assert "on or above the line" in text and "random split, same cost" in text
    # three explanations, each with both candidates' score parts
    assert len(re.findall(r"-> \S+ \(W = \$", text)) == 3
    assert len(re.findall(r"quality \d\.\d{3} - \$\d\.\d+ / W = ", text)) == 6
    # the injected outage: three requests to the dearer model failed with 503 and were
    # answered by the other model
    fell = [r for r in results if r["failed"]]
    assert len(fell) == 3
    dear = table.models[int(table.cost.mean(axis=0).argmax())]
    assert all(r["failed"][0][:2] == (dear, 503) and r["model"] != dear for r in fell)
    assert len(re.findall(rf"{dear} 503 -> answered by", text)) == 3
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_split_line_is_the_segment_between_single_models() -> None:
    import numpy as np

    quality = np.array([[1.0, 0.0], [1.0, 1.0]])  # model 0: 1.0, model 1: 0.5
    cost = np.array([[4.0, 1.0], [4.0, 1.0]])
    assert split_quality(quality, cost, 1.0) == 0.5
    assert split_quality(quality, cost, 2.5) == 0.75
    assert split_quality(quality, cost, 4.0) == 1.0
    assert split_share(cost, 2.5, cheap=1, dear=0) == 0.5


def test_the_library_never_imports_the_command_line() -> None:
    root = Path(smartroute_llm.eval.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "smartroute_llm.cli" or n.startswith("smartroute_llm.cli.")
                           for n in names), path
