"""Rate limits and budgets as policy data: builders, files, and bad input named at build."""

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.testing import ScriptedTarget


def test_builders_round_trip_json_and_yaml():
    p = (
        RoutingPolicy.cheapest()
        .rate_limit("gpt-4o", rpm=600, tpm=30_000)
        .budget(50, "1d", per="team")
        .budget(500, "1w", name="monthly-ish")
        .when_rate_limited("wait")
    )
    assert p.rate_limits[0].rpm == 600 and p.rate_limits[0].window_s == 60
    assert [b.label for b in p.budgets] == ["per-team", "monthly-ish"]
    assert p.budgets[0].window_s == 86400 and p.budgets[1].window_s == 7 * 86400
    assert RoutingPolicy.from_json(p.to_json()) == p
    assert RoutingPolicy.from_yaml(p.to_yaml()) == p
    # the same name again replaces, never stacks
    assert len(p.rate_limit("gpt-4o", rpm=5).rate_limits) == 1
    assert p.rate_limit("gpt-4o", rpm=5).rate_limits[0].rpm == 5


def test_from_yaml_file_shape():
    p = RoutingPolicy.from_yaml(
        "policy:\n  strategy: cheapest\n  rate_limits:\n    - {target: gpt-4o, rpm: 60}\n"
        "  budgets:\n    - {usd: 5, window: 1h, per: user}\n"
    )
    assert p.rate_limits[0].target == "gpt-4o" and p.budgets[0].window_s == 3600


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda p: p.rate_limit("gpt-4o"), "rate_limits.0"),
        (lambda p: p.rate_limit("gpt-4o", rpm=0), "rate_limits.0.rpm"),
        (lambda p: p.rate_limit("gpt-4o", rpm=5, window="soon"), "rate_limits.0.window_s"),
        (lambda p: p.budget(0), "budgets.0.usd"),
        (lambda p: p.budget(float("inf")), "budgets.0.usd"),
        (lambda p: p.budget(5, "1y"), "budgets.0.window"),
        (lambda p: p.budget(5, downgrade_below=2), "budgets.0.downgrade_below"),
        (lambda p: p.when_rate_limited("queue"), "when_rate_limited"),
        (
            lambda p: RoutingPolicy.from_dict(
                {"rate_limits": [{"target": "a", "rpm": 1}, {"target": "a", "tpm": 5}]}
            ),
            "rate_limits[1]",
        ),
        (
            lambda p: RoutingPolicy.from_dict({"budgets": [{"usd": 1}, {"usd": 2}]}),
            "budgets[1]",
        ),
    ],
)
def test_bad_configuration_names_the_field(build, named):
    with pytest.raises(ConfigurationError) as err:
        build(RoutingPolicy.balanced())
    assert named in str(err.value)


def test_rate_limit_on_unknown_target_fails_at_build():
    policy = RoutingPolicy.cheapest().rate_limit("gpt-5-typo", rpm=10)
    with pytest.raises(ConfigurationError, match=r"rate_limits\[0\]\.target: 'gpt-5-typo'"):
        Router([ScriptedTarget("gpt-4o")], policy)


def test_no_limits_no_limiter():
    assert Router([ScriptedTarget("gpt-4o")], RoutingPolicy.cheapest()).limiter is None
