"""JudgeVerifier and ConsistencyVerifier with model calls made by a real router over the
loopback server, sync and async; grade parsing."""

from __future__ import annotations

from typing import Any

import pytest

from smartroute_llm import ChatRequest, ChatResponse, Router
from smartroute_llm.providers.openai import OpenAICompatible
from smartroute_llm.request import Message, ToolCall
from smartroute_llm.testing import FakeProvider
from smartroute_llm.verifiers import (
    JUDGE_PROMPTS,
    Check,
    ConsistencyVerifier,
    JudgeVerifier,
    parse_grade,
)

CHEAP, JUDGE = "gpt-4o-mini", "gpt-4.1-mini"
QUESTION = ChatRequest(messages=[Message(role="user", content="What is 2+2?")])


def router(fp: FakeProvider) -> Router:
    return Router([
        OpenAICompatible(CHEAP, name="cheap", base_url=fp.base_url, api_key="k"),
        OpenAICompatible(JUDGE, name="judge", base_url=fp.base_url, api_key="k"),
    ])


def routed_check(r: Router, response: ChatResponse) -> Check:
    """A check whose extra calls go through the router, pinned as a cascade would pin them."""

    def call(request: ChatRequest, model: str | None) -> ChatResponse:
        return r.chat(request.model_copy(update={"model": model or "cheap"}))

    async def acall(request: ChatRequest, model: str | None) -> ChatResponse:
        return await r.achat(request.model_copy(update={"model": model or "cheap"}))

    return Check(QUESTION, response, "cheap", call, acall)


def grader(seen: list[dict[str, Any]]) -> Any:
    def respond(model: str, body: dict[str, Any]) -> str:
        seen.append(body)
        graded = body["messages"][-1]["content"]
        return "Checked: 2+2 is 4.\n**GRADE: PASS**" if "#### 4" in graded else "GRADE: FAIL"
    return respond


def test_judge_passes_and_fails_sync(fake_provider: FakeProvider) -> None:
    seen: list[dict[str, Any]] = []
    fake_provider.configure(JUDGE, responder=grader(seen))
    v = JudgeVerifier("judge")
    with router(fake_provider) as r:
        good = routed_check(r, ChatResponse(text="2+2 = 4\n#### 4"))
        verdict = v.verify(good)
        bad = v.verify(routed_check(r, ChatResponse(text="#### 5")))
    assert verdict.accepted and verdict.reason == "judge judge: PASS"
    assert verdict.verifier == "judge"
    assert not bad.accepted
    assert len(good.extra_responses) == 1 and good.extra_responses[0].model_used == JUDGE
    body = seen[0]
    assert body["model"] == JUDGE and body["temperature"] == 0
    assert body["messages"][0] == {"role": "system", "content": JUDGE_PROMPTS["pass_fail"]}
    assert "## Request\n[user] What is 2+2?" in body["messages"][1]["content"]
    assert "## Answer to grade\n2+2 = 4\n#### 4" in body["messages"][1]["content"]
    assert fake_provider.count(CHEAP) == 0


async def test_judge_score_scale_async(fake_provider: FakeProvider) -> None:
    fake_provider.script(JUDGE, ["Mostly right. SCORE: 8", "Wrong sum.\nSCORE: 3/10", "hmm"])
    v = JudgeVerifier("judge", scale="score", threshold=7)
    with router(fake_provider) as r:
        high = await v.averify(routed_check(r, ChatResponse(text="4")))
        low = await v.averify(routed_check(r, ChatResponse(text="5")))
        none = await v.averify(routed_check(r, ChatResponse(text="?")))
    assert high.accepted and high.confidence == pytest.approx(0.8)
    assert high.reason == "judge judge: score 8 >= 7"
    assert not low.accepted and low.confidence == pytest.approx(0.3)
    assert not none.accepted and none.reason == "judge judge gave no grade"


def test_judge_sees_tool_calls() -> None:
    v = JudgeVerifier("j")
    answer = ChatResponse(tool_calls=[ToolCall(id="1", name="add", arguments={"a": 2, "b": 2})])
    sent = v.judge_request(QUESTION, answer)
    assert sent.messages[1].text.endswith('add({"a": 2, "b": 2})')


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("GRADE: PASS", (True, None)),
        ("reasoning...\ngrade: fail", (False, None)),
        ("GRADE: FAIL at first, then on reflection GRADE: PASS", (True, None)),
        ("**Grade:** **PASS**", (True, None)),
        ("**Score**: 7", (None, 7.0)),
        ("Grade = `PASS`", (True, None)),
        ("Score: 9", (None, 9.0)),
        ("I'd give it 6/10.", (None, 6.0)),
        ("Final verdict:\nPASS", (True, None)),
        ("fail.", (False, None)),
        ("SCORE: 42", (None, None)),
        ("No idea.", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_grade(reply: str, expected: tuple[bool | None, float | None]) -> None:
    assert parse_grade(reply) == expected


def test_unparsed_can_accept() -> None:
    assert JudgeVerifier("j", on_unparsed="accept").grade("no grade").accepted


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"model": ""}, "model"), ({"model": "j", "scale": "stars"}, "scale"),
     ({"model": "j", "threshold": 11}, "threshold"),
     ({"model": "j", "on_unparsed": "skip"}, "on_unparsed")],
)
def test_bad_settings_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        JudgeVerifier(**kwargs)


# --- consistency samples from the cheap candidate over HTTP --------------------------------


def sampler(answers: list[str]) -> Any:
    def respond(model: str, body: dict[str, Any]) -> str:
        assert body["temperature"] == 0.9
        return answers.pop(0)
    return respond


def test_consistency_samples_the_rung_sync(fake_provider: FakeProvider) -> None:
    fake_provider.configure(CHEAP, responder=sampler(["#### 4", "so 4"]))
    v = ConsistencyVerifier(samples=2, temperature=0.9)
    with router(fake_provider) as r:
        check = routed_check(r, ChatResponse(text="2 + 2 = 4\n#### 4"))
        verdict = v.verify(check)
    assert verdict.accepted and fake_provider.count(CHEAP) == 2
    assert [x.model_used for x in check.extra_responses] == [CHEAP, CHEAP]
    assert fake_provider.count(JUDGE) == 0


async def test_consistency_disagreement_async(fake_provider: FakeProvider) -> None:
    fake_provider.configure(CHEAP, responder=sampler(["#### 4", "#### 5", "#### 4"]))
    v = ConsistencyVerifier(samples=3, temperature=0.9)
    with router(fake_provider) as r:
        verdict = await v.averify(routed_check(r, ChatResponse(text="#### 4")))
    assert not verdict.accepted and verdict.reason == "1 of 3 samples disagree"
    assert fake_provider.count(CHEAP) == 3
