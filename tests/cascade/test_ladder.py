"""The ladder through the public API: each rung accepted or rejected, the last returned as is,
what the decision records and costs, verifiers' own model calls, sync and async."""

from __future__ import annotations

import pytest

from smartroute_llm import ConfigurationError, Router, RoutingPolicy
from smartroute_llm.request import to_request
from smartroute_llm.verifiers import BaseVerifier, Check, Verdict
from tests.cascade.helpers import NoRefusal, cap, ladder, rung_verdicts, says_42


def _router(scripts, verifiers=(says_42,), **kw):
    targets = ladder(scripts)
    return Router(targets, RoutingPolicy.cascade(list(verifiers), **kw)), {
        t.name: t for t in targets
    }


@pytest.fixture(params=["sync", "async"])
def ask(request):
    """One call through chat or achat, the same assertions for both."""
    if request.param == "sync":
        return lambda r, prompt: r.chat(prompt)

    def run(r, prompt):
        import asyncio

        return asyncio.run(r.achat(prompt))

    return run


def test_the_cheapest_rung_accepted_is_the_answer_and_nothing_else_is_called(ask):
    r, t = _router({"cheap": "42", "mid": "42 too", "strong": "42!"})
    resp = ask(r, "6*7?")
    assert resp.text == "42"
    assert (len(t["cheap"].calls), len(t["mid"].calls), len(t["strong"].calls)) == (1, 0, 0)
    d = resp.decision
    assert d.strategy == "cascade" and d.target == "cheap"
    assert rung_verdicts(resp) == [("cheap", "accepted")]
    assert d.cascade.rungs[0].verifier == "says_42"
    assert d.reason == "cascade: rung 1 of 3 (cheap) accepted"
    assert d.cost_usd == pytest.approx(d.attempts[0].cost_usd) and d.cost_usd > 0


def test_a_rejected_rung_escalates_and_every_rung_is_paid_for(ask):
    r, t = _router({"cheap": "no idea", "mid": "it is 42", "strong": "42!"})
    resp = ask(r, "6*7?")
    assert resp.text == "it is 42" and resp.decision.target == "mid"
    assert rung_verdicts(resp) == [("cheap", "rejected"), ("mid", "accepted")]
    rej = resp.decision.cascade.rungs[0]
    assert (rej.verifier, rej.reason) == ("says_42", "no 42 in the answer")
    assert [a.target for a in resp.decision.attempts] == ["cheap", "mid"]
    costs = [x.cost_usd for x in resp.decision.cascade.rungs]
    assert all(c > 0 for c in costs)
    assert resp.decision.cost_usd == pytest.approx(sum(costs))
    assert resp.decision.cost_usd == pytest.approx(resp.decision.cascade.cost_usd)
    assert len(t["strong"].calls) == 0


def test_the_last_rung_is_returned_as_is_without_verifying_it(ask):
    seen = []

    def picky(request, response):
        seen.append(response.text)
        return False

    r, _ = _router({"cheap": "a", "mid": "b", "strong": "c"}, verifiers=[picky])
    resp = ask(r, "q")
    assert resp.text == "c" and seen == ["a", "b"]
    assert rung_verdicts(resp) == [
        ("cheap", "rejected"), ("mid", "rejected"), ("strong", "final"),
    ]
    assert "the last rung, returned as is" in resp.decision.reason


def test_every_verifier_must_accept_and_the_first_rejection_stops_the_checks(ask):
    refusals = NoRefusal()
    r, _ = _router(
        {"cheap": "I'm sorry, 42 is all I know", "mid": "42", "strong": "x"},
        verifiers=[says_42, refusals],
    )
    resp = ask(r, "q")
    assert resp.text == "42"
    rungs = resp.decision.cascade.rungs
    assert (rungs[0].verifier, rungs[0].reason) == ("no_refusal", "refusal")
    assert rungs[1].verifier == "says_42, no_refusal"  # an accepted answer names them all
    assert refusals.calls == 2


def test_an_explicit_ladder_orders_the_rungs_and_leaves_others_out(ask):
    r, _t = _router(
        {"cheap": "nope", "mid": "nope", "strong": "42"}, ladder=["strong", "cheap"]
    )
    resp = ask(r, "q")
    assert resp.text == "42" and rung_verdicts(resp) == [("strong", "accepted")]
    r2, t2 = _router({"cheap": "nope", "mid": "42", "strong": "nope"}, ladder=["mid", "cheap"])
    resp = ask(r2, "q")
    assert resp.text == "42" and len(t2["strong"].calls) == 0
    assert resp.decision.cascade.ladder == ["mid", "cheap"]


