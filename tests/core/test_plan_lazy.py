"""BALANCED's shortcuts give the general ranking (``rank_all``) exactly: large fleets ranked best
first and built as read (:mod:`smartroute_llm.strategies.bounded`), small ones in two plain loops;
the same candidates, in the same order, with the very scores and parts."""

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartroute_llm import ProviderCapability, Router, RoutingPolicy, to_request
from smartroute_llm.strategies import balanced
from smartroute_llm.strategies.lazy import LazyCandidates
from smartroute_llm.testing import ScriptedTarget

TIERS_S = ["very_fast", "fast", "medium", "slow"]
TIERS_Q = ["low", "medium", "high", "premium"]
# few distinct prices, so that costs, and scores, tie
prices = st.one_of(st.sampled_from([0.0, 0.15, 1.0, 3.0, 15.0]), st.floats(0, 100))
caps = st.builds(
    ProviderCapability,
    speed_tier=st.sampled_from(TIERS_S),
    quality_tier=st.sampled_from(TIERS_Q),
    quality_score=st.one_of(st.none(), st.sampled_from([0.0, 0.4, 0.9]), st.floats(0, 1)),
    input_cost_per_1m=prices,
    output_cost_per_1m=prices,
    max_tokens=st.sampled_from([8_000, 128_000]),
    supports_tools=st.booleans(),
)
policies = st.sampled_from(
    [
        RoutingPolicy.balanced(),
        RoutingPolicy.balanced().prefer_fast_for_simple_requests()
        .prefer_quality_for_complex_requests(),
        RoutingPolicy.balanced().prefer_quality_for_complex_requests(),
        RoutingPolicy.balanced().cost_aware(False),
        RoutingPolicy.balanced().with_weights(quality=0.1, speed=0.0, cost=0.9),
    ]
)
requests = st.builds(
    lambda words, out, tools: to_request(
        " ".join(["why design a cache step by step"] * words),
        **({"max_tokens": out} if out else {}),
        **({"tools": [{"name": "f"}]} if tools else {}),
    ),
    st.integers(1, 3000),
    st.one_of(st.none(), st.integers(1, 9000)),
    st.booleans(),
)


def _fleet(cs):
    return [ScriptedTarget(f"m{i}", c) for i, c in enumerate(cs)]


