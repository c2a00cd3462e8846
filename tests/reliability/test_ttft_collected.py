"""Non-streaming calls with a TTFT limit read the answer as a stream; once the first token is in
and no stall limit applies, an HTTP target folds the rest into the answer itself (no chunk per
event). Over real loopback HTTP, in all three wire formats, sync and async: the answer and the
attempts are those of the chunk-by-chunk reading, the fold is really taken, and every limit and
fault still ends the attempt the same way."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from smartroute_llm import AllTargetsFailed, ErrorKind, ProviderCapability, Router, RoutingPolicy
from smartroute_llm.providers import Anthropic, Gemini, HTTPTarget, OpenAICompatible, base
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.testing.fake_provider import FakeProvider, Fault, Reply

TTFT = 1.0
LONG = ("The quick brown fox jumps over the lazy dog. " * 10)[:400]  # 50 events of 8 chars
TOOL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
REPLIES = {
    "text": Reply(text=LONG),
    "reasoning": Reply(text=LONG, reasoning="first I think, then I answer"),
    "tools": Reply(text="let me look", tool_calls=[TOOL]),
}


def target(fp: FakeProvider, wire: str, name: str, price: float, **kw: Any) -> HTTPTarget:
    cap = ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)
    if wire == "openai":
        return OpenAICompatible(name, base_url=fp.base_url, api_key="k", capability=cap, **kw)
    if wire == "anthropic":
        return Anthropic(name, base_url=fp.anthropic_base_url, api_key="k", capability=cap, **kw)
    return Gemini(name, base_url=fp.gemini_base_url, api_key="k", capability=cap, **kw)


def router(fp: FakeProvider, wire: str, **timeouts: float) -> Router:
    policy = RoutingPolicy.cheapest().retries(0)
    if timeouts:
        policy = policy.timeouts(**timeouts)
    return Router([target(fp, wire, "a", 1.0), target(fp, wire, "b", 2.0)], policy)


def call(r: Router, mode: str, prompt: str = "hi") -> ChatResponse:
    if mode == "sync":
        return r.chat(prompt)

    async def run() -> ChatResponse:
        async with r:
            return await r.achat(prompt)

    return asyncio.run(run())


def outcome(r: Router, mode: str) -> ChatResponse | AllTargetsFailed:
    try:
        return call(r, mode)
    except AllTargetsFailed as exc:
        return exc


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks the wire parsers built (the per-event cost the fold avoids)."""
    n = [0]

    class Counted(ChatChunk):
        def __init__(self, **fields: Any) -> None:
            n[0] += 1
            super().__init__(**fields)

    monkeypatch.setattr(base, "ChatChunk", Counted)
    return n


