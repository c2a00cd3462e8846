"""The default async path (a POST on the httpx-aiohttp transport's session) sends what the httpx
client would send and reads what httpx would read: headers, compressed bodies, errors, timeouts."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from smartroute_llm import ErrorKind, ProviderError
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.request import to_request
from smartroute_llm.target import AttemptOptions

ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"headers": dict(request.headers), "body": body})
        mode = body["messages"][-1]["content"]
        if mode == "gzip":
            return web.Response(body=gzip.compress(json.dumps(ANSWER).encode()), headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip"})
        if mode == "slow":
            await asyncio.sleep(1.0)
        if mode == "429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit",
                                                "code": "rate_limit_exceeded"}},
                                     status=429, headers={"Retry-After": "3"})
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/v1", seen
    await runner.cleanup()


def target(base: str) -> OpenAICompatible:
    return OpenAICompatible("m", base_url=base, api_key="sk-direct", headers={"X-Extra": "1"})


async def test_uses_the_direct_path_and_sends_the_httpx_client_headers(server: Any) -> None:
    base, seen = server
    t = target(base)
    resp = await t.acomplete(to_request("plain"))
    assert resp.text == "hi" and resp.usage.input_tokens == 3
    assert t._async_pool()[1] is not None
    headers = {k.lower(): v for k, v in seen[0]["headers"].items()}
    assert headers["authorization"] == "Bearer sk-direct"
    assert headers["content-type"] == "application/json"
    assert headers["x-extra"] == "1"
    assert headers["user-agent"].startswith("python-httpx/")
    assert "gzip" in headers["accept-encoding"]
    assert seen[0]["body"]["model"] == "m"
    await t.aclose()


async def test_a_compressed_body_is_decoded(server: Any) -> None:
    base, _ = server
    t = target(base)
    assert (await t.acomplete(to_request("gzip"))).text == "hi"
    await t.aclose()


async def test_errors_and_timeouts_map_like_the_httpx_path(server: Any) -> None:
    base, _ = server
    t = target(base)
    with pytest.raises(ProviderError) as err:
        await t.acomplete(to_request("429"))
    assert err.value.kind is ErrorKind.RATE_LIMITED and err.value.retry_after == 3.0
    with pytest.raises(ProviderError) as err:
        await t.acomplete(to_request("slow"), AttemptOptions(read_timeout=0.1))
    assert err.value.kind is ErrorKind.TIMEOUT
    await t.aclose()


async def test_the_attempt_timeout_is_aiohttps_own_timer_and_fails_like_asyncio_timeout(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct POST bounds the whole attempt (connection, headers, body) with aiohttp's
    total timer instead of a second ``asyncio.timeout``; it ends the same way: TIMEOUT, with
    the message the asyncio timer gave."""
    from smartroute_llm.providers import base as provider_base

    base, seen = server
    via_httpx = OpenAICompatible("m", base_url=base, api_key="sk-direct", transport="httpx")
    with pytest.raises(ProviderError) as want:
        await via_httpx.acomplete(to_request("slow"), AttemptOptions(timeout=0.2))
    await via_httpx.aclose()

    def no_second_timer(delay: float | None) -> Any:
        raise AssertionError("asyncio.timeout used on the direct path")

    monkeypatch.setattr(provider_base.asyncio, "timeout", no_second_timer)
    t = target(base)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(ProviderError) as err:
        await t.acomplete(to_request("slow"), AttemptOptions(timeout=0.2))
    assert loop.time() - began < 0.9  # the server answers after 1 s
    assert err.value.kind is ErrorKind.TIMEOUT is want.value.kind
    assert err.value.message == want.value.message
    answer = await t.acomplete(to_request("hi"), AttemptOptions(timeout=5.0))
    assert answer.text == "hi" and len(seen) == 3
    await t.aclose()


async def test_connection_refused_is_a_connection_error() -> None:
    t = target("http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as err:
        await t.acomplete(to_request("x"))
    assert err.value.kind in (ErrorKind.CONNECTION, ErrorKind.CONNECT_TIMEOUT)
    await t.aclose()


async def test_a_closed_client_refuses_like_httpx(server: Any) -> None:
    base, _ = server
    t = target(base)
    await t.acomplete(to_request("plain"))
    client, direct = t._async_pool()
    await client.aclose()
    assert direct is not None
    with pytest.raises(RuntimeError, match="closed"):
        await direct.post(httpx.URL(base), b"{}", {}, httpx.Timeout(1.0))


async def test_without_the_transport_hooks_calls_go_through_httpx(
    server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartroute_llm.providers import direct

    monkeypatch.setattr(direct, "map_aiohttp_exceptions", None)
    url, seen = server
    target = OpenAICompatible("m", base_url=url, api_key="sk-test")
    try:
        resp = await target.acomplete(to_request("plain"))
        assert resp.text == "hi" and target._async_pool()[1] is None
        assert seen[-1]["headers"]["Authorization"] == "Bearer sk-test"
    finally:
        await target.aclose()
