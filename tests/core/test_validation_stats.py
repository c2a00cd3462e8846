"""A corrupted stats file is refused whole when it is loaded, naming the entry and field, and
the router keeps working on what it had (issue #12 item 13: a record without ``n`` used to
load, then every call raised ``KeyError: 'n'``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smartroute_llm import ConfigurationError, Router, RoutingPolicy
from smartroute_llm.testing import FakeClock, ScriptedTarget

MODELS = ["gpt-4o-mini", "claude-3-haiku"]


def router(strategy: str = "adaptive") -> Router:
    clock = FakeClock()
    policy = RoutingPolicy().routing_strategy(strategy).adaptive_config(seed=5)
    return Router([ScriptedTarget(m, clock=clock, latency=0.4) for m in MODELS], policy,
                  clock=clock)


def trained(strategy: str = "adaptive") -> Router:
    r = router(strategy)
    for _ in range(12):
        resp = r.chat("hi")
        assert resp.decision is not None
        r.record_feedback(resp.decision.decision_id, 0.8)
    return r


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "good.json"
    trained().save_stats(str(path))
    data = json.loads(path.read_text())
    assert data["learned"]["records"]["tick"]["n"] > 0
    return data


def _lat(d: dict[str, Any]) -> dict[str, Any]:
    return next(v for k, v in d["learned"]["records"].items() if k.startswith("lat/"))


def _q(d: dict[str, Any]) -> dict[str, Any]:
    return next(v for k, v in d["learned"]["records"].items() if k.startswith("q/"))


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "tick without n": (lambda d: d["learned"]["records"]["tick"].pop("n"),
                       "record 'tick': field 'n' is missing"),
    "latency record without w": (lambda d: _lat(d).pop("w"), "field 'w' is missing"),
    "non-numeric mean": (lambda d: _lat(d).update(m="abc"), "field 'm' must be a finite number"),
    "negative count": (lambda d: _lat(d).update(n=-3), "field 'n' must be an integer >= 0"),
    "fractional count": (lambda d: _lat(d).update(nf=1.5), "field 'nf' must be an integer"),
    "quality sum beyond its weight": (lambda d: _q(d).update(s=_q(d)["w"] + 5), "exceeds 'w'"),
    "quality record without t": (lambda d: _q(d).pop("t"), "field 't' is missing"),
    "record is a list": (lambda d: d["learned"]["records"].update(tick=[1]), "not an object"),
    "unknown record": (lambda d: d["learned"]["records"].update({"zzz": {"n": 1}}),
                       "record 'zzz': unknown record"),
    "stray field": (lambda d: _lat(d).update(bogus=1), "unexpected field 'bogus'"),
    "records not an object": (lambda d: d["learned"].update(records=[]), "'records'"),
    "tick ahead of the count": (lambda d: _lat(d).update(tick=10**9), "field 'tick'"),
    "counts without error": (lambda d: d["counts"][MODELS[0]].pop("error"),
                             f"counts[{MODELS[0]!r}]"),
    "non-numeric count": (lambda d: d["counts"][MODELS[0]].update(ok="7"),
                          f"counts[{MODELS[0]!r}]: field 'ok'"),
    "latency window with text": (lambda d: d["latency"][MODELS[0]].append("slow"),
                                 f"latency[{MODELS[0]!r}]"),
    "ttft not an object": (lambda d: d.update(ttft=[]), "'ttft'"),
    "wrong version": (lambda d: d["learned"].update(version=7), "unsupported version"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupted_file_is_refused_whole_and_the_router_keeps_working(
    tmp_path: Path, saved: dict[str, Any], case: str
) -> None:
    corrupt, needle = CORRUPTIONS[case]
    bad = copy.deepcopy(saved)
    corrupt(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))

    r = trained()
    before = r.stats()
    store_before = dict(r.state.items("adaptive"))
    with pytest.raises(ConfigurationError) as info:
        r.load_stats(str(path))
    assert needle in str(info.value), str(info.value)
    assert str(path) in str(info.value)
    assert r.stats() == before
    assert dict(r.state.items("adaptive")) == store_before  # nothing loaded partially
    for _ in range(5):  # used to raise KeyError: 'n' on every call
        assert r.chat("hi").text


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"latency": {"a": [0.1, ')
    r = trained()
    before = r.stats()
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        r.load_stats(str(path))
    assert r.stats() == before


@pytest.mark.parametrize("strategy", ["adaptive", "balanced"])
def test_a_good_file_still_loads(tmp_path: Path, strategy: str) -> None:
    src = trained(strategy)
    path = tmp_path / "good.json"
    src.save_stats(str(path))
    fresh = router(strategy)
    fresh.load_stats(str(path))
    want, got = src.stats(), fresh.stats()
    assert got["targets"] == {k: dict(v, inflight=0) for k, v in want["targets"].items()}
    if strategy == "adaptive":
        assert got["learned"]["targets"] == want["learned"]["targets"]
    assert fresh.chat("hi").text
