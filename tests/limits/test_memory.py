"""Rate limits and budgets in one process (the in-memory counters), on scripted targets."""

import asyncio

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import BudgetExceeded, ErrorKind, RateLimitExceeded
from smartroute_llm.testing import ScriptedTarget
from smartroute_llm.testing.scripted import FakeClock


def cap(price: float) -> ProviderCapability:
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)


def targets(script=None):
    # "cheap" ranks first under CHEAPEST; "dear" costs 10x as much
    return [
        ScriptedTarget("cheap", cap(50.0), script=script),
        ScriptedTarget("dear", cap(500.0)),
    ]


def test_target_at_its_rpm_is_excluded_with_reason_then_frees():
    clock = FakeClock(1_000_000.0)
    r = Router(targets(), RoutingPolicy.cheapest().rate_limit("cheap", rpm=3), clock=clock)
    served = [r.chat(f"hi {i}").decision.target for i in range(5)]
    assert served == ["cheap"] * 3 + ["dear"] * 2
    plan = r.plan("hi")
    assert [c.name for c in plan.candidates] == ["dear"]
    reason = next(e.reason for e in plan.excluded if e.target == "cheap")
    assert reason.startswith("rate limit: 3/3 rpm, frees in ")
    assert 59 <= float(reason.split("frees in ")[1].split()[0]) <= 61
    clock.advance(62)  # the window slid past all three
    assert r.chat("again").decision.target == "cheap"


def test_at_limit_everywhere_fails_fast_with_earliest_slot():
    clock = FakeClock(1_000_000.0)
    policy = RoutingPolicy.cheapest().rate_limit("cheap", rpm=1).rate_limit("dear", rpm=1)
    r = Router(targets(), policy, clock=clock)
    r.chat("a")
    r.chat("b")
    with pytest.raises(RateLimitExceeded) as err:
        r.chat("c")
    assert err.value.kind is ErrorKind.RATE_LIMITED
    assert err.value.retry_after_s is not None and 0 < err.value.retry_after_s <= 61
    assert {e.target for e in err.value.exclusions} == {"cheap", "dear"}
    assert "rate limit: 1/1 rpm" in str(err.value)


def test_wait_for_the_earliest_slot_when_the_deadline_allows():
    policy = (
        RoutingPolicy.cheapest()
        .rate_limit("cheap", rpm=1, window=1)
        .rate_limit("dear", rpm=1, window=1)
        .when_rate_limited("wait")
        .deadline(10)
    )
    r = Router(targets(), policy)
    r.chat("a")
    r.chat("b")
    resp = r.chat("c")  # waits ~1 s for a slot instead of failing
    assert resp.text
    # a deadline shorter than the wait: fail fast instead
    short = Router(targets(), policy.deadline(0.2))
    short.chat("a")
    short.chat("b")
    with pytest.raises(RateLimitExceeded):
        short.chat("c")


def test_tpm_counts_real_usage_after_settling():
    clock = FakeClock(1_000_000.0)
    policy = RoutingPolicy.cheapest().rate_limit("cheap", tpm=2_000)
    r = Router(targets(), policy, clock=clock)
    n = 0
    while r.chat("short prompt").decision.target == "cheap":
        n += 1
        assert n < 1000
    # reserved at the estimate (prompt + default output) but settled with the real, smaller
    # usage: far more calls fit than the estimate alone would allow
    used = r.chat("x").decision
    assert used.target == "dear"
    est_tokens = r.plan("short prompt").features.total_tokens
    assert n > 2_000 // est_tokens


