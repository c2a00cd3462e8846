"""Many processes, one router: replicas on one real Redis share circuits and ADAPTIVE's
statistics, and keep answering while Redis is killed and restarted."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from smartroute_llm.redis_store import RedisStateStore
from smartroute_llm.testing.fake_provider import Fault
from tests.state import replica

pytestmark = pytest.mark.redis
WORKERS = 3


class Replica:
    def __init__(self, conn: Any, proc: Any, router: str) -> None:
        self.conn, self.proc, self.router = conn, proc, router

    def ask(self, cmd: str, arg: Any = None, timeout: float = 60.0) -> Any:
        self.conn.send((cmd, arg))
        assert self.conn.poll(timeout), f"replica did not answer {cmd!r} within {timeout}s"
        out = self.conn.recv()
        assert not (isinstance(out, tuple) and out and out[0] == "crash"), out[1]
        return out


@contextmanager
def replicas(redis_url: str, base_url: str, strategy: str = "cheapest") -> Iterator[list[Replica]]:
    ctx = mp.get_context("spawn")
    name = "t" + uuid.uuid4().hex[:10]  # a fresh router name: no state from other tests
    out = []
    for _ in range(WORKERS):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=replica.main,
                           args=(theirs, redis_url, base_url, name, strategy), daemon=True)
        proc.start()
        out.append(Replica(mine, proc, name))
    try:
        yield out
    finally:
        for r in out:
            with contextlib.suppress(Exception):  # a dead replica is killed below
                r.ask("stop", timeout=10)
            r.proc.join(timeout=10)
            if r.proc.is_alive():
                r.proc.kill()


def answered(results: list[tuple[str, str, float]]) -> list[str]:
    assert all(status == "ok" for status, _, _ in results), results
    return [target for _, target, _ in results]


def open_circuit_in_one_and_check_the_others(fp: Any, reps: list[Replica]) -> None:
    fp.configure("a", fault=Fault.server_error())
    first = reps[0].ask("calls", 3)
    assert answered(first) == ["b", "b", "b"]  # a failed each time, b answered
    assert reps[0].ask("blocked") == ["a"]
    tried_a = fp.count("a")
    for r in reps[1:]:
        assert answered(r.ask("calls", 1)) == ["b"]
    assert fp.count("a") == tried_a, "another replica sent a request to the open circuit"
    for r in reps[1:]:
        assert r.ask("blocked") == ["a"]


def test_a_circuit_opened_by_one_replica_is_skipped_by_the_others(redis_url, fake_provider):
    with replicas(redis_url, fake_provider.base_url) as reps:
        for r in reps:  # warm up: each replica routes to the cheapest target
            assert answered(r.ask("calls", 2)) == ["a", "a"]
        open_circuit_in_one_and_check_the_others(fake_provider, reps)


def test_adaptive_statistics_from_all_replicas_add_up(redis_url, fake_provider):
    per_worker = 40
    with replicas(redis_url, fake_provider.base_url, "adaptive") as reps:
        for r in reps:
            r.ask("loop_start")
        for r in reps:  # concurrent outcomes from every replica, not one after the other
            r.ask("calls", per_worker)
        extra = [len(answered(r.ask("loop_stop"))) for r in reps]
        total = WORKERS * per_worker + sum(extra)
        for r in reps:
            assert r.ask("flush", 20.0) is True
        served = fake_provider.count("a") + fake_provider.count("b")
        assert served == total
        with RedisStateStore.from_url(redis_url, router=reps[0].router) as view:
            records = dict(view.items("adaptive"))
        assert records["tick"]["n"] == total  # every outcome of every replica counted once
        assert sum(rec["n"] for key, rec in records.items() if key.startswith("lat/")) == total
        assert {k for k in records if k.startswith("lat/")} <= {"lat/a", "lat/b"}
        deadline = time.monotonic() + 10
        while True:  # each replica's view converges to the shared total
            seen = [r.ask("stats")["outcomes_seen"] for r in reps]
            if seen == [total] * WORKERS or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert seen == [total] * WORKERS


def test_redis_killed_and_restarted_fails_no_request_and_sharing_comes_back(
    redis_server, fake_provider
):
    with replicas(redis_server.url, fake_provider.base_url) as reps:
        for r in reps:
            assert answered(r.ask("calls", 1)) == ["a"]
            r.ask("loop_start")
        time.sleep(0.5)
        redis_server.kill()
        time.sleep(1.5)  # replicas route on local state meanwhile
        degraded = [r.ask("degraded") for r in reps]
        redis_server.start()
        restarted = time.monotonic()
        back_after = None
        while time.monotonic() - restarted < 30:
            if not any(r.ask("degraded") for r in reps):
                back_after = time.monotonic() - restarted
                break
            time.sleep(0.05)
        results = [r.ask("loop_stop") for r in reps]
        calls = [x for out in results for x in out]
        assert len(calls) >= WORKERS * 10
        errors = [x for x in calls if x[0] != "ok"]
        assert not errors, errors[:5]
        slowest = max(t for _, _, t in calls)
        assert slowest < 2.0, f"a call took {slowest:.2f}s while Redis was away"
        assert any(degraded), "no replica noticed Redis was down"
        assert back_after is not None and back_after < 5.0, back_after
        open_circuit_in_one_and_check_the_others(fake_provider, reps)
