"""The sync and async paths honour the same limits — deadline, attempt timeout, time to first
token, stall — for complete and stream calls and for hedged races, over real loopback HTTP,
and leave no worker thread behind (issue #12 item 5, executor side).

Each case runs in both modes on the same script. The bound asserted is the limit plus a
margin that holds on a busy machine; the overshoot measured on an idle one is far smaller."""

import asyncio
import threading
import time

import pytest

from smartroute_llm import (
    AllTargetsFailed,
    ErrorKind,
    ProviderCapability,
    Router,
    RoutingPolicy,
    StreamInterrupted,
)
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing import ScriptedTarget
from smartroute_llm.testing.fake_provider import Fault

MARGIN = 1.0  # seconds past a limit that still pass under two CPU-burning neighbours
PROMPT = "please answer with a sentence that is long enough to span several chunks"


def target(fp, model, price):
    cap = ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)
    return OpenAICompatible(model, base_url=fp.base_url, api_key="sk-test", capability=cap)


def router(fp, policy, models=("a", "b")):
    targets = [target(fp, m, float(i + 1)) for i, m in enumerate(models)]
    return Router(targets, policy.retries(0))


def run(r, mode, stream):
    """One call in ``mode``: (text, decision) or the exception, and the seconds it took."""
    t0 = time.perf_counter()
    try:
        if stream:
            if mode == "sync":
                chunks = list(r.stream(PROMPT))
            else:

                async def consume():
                    return [c async for c in r.astream(PROMPT)]

                chunks = asyncio.run(consume())
            out = ("".join(c.text for c in chunks), chunks[-1].decision)
        else:
            resp = r.chat(PROMPT) if mode == "sync" else asyncio.run(r.achat(PROMPT))
            out = (resp.text, resp.decision)
    except Exception as exc:
        out = exc
    return out, time.perf_counter() - t0


# one process-wide socket watchdog (sync reads), started on first use and kept by design
SHARED = {"smartroute-watchdog"}


def _working() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name not in SHARED]


def wait_for_threads(baseline, limit=10.0):
    t0 = time.monotonic()
    while len(_working()) > baseline and time.monotonic() - t0 < limit:
        time.sleep(0.02)
    names = _working()
    assert len(names) <= baseline, f"threads left behind: {names}"


MODES = ["sync", "async"]
SHAPES = ["complete", "stream"]


