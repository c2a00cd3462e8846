"""Fork safety (issue #12 item 4): a child never shares the parent's pooled connections.

Before the fix, a sync target whose pool was warm when the process forked handed parent and
child the same socket: 41 of 200 answers went to the wrong process, with no error.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading

import pytest

from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.request import to_request
from smartroute_llm.target import AttemptOptions
from smartroute_llm.testing import FakeProvider

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILDREN = 4
CALLS = 40  # per process: 200 calls in all, parent included


def _calls(target: OpenAICompatible, who: str) -> int:
    """How many of this process's answers were not the echo of its own prompt."""
    wrong = 0
    for j in range(CALLS):
        prompt = f"{who}-{os.getpid()}-{j}"
        resp = target.complete(to_request(prompt), AttemptOptions(timeout=30))
        wrong += resp.text != f"[{target.model}] {prompt}"
    return wrong


def test_forked_children_get_their_own_connections(fake_provider: FakeProvider) -> None:
    target = OpenAICompatible("echo", base_url=fake_provider.base_url, api_key="sk-test")
    assert target.complete(to_request("warm")).text == "[echo] warm"  # the pool holds a socket
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def child(i: int) -> None:
        try:
            results.put((i, _calls(target, f"child{i}")))
        except BaseException as exc:  # report, never hang the parent
            results.put((i, repr(exc)))

    procs = [ctx.Process(target=child, args=(i,)) for i in range(CHILDREN)]
    for p in procs:
        p.start()
    parent_wrong = _calls(target, "parent")  # concurrently with the children
    got = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    assert parent_wrong == 0
    assert got == {i: 0 for i in range(CHILDREN)}, got
    assert all(p.exitcode == 0 for p in procs)
    target.close()


def test_child_gets_fresh_lock_and_async_pool(fake_provider: FakeProvider) -> None:
    target = OpenAICompatible("echo", base_url=fake_provider.base_url, api_key="sk-test")
    asyncio.run(target.acomplete(to_request("warm")))
    held = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:  # another parent thread is inside the target's lock at fork time
        with target._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait(5)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def child() -> None:
        try:
            sync = target.complete(to_request("sync"), AttemptOptions(timeout=10)).text
            asyn = asyncio.run(target.acomplete(to_request("async"))).text
            results.put((sync, asyn))
        except BaseException as exc:
            results.put(repr(exc))

    proc = ctx.Process(target=child)
    proc.start()
    try:
        assert results.get(timeout=60) == ("[echo] sync", "[echo] async")
    finally:
        release.set()
        holder.join(5)
        proc.join(30)
    target.close()
