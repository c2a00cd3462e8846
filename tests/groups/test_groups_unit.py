"""Deployment groups without the network: how a group is formed, ordered, explained and
configured, with scripted targets."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from smartroute_llm import ConfigurationError, ProviderCapability, Router, RoutingPolicy
from smartroute_llm.config import build_router
from smartroute_llm.errors import ErrorKind, RequestValidationError
from smartroute_llm.testing import ScriptedTarget

CAP = ProviderCapability(input_cost_per_1m=2.5, output_cost_per_1m=10, quality_tier="high")
WORSE = ProviderCapability(input_cost_per_1m=2.5, output_cost_per_1m=10, quality_tier="low")


def trio(**scripts: object) -> list[ScriptedTarget]:
    return [
        ScriptedTarget("gpt-4o", CAP, name=n, script=scripts.get(n))  # type: ignore[arg-type]
        for n in ("east", "west", "north")
    ]


def test_same_model_forms_one_plan_entry_with_its_members():
    router = Router([*trio(), ScriptedTarget("small", WORSE)])
    plan = router.plan("hello")
    assert [c.name for c in plan.candidates][3:] == ["small"]
    text = plan.explain()
    assert "  1. east" in text and "  2. small" in text  # one numbered entry per group
    assert "group gpt-4o: least in-flight; east (0 in flight), west (0 in flight)" in text
    assert router.groups.describe() == {"gpt-4o": ["east", "west", "north"]}


def test_decision_names_group_and_chosen_member():
    router = Router(trio())
    seen = Counter()
    for i in range(6):
        d = router.chat(f"q{i}").decision
        g = d.explanation["groups"]["gpt-4o"]
        assert g["chosen"] == d.target and g["spread"] == "least_loaded"
        assert sorted(g["members"]) == ["east", "north", "west"]
        json.dumps(d.to_json_dict())  # still JSON
        seen[d.target] += 1
    assert seen == {"east": 2, "west": 2, "north": 2}


def test_fallback_stays_in_the_group_before_the_next_group():
    down = ErrorKind.OVERLOADED
    router = Router(
        [*trio(east=down, west=down), ScriptedTarget("small", WORSE)],
        RoutingPolicy.balanced().retries(0).circuit_breaker(enabled=False),
    )
    for i in range(3):
        d = router.chat(f"q{i}").decision
        assert d.target == "north"
        assert all(a.target != "small" for a in d.attempts)


def test_open_circuit_member_is_skipped_and_shown():
    router = Router(
        trio(east=ErrorKind.OVERLOADED),
        RoutingPolicy.balanced().retries(0).circuit_breaker(failure_threshold=1, cooldown_s=600),
    )
    router.chat("first")  # east fails once (its circuit opens), the call falls back in-group
    answered = Counter(router.chat(f"q{i}").decision.target for i in range(10))
    assert answered["east"] == 0 and answered["west"] == answered["north"] == 5
    plan = router.plan("next")
    pick = plan.groups[plan.first.name]
    assert pick.skipped == ["east"] and "skipped east" in plan.explain()


def test_learned_latency_breaks_ties_between_idle_members():
    router = Router(trio())
    for _ in range(6):
        router.record_routing_decision("east", 2.0)
        router.record_routing_decision("west", 0.4)
        router.record_routing_decision("north", 0.45)  # within one step of west: a tie
    answered = Counter(router.chat(f"q{i}").decision.target for i in range(10))
    assert answered == {"west": 5, "north": 5}


def test_one_slow_first_answer_does_not_mark_a_member_slow():
    router = Router(trio())
    router.record_routing_decision("east", 3.0)  # a cold connection, say
    answered = Counter(router.chat(f"q{i}").decision.target for i in range(9))
    assert answered == {"east": 3, "west": 3, "north": 3}


def test_weighted_spread_gives_exact_proportions_and_zero_weight_is_fallback():
    policy = RoutingPolicy.balanced().spread("weighted", weights={"east": 3, "north": 0})
    router = Router(trio(), policy)
    answered = Counter(router.chat(f"q{i}").decision.target for i in range(40))
    assert answered == {"east": 30, "west": 10}
    plan = router.plan("x")
    assert [c.name for c in plan.candidates][-1] == "north"


def test_session_affinity_is_stable_across_routers():
    """Rendezvous hashing: the same session lands on the same member in every process."""
    a, b = Router(trio()), Router(trio())
    for s in range(20):
        assert a.plan("x", session=f"s{s}").first.name == b.plan("x", session=f"s{s}").first.name


def test_affinity_off_ignores_sessions():
    router = Router(trio(), RoutingPolicy.balanced().spread(affinity=False))
    answered = Counter(router.chat(f"q{i}", session="one").decision.target for i in range(6))
    assert len(answered) == 3


def test_bad_session_is_refused_naming_the_field():
    router = Router(trio())
    with pytest.raises(RequestValidationError, match="session"):
        router.plan("x", session=["not", "a", "key"])


def test_declared_equivalents_group_different_model_ids():
    targets = [
        ScriptedTarget("gpt-4o", CAP, name="openai"),
        ScriptedTarget("my-azure-deployment", CAP, name="azure"),
    ]
    policy = RoutingPolicy.balanced().equivalent(["azure", "gpt-4o"], name="gpt-4o")
    router = Router(targets, policy)
    assert router.groups.describe() == {"gpt-4o": ["openai", "azure"]}
    assert Counter(router.chat(f"q{i}").decision.target for i in range(4)) == {
        "openai": 2,
        "azure": 2,
    }
    assert RoutingPolicy.from_json(policy.to_json()) == policy


def test_declared_names_must_match_a_target():
    with pytest.raises(ConfigurationError, match=r"equivalent: \['nope'\] match no target"):
        Router(trio(), RoutingPolicy.balanced().equivalent(["east", "nope"]))


def test_a_target_belongs_to_one_group():
    with pytest.raises(ConfigurationError, match="'east' is in both"):
        RoutingPolicy.balanced().equivalent(["east", "west"], name="a").equivalent(
            ["east"], name="b"
        )
    with pytest.raises(ConfigurationError, match="matches groups"):
        Router(
            trio(),
            RoutingPolicy.balanced().equivalent(["east"], name="a").equivalent(
                ["gpt-4o"], name="b"
            ),
        )


def test_bad_spread_settings_are_refused():
    with pytest.raises(ConfigurationError, match="weights"):
        RoutingPolicy.balanced().spread("weighted", weights={"east": -1})
    with pytest.raises(ConfigurationError, match="spread"):
        RoutingPolicy.balanced().spread("random")  # type: ignore[arg-type]


def test_config_file_group_field(tmp_path, monkeypatch):
    monkeypatch.setenv("EU_KEY", "sk-test")
    monkeypatch.setenv("US_KEY", "sk-test")
    cfg = {
        "targets": [
            {"model": "gpt-4o", "name": "eu", "base_url": "http://127.0.0.1:9/v1",
             "api_key_env": "EU_KEY", "group": "gpt4"},
            {"model": "gpt-4o-deploy", "name": "us", "base_url": "http://127.0.0.1:9/v1",
             "api_key_env": "US_KEY", "group": "gpt4",
             "capability": {"quality_tier": "high"}},
        ],
    }
    router = build_router(cfg)
    assert router.groups.describe() == {"gpt4": ["eu", "us"]}
    cfg["targets"][0]["group"] = ""
    with pytest.raises(ConfigurationError, match=r"targets\[0\]\.group"):
        build_router(cfg)


def test_single_target_models_are_not_grouped():
    router = Router([ScriptedTarget("a", CAP), ScriptedTarget("b", CAP)])
    assert not router.groups.active
    assert router.plan("x").groups == {}


def test_same_model_id_with_different_capabilities_is_not_grouped():
    """Wrapped framework models often report one generic model name: a target given its own
    capability was declared different, so it keeps its own rank unless declared equivalent."""
    targets = [ScriptedTarget("mock", CAP, name="strong"), ScriptedTarget("mock", WORSE, name="x")]
    assert not Router(targets).groups.active
    grouped = Router(targets, RoutingPolicy.balanced().equivalent(["strong", "x"]))
    assert grouped.groups.describe() == {"strong": ["strong", "x"]}


def _groups_with_load(load: dict[str, int]):
    from smartroute_llm.groups import DeploymentGroups, GroupConfig

    router = Router(trio())
    cands = router.plan("x").candidates
    groups = DeploymentGroups(router.profiles, GroupConfig(), load.__getitem__, router.clock)
    return groups, cands


def test_clearly_busier_member_gets_no_new_calls():
    groups, cands = _groups_with_load({"east": 30, "west": 10, "north": 10})
    firsts = Counter(groups.arrange(list(cands), None)[0][0].name for _ in range(30))
    assert firsts == {"west": 15, "north": 15}


def test_members_within_the_tolerance_share_equally():
    """21/20/22 in flight (noise at concurrency 64): fewest picks decides, not a count of 1."""
    groups, cands = _groups_with_load({"east": 21, "west": 20, "north": 22})
    firsts = Counter(groups.arrange(list(cands), None)[0][0].name for _ in range(30))
    assert firsts == {"east": 10, "west": 10, "north": 10}