def test_settles_exactly_once_on_every_path():
    clock = FakeClock(1_000_000.0)
    script = [ErrorKind.CONNECTION, "ok"]  # first attempt fails, then answers
    policy = RoutingPolicy.cheapest().rate_limit("cheap", rpm=100).budget(1.0)
    r = Router(targets(script), policy, clock=clock)
    settled: list[object] = []
    reserved: list[object] = []
    real_settle, real_reserve = r.limiter._settle, r.limiter.reserve

    def settle(hold, *a):
        settled.append(hold)
        real_settle(hold, *a)

    def reserve(*a):
        got = real_reserve(*a)
        reserved.append(got)
        return got

    r.limiter._settle, r.limiter.reserve = settle, reserve
    r.chat("a")
    for _chunk in r.stream("b"):
        break  # the caller walks away mid-stream: the lease is released, once
    asyncio.run(r.achat("c"))
    counters = r.limiter.local
    key = next(iter(counters._budgets))
    held, spent, _ = counters._budgets[key]
    assert held == pytest.approx(0.0, abs=1e-12)  # nothing left reserved
    assert spent > 0
    reqs = sum(v[0] for v in counters._rates["rl:cheap"].values())
    assert reqs == 3  # a: failed (then fell back to dear); b: released; c: answered
    # four reservations (a: cheap then dear; b; c), each settled exactly once
    assert len(reserved) == 4 and len(settled) == 4
    assert all(any(h is s for s in settled) for h in reserved)


def test_budget_spent_raises_naming_budget_and_reset():
    clock = FakeClock(86400.0 * 10 + 3600)  # 01:00 UTC
    t = [ScriptedTarget("cheap", cap(50.0))]
    policy = RoutingPolicy.cheapest().budget(0.1, "1d", name="daily")
    r = Router(t, policy, clock=clock)
    spent = 0.0
    with pytest.raises(BudgetExceeded) as err:
        for _ in range(1000):
            spent += r.chat("hello there").cost
    e = err.value
    assert e.budget == "daily" and e.key is None
    assert 0.05 < spent <= 0.1 + 1e-9
    assert e.resets_in_s == pytest.approx(23 * 3600)
    assert "budget daily is spent" in str(e) and "resets in 23.0 h" in str(e)
    assert "00:00:00 UTC" in str(e)
    clock.advance(23 * 3600 + 1)  # the next day
    assert r.chat("hello again").text


def test_budget_per_tag_is_kept_per_value():
    clock = FakeClock(1_000_000.0)
    t = [ScriptedTarget("cheap", cap(50.0))]
    r = Router(t, RoutingPolicy.cheapest().budget(0.1, "1h", per="team"), clock=clock)
    with pytest.raises(BudgetExceeded) as err:
        for _ in range(1000):
            r.chat("hello there", tags={"team": "a"})
    assert err.value.key == "team=a" and "per-team (team=a)" in str(err.value)
    assert r.chat("hello there", tags={"team": "b"}).text  # team b has its own budget
    assert r.chat("hello there").text  # untagged calls share one (untagged) budget


def test_low_budget_downgrades_to_cheaper_before_refusing():
    clock = FakeClock(1_000_000.0)
    policy = RoutingPolicy.best().budget(0.5, "1d", downgrade_below=0.5)
    t = [
        ScriptedTarget("cheap", cap(50.0)),
        ScriptedTarget("dear", ProviderCapability(
            input_cost_per_1m=400.0, output_cost_per_1m=400.0, quality_score=0.99,
        )),
    ]
    r = Router(t, policy, clock=clock)
    served = []
    with pytest.raises(BudgetExceeded):
        for _ in range(1000):
            served.append(r.chat("hello there").decision.target)
    assert served[0] == "dear"  # the best while the budget is healthy
    assert "cheap" in served and served[-1] == "cheap"  # then the cheaper one
    first_cheap = served.index("cheap")
    assert set(served[first_cheap:]) == {"cheap"}


def test_low_budget_exclusion_is_explained():
    clock = FakeClock(1_000_000.0)
    t = [ScriptedTarget("cheap", cap(50.0)), ScriptedTarget("dear", cap(500.0))]
    r = Router(t, RoutingPolicy.best().budget(0.5, "1d", downgrade_below=1.0), clock=clock)
    r.chat("hello")  # the view now knows some of it is spent
    explained = r.explain("hello")
    assert "dear: budget router low ($" in explained and "downgraded to cheaper" in explained


def test_bad_tags_are_refused_before_any_call():
    from smartroute_llm.errors import RequestValidationError

    r = Router(targets(), RoutingPolicy.cheapest().budget(1, per="team"))
    with pytest.raises(RequestValidationError, match=r"tags\['team'\]"):
        r.chat("x", tags={"team": ["a"]})
    with pytest.raises(RequestValidationError, match="tags"):
        r.chat("x", tags="team=a")