def per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the fold off: the answer is read chunk by chunk, as before it existed."""
    monkeypatch.setattr(HTTPTarget, "collects_into", False)


def answer(resp: ChatResponse) -> dict[str, Any]:
    out = resp.model_dump(exclude={"decision", "raw"})
    for call_ in out["tool_calls"]:  # Gemini sends no ids: each answer draws new ones
        call_["id"] = call_["id"] if call_["id"] == "call_1" else "drawn"
    return out


def attempts(d: Any) -> list[tuple[str, str, bool]]:
    return [
        (a.target, a.error_kind.value if a.error_kind else "ok", a.ttft_s is not None)
        for a in d.attempts
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("reply", sorted(REPLIES))
@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
def test_the_fold_gives_the_answer_of_the_chunk_by_chunk_read(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, built: list[int],
    wire: str, reply: str, mode: str,
) -> None:
    fake_provider.configure("a", chunk_chars=8)
    fake_provider.script("a", [REPLIES[reply]] * 3)
    plain = call(router(fake_provider, wire), mode)
    built[0] = 0
    folded = call(router(fake_provider, wire, ttft=30), mode)
    n_folded = built[0]
    with monkeypatch.context() as m:
        per_chunk(m)
        built[0] = 0
        chunked = call(router(fake_provider, wire, ttft=30), mode)
        n_chunked = built[0]
    assert answer(folded) == answer(chunked)
    assert attempts(folded.decision) == attempts(chunked.decision) == [("a", "ok", True)]
    assert folded.decision.ttft_s is not None and plain.decision.ttft_s is None
    for key in ("text", "reasoning", "usage", "finish_reason"):
        assert getattr(folded, key) == getattr(plain, key), key
    assert [(c.name, c.arguments) for c in folded.tool_calls] == [
        (c.name, c.arguments) for c in plain.tool_calls
    ]
    if reply != "tools":
        assert folded.text == LONG
        # the fold was taken: the first token's chunk only, not one per event
        assert n_folded <= 2 < 40 < n_chunked, (n_folded, n_chunked)
    assert [a.stream for a in fake_provider.attempts_for("a")] == [False, True, True]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
def test_a_slow_first_token_still_trips_the_limit_and_falls_back(
    fake_provider: FakeProvider, wire: str, mode: str, lag: Any
) -> None:
    fake_provider.fail("a", Fault.slow_first_token(delay=30))
    r = router(fake_provider, wire, ttft=TTFT)
    t0 = time.perf_counter()
    got = outcome(r, mode)
    assert time.perf_counter() - t0 < 2 * TTFT + 1.0 + lag.margin()  # not the 30 s token
    if isinstance(got, AllTargetsFailed):  # b missed its own window: only on a busy machine
        assert attempts(got)[0][:2] == ("a", "ttft_timeout")
        assert lag.worst > TTFT / 4
        return
    assert attempts(got.decision) == [("a", "ttft_timeout", False), ("b", "ok", True)]
    assert got.text == "[b] hi"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stall_limit_reads_chunk_by_chunk_and_still_trips(
    fake_provider: FakeProvider, built: list[int], mode: str, lag: Any
) -> None:
    fake_provider.fail("a", Fault.stream_stall(after_chunks=2, delay=30))
    fake_provider.configure("b", chunk_chars=8)
    fake_provider.script("b", [LONG])
    r = router(fake_provider, "openai", ttft=30, stall=TTFT)
    t0 = time.perf_counter()
    got = outcome(r, mode)
    assert time.perf_counter() - t0 < 2 * TTFT + 1.0 + lag.margin()  # not the 30 s stall
    if isinstance(got, AllTargetsFailed):
        assert attempts(got)[0][:2] == ("a", "stream_stall")
        assert lag.worst > TTFT / 4
        return
    assert attempts(got.decision) == [("a", "stream_stall", False), ("b", "ok", True)]
    assert got.text == LONG
    assert built[0] > 40  # each chunk was timed, so each was built


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_after_the_first_token_the_attempt_timeout_still_bounds_the_rest(
    fake_provider: FakeProvider, built: list[int], mode: str, lag: Any
) -> None:
    fake_provider.fail("a", Fault.stream_stall(after_chunks=2, delay=30))
    r = router(fake_provider, "openai", ttft=30, timeout=TTFT)
    t0 = time.perf_counter()
    got = outcome(r, mode)
    assert time.perf_counter() - t0 < 2 * TTFT + 1.0 + lag.margin()
    if isinstance(got, AllTargetsFailed):
        assert attempts(got)[0][:2] == ("a", "timeout")
        assert lag.worst > TTFT / 4
        return
    assert attempts(got.decision) == [("a", "timeout", False), ("b", "ok", True)]
    assert got.text == "[b] hi"


FAULTS = {
    "cut": Fault.stream_cut(after_chunks=3),
    "cut_clean": Fault.stream_cut(after_chunks=3, abort=False),
    "malformed": Fault.malformed_chunk(after_chunks=3),
    "tool_cut": Fault.truncated_tool_call(),
    "usage": Fault.non_numeric_usage(),
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_after_the_first_token_fails_the_attempt_as_before(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, fault: str, mode: str
) -> None:
    def run() -> Any:
        fake_provider.reset()
        fake_provider.configure("a", chunk_chars=4)
        fake_provider.fail("a", FAULTS[fault])
        got = outcome(router(fake_provider, "openai", ttft=30), mode)
        d = got if isinstance(got, AllTargetsFailed) else got.decision
        return [(a.target, a.error_kind, a.message) for a in d.attempts]

    folded = run()
    with monkeypatch.context() as m:
        per_chunk(m)
        chunked = run()
    assert folded == chunked
    assert folded[0][1] is not None and folded[-1][:2] == ("b", None)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_answer_over_the_size_limit_is_refused_as_before(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, built: list[int], mode: str
) -> None:
    def run() -> Any:
        fake_provider.configure("a", chunk_chars=512)
        fake_provider.script("a", ["x" * 5000])
        r = Router([target(fake_provider, "openai", "a", 1.0, max_response_bytes=4096),
                    target(fake_provider, "openai", "b", 2.0)],
                   RoutingPolicy.cheapest().retries(0).timeouts(ttft=30))
        got = call(r, mode)
        return [(a.target, a.error_kind, a.message) for a in got.decision.attempts]

    folded = run()
    with monkeypatch.context() as m:
        per_chunk(m)
        assert run() == folded
    assert folded[0][1] is ErrorKind.MALFORMED_RESPONSE
    assert "streamed answer exceeds" in (folded[0][2] or "")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_missing_done_ends_the_folded_answer_at_once(
    fake_provider: FakeProvider, mode: str, lag: Any
) -> None:
    fake_provider.configure("a", chunk_chars=4)
    fake_provider.fail("a", Fault.missing_done(delay=30))
    t0 = time.perf_counter()
    got = call(router(fake_provider, "openai", ttft=30), mode)
    assert time.perf_counter() - t0 < 2.0 + lag.margin()  # not the 30 s the body stays open
    assert got.text == "[a] hi" and got.usage.output_tokens > 0
    assert attempts(got.decision) == [("a", "ok", True)]


def test_a_subclass_that_replaces_the_stream_is_read_chunk_by_chunk() -> None:
    class Wrapped(OpenAICompatible):
        async def astream(self, request: Any, options: Any = None) -> Any:  # no into=
            async for chunk in super().astream(request, options):
                yield chunk

    class Declared(Wrapped):
        collects_into = True

    assert OpenAICompatible.collects_into and Anthropic.collects_into and Gemini.collects_into
    assert not Wrapped.collects_into and Declared.collects_into
