"""An API key from the environment never shows up in reprs, logs, errors or decisions."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from smartroute_llm import AllTargetsFailed, ProviderError, Router, RoutingPolicy, to_request
from smartroute_llm.providers import Anthropic, OpenAICompatible, for_model
from smartroute_llm.testing import FakeProvider, Fault

KEY = "sk-live-THIS-MUST-NEVER-LEAK-7f3a9c"


def _all_text(*objs: object) -> str:
    parts = []
    for o in objs:
        parts += [str(o), repr(o)]
        if isinstance(o, BaseException):
            parts.append("".join(traceback.format_exception(o)))
            parts.append(str(vars(o)))
    return "\n".join(parts)


async def test_key_never_leaks_through_router(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.base_url)
    caplog.set_level(logging.DEBUG)
    target = for_model("gpt-4o-mini")
    # no breaker: an authentication error would open the circuit and later calls would fail fast
    router = Router([target], RoutingPolicy.balanced().circuit_breaker(enabled=False))
    fake_provider.fail("gpt-4o-mini", Fault.authentication())
    with pytest.raises(AllTargetsFailed) as failed:
        await router.achat("hello")
    with pytest.raises(AllTargetsFailed) as failed_sync:
        router.chat("hello")
    fake_provider.clear_fault("gpt-4o-mini")
    ok = await router.achat("hello")
    chunks = [c async for c in router.astream("hello")]
    assert ok.text and chunks[-1].decision is not None
    assert fake_provider.count("gpt-4o-mini") >= 4
    leaked = _all_text(
        target, router, failed.value, failed_sync.value, failed.value.last_error,
        *[a.error for a in failed.value.attempts],
    )
    leaked += ok.model_dump_json() + (ok.decision.model_dump_json() if ok.decision else "")
    leaked += chunks[-1].model_dump_json() + str(target.__dict__.get("_api_key"))
    leaked += "".join(a.model_dump_json() for a in failed.value.attempts)
    leaked += caplog.text
    assert caplog.records, "DEBUG logging produced nothing: the test would prove nothing"
    assert KEY not in leaked
    assert target._key() == KEY
    await router.aclose()


def test_key_quoted_back_by_vendor_is_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        return httpx.Response(401, json={"error": {
            "message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error",
            "param": None, "code": "invalid_api_key"}})

    t = OpenAICompatible("gpt-4o", api_key=KEY,
                         client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(ProviderError) as info:
        t.complete(to_request("hi"))
    assert info.value.kind == "authentication"
    assert KEY not in _all_text(info.value) and "***" in str(info.value)


def test_anthropic_key_header_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}})

    t = Anthropic("claude-3-5-haiku", client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert t.complete(to_request("hi")).text == "hi"
    assert seen[0].headers["x-api-key"] == KEY
    assert KEY not in repr(t) and KEY not in str(t)
