"""Hostile servers: bounded bodies, a total time bound on both paths, malformed usage.

Each test reproduces a symptom of issue #12 (items 5, 10, 12) against the real loopback server:
before the fix a 256 MB body was accepted (822 MB RSS), a gzip bomb decoded to 512 MB, an SSE
line without a newline buffered 356 MB, and a dripping body or a keepalive-only stream hung a
sync call far past its limit.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from typing import Any

import pytest

from smartroute_llm import ErrorKind, ProviderError
from smartroute_llm.providers import Anthropic, Gemini, HTTPTarget, OpenAICompatible
from smartroute_llm.request import to_request
from smartroute_llm.target import AttemptOptions
from smartroute_llm.testing import FakeProvider, Fault

MB = 1 << 20
# generous: the point is "near the 32 MB limit", not the 822-1,600 MB of unbounded reads
RSS_BOUND_MB = 200


def make(fp: FakeProvider, vendor: str = "openai", transport: str = "aiohttp",
         **kw: Any) -> HTTPTarget:
    if vendor == "anthropic":
        return Anthropic("claude-3-5-haiku-latest", base_url=fp.anthropic_base_url,
                         api_key="k", transport=transport, **kw)  # type: ignore[arg-type]
    if vendor == "gemini":
        return Gemini("gemini-2.0-flash", base_url=fp.gemini_base_url, api_key="k",
                      transport=transport, **kw)  # type: ignore[arg-type]
    return OpenAICompatible("gpt-4o-mini", base_url=fp.base_url, api_key="sk-test",
                            transport=transport, **kw)  # type: ignore[arg-type]


def call(target: HTTPTarget, mode: str, options: AttemptOptions) -> Any:
    """One call on ``mode``: sync or async, complete or stream (a stream is read to its end)."""
    req = to_request("hello")
    if mode == "complete":
        return target.complete(req, options)
    if mode == "stream":
        return list(target.stream(req, options))

    async def run() -> Any:
        try:
            if mode == "acomplete":
                return await target.acomplete(req, options)
            return [c async for c in target.astream(req, options)]
        finally:
            await target.aclose()

    return asyncio.run(run())


MODES = ["complete", "acomplete", "stream", "astream"]


def _peak_mb() -> float:
    """This process's peak RSS, reset first where Linux allows it (clear_refs 5)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.oversized(256 * MB, declare_length=False), id="256MB-json"),
        pytest.param(Fault.gzip_bomb(512 * MB), id="gzip-bomb-512MB"),
        pytest.param(Fault.unterminated_line(356 * MB), id="sse-line-356MB"),
    ],
)
def test_huge_bodies_are_refused_quickly_with_bounded_memory(
    fake_provider: FakeProvider, fault: Fault, mode: str
) -> None:
    fake_provider.fail("*", fault)
    target = make(fake_provider)
    _reset_peak()
    before, fds = _peak_mb(), _fds()
    t0 = time.monotonic()
    with pytest.raises(ProviderError) as info:
        call(target, mode, AttemptOptions(timeout=60))
    elapsed = time.monotonic() - t0
    grew = _peak_mb() - before
    target.close()
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE, info.value
    assert "max_response_bytes" in str(info.value)
    assert grew < RSS_BOUND_MB, f"peak RSS grew {grew:.0f} MB"
    assert elapsed < 20, f"took {elapsed:.1f} s"  # unbounded reads took 5-48 s; ~0.3 s now
    deadline = time.monotonic() + 5  # the refused connection is closed, not kept
    while _fds() > fds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fds() <= fds


