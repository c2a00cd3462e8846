"""The helpers of benchmarks/bench_paths.py: how callgrind's segments are read, how the table's
ratios are formed, and that every measured path gets the whole answer from the FakeProvider."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from smartroute_llm.testing.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_paths", ROOT / "benchmarks/bench_paths.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_paths"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


bp = _load()


def _dump(path: Path, total: int) -> None:
    path.write_text(f"version: 1\ncmd: python\nevents: Ir\nsummary: {total}\ntotals: {total}\n")


def test_segments_are_read_in_dump_order_then_the_exit_file(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    for k in range(1, 12):
        _dump(tmp_path / f"callgrind.out.{k}", k * 10)
    _dump(out, 999)
    counts = bp.segment_counts(out)
    assert counts == [*(k * 10 for k in range(1, 12)), 999]  # .10 after .9, not after .1


def test_measured_segments_are_those_between_marker_pairs() -> None:
    assert bp.measured_segments([100, 5, 7, 9, 3], runs=2) == [5, 9]
    with pytest.raises(RuntimeError, match="getppid"):
        bp.measured_segments([100, 5, 7, 9], runs=2)


def test_table_ratios_use_the_floor_at_the_same_concurrency() -> None:
    R = bp.Result
    results = {
        ("aiohttp", 1): R(500_000, 300.0), ("aiohttp", 32): R(400_000, 100.0),
        ("routed", 1): R(1_000_000, 600.0), ("routed", 32): R(1_200_000, 150.0),
        ("langchain", 1): R(1_500_000, 900.0), ("langchain", 32): R(1_800_000, 300.0),
        ("plan3", 1): R(250_000, 25.0),
        ("aiohttp_sse", 1): R(1_000_000, 500.0), ("astream", 1): R(2_500_000, 1000.0),
        ("litellm", 1): "not installed", ("litellm", 32): "not installed",
    }
    lines = bp.format_table(bp.ROWS, results, [1, 32]).splitlines()

    def row(label: str, conc: str) -> str:
        return next(line for line in lines if line.startswith(label) and line[34:39].strip()
                    == conc)

    assert "2.00x" in row("Router.achat, 3 targets", "1")
    assert "3.00x" in row("Router.achat, 3 targets", "32")  # 1.2M over the c=32 floor of 400k
    assert "1.50x instr, 1.50x CPU of Router.achat" in row("SmartRouterChatModel", "1")
    assert "0.50x" in row("Router.plan(), 3 cand., 100 words", "-")
    assert "2.50x instr, 2.00x CPU of raw aiohttp SSE" in row("Router.astream", "1")
    assert "per chunk 50.0k instr, 20.0 µs" in row("Router.astream", "1")
    assert "not installed" in row("LiteLLM Router.acompletion", "32")
    assert not any(line.startswith("SmartRouterLLM") for line in lines)  # not measured


def test_in_process_paths_run_in_turn_with_their_share_of_calls() -> None:
    assert len(bp._run_plans(list(bp.PLAN_PATHS), 10)) == len(bp.PLAN_PATHS)
    assert bp.plan_calls("plan1000", 200) == 20 and bp.plan_calls("plan3", 200) == 200
    assert bp.plan_calls("plan1000", 5) == 1


@pytest.mark.parametrize(
    "path", ["aiohttp", "routed", "routed_ttft", "aiohttp_sse", "astream", "langchain",
             "llamaindex", "langchain_floor", "llamaindex_floor"],
)
async def test_every_smartroute_path_gets_the_whole_answer(path: str) -> None:
    with FakeProvider(record=False, responder=lambda model, body: bp.ANSWER) as fp:
        cpu = await bp._run_http(path, 4, fp.base_url, [1, 2])  # raises on a partial answer
    assert len(cpu) == 2 and all(c >= 0 for c in cpu)


def test_the_streamed_answer_has_the_chunks_the_table_divides_by() -> None:
    assert len(bp.ANSWER) == bp.CHUNKS * 8  # the FakeProvider's 8 characters per chunk
