"""Retries go through the breaker: a half-open probe is one request upstream, not one plus
its retries (issue #12 item 7, executor side). Over real loopback HTTP."""

from smartroute_llm import ErrorKind, ProviderCapability, Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing import FakeClock
from smartroute_llm.testing.fake_provider import Fault


def target(fp, model, price):
    cap = ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)
    return OpenAICompatible(model, base_url=fp.base_url, api_key="sk-test", capability=cap)


def test_a_failed_half_open_probe_is_one_upstream_request(fake_provider):
    clock = FakeClock()
    policy = (
        RoutingPolicy.cheapest()
        .retries(3, backoff_base_s=0.01, backoff_max_s=0.02)
        .circuit_breaker(failure_threshold=2, cooldown_s=10.0)
    )
    r = Router(
        [target(fake_provider, "a", 1.0), target(fake_provider, "b", 2.0)], policy, clock=clock
    )
    fake_provider.fail("a", Fault.overloaded(503))
    resp = r.chat("hi")
    assert resp.decision.target == "b"
    # the second failure opened the circuit: the remaining retries were refused by it
    assert fake_provider.count("a") == 2
    assert r.executor.breakers.state("a") == "open"
    kinds = [(a.target, a.error_kind) for a in resp.decision.attempts]
    assert ("a", ErrorKind.CIRCUIT_OPEN) in kinds

    clock.advance(10.5)  # half-open: the next call probes a once
    before = fake_provider.count("a")
    resp = r.chat("hi")
    assert resp.decision.target == "b"
    assert fake_provider.count("a") - before == 1
    assert r.executor.breakers.state("a") == "open"
    assert resp.decision.attempts[-2].error_kind is ErrorKind.CIRCUIT_OPEN
    assert r.feedback.inflight("a") == 0


def test_retries_still_happen_while_the_circuit_stays_closed(fake_provider):
    policy = RoutingPolicy.cheapest().retries(2, backoff_base_s=0.01, backoff_max_s=0.02)
    r = Router([target(fake_provider, "a", 1.0), target(fake_provider, "b", 2.0)], policy)
    fake_provider.script("a", [Fault.overloaded(503), Fault.overloaded(503)])
    assert r.chat("hi").decision.target == "a"
    assert fake_provider.count("a") == 3
