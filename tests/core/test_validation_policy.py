"""Every number of a policy is finite and in range, checked when the policy is built (issue #12
item 14): an infinite backoff used to raise OverflowError from time.sleep, an infinite
Retry-After cap hung the call, a NaN hedge delay hedged every call at once."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from smartroute_llm import ConfigurationError, RoutingPolicy

BAD_NUMBERS = [math.inf, -math.inf, math.nan]


def _has_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_has_float(a) for a in typing.get_args(annotation))
    return False


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for a in (annotation, *typing.get_args(annotation)):
        if (
            isinstance(a, type)
            and issubclass(a, BaseModel)
            and a.__module__ == "smartroute_llm.policy"
        ):
            return a
    return None


def float_fields(model: type[BaseModel] = RoutingPolicy, prefix: tuple[str, ...] = ()
                 ) -> Iterator[tuple[str, ...]]:
    """Every float field of the policy and its sub-configs, as the path a policy file uses."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        if _has_float(field.annotation):
            yield (*prefix, key)
        sub = _submodel(field.annotation)
        if sub is not None:
            yield from float_fields(sub, (*prefix, key))


def nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data: Any = value
    for key in reversed(path):
        data = {key: data}
    return data


FLOAT_PATHS = list(float_fields())


def test_the_generic_walk_sees_every_sub_config() -> None:
    found = {".".join(p) for p in FLOAT_PATHS}
    for expected in ("deadline", "timeout", "retry.backoff_base_s", "retry.backoff_max_s",
                     "retry.retry_after_cap_s", "circuit.cooldown_s", "circuit.max_cooldown_s",
                     "race.hedge_after", "race.min_hedge_after_s", "adaptive.exploration",
                     "weights.willingness_to_pay", "max_cost_per_request"):
        assert expected in found


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("path", FLOAT_PATHS, ids=[".".join(p) for p in FLOAT_PATHS])
def test_every_float_field_rejects_non_finite_values(path: tuple[str, ...], value: float) -> None:
    with pytest.raises(ConfigurationError) as info:
        RoutingPolicy.from_dict(nested(path, value))
    assert ".".join(path) in str(info.value)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RoutingPolicy.balanced().retries(2, backoff_base_s=math.inf),
         "retry.backoff_base_s"),
        (lambda: RoutingPolicy.balanced().retries(2, backoff_max_s=math.inf),
         "retry.backoff_max_s"),
        (lambda: RoutingPolicy.balanced().retries(2, retry_after_cap_s=math.inf),
         "retry.retry_after_cap_s"),
        (lambda: RoutingPolicy.balanced().deadline(math.inf), "deadline"),
        (lambda: RoutingPolicy.balanced().deadline(math.nan), "deadline"),
        (lambda: RoutingPolicy.balanced().timeouts(ttft=math.nan), "ttft_timeout"),
        (lambda: RoutingPolicy.balanced().timeouts(timeout=math.inf), "timeout"),
        (lambda: RoutingPolicy.balanced().circuit_breaker(cooldown_s=math.inf),
         "circuit.cooldown_s"),
        (lambda: RoutingPolicy.balanced().race(hedge_after=math.nan), "race.hedge_after"),
        (lambda: RoutingPolicy.balanced().race(hedge_after=-0.5), "race.hedge_after"),
        (lambda: RoutingPolicy.balanced().race(hedge_after="p42"), "race.hedge_after"),
        (lambda: RoutingPolicy.balanced().adaptive_config(exploration=math.nan),
         "adaptive.exploration"),
        (lambda: RoutingPolicy.balanced().with_weights(willingness_to_pay=math.inf),
         "weights.willingness_to_pay"),
        (lambda: RoutingPolicy.balanced().cost_cap(math.inf), "max_cost_per_request"),
        (lambda: RoutingPolicy.weighted({"a": math.inf}), "model_weights.a"),
        (lambda: RoutingPolicy.from_json('{"retry": {"backoff_max_s": Infinity}}'),
         "retry.backoff_max_s"),
        (lambda: RoutingPolicy.from_json('{"race": {"hedge_after": NaN}}'), "race.hedge_after"),
        (lambda: RoutingPolicy.from_yaml("circuit: {cooldown_s: .inf}"), "circuit.cooldown_s"),
        (lambda: RoutingPolicy.from_yaml("deadline: .nan"), "deadline"),
    ],
)
def test_builders_and_files_raise_configuration_error_naming_the_field(
    build: Callable[[], RoutingPolicy], field: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        build()
    msg = str(info.value)
    assert f"{field}:" in msg, msg
    assert "pydantic" not in msg  # one readable line, not pydantic's report


def test_direct_construction_rejects_them_too() -> None:
    with pytest.raises(ValueError, match="deadline"):
        RoutingPolicy(deadline=math.inf)
    with pytest.raises(ValueError, match="hedge_after"):
        RoutingPolicy(race={"hedge_after": math.nan})


def test_good_values_still_build_and_round_trip() -> None:
    policy = (
        RoutingPolicy.balanced()
        .retries(3, backoff_base_s=0.1, backoff_max_s=2.0, retry_after_cap_s=10)
        .deadline(30)
        .circuit_breaker(cooldown_s=5.0)
        .race(hedge_after="p90")
        .timeouts(ttft=2.0)
    )
    assert RoutingPolicy.from_json(policy.to_json()) == policy
    assert RoutingPolicy.balanced().race(hedge_after=0).racing.hedge_after == 0.0  # type: ignore[union-attr]
    assert RoutingPolicy.balanced().race(hedge_after=1).racing.hedge_after == 1.0  # type: ignore[union-attr]
