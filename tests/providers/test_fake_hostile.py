"""The FakeProvider's hostile faults send what they promise (checked with raw httpx)."""

from __future__ import annotations

import json
import time
import zlib

import httpx
import pytest

from smartroute_llm.testing import FakeProvider, Fault

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "ping"}]}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
PATHS = {
    "openai": ("/v1/chat/completions", CHAT),
    "anthropic": ("/v1/messages", {**CHAT, "max_tokens": 10}),
    "gemini": ("/v1beta/models/m1:generateContent", {"contents": [
        {"role": "user", "parts": [{"text": "ping"}]}]}),
}


def raw(fp: FakeProvider, api: str = "openai", stream: bool = False) -> httpx.Response:
    path, body = PATHS[api]
    if stream:
        if api == "gemini":
            path = "/v1beta/models/m1:streamGenerateContent?alt=sse"
        else:
            body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.Client(timeout=30) as client:
        return client.post(fp.url + path, json=body)


def test_drip_trickles_then_delivers(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.drip(interval=0.05, nbytes=4, delay=0.5))
    t0 = time.monotonic()
    with httpx.Client(timeout=5) as client, client.stream(
        "POST", fake_provider.base_url + "/chat/completions", json=CHAT
    ) as resp:
        reads = list(resp.iter_raw())
    assert time.monotonic() - t0 >= 0.4 and len(reads) > 3
    assert json.loads(b"".join(reads))["choices"][0]["message"]["content"] == "[m1] ping"


def test_keepalive_only_sends_comments_then_drops(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.keepalive_only(interval=0.05, delay=0.3))
    got = b""
    with httpx.Client(timeout=5) as client, client.stream(
        "POST", fake_provider.base_url + "/chat/completions", json=STREAM
    ) as resp, pytest.raises(httpx.RemoteProtocolError):
        for chunk in resp.iter_raw():
            got += chunk
    assert got.startswith(b": keepalive\n\n") and set(got.split(b"\n\n")) <= {b": keepalive", b""}


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_oversized_body_is_valid_json_of_the_size(fake_provider: FakeProvider, api: str) -> None:
    fake_provider.fail("*", Fault.oversized(3 << 20))
    resp = raw(fake_provider, api)
    assert abs(len(resp.content) - (3 << 20)) < 100
    assert "aaaa" in json.dumps(resp.json())[:10_000] or len(resp.json()) > 0


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_gzip_bomb_is_small_on_the_wire(fake_provider: FakeProvider, api: str) -> None:
    fake_provider.fail("*", Fault.gzip_bomb(8 << 20))
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", fake_provider.url + PATHS[api][0], json=PATHS[api][1]
    ) as resp:
        wire = b"".join(resp.iter_raw())
    assert resp.headers["content-encoding"] == "gzip" and len(wire) < 100_000
    assert len(zlib.decompress(wire, 31)) == 8 << 20


def test_unterminated_line_has_no_newline(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.unterminated_line(2 << 20))
    got = b""
    with httpx.Client(timeout=10) as client, client.stream(
        "POST", fake_provider.base_url + "/chat/completions", json=STREAM
    ) as resp, pytest.raises(httpx.RemoteProtocolError):
        for chunk in resp.iter_raw():
            got += chunk
    assert len(got) >= 2 << 20 and b"\n" not in got


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_negative_and_non_numeric_usage(fake_provider: FakeProvider, api: str) -> None:
    fake_provider.fail("*", Fault.negative_usage())
    text = raw(fake_provider, api).text
    assert '":-10' in text
    fake_provider.fail("*", Fault.non_numeric_usage("lots"))
    assert '"lots"' in raw(fake_provider, api).text
    assert '"lots"' in raw(fake_provider, api, stream=True).text


def test_deep_nesting_breaks_json_loads(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.deep_nesting(100_000))
    with pytest.raises(RecursionError):
        json.loads(raw(fake_provider).content)


def test_truncated_tool_call_streamed_and_not(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.truncated_tool_call('{"city": "Par'))
    call = raw(fake_provider).json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"city": "Par'
    args = ""
    for line in raw(fake_provider, stream=True).text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                for tc in choice["delta"].get("tool_calls") or []:
                    args += tc["function"]["arguments"]
    assert args == '{"city": "Par'
