"""Token log-probabilities over the real loopback server, and LogprobVerifier on them."""

from __future__ import annotations

import math
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from smartroute_llm import ChatRequest, ChatResponse, Router
from smartroute_llm.errors import RequestValidationError
from smartroute_llm.providers.anthropic import Anthropic
from smartroute_llm.providers.openai import OpenAICompatible
from smartroute_llm.request import Message
from smartroute_llm.response import TokenLogprob
from smartroute_llm.testing import FakeProvider, Reply
from smartroute_llm.verifiers import Check, LogprobVerifier

MODEL = "gpt-4o-mini"
QUESTION = [{"role": "user", "content": "2+2?"}]


def openai_router(fp: FakeProvider) -> Router:
    return Router([OpenAICompatible(MODEL, base_url=fp.base_url, api_key="k")])


def capture(fp: FakeProvider, reply: Reply) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def responder(model: str, body: dict[str, Any]) -> Reply:
        bodies.append(body)
        return reply

    fp.configure(MODEL, responder=responder)
    return bodies


def test_logprobs_asked_and_parsed(fake_provider: FakeProvider) -> None:
    reply = Reply(text="The answer is 4", logprobs=[-0.01, -0.02, -0.1, -1.5])
    bodies = capture(fake_provider, reply)
    with openai_router(fake_provider) as router:
        resp = router.chat(QUESTION, logprobs=True, top_logprobs=2)
    assert bodies[0]["logprobs"] is True and bodies[0]["top_logprobs"] == 2
    assert resp.logprobs is not None
    assert [t.token for t in resp.logprobs] == ["The", " answer", " is", " 4"]
    assert [t.logprob for t in resp.logprobs] == [-0.01, -0.02, -0.1, -1.5]
    assert len(resp.logprobs[3].top_logprobs) == 2
    assert resp.logprobs[3].top_logprobs[0].token == " 4"
    # still readable by the OpenAI SDK's own types
    sdk = ChatCompletion.model_validate(resp.to_openai())
    assert sdk.choices[0].logprobs is not None
    assert sdk.choices[0].logprobs.content is not None
    assert sdk.choices[0].logprobs.content[3].logprob == -1.5


def test_not_asked_not_sent(fake_provider: FakeProvider) -> None:
    bodies = capture(fake_provider, Reply(text="4"))
    with openai_router(fake_provider) as router:
        resp = router.chat(QUESTION)
    assert "logprobs" not in bodies[0] and "top_logprobs" not in bodies[0]
    assert resp.logprobs is None
    assert resp.to_openai()["choices"][0]["logprobs"] is None


def test_top_logprobs_alone_asks_for_logprobs(fake_provider: FakeProvider) -> None:
    bodies = capture(fake_provider, Reply(text="4"))
    with openai_router(fake_provider) as router:
        resp = router.chat(ChatRequest(messages=[Message(role="user", content="q")],
                                       top_logprobs=1))
    assert bodies[0]["logprobs"] is True and resp.logprobs is not None


def test_out_of_range_top_logprobs_named() -> None:
    with pytest.raises(RequestValidationError, match="top_logprobs"):
        Router([OpenAICompatible(MODEL, base_url="http://127.0.0.1:9/v1", api_key="k")]).plan(
            messages=QUESTION, top_logprobs=50
        )


async def test_verifier_on_real_answers(fake_provider: FakeProvider) -> None:
    v = LogprobVerifier(0.8)
    request = v.prepare(ChatRequest(messages=[Message(role="user", content="2+2?")]))
    assert request.logprobs is True and v.prepare(request) is request
    with openai_router(fake_provider) as router:
        fake_provider.script(MODEL, [Reply(text="four", logprobs=[-0.01]),
                                       Reply(text="maybe five", logprobs=[-0.05, -2.0])])
        sure = await router.achat(request)
        unsure = await router.achat(request)
    high = await v.averify(Check(request, sure))
    assert high.accepted and high.confidence == pytest.approx(math.exp(-0.01))
    assert high.reason == "mean token probability 0.99 >= 0.80"
    low = v.verify(Check(request, unsure))
    expected = (math.exp(-0.05) + math.exp(-2.0)) / 2
    assert not low.accepted and low.confidence == pytest.approx(expected)


def test_provider_without_logprobs(fake_provider: FakeProvider) -> None:
    url = fake_provider.anthropic_base_url
    target = Anthropic("claude-3-5-haiku-latest", base_url=url, api_key="k")
    with Router([target]) as router:
        resp = router.chat(QUESTION, logprobs=True)
    assert resp.text and resp.logprobs is None
    request = ChatRequest(messages=[Message(role="user", content="q")], logprobs=True)
    absent = LogprobVerifier().verify(Check(request, resp))
    assert absent.accepted and absent.reason == "no log-probabilities from the provider"
    assert absent.confidence is None
    strict = LogprobVerifier(when_absent="reject").verify(Check(request, resp))
    assert not strict.accepted


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("mean", (0.9 + 0.5) / 2), ("geomean", math.sqrt(0.9 * 0.5)), ("min", 0.5)],
)
def test_statistics(statistic: str, expected: float) -> None:
    tokens = [TokenLogprob(token="a", logprob=math.log(0.9)),
              TokenLogprob(token="b", logprob=math.log(0.5))]
    check = Check(ChatRequest(messages=[Message(role="user", content="q")]),
                  ChatResponse(text="ab", logprobs=tokens))
    verdict = LogprobVerifier(0.6, statistic=statistic).verify(check)  # type: ignore[arg-type]
    assert verdict.confidence == pytest.approx(expected)
    assert verdict.accepted == (expected >= 0.6)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"threshold": 1.5}, "threshold"), ({"statistic": "median"}, "statistic"),
     ({"when_absent": "maybe"}, "when_absent")],
)
def test_bad_settings_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LogprobVerifier(**kwargs)
