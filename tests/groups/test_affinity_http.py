"""Session affinity over HTTP, counted at the servers: a session stays on one deployment
while it is healthy, moves (to one other member, the same for every later call) when that
member's circuit opens, and other sessions still spread over the group."""

from __future__ import annotations

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.testing.fake_provider import Fault

from .conftest import NAMES, counts, deployments


def policy() -> RoutingPolicy:
    return (
        RoutingPolicy.balanced()
        .retries(0)
        .circuit_breaker(failure_threshold=1, cooldown_s=600)
    )


def test_session_stays_on_one_member(servers):
    router = Router(deployments(servers), policy())
    try:
        answered = {router.chat(f"turn {i}", session="agent-7").decision.target for i in range(12)}
    finally:
        router.close()
    assert len(answered) == 1
    home = answered.pop()
    assert counts(servers) == {n: (12 if n == home else 0) for n in NAMES}


def test_many_sessions_spread_over_the_group(servers):
    for fp in servers.values():
        fp.configure(latency=0.0)
    router = Router(deployments(servers), policy())
    try:
        for s in range(60):
            answered = {router.chat(f"turn {t}", session=f"u{s}").decision.target for t in (0, 1)}
            assert len(answered) == 1
    finally:
        router.close()
    got = counts(servers)
    assert sum(got.values()) == 120
    assert all(c >= 20 for c in got.values()), got  # hashing spreads sessions (~40 calls each)


def test_session_moves_when_its_member_fails_and_stays_moved(servers):
    router = Router(deployments(servers), policy())
    try:
        home = router.chat("turn 0", session="agent-7").decision.target
        servers[home].fail("*", Fault.server_error())
        resp = router.chat("turn 1", session="agent-7")  # fails on home, falls back in-group
        moved = resp.decision.target
        assert moved != home
        assert [a.target for a in resp.decision.attempts] == [home, moved]
        later = {router.chat(f"turn {i}", session="agent-7").decision.target for i in range(2, 10)}
        assert later == {moved}
        plan = router.plan("turn 10", session="agent-7")
    finally:
        router.close()
    got = counts(servers)
    assert got[home] == 2  # turn 0 and the failed turn 1; its open circuit is skipped after
    assert got[moved] == 9
    pick = plan.groups[moved]
    assert pick.chosen == moved and pick.spread == "session" and pick.skipped == [home]


def test_session_from_request_metadata(servers):
    router = Router(deployments(servers), policy())
    try:
        a = router.plan("hi", session="s-1").first.name
        b = router.plan("hi", metadata={"session": "s-1"}).first.name
    finally:
        router.close()
    assert a == b
