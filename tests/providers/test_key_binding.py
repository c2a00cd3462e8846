"""Keys bound to their host, secrets out of reprs and error chains, bad target settings
refused at build, the caller's bad input kept off the providers (issue #12 items 6, 11, 14, 15).
"""

from __future__ import annotations

import asyncio
import gc
import math
import pickle
from typing import Any

import httpx
import pytest

from smartroute_llm import ErrorKind, ProviderError, Router, RoutingPolicy
from smartroute_llm.config import build_router, build_targets
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.providers import Anthropic, Gemini, OpenAICompatible
from smartroute_llm.request import ChatRequest, Message, to_request
from smartroute_llm.testing import FakeProvider, Fault

KEY = "sk-bound-5e1f0a9c2d7b4e6f8a1c3e5b"
FOREIGN = "https://llm-proxy.example.net/v1"


def capture(seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    return httpx.Client(transport=httpx.MockTransport(handler))


# --- item 11: a vendor's key only goes to the vendor ------------------------------------------


@pytest.mark.parametrize(
    ("build", "var"),
    [
        (lambda: OpenAICompatible("gpt-4o", base_url=FOREIGN), "OPENAI_API_KEY"),
        (lambda: OpenAICompatible("x", preset="groq", base_url=FOREIGN), "GROQ_API_KEY"),
        (lambda: Anthropic("claude-3-5-haiku-latest", base_url=FOREIGN), "ANTHROPIC_API_KEY"),
        (lambda: Gemini("gemini-2.0-flash", base_url=FOREIGN), "GEMINI_API_KEY"),
    ],
)
def test_default_key_variable_never_goes_to_a_custom_host(
    monkeypatch: pytest.MonkeyPatch, build: Any, var: str
) -> None:
    monkeypatch.setenv(var, KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError) as info:
        build()
    assert var in str(info.value) and "api_key" in str(info.value) and KEY not in str(info.value)


def test_config_entry_with_custom_base_url_needs_its_own_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    entry = {"model": "gpt-4o", "provider": "openai", "base_url": FOREIGN}
    with pytest.raises(ConfigurationError, match=r"targets\[0\].*OPENAI_API_KEY"):
        build_router({"targets": [entry]})
    monkeypatch.setenv("PROXY_KEY", "proxy-secret")
    (target,) = build_targets([{**entry, "api_key_env": "PROXY_KEY"}])
    assert target._key() == "proxy-secret"  # type: ignore[attr-defined]


def test_another_vendors_key_variable_is_refused_for_a_foreign_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        OpenAICompatible("m", base_url=FOREIGN, api_key_env="ANTHROPIC_API_KEY")
    with pytest.raises(ConfigurationError, match=r"targets\[0\].*ANTHROPIC_API_KEY"):
        build_targets([{"model": "m", "provider": "openai", "base_url": FOREIGN,
                        "api_key_env": "ANTHROPIC_API_KEY"}])
    # passing the value itself is the explicit opt-in
    seen: list[httpx.Request] = []
    t = OpenAICompatible("m", base_url=FOREIGN, api_key=KEY, client=capture(seen))
    t.complete(to_request("hi"))
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_default_host_still_reads_the_default_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    seen: list[httpx.Request] = []
    OpenAICompatible("gpt-4o", client=capture(seen)).complete(to_request("hi"))
    OpenAICompatible("gpt-4o", base_url="https://api.openai.com/v1/",
                     client=capture(seen)).complete(to_request("hi"))
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {KEY}"] * 2
    assert seen[0].url.host == "api.openai.com"


def test_local_servers_without_keys_still_work(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    local = OpenAICompatible("m", base_url=fake_provider.base_url, key_required=False)
    assert local.complete(to_request("hi")).text == "[m] hi"
    assert local.api_key_env is None and local._key() is None
    remote_ollama = OpenAICompatible("llama3", preset="ollama", base_url="http://gpu-box:11434/v1")
    assert remote_ollama._key() is None


# --- item 15: the key is not in reprs, pickles or exception chains -------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def test_headers_never_show_the_key(fake_provider: FakeProvider) -> None:
    t = OpenAICompatible("m", base_url=fake_provider.base_url, api_key=KEY)
    t.complete(to_request("hi"))
    assert t._headers is not None and t._headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(vars(t)) and KEY not in str(t._headers)
    assert KEY.encode() not in pickle.dumps(t._headers)
    t.close()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("mode", ["complete", "acomplete", "stream", "astream"])
def test_error_chains_hold_no_request_headers(
    fake_provider: FakeProvider, transport: str, mode: str
) -> None:
    fake_provider.fail("*", Fault.connection_reset())
    t = OpenAICompatible("m", base_url=fake_provider.base_url, api_key=KEY,
                         transport=transport)  # type: ignore[arg-type]

    async def run() -> None:
        try:
            if mode == "acomplete":
                await t.acomplete(to_request("hi"))
            else:
                [c async for c in t.astream(to_request("hi"))]
        finally:
            await t.aclose()

    with pytest.raises(ProviderError) as info:
        if mode == "complete":
            t.complete(to_request("hi"))
        elif mode == "stream":
            list(t.stream(to_request("hi")))
        else:
            asyncio.run(run())
    chain = _chain(info.value)
    assert info.value.kind == ErrorKind.CONNECTION
    assert all(isinstance(e, ProviderError) for e in chain), chain
    assert all(KEY not in repr(vars(e)) for e in chain)
    t.close()


async def test_dropped_router_closes_its_sessions(fake_provider: FakeProvider) -> None:
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: reported.append(str(ctx.get("message"))))
    try:
        for _ in range(3):
            t = OpenAICompatible("m", base_url=fake_provider.base_url, api_key="k")
            router = Router([t], RoutingPolicy.balanced())
            assert (await router.achat("hi")).text == "[m] hi"
            assert [c async for c in router.astream("hi")]
            del t, router
            gc.collect()
            await asyncio.sleep(0.05)
        gc.collect()
        await asyncio.sleep(0.2)
    finally:
        loop.set_exception_handler(previous)
    assert not [m for m in reported if "Unclosed" in m], reported


# --- item 14: bad target settings are refused at build, naming the field -------------------


@pytest.mark.parametrize("bad", [-3, 0, "soon", math.nan, math.inf, True,
                                 httpx.Timeout(5.0, read=math.nan)])
def test_bad_timeouts_are_refused_at_build(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        OpenAICompatible("m", base_url="http://127.0.0.1:9/v1", key_required=False, timeout=bad)
    if not isinstance(bad, httpx.Timeout):
        with pytest.raises(ConfigurationError, match=r"targets\[0\].*timeout"):
            build_targets([{"model": "m", "provider": "vllm", "timeout": bad}])


@pytest.mark.parametrize("cls", [OpenAICompatible, Anthropic, Gemini])
def test_a_base_url_that_is_not_a_string_is_a_configuration_error(cls: Any) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        cls("m", base_url=5, api_key="k")
    with pytest.raises(ConfigurationError, match=r"targets\[0\]\.base_url"):
        build_targets([{"model": "m", "provider": "openai", "base_url": 5}])


def test_max_response_bytes_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        OpenAICompatible("m", api_key="k", max_response_bytes=-1)
    (t,) = build_targets([{"model": "m", "provider": "vllm", "max_response_bytes": 1 << 20}])
    assert t.max_response_bytes == 1 << 20  # type: ignore[attr-defined]


# --- item 6: a body that cannot be built is the caller's error, not the provider's ---------


def _message(**fields: Any) -> Message:
    # built without validation: request.py may refuse these at the edge; the target must
    # still not blame the provider for them
    return Message.model_construct(**{"name": None, "tool_calls": [], "tool_call_id": None,
                                      **fields})


BAD_REQUESTS = {
    "lone-surrogate": [_message(role="user", content="bad \ud800 surrogate")],
    "tool-without-id": [_message(role="user", content="hi"),
                        _message(role="tool", content="42")],
}


@pytest.mark.parametrize("bad", sorted(BAD_REQUESTS))
@pytest.mark.parametrize("cls", [OpenAICompatible, Anthropic, Gemini])
@pytest.mark.parametrize("mode", ["complete", "acomplete", "stream", "astream"])
def test_unbuildable_body_is_invalid_request(
    fake_provider: FakeProvider, cls: Any, mode: str, bad: str
) -> None:
    base = {OpenAICompatible: fake_provider.base_url, Anthropic: fake_provider.anthropic_base_url,
            Gemini: fake_provider.gemini_base_url}[cls]
    t = cls("m", base_url=base, api_key="k")
    req = ChatRequest.model_construct(messages=BAD_REQUESTS[bad])

    async def run() -> Any:
        if mode == "acomplete":
            return await t.acomplete(req)
        return [c async for c in t.astream(req)]

    before = fake_provider.count()
    with pytest.raises(ProviderError) as info:
        if mode == "complete":
            t.complete(req)
        elif mode == "stream":
            list(t.stream(req))
        else:
            asyncio.run(run())
    assert info.value.kind == ErrorKind.INVALID_REQUEST, info.value
    assert fake_provider.count() == before  # nothing was sent
    t.close()