@pytest.fixture
def threads():
    baseline = len(_working())
    yield
    wait_for_threads(baseline)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_deadline_bounds_a_hanging_target(fake_provider, threads, mode, shape):
    fake_provider.fail("a", Fault.no_response(30))
    fake_provider.fail("b", Fault.no_response(30))
    r = router(fake_provider, RoutingPolicy.cheapest().deadline(1.0))
    out, took = run(r, mode, shape == "stream")
    assert isinstance(out, AllTargetsFailed), out
    assert 0.9 <= took < 1.0 + MARGIN
    r.close()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_attempt_timeout_falls_back(fake_provider, threads, mode, shape):
    fake_provider.fail("a", Fault.no_response(30))
    r = router(fake_provider, RoutingPolicy.cheapest().timeouts(timeout=0.6))
    out, took = run(r, mode, shape == "stream")
    assert not isinstance(out, Exception), out
    text, decision = out
    assert decision.target == "b" and text
    # a sync HTTP stream bounds itself by the timeout; its first read names it a TTFT limit
    assert decision.attempts[0].error_kind in (ErrorKind.TIMEOUT, ErrorKind.TTFT_TIMEOUT)
    assert took < 0.6 + MARGIN
    r.close()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_ttft_limit_falls_back(fake_provider, threads, mode, shape):
    fake_provider.fail("a", Fault.slow_first_token(30))
    r = router(fake_provider, RoutingPolicy.cheapest().timeouts(ttft=0.5))
    out, took = run(r, mode, shape == "stream")
    assert not isinstance(out, Exception), out
    text, decision = out
    assert decision.target == "b" and text
    assert decision.attempts[0].error_kind is ErrorKind.TTFT_TIMEOUT
    assert took < 0.5 + MARGIN
    r.close()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_stall_limit(fake_provider, threads, mode, shape):
    fake_provider.fail("a", Fault.stream_stall(after_chunks=1, delay=30))
    r = router(fake_provider, RoutingPolicy.cheapest().timeouts(stall=0.5))
    out, took = run(r, mode, shape == "stream")
    if shape == "stream":  # text reached the caller: no silent restart
        assert isinstance(out, StreamInterrupted), out
        assert out.partial_text
    else:  # streamed underneath, nothing shown yet: plain fallback
        assert not isinstance(out, Exception), out
        assert out[1].target == "b"
        assert out[1].attempts[0].error_kind is ErrorKind.STREAM_STALL
    assert took < 0.5 + MARGIN
    r.close()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_a_hedged_race_honours_the_deadline_after_the_first_chunk(
    fake_provider, threads, mode, shape
):
    # both racers send a first chunk, then go silent: only the deadline can end the call
    fake_provider.fail("a", Fault.stream_stall(after_chunks=1, delay=30))
    fake_provider.fail("b", Fault.stream_stall(after_chunks=1, delay=30))
    policy = RoutingPolicy.cheapest().race(top_k=2, hedge_after=0.05).deadline(1.0)
    if shape == "complete":
        policy = policy.timeouts(ttft=5.0)  # so the race reads streams underneath
    r = router(fake_provider, policy)
    out, took = run(r, mode, shape == "stream")
    assert isinstance(out, AllTargetsFailed | StreamInterrupted), out
    assert took < 1.0 + MARGIN
    r.close()


# --- targets that do not bound themselves: only the router's own limits can end the call ---


def dripping(name, price, latency):
    """Answers slowly but steadily: a chunk every ~0.2 s for ``latency`` seconds (so no stall
    or TTFT limit fires), ignoring ``AttemptOptions``."""
    return ScriptedTarget(
        name,
        ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price),
        script="x" * 60,
        latency=latency,
        ttft=0.0,
        chunk_chars=2,
    )


@pytest.mark.parametrize("guarded", [False, True], ids=["deadline", "deadline+stall"])
@pytest.mark.parametrize("race", [False, True], ids=["single", "race"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_deadline_bounds_a_target_that_ignores_its_limits(threads, mode, shape, race, guarded):
    latency = 6.0 if shape == "stream" else 2.5
    targets = [dripping("a", 1.0, latency), dripping("b", 2.0, latency)]
    policy = RoutingPolicy.cheapest().retries(0).deadline(1.0)
    if guarded:  # a stall limit makes a non-streaming call stream underneath
        policy = policy.timeouts(stall=5.0)
    if race:
        policy = policy.race(top_k=2, hedge_after=0.05)
    r = Router(targets, policy)
    out, took = run(r, mode, shape == "stream")
    assert isinstance(out, AllTargetsFailed | StreamInterrupted), out
    assert took < 1.0 + MARGIN


class RecordsOptions(ScriptedTarget):
    def complete(self, request, options=None):
        self.seen = options
        return super().complete(request, options)

    async def acomplete(self, request, options=None):
        self.seen = options
        return await super().acomplete(request, options)


@pytest.mark.parametrize("mode", MODES)
def test_the_absolute_deadline_reaches_the_target(mode):
    t = RecordsOptions("a", ProviderCapability(), script="ok")
    r = Router([t], RoutingPolicy.cheapest().deadline(5.0))
    before = time.monotonic()
    out, _ = run(r, mode, stream=False)
    assert not isinstance(out, Exception), out
    assert before < t.seen.deadline <= time.monotonic() + 5.0
    assert t.seen.timeout <= 5.0
    t2 = RecordsOptions("b", ProviderCapability(), script="ok")
    run(Router([t2], RoutingPolicy.cheapest()), mode, stream=False)
    assert t2.seen.deadline is None  # no call deadline: the relative timeout alone
