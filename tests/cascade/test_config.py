"""A cascade written as data: policy files name verifiers (built-in names, import paths,
``{name, **args}``), the policy round-trips, bad entries name the field and the fix."""

from __future__ import annotations

import pytest

import smartroute_llm.verifiers as verifiers_pkg
from smartroute_llm import ConfigurationError, RoutingPolicy
from smartroute_llm.cascade import CascadeConfig
from smartroute_llm.config import build_router
from smartroute_llm.verifiers import BaseVerifier, Check, Verdict
from tests.cascade.helpers import NoRefusal, says_42


def _config(verifiers, **cascade):
    return {
        "policy": {"strategy": "cascade", "cascade": {"verifiers": verifiers, **cascade}},
        "targets": [
            {"model": "gpt-4o-mini", "api_key_env": "NO_SUCH_KEY_FOR_TESTS"},
            {"model": "gpt-4o", "api_key_env": "NO_SUCH_KEY_FOR_TESTS"},
        ],
    }


def test_verifiers_by_import_path_and_with_arguments():
    r = build_router(
        _config(
            ["tests.cascade.helpers.says_42", {"name": "tests.cascade.helpers.NoRefusal"}],
            ladder=["gpt-4o-mini", "gpt-4o"],
            stream="first",
        )
    )
    assert r.cascade is not None
    assert [v.name for v in r.cascade.verifiers] == ["says_42", "no_refusal"]
    assert r.policy.cascading.ladder == ("gpt-4o-mini", "gpt-4o")
    assert r.policy.cascading.stream == "first"


class Threshold(BaseVerifier):
    name = "threshold"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def verify(self, check: Check) -> Verdict:
        return Verdict(len(check.response.text) >= self.minimum, "too short")


def test_built_in_names_resolve_through_the_package_registry(monkeypatch):
    monkeypatch.setattr(verifiers_pkg, "BUILTINS", {"threshold": Threshold}, raising=False)
    r = build_router(_config(["threshold", {"name": "threshold", "minimum": 5}]))
    assert [type(v).__name__ for v in r.cascade.verifiers] == ["Threshold", "Threshold"]
    assert r.cascade.verifiers[1].minimum == 5


@pytest.mark.parametrize(
    ("verifiers", "cascade", "message"),
    [
        (["nope"], {}, "cascade.verifiers[0]: unknown verifier 'nope'"),
        ([], {}, "cascade.verifiers: give at least one"),
        (["tests.cascade.no_such_module.f"], {}, "cascade.verifiers[0]: cannot import"),
        (["tests.cascade.helpers.PRICES"], {}, "is a dict, not a verifier"),
        (
            [{"name": "tests.cascade.helpers.NoRefusal", "strict": True}],
            {},
            "cannot build 'tests.cascade.helpers.NoRefusal'",
        ),
        (["tests.cascade.helpers.says_42"], {"ladder": "gpt-4o"}, "cascade.ladder: a list"),
        (["tests.cascade.helpers.says_42"], {"stream": "middle"}, "cascade.stream"),
    ],
)
def test_bad_entries_name_the_field(verifiers, cascade, message):
    with pytest.raises(ConfigurationError) as info:
        build_router(_config(verifiers, **cascade))
    assert message in str(info.value)


def test_strategy_and_cascade_settings_go_together():
    with pytest.raises(ConfigurationError, match="strategy: cascade needs its verifiers"):
        RoutingPolicy.from_dict({"strategy": "cascade"})
    with pytest.raises(ConfigurationError, match="use strategy: cascade or remove cascade"):
        RoutingPolicy.from_dict({"cascade": {"verifiers": ["tests.cascade.helpers.says_42"]}})


def test_a_policy_built_in_code_round_trips_with_verifiers_by_path():
    p = RoutingPolicy.cascade([says_42, NoRefusal()], ladder=["a", "b"]).deadline(5)
    data = p.to_dict()
    assert data["cascade"]["verifiers"] == [
        "tests.cascade.helpers.says_42", "tests.cascade.helpers.NoRefusal",
    ]
    back = RoutingPolicy.from_json(p.to_json())
    assert back.cascading.verifiers == tuple(data["cascade"]["verifiers"])
    assert back.deadline_s == 5 and back.cascading.ladder == ("a", "b")
    assert RoutingPolicy.from_yaml(p.to_yaml()).to_dict() == data


def test_the_builder_keeps_a_policy_s_settings():
    p = RoutingPolicy.balanced().deadline(3).budget(10).cascade([says_42], stream="first")
    assert p.deadline_s == 3 and len(p.budgets) == 1
    assert isinstance(p.cascading, CascadeConfig) and p.cascading.stream == "first"
