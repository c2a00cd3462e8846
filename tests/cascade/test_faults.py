"""The ladder under faults, over real HTTP (the loopback fake provider): a rung erroring, the
deadline cutting the ladder, a breaker open on a rung, budgets, errors that must stop."""

from __future__ import annotations

import asyncio
import time

import pytest

from smartroute_llm import AllTargetsFailed, Router, RoutingPolicy
from smartroute_llm.errors import ContentFilterError
from smartroute_llm.response import ChatResponse, Usage
from smartroute_llm.testing import ScriptedTarget
from smartroute_llm.testing.fake_provider import Fault
from tests.cascade.helpers import cap, http_ladder, rung_verdicts, says_42


def _policy(**kw):
    return RoutingPolicy.cascade([says_42], **kw).retries(0)


def _answers(fp, **texts):
    fp.configure(responder=lambda model, body: texts.get(model, "no"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_rung_that_errors_moves_the_ladder_on(fake_provider, mode):
    fp = fake_provider
    _answers(fp, cheap="42", mid="42", strong="42")
    fp.fail("cheap", Fault.server_error())
    with Router(http_ladder(fp), _policy()) as r:
        resp = r.chat("6*7?") if mode == "sync" else asyncio.run(r.achat("6*7?"))
    assert resp.decision.target == "mid"
    assert rung_verdicts(resp) == [("cheap", "error"), ("mid", "accepted")]
    err = resp.decision.cascade.rungs[0]
    assert "server_error" in err.reason or "500" in err.reason
    assert [a.target for a in resp.decision.attempts] == ["cheap", "mid"]
    assert resp.decision.attempts[0].error_kind is not None
    assert fp.count("cheap") == 1 and fp.count("strong") == 0


async def test_retries_inside_a_rung_come_before_escalation(fake_provider):
    fp = fake_provider
    _answers(fp, cheap="42")
    fp.script("cheap", [Fault.overloaded()])  # 503 once, then the answer
    policy = RoutingPolicy.cascade([says_42]).retries(1, backoff_base_s=0.01)
    async with Router(http_ladder(fp), policy) as r:
        resp = await r.achat("q")
    assert resp.text == "42" and rung_verdicts(resp) == [("cheap", "accepted")]
    assert [a.ok for a in resp.decision.attempts] == [False, True]
    assert fp.count("mid") == 0


def test_every_rung_erroring_raises_with_every_attempt(fake_provider):
    fp = fake_provider
    fp.fail("*", Fault.server_error())
    with Router(http_ladder(fp), _policy()) as r, pytest.raises(AllTargetsFailed) as info:
        r.chat("q")
    assert "every rung of the cascade failed (3)" in str(info.value)
    assert [a.target for a in info.value.attempts] == ["cheap", "mid", "strong"]
    assert [x.verdict for x in info.value.cascade.rungs] == ["error"] * 3


async def test_the_deadline_cuts_the_ladder_and_returns_the_best_answer_so_far(fake_provider):
    fp = fake_provider
    _answers(fp, cheap="a guess", strong="42")
    fp.configure("cheap", latency=0.2)
    fp.configure("mid", latency=30.0)
    deadline = 1.5
    async with Router(http_ladder(fp), _policy().deadline(deadline)) as r:
        t0 = time.perf_counter()
        resp = await r.achat("q")
        took = time.perf_counter() - t0
    assert resp.text == "a guess"  # rejected, but the only answer the deadline allowed
    verdicts = rung_verdicts(resp)
    assert verdicts[0] == ("cheap", "rejected")
    assert verdicts[1] == ("mid", "error")
    assert all(v in ("skipped", "error") for _, v in verdicts[2:])
    assert "best so far" in resp.decision.reason
    assert fp.count("strong") == 0
    assert took < deadline + 3.0  # the ladder fits the call's deadline (generous margin)


def test_a_rung_starting_too_late_is_skipped_without_a_request(fake_provider):
    fp = fake_provider
    _answers(fp, cheap="a guess", mid="42", strong="42")
    fp.configure("cheap", latency=0.3)
    policy = _policy(min_rung_s=4.7).deadline(5.0)
    with Router(http_ladder(fp), policy) as r:
        resp = r.chat("q")
    assert resp.text == "a guess"
    assert rung_verdicts(resp) == [
        ("cheap", "rejected"), ("mid", "skipped"), ("strong", "skipped"),
    ]
    assert resp.decision.cascade.rungs[1].reason.startswith("deadline:")
    assert fp.count("mid") == fp.count("strong") == 0


def test_the_deadline_with_no_answer_is_the_error(fake_provider):
    fp = fake_provider
    fp.configure("cheap", latency=30.0)
    with Router(http_ladder(fp, ("cheap", "strong")), _policy().deadline(0.8)) as r:
        t0 = time.perf_counter()
        with pytest.raises(AllTargetsFailed) as info:
            r.chat("q")
        assert time.perf_counter() - t0 < 0.8 + 3.0
    assert "deadline" in str(info.value)
    assert fp.count("strong") == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_open_breaker_takes_its_rung_off_the_ladder(fake_provider, mode):
    fp = fake_provider
    _answers(fp, cheap="42", mid="42", strong="42")
    fp.fail("cheap", Fault.server_error())
    policy = _policy().circuit_breaker(failure_threshold=1, cooldown_s=60)
    with Router(http_ladder(fp), policy) as r:
        first = r.chat("q")
        assert rung_verdicts(first)[0] == ("cheap", "error")
        assert r.breakers.state("cheap") == "open"
        resp = r.chat("q") if mode == "sync" else asyncio.run(r.achat("q"))
    assert fp.count("cheap") == 1  # open: nothing more sent to it
    assert rung_verdicts(resp) == [("mid", "accepted")]
    assert any(e.target == "cheap" and "circuit" in e.reason for e in resp.decision.excluded)


def test_a_content_filter_stops_the_ladder_as_the_policy_says(fake_provider):
    fp = fake_provider
    fp.fail("cheap", Fault.content_filter())
    with Router(http_ladder(fp), _policy()) as r, pytest.raises(ContentFilterError):
        r.chat("q")
    assert fp.count("mid") == 0
    # a policy that falls back on it escalates instead
    with Router(http_ladder(fp), _policy().on("content_filter", "fallback")) as r:
        _answers(fp, mid="42")
        assert r.chat("q").decision.target == "mid"


def _priced(script_cheap, script_mid="42", script_strong="42"):
    return [
        ScriptedTarget("cheap", cap(1.0), script=script_cheap),
        ScriptedTarget("mid", cap(5.0), script=script_mid),
        ScriptedTarget("strong", cap(20.0), script=script_strong),
    ]


def test_a_budget_that_cannot_pay_for_a_rung_keeps_it_off_the_ladder():
    targets = _priced("no")
    est = {c.name: c.est_cost_usd for c in Router(targets, _policy()).plan("q").candidates}
    policy = _policy().budget(est["mid"] * 1.5, downgrade_below=0.0)
    r = Router(targets, policy)
    resp = r.chat("q")
    assert resp.decision.cascade.ladder == ["cheap", "mid"]
    assert rung_verdicts(resp) == [("cheap", "rejected"), ("mid", "final")]
    assert any(e.target == "strong" and "budget" in e.reason for e in resp.decision.excluded)
    assert len(targets[2].calls) == 0


def test_a_budget_spent_mid_ladder_returns_the_best_answer_so_far():
    # the cheap rung's real usage is far above its estimate: it spends what mid needed
    costly = ChatResponse(text="no", usage=Usage(input_tokens=10, output_tokens=200_000))
    targets = _priced(costly)
    est = {c.name: c.est_cost_usd for c in Router(targets, _policy()).plan("q").candidates}
    policy = _policy().budget(est["mid"] * 1.2, downgrade_below=0.0)
    resp = Router(targets, policy).chat("q")
    assert resp.text == "no"
    verdicts = rung_verdicts(resp)
    assert verdicts[:2] == [("cheap", "rejected"), ("mid", "error")]
    assert "budget" in resp.decision.cascade.rungs[1].reason
    assert len(targets[1].calls) == 0