def _eager(router, req, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(balanced, "LAZY_FROM", 10**9)
        return router.plan(req)


def _reference(router, req, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(balanced, "SHORTCUTS", False)
        return router.plan(req)


def _rows(plan):
    return [(c.name, c.model, c.score, c.parts, c.price_source) for c in plan.candidates]


@settings(max_examples=200, deadline=None)
@given(st.lists(caps, min_size=1, max_size=40), policies, requests, st.integers(0, 5))
def test_lazy_ranking_equals_the_eager_one(cs, policy, req, first_reads):
    mp = pytest.MonkeyPatch()
    try:
        router = Router(_fleet(cs), policy)
        with mp.context() as m:
            m.setattr(balanced, "LAZY_FROM", 1)
            try:
                lazy = router.plan(req)
            except Exception as exc:  # the same refusal either way
                with pytest.raises(type(exc)):
                    _eager(router, req, mp)
                return
        eager = _eager(router, req, mp)
        reference = _reference(router, req, mp)
        assert isinstance(lazy.candidates, LazyCandidates)
        assert type(eager.candidates) is list
        assert len(lazy.candidates) == len(eager.candidates)
        # read a few first (what a call does), then everything
        for i in range(min(first_reads, len(eager.candidates))):
            assert lazy.candidates[i].name == eager.candidates[i].name
        assert _rows(lazy) == _rows(eager) == _rows(reference)
        assert lazy.weights == eager.weights == reference.weights
        assert lazy.summary() == eager.summary() == reference.summary()
        assert lazy.explain() == eager.explain() == reference.explain()
        assert [(e.target, e.reason) for e in lazy.excluded] == [
            (e.target, e.reason) for e in eager.excluded
        ]
    finally:
        mp.undo()


def test_small_plain_plans_take_the_shortcut(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ranked by rank_all")

    monkeypatch.setattr(balanced.BalancedStrategy, "rank_all", refuse)
    router = Router(_big(3), RoutingPolicy.balanced())
    plan = router.plan("Explain caches.")
    assert type(plan.candidates) is list and len(plan.candidates) == 3
    flags = RoutingPolicy.balanced().prefer_fast_for_simple_requests()
    Router(_big(3), flags.prefer_quality_for_complex_requests()).plan("hi")


def _big(n=300):
    rng = __import__("random").Random(n)
    return [
        ScriptedTarget(
            f"model-{i}",
            ProviderCapability(
                speed_tier=rng.choice(TIERS_S),
                quality_tier=rng.choice(TIERS_Q),
                input_cost_per_1m=rng.uniform(0.05, 15),
                output_cost_per_1m=rng.uniform(0.1, 60),
            ),
        )
        for i in range(n)
    ]


def test_a_large_fleet_takes_the_lazy_path_and_scores_few():
    router = Router(_big(300), RoutingPolicy.balanced())
    plan = router.plan("Explain caches.")
    cands = plan.candidates
    assert isinstance(cands, LazyCandidates)
    assert cands.built == 0 and len(cands) == 300
    walk = cands._source
    first = cands[0]
    assert cands.built == 1 and cands[0] is first
    assert 0 < walk.examined < 150  # scored only the pairs that could rank first
    assert plan.summary()[0][0].target == first.name
    assert cands.built == 10


def test_a_routed_call_over_a_large_fleet_decides_as_the_eager_plan(monkeypatch):
    router = Router(_big(200), RoutingPolicy.balanced())
    lazy = router.chat("Explain caches.").decision
    monkeypatch.setattr(balanced, "LAZY_FROM", 10**9)
    eager = router.chat("Explain caches.").decision
    assert lazy.target == eager.target and lazy.reason == eager.reason
    assert lazy.candidates == eager.candidates
    assert lazy.excluded == eager.excluded


def _lazy_list(n=5):
    router = Router(_big(40), RoutingPolicy.balanced())
    return router.plan("hi").candidates


def test_lazy_candidates_behave_as_a_list():
    cands = _lazy_list()
    want = list(copy.copy(_lazy_list()))
    names = [c.name for c in want]
    assert [c.name for c in cands[:3]] == names[:3] and cands.built == 3
    assert cands[-1].name == names[-1] and cands.built == len(names)
    fresh = _lazy_list()
    assert [c.name for c in fresh[5:1:-2]] == names[5:1:-2] and fresh.built == 6
    assert fresh.index(fresh[2]) == 2 and fresh[4] in fresh and fresh.built == 6
    assert object() not in fresh and fresh.built == len(names)
    fresh = _lazy_list()
    assert [c.name for c in fresh] == names
    assert bool(fresh) and len(fresh) == len(names)
    for op in (list, tuple, reversed, repr, copy.copy):
        one = _lazy_list()
        assert len(list(op(one)) if op is not repr else one) == len(names)
    one = _lazy_list()
    assert one == one[:] and one.built == len(names)
    items = iter([3, 1, 2])
    one = LazyCandidates.of(3, lambda: next(items, None))
    back = pickle.loads(pickle.dumps(one))
    assert back == [3, 1, 2] and type(back) is LazyCandidates and one.built == 3
    one = _lazy_list()
    one.append(one[0])
    assert len(one) == len(names) + 1 and one[-1] is one[0]
    one = _lazy_list()
    one.sort(key=lambda c: c.name)
    assert [c.name for c in one] == sorted(names)
    assert LazyCandidates([1, 2]) == [1, 2] and len(LazyCandidates([1, 2])) == 2
