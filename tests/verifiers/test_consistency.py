"""ConsistencyVerifier with a Check whose model calls are scripted functions."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from smartroute_llm import ChatRequest, ChatResponse
from smartroute_llm.request import Message
from smartroute_llm.verifiers import Check, ConsistencyVerifier

REQUEST = ChatRequest(messages=[Message(role="user", content="2+2?")], seed=7)


def scripted(answer: str, samples: list[str]) -> tuple[Check, list[tuple[ChatRequest, str | None]]]:
    seen: list[tuple[ChatRequest, str | None]] = []
    replies: Iterator[str] = iter(samples)

    def call(request: ChatRequest, model: str | None) -> ChatResponse:
        seen.append((request, model))
        return ChatResponse(text=next(replies))

    async def acall(request: ChatRequest, model: str | None) -> ChatResponse:
        return call(request, model)

    return Check(REQUEST, ChatResponse(text=answer), "cheap", call, acall), seen


def test_agreeing_samples_accept_and_are_counted() -> None:
    check, seen = scripted("#### 4", ["so 4", "The answer is 4."])
    verdict = ConsistencyVerifier("number", samples=2).verify(check)
    assert verdict.accepted and verdict.reason == "2 of 2 samples agree"
    assert verdict.confidence == pytest.approx(1.0)
    assert len(check.extra_responses) == 2
    assert all(model is None for _, model in seen)
    assert all(r.temperature == 0.7 and r.seed is None for r, _ in seen)


def test_disagreeing_sample_rejects() -> None:
    check, _ = scripted("#### 4", ["#### 4", "#### 5"])
    verdict = ConsistencyVerifier(samples=2).verify(check)
    assert not verdict.accepted and verdict.reason == "1 of 2 samples disagree"
    assert verdict.confidence == pytest.approx(2 / 3)


def test_majority_threshold() -> None:
    check, _ = scripted("Answer: B", ["(B)", "Answer: C", "The answer is B"])
    assert ConsistencyVerifier("choice", samples=3, agree=2).verify(check).accepted


def test_no_answer_rejects_without_sampling() -> None:
    check, seen = scripted("I am not sure", [])
    verdict = ConsistencyVerifier().verify(check)
    assert not verdict.accepted and "no number" in verdict.reason and seen == []


async def test_async_samples_concurrently_and_agree() -> None:
    check, seen = scripted("#### 4", ["#### 4", "#### 4", "#### 4"])
    verdict = await ConsistencyVerifier(samples=3, temperature=1.0).averify(check)
    assert verdict.accepted and len(seen) == 3 and len(check.extra_responses) == 3


def test_code_runner_compares_outputs() -> None:
    runs = itertools.count()

    def runner(code: str) -> str:
        next(runs)
        if "boom" in code:
            raise RuntimeError("crashed")
        return "4" if "2 + 2" in code or "2*2" in code else "5"

    check, _ = scripted("```python\nprint(2 + 2)\n```", ["```python\nprint(2*2)\n```"])
    assert ConsistencyVerifier("code", samples=1, runner=runner).verify(check).accepted
    check, _ = scripted("```python\nprint(2 + 2)\n```", ["```python\nboom()\n```"])
    assert not ConsistencyVerifier("code", samples=1, runner=runner).verify(check).accepted
    assert next(runs) == 4


async def test_code_runner_async() -> None:
    check, _ = scripted("```\nA\n```", ["```\nB\n```"])
    v = ConsistencyVerifier("code", samples=1, runner=lambda code: "same")
    assert (await v.averify(check)).accepted


def test_outside_a_cascade_says_it_cannot_call() -> None:
    check = Check(REQUEST, ChatResponse(text="#### 4"))
    with pytest.raises(RuntimeError, match="cannot call models"):
        ConsistencyVerifier().verify(check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"samples": 0}, "samples"), ({"temperature": 0}, "temperature"),
     ({"samples": 2, "agree": 3}, "agree"), ({"extract": "code"}, "runner")],
)
def test_bad_settings_named(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ConsistencyVerifier(**kwargs)  # type: ignore[arg-type]