def test_ladder_names_must_match_targets():
    with pytest.raises(ConfigurationError, match=r"cascade.ladder: \['gpt-9'\] match no target"):
        _router({"cheap": "a", "mid": "b", "strong": "c"}, ladder=["cheap", "gpt-9"])


def test_capability_filters_shape_the_ladder(ask):
    targets = ladder({"cheap": "42", "mid": "42", "strong": "42"})
    big = {t.name: t for t in targets}
    big["cheap"]._capability = cap(1.0, max_tokens=50)  # too small for the prompt
    r = Router(targets, RoutingPolicy.cascade([says_42]))
    resp = ask(r, "word " * 200)
    assert resp.decision.target == "mid"
    assert resp.decision.cascade.ladder == ["mid", "strong"]
    assert any(e.target == "cheap" for e in resp.decision.excluded)


def test_explain_shows_the_ladder():
    r, _ = _router({"cheap": "a", "mid": "b", "strong": "c"})
    text = r.explain("q")
    assert "strategy: cascade" in text
    lines = [ln for ln in text.splitlines() if "rung=" in ln]
    assert [ln.split()[1] for ln in lines] == ["cheap", "mid", "strong"]
    resp = r.chat("q")
    shown = resp.decision.cascade.explain()
    assert "cheap -> mid -> strong" in shown
    assert "1. cheap" in shown and "rejected by says_42" in shown and "final" in shown


class Judge(BaseVerifier):
    """Asks the rung again (model=None) and a named judge target; accepts when both agree."""

    name = "judge"

    def verify(self, check: Check) -> Verdict:
        again = check.call(check.request)
        grade = check.call(to_request("grade: " + check.response.text), "strong")
        ok = again.text == check.response.text and "good" in grade.text
        return Verdict(ok, "" if ok else "judged wrong", confidence=0.9 if ok else 0.2)

    async def averify(self, check: Check) -> Verdict:
        again = await check.acall(check.request)
        grade = await check.acall(to_request("grade: " + check.response.text), "strong")
        ok = again.text == check.response.text and "good" in grade.text
        return Verdict(ok, "" if ok else "judged wrong", confidence=0.9 if ok else 0.2)


def test_verifier_model_calls_are_counted_in_the_cost_and_the_attempts(ask):
    r, t = _router({"cheap": "same", "mid": "m", "strong": "good"}, verifiers=[Judge()])
    resp = ask(r, "q")
    assert resp.text == "same" and resp.decision.target == "cheap"
    # the answer, the consistency sample on the rung itself, the judge on strong
    assert [a.target for a in resp.decision.attempts] == ["cheap", "cheap", "strong"]
    assert len(t["cheap"].calls) == 2 and len(t["strong"].calls) == 1
    rung = resp.decision.cascade.rungs[0]
    assert rung.verify_cost_usd > 0 and rung.confidence == 0.9
    assert rung.cost_usd == pytest.approx(sum(a.cost_usd for a in resp.decision.attempts))
    assert resp.decision.cost_usd == pytest.approx(rung.cost_usd)


def test_a_verifier_calling_an_unknown_model_names_the_fix():
    class Bad(BaseVerifier):
        name = "bad"

        def verify(self, check: Check) -> Verdict:
            check.call(check.request, "gpt-9")
            return Verdict(True)

    r, _ = _router({"cheap": "a", "mid": "b", "strong": "c"}, verifiers=[Bad()])
    with pytest.raises(ConfigurationError, match="'gpt-9' names no target"):
        r.chat("q")


def test_a_verifier_returning_nonsense_is_a_clear_error():
    r, _ = _router({"cheap": "a", "mid": "b", "strong": "c"}, verifiers=[lambda q, a: "yes"])
    with pytest.raises(TypeError, match="return a bool, \\(bool, reason\\) or a Verdict"):
        r.chat("q")


def test_async_verifiers_run_on_the_async_path_and_are_refused_on_the_sync_one():
    import asyncio

    async def slow_check(request, response):
        await asyncio.sleep(0)
        return "42" in response.text

    r, _ = _router({"cheap": "no", "mid": "42", "strong": "c"}, verifiers=[slow_check])
    assert asyncio.run(r.achat("q")).text == "42"
    with pytest.raises(TypeError, match="coroutine function"):
        r.chat("q")


def test_the_decision_serializes_and_other_strategies_stay_as_they_were():
    r, _ = _router({"cheap": "no", "mid": "42", "strong": "c"})
    dumped = r.chat("q").decision.model_dump(mode="json")
    assert [x["verdict"] for x in dumped["cascade"]["rungs"]] == ["rejected", "accepted"]
    plain = Router(ladder({"cheap": "a", "mid": "b", "strong": "c"}), RoutingPolicy.cheapest())
    assert plain.cascade is None
    assert "cascade" not in plain.chat("q").decision.model_dump(mode="json")
