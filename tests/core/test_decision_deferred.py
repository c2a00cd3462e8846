"""A routed call's decision builds its candidate and exclusion summaries when something first
reads them. Every way of reading a decision must see exactly what an eagerly built one shows:
attributes, dumps (alone and inside the answer), ``==``, repr, iteration, copies, pickling."""

import copy
import json
import pickle
from functools import partial

import pytest
from pydantic import BaseModel

from smartroute_llm import ErrorKind, Router, RoutingPolicy
from smartroute_llm import plan as plan_module
from smartroute_llm.decision import RoutingDecision, made
from smartroute_llm.response import ChatResponse, Usage
from smartroute_llm.testing import ScriptedTarget


class Holder(BaseModel):
    """A user's own model holding a decision."""

    d: RoutingDecision


READS = {
    "attribute": lambda d: (d.candidates, d.excluded),
    "model_dump": lambda d: d.model_dump(),
    "model_dump_json": lambda d: json.loads(d.model_dump_json()),
    "to_json_dict": lambda d: d.to_json_dict(),
    "repr": repr,
    "str": str,
    "iter": lambda d: dict(d),
    "copy": lambda d: copy.copy(d).model_dump(),
    "deepcopy": lambda d: copy.deepcopy(d).model_dump(),
    "model_copy": lambda d: d.model_copy().model_dump(),
    "model_copy_update": lambda d: d.model_copy(update={"reason": "x"}).model_dump(),
    "pickle": lambda d: pickle.loads(pickle.dumps(d)).model_dump(),
    "fields_set": lambda d: d.model_fields_set,
    "vars": lambda d: list(vars(d)),
    "nested_in_a_model": lambda d: Holder(d=d).model_dump(),
    "nested_json": lambda d: json.loads(Holder(d=d).model_dump_json()),
    "setattr_then_dump": lambda d: (setattr(d, "reason", "y"), d.model_dump())[1],
}


def _fields(d: RoutingDecision) -> dict:
    """What the decision holds so far, read past the __dict__ that builds the summaries."""
    return vars(BaseModel)["__dict__"].__get__(d)


def _router() -> Router:
    targets = [
        ScriptedTarget("claude-3-haiku", script=[ErrorKind.OVERLOADED]),
        ScriptedTarget("gpt-4o", script="Paris."),
        ScriptedTarget("gpt-4o-mini", script="Paris."),
    ]
    # one target denied: both summaries have something in them
    policy = RoutingPolicy.cheapest().retries(0).deny(["gpt-4o-mini"])
    return Router(targets, policy)


async def _routed() -> tuple[ChatResponse, RoutingDecision]:
    resp = await _router().achat("What is the capital of France?")
    d = resp.decision
    assert d is not None and d.target == "gpt-4o"
    return resp, d


def _twins() -> tuple[RoutingDecision, RoutingDecision]:
    """One decision deferred as routed calls build it, and its twin built at once as before."""
    router = _router()
    plan = router.plan("What is the capital of France?")
    assert plan.candidates and plan.excluded
    values = {
        "decision_id": "d1", "created_at": 1.5, "target": "gpt-4o", "model": "gpt-4o",
        "provider": "openai", "strategy": plan.strategy, "reason": "r", "complexity": 0.1,
        "complexity_class": "simple", "prompt_tokens_estimate": 9, "attempts": [],
        "latency_s": 0.2, "ttft_s": None, "usage": Usage(output_tokens=3), "cost_usd": 0.01,
        "quality": None, "explanation": {"k": "v"}, "cascade": None,
    }
    cands, excl = plan.candidates[:10], plan.excluded[:10]
    lazy = RoutingDecision.deferred(
        dict(values), partial(plan_module.summarize, plan_module.summary_rows(cands), excl)
    )
    scored, excluded = plan.summary(top=10)
    full = {**values, "candidates": scored, "excluded": excluded}
    eager = made(RoutingDecision, {name: full[name] for name in RoutingDecision.model_fields})
    return lazy, eager


async def test_summaries_are_built_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = plan_module.summarize

    def counting(*a):  # type: ignore[no-untyped-def]
        built.append(1)
        return real(*a)

    monkeypatch.setattr("smartroute_llm.execution.call.summarize", counting)
    _, d = await _routed()
    assert built == [] and "candidates" not in _fields(d)
    assert d.target == "gpt-4o" and d.attempts[0].error_kind is ErrorKind.OVERLOADED
    assert built == []  # other fields do not build them
    assert [c.target for c in d.candidates] == ["claude-3-haiku", "gpt-4o"]
    assert [e.target for e in d.excluded] == ["gpt-4o-mini"]
    assert built == [1]
    d.model_dump()
    assert built == [1]  # once
    assert list(d.__dict__) == list(RoutingDecision.model_fields)


@pytest.mark.parametrize("how", sorted(READS))
def test_every_read_sees_what_an_eager_decision_shows(how: str) -> None:
    lazy, eager = _twins()
    assert "candidates" not in _fields(lazy)
    assert READS[how](lazy) == READS[how](eager)
    assert lazy == eager and eager == lazy
    assert lazy.model_dump() == eager.model_dump() and repr(lazy) == repr(eager)


async def test_equality_and_dumps_inside_the_answer() -> None:
    resp, _ = await _routed()
    dumped = resp.model_dump(mode="json")
    assert dumped["decision"]["candidates"][0]["target"] == "claude-3-haiku"
    assert dumped["decision"]["excluded"][0]["reason"]
    assert "cascade" not in dumped["decision"]  # left out when None, as before
    again = ChatResponse.model_validate(dumped)
    assert again.model_dump() == resp.model_dump()  # (== differs: attempts keep their errors)


async def test_assigning_a_summary_before_reading_keeps_the_assignment() -> None:
    _, d = await _routed()
    d.candidates = []
    assert d.candidates == [] and [e.target for e in d.excluded] == ["gpt-4o-mini"]
    assert d.model_dump()["candidates"] == []
    assert list(d.__dict__) == list(RoutingDecision.model_fields)


async def test_decisions_of_other_paths_are_built_at_once() -> None:
    """Cascades, streams and validated decisions keep their summaries in __dict__."""
    d = RoutingDecision(target="t", model="m", strategy="s")
    assert "candidates" in d.__dict__ and d.__pydantic_private__ is None
    chunks = [c async for c in _router().astream("What is the capital of France?")]
    final = chunks[-1].decision
    assert final is not None and final.target == "gpt-4o"
    assert [c.target for c in final.candidates] == ["claude-3-haiku", "gpt-4o"]


async def test_a_kept_decision_does_not_keep_its_targets_alive() -> None:
    """The pending summaries hold names and numbers, not the candidates (whose targets hold
    connections): dropping the router frees its targets even while decisions are kept."""
    import gc
    import weakref

    router = Router(
        [ScriptedTarget("gpt-4o-mini", script="Paris."), ScriptedTarget("gpt-4o", script="P.")],
        RoutingPolicy.cheapest(),
    )
    refs = [weakref.ref(p.target) for p in router.profiles]
    d = (await router.achat("What is the capital of France?")).decision
    assert d is not None and "candidates" not in _fields(d)
    del router
    gc.collect()
    assert [r() for r in refs] == [None, None]
    assert [c.target for c in d.candidates] == ["gpt-4o-mini", "gpt-4o"]