def test_declared_length_over_the_limit_is_refused_before_reading(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.fail("*", Fault.oversized(8 * MB, declare_length=True))
    target = make(fake_provider, max_response_bytes=MB)
    with pytest.raises(ProviderError) as info:
        target.complete(to_request("hi"))
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE
    pool = target._sync_client()._transport._pool  # type: ignore[attr-defined]
    assert not pool.connections, "the refused connection went back to the pool"


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", MODES)
def test_a_small_limit_applies_to_every_vendor_and_path(
    fake_provider: FakeProvider, vendor: str, mode: str
) -> None:
    fake_provider.fail("*", Fault.gzip_bomb(4 * MB))
    with pytest.raises(ProviderError) as info:
        call(make(fake_provider, vendor, max_response_bytes=MB), mode, AttemptOptions())
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_normal_gzip_answers_still_decode(fake_provider: FakeProvider, transport: str) -> None:
    fake_provider.fail("*", Fault.gzip_bomb(100_000))  # a valid, merely compressed answer
    for mode in ("complete", "acomplete"):
        resp = call(make(fake_provider, transport=transport), mode, AttemptOptions(timeout=30))
        assert resp.text.startswith("a" * 1000) and resp.finish_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [pytest.param(Fault.drip(interval=0.2, nbytes=1, delay=30), id="drip"),
     pytest.param(Fault.keepalive_only(interval=0.1, delay=30), id="keepalive-only")],
)
def test_the_attempt_timeout_is_a_total_bound(
    fake_provider: FakeProvider, fault: Fault, mode: str
) -> None:
    fake_provider.fail("*", fault)
    target = make(fake_provider)
    t0 = time.monotonic()
    with pytest.raises(ProviderError) as info:
        call(target, mode, AttemptOptions(timeout=1.0))
    elapsed = time.monotonic() - t0
    target.close()
    assert info.value.kind in (ErrorKind.TIMEOUT, ErrorKind.TTFT_TIMEOUT), info.value
    assert elapsed < 3.0, f"{mode} ran {elapsed:.2f} s under a 1 s limit"  # was 30 s


def test_sync_total_bound_holds_when_the_server_goes_silent_mid_body(
    fake_provider: FakeProvider,
) -> None:
    # bytes for 0.5 s, then silence: per-read timeouts (1 s each) alone would end at ~1.5 s+
    fake_provider.script("*", [Fault.stream_stall(after_chunks=2, delay=30)])
    fake_provider.configure("*", chunk_delay=0.25, chunk_chars=1)
    target = make(fake_provider)
    t0 = time.monotonic()
    with pytest.raises(ProviderError):
        list(target.stream(to_request("hello there"), AttemptOptions(timeout=1.0)))
    assert time.monotonic() - t0 < 2.5
    target.close()


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "fault",
    [pytest.param(Fault.negative_usage(), id="negative"),
     pytest.param(Fault.non_numeric_usage("lots"), id="non-numeric")],
)
def test_bad_usage_is_malformed(
    fake_provider: FakeProvider, vendor: str, mode: str, fault: Fault
) -> None:
    fake_provider.fail("*", fault)
    with pytest.raises(ProviderError) as info:
        call(make(fake_provider, vendor), mode, AttemptOptions(timeout=30))
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE, info.value


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", MODES)
def test_deeply_nested_json_is_malformed_not_unknown(
    fake_provider: FakeProvider, vendor: str, mode: str
) -> None:
    fake_provider.fail("*", Fault.deep_nesting(100_000))
    with pytest.raises(ProviderError) as info:
        call(make(fake_provider, vendor), mode, AttemptOptions(timeout=30))
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE, info.value


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", ["complete", "acomplete"])
def test_truncated_tool_arguments_in_a_body_are_malformed(
    fake_provider: FakeProvider, vendor: str, mode: str
) -> None:
    fake_provider.fail("*", Fault.truncated_tool_call('{"city": "Par'))
    with pytest.raises(ProviderError) as info:
        call(make(fake_provider, vendor), mode, AttemptOptions(timeout=30))
    assert info.value.kind == ErrorKind.MALFORMED_RESPONSE, info.value


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_streamed_answer_larger_than_the_limit_is_refused(
    fake_provider: FakeProvider, vendor: str, mode: str
) -> None:
    """Each event small, the stream's framing within its allowance, but the answer itself
    past max_response_bytes: refused, not returned as a success (seen in the soak benchmark:
    a 41.8 MB streamed text arrived whole)."""
    fake_provider.configure("*", responder=lambda model, body: "a" * (2 * MB), chunk_chars=65536)
    target = make(fake_provider, vendor, max_response_bytes=1 * MB)
    req = to_request("hello")

    async def drain_async() -> None:
        async for _ in target.astream(req):
            pass

    with pytest.raises(ProviderError) as info:
        if mode == "stream":
            for _ in target.stream(req):
                pass
        else:
            asyncio.run(drain_async())
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert "max_response_bytes" in info.value.message
    small = make(fake_provider, vendor, max_response_bytes=4 * MB)
    text = "".join(c.text for c in small.stream(req))
    assert len(text) == 2 * MB  # the same answer within the limit arrives whole
