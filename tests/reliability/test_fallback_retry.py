"""Fallback, retry, stop, deadlines and accounting through the public API (scripted targets)."""

import asyncio
import time

import pytest

from smartroute_llm import (
    AllTargetsFailed,
    ErrorKind,
    ProviderCapability,
    Router,
    RoutingPolicy,
)
from smartroute_llm.errors import ContentFilterError, InvalidRequestError, RateLimitError
from smartroute_llm.testing import ScriptedTarget


def cap(ctx=128_000, price=1.0):
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price, max_tokens=ctx)


def policy(**kw):
    base = RoutingPolicy.cheapest().retries(2, backoff_base_s=0.01, backoff_max_s=0.05)
    return base.model_copy(update=kw) if kw else base


def pair(primary_script, secondary_script="ok from b", **kw):
    a = ScriptedTarget("a", cap(price=1.0), script=primary_script, **kw)
    b = ScriptedTarget("b", cap(price=2.0), script=secondary_script)
    return a, b


def kinds(resp_or_exc):
    attempts = getattr(resp_or_exc, "attempts", None) or resp_or_exc.decision.attempts
    return [(a.target, a.error_kind.value if a.error_kind else "ok") for a in attempts]


def test_rate_limit_retries_same_target_then_succeeds():
    a, b = pair([ErrorKind.RATE_LIMITED, "ok from a"])
    resp = Router([a, b], policy()).chat("hi")
    assert resp.text == "ok from a"
    assert kinds(resp) == [("a", "rate_limited"), ("a", "ok")]
    assert len(b.calls) == 0


def test_retry_after_is_honoured_up_to_the_cap(lag):
    a, b = pair([RateLimitError("slow down", retry_after=0.3), "ok from a"])
    t0 = time.perf_counter()
    resp = Router([a, b], policy()).chat("hi")
    assert resp.text == "ok from a"
    assert time.perf_counter() - t0 >= 0.29
    a2, b2 = pair([RateLimitError("slow down", retry_after=3600), "ok from a"])
    t0 = time.perf_counter()
    with lag.on_thread():
        resp = Router([a2, b2], policy()).chat("hi")
    assert resp.text == "ok from b"  # Retry-After beyond the cap: fall back instead of waiting
    assert len(a2.calls) == 1
    assert time.perf_counter() - t0 < 1.0 + lag.margin()


def test_persistent_5xx_retries_then_falls_back():
    a, b = pair(ErrorKind.OVERLOADED)
    resp = Router([a, b], policy()).chat("hi")
    assert resp.text == "ok from b"
    assert kinds(resp) == [("a", "overloaded")] * 3 + [("b", "ok")]
    assert resp.decision.reason.startswith("fallback")
    # failed attempts are listed but not billed
    assert all(x.cost_usd == 0 for x in resp.decision.attempts[:3])
    assert resp.cost == pytest.approx(resp.decision.attempts[-1].cost_usd)


def test_timeouts_and_connection_errors_fall_back_without_retry():
    for kind in (ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.AUTHENTICATION):
        a, b = pair(kind)
        resp = Router([a, b], policy()).chat("hi")
        assert kinds(resp) == [("a", kind.value), ("b", "ok")]


def test_context_length_falls_back_only_to_a_larger_context():
    small = ScriptedTarget("small", cap(ctx=8_000, price=0.1), script=ErrorKind.CONTEXT_LENGTH)
    same = ScriptedTarget("same", cap(ctx=8_000, price=0.2), script="same size")
    big = ScriptedTarget("big", cap(ctx=200_000, price=5.0), script="big answer")
    resp = Router([small, same, big], policy()).chat("hi")
    assert resp.text == "big answer"
    assert kinds(resp) == [("small", "context_length"), ("big", "ok")]
    assert len(same.calls) == 0 and len(small.calls) == 1


@pytest.mark.parametrize(
    ("error", "exc_type"),
    [
        (ErrorKind.CONTENT_FILTER, ContentFilterError),
        (ErrorKind.INVALID_REQUEST, InvalidRequestError),
    ],
)
def test_content_filter_and_invalid_request_stop_with_the_reason(error, exc_type):
    a, b = pair(error)
    with pytest.raises(exc_type) as info:
        Router([a, b], policy()).chat("hi")
    assert len(b.calls) == 0
    assert [x.target for x in info.value.attempts] == ["a"]


def test_policy_can_override_an_error_action():
    a, b = pair(ErrorKind.CONTENT_FILTER)
    resp = Router([a, b], policy().on("content_filter", "fallback")).chat("hi")
    assert resp.text == "ok from b"


def test_all_failed_lists_every_attempt():
    a, b = pair(ErrorKind.OVERLOADED, ErrorKind.TIMEOUT)
    with pytest.raises(AllTargetsFailed) as info:
        Router([a, b], policy()).chat("hi")
    assert kinds(info.value) == [("a", "overloaded")] * 3 + [("b", "timeout")]
    assert "a -> overloaded" in str(info.value) and "b -> timeout" in str(info.value)
    assert info.value.last_error.kind is ErrorKind.TIMEOUT


def test_attempts_are_bounded():
    targets = [
        ScriptedTarget(f"t{i}", cap(price=i + 1), script=ErrorKind.OVERLOADED) for i in range(10)
    ]
    with pytest.raises(AllTargetsFailed, match="max_attempts=4"):
        Router(targets, policy(max_attempts=4)).chat("hi")
    assert sum(len(t.calls) for t in targets) == 4


def test_deadline_bounds_the_whole_call(lag):
    a = ScriptedTarget("a", cap(price=1), script=ErrorKind.OVERLOADED)
    b = ScriptedTarget("b", cap(price=2), script="late", latency=5.0)
    p = policy().retries(10, backoff_base_s=0.1, backoff_max_s=0.1, jitter=False).deadline(0.5)

    async def call():
        async with lag.on_loop():
            return await Router([a, b], p).achat("hi")

    t0 = time.perf_counter()
    with pytest.raises(AllTargetsFailed):
        asyncio.run(call())
    assert time.perf_counter() - t0 < 1.5 + lag.margin()  # not b's 5 s


def test_unexpected_exception_from_a_target_falls_back_and_keeps_its_cause():
    def boom(request):
        raise KeyError("bug in a custom target")

    a, b = pair(boom)
    resp = Router([a, b], policy()).chat("hi")
    assert resp.text == "ok from b"
    first = resp.decision.attempts[0]
    assert first.error_kind is ErrorKind.UNKNOWN and "KeyError" in first.message
    assert isinstance(first.error.__cause__, KeyError)


def test_empty_answer_is_an_error_not_a_success():
    a, b = pair("")
    resp = Router([a, b], policy().retries(0)).chat("hi")
    assert resp.text == "ok from b"
    assert kinds(resp)[0] == ("a", "malformed_response")
