"""The fake server itself: scripting, recording, latency, flapping and the command line."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from smartroute_llm.testing import FakeProvider, Fault, FaultKind, Reply

RUN_FAKE = "import sys; from smartroute_llm.testing.fake_provider import main; main(sys.argv[1:])"
CHAT = {"model": "m1", "messages": [{"role": "user", "content": "ping"}]}


def post(fp: FakeProvider, body: dict | None = None, **kw) -> httpx.Response:
    return httpx.post(fp.base_url + "/chat/completions", json=body or CHAT, timeout=10, **kw)


def test_echo_reply_with_usage(fake_provider: FakeProvider) -> None:
    data = post(fake_provider).json()
    assert data["choices"][0]["message"]["content"] == "[m1] ping"
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0
    assert data["usage"]["total_tokens"] == (
        data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )


def test_script_is_consumed_in_order_then_normal(fake_provider: FakeProvider) -> None:
    fake_provider.script("m1", [Fault.server_error(), "second", Reply(text="third")])
    assert post(fake_provider).status_code == 500
    assert post(fake_provider).json()["choices"][0]["message"]["content"] == "second"
    assert post(fake_provider).json()["choices"][0]["message"]["content"] == "third"
    assert post(fake_provider).json()["choices"][0]["message"]["content"] == "[m1] ping"
    outcomes = [a.outcome for a in fake_provider.attempts_for("m1")]
    assert outcomes == ["server_error", "ok", "ok", "ok"]


def test_persistent_fault_per_model_only(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.overloaded())
    assert [post(fake_provider).status_code for _ in range(3)] == [503, 503, 503]
    assert post(fake_provider, {**CHAT, "model": "m2"}).status_code == 200
    fake_provider.clear_fault("m1")
    assert post(fake_provider).status_code == 200
    assert fake_provider.count("m1") == 4 and fake_provider.count("m2") == 1


def test_settings_changed_between_requests_apply_at_once(fake_provider: FakeProvider) -> None:
    assert post(fake_provider).status_code == 200  # the merged settings are cached from here
    fake_provider.fail("*", Fault.server_error())
    assert post(fake_provider).status_code == 500
    fake_provider.configure("m1", fault=Fault.authentication())
    assert post(fake_provider).status_code == 401
    fake_provider.reset()
    assert post(fake_provider).status_code == 200


def test_rate_limit_with_and_without_retry_after(fake_provider: FakeProvider) -> None:
    fake_provider.script("m1", [Fault.rate_limited(3), Fault.rate_limited()])
    first, second = post(fake_provider), post(fake_provider)
    assert (first.status_code, first.headers.get("retry-after")) == (429, "3")
    assert (second.status_code, second.headers.get("retry-after")) == (429, None)


def test_flapping_endpoint_recovers(fake_provider: FakeProvider) -> None:
    # the window is judged by when the server saw each request, so a request that a busy
    # machine delivered late is still checked against the right side of the window
    window = 0.4
    t0 = time.monotonic()
    fake_provider.flap("m1", down_for=window)
    t1 = time.monotonic()
    first = post(fake_provider)
    seen = fake_provider.attempts_for("m1")[-1].at
    if seen < t0 + window:
        assert first.status_code == 503
    elif seen >= t1 + window:
        assert first.status_code == 200
    time.sleep(max(0.0, t1 + window - time.monotonic()) + 0.05)
    assert post(fake_provider).status_code == 200
    assert [a.outcome for a in fake_provider.attempts_for("m1")][-1] == "ok"


def test_latency_and_gaps_are_recorded(fake_provider: FakeProvider) -> None:
    fake_provider.configure("m1", latency=0.2)
    t0 = time.monotonic()
    post(fake_provider)
    assert time.monotonic() - t0 >= 0.2
    time.sleep(0.1)
    post(fake_provider)
    gaps = fake_provider.gaps("m1")
    assert len(gaps) == 1 and gaps[0] >= 0.3


def test_latency_callable(fake_provider: FakeProvider) -> None:
    draws: list[float] = []

    def draw() -> float:
        draws.append(0.05)
        return 0.05

    fake_provider.configure("*", latency=draw)
    post(fake_provider)
    assert draws == [0.05]


def test_responder_gets_model_and_request_json(fake_provider: FakeProvider) -> None:
    seen = []

    def responder(model: str, body: dict) -> dict:
        seen.append((model, body["messages"][-1]["content"]))
        return {"text": "recorded answer", "usage": {"input_tokens": 7, "output_tokens": 3}}

    fake_provider.configure("m1", responder=responder)
    data = post(fake_provider).json()
    assert seen == [("m1", "ping")]
    assert data["choices"][0]["message"]["content"] == "recorded answer"
    assert data["usage"]["prompt_tokens"] == 7 and data["usage"]["completion_tokens"] == 3


def test_prefill_rejected_only_when_last_message_is_assistant(fake_provider: FakeProvider) -> None:
    fake_provider.configure("m1", reject_prefill=True)
    assert post(fake_provider).status_code == 200
    body = {**CHAT, "messages": [*CHAT["messages"], {"role": "assistant", "content": "{"}]}
    resp = post(fake_provider, body)
    assert resp.status_code == 400 and "prefill" in resp.json()["error"]["message"]
    assert fake_provider.attempts_for("m1")[-1].outcome == FaultKind.PREFILL_REJECTED


def test_bad_script_item_is_rejected_early(fake_provider: FakeProvider) -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        fake_provider.script("m1", {"txt": "typo"})


def test_start_stop_and_fresh_port() -> None:
    fp = FakeProvider().start()
    try:
        assert fp.base_url.startswith("http://127.0.0.1:") and fp.port > 0
        assert post(fp).status_code == 200
    finally:
        fp.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(fp.base_url + "/chat/completions", json=CHAT, timeout=2)


def test_stop_releases_hanging_requests() -> None:
    fp = FakeProvider().start()
    fp.fail("*", Fault.no_response())
    t0 = time.monotonic()
    import threading

    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(fp)
        except httpx.HTTPError as exc:
            errors.append(exc)

    th = threading.Thread(target=call)
    th.start()
    while fp.count() == 0 and time.monotonic() - t0 < 10:
        time.sleep(0.01)
    fp.stop()
    th.join(10)
    assert not th.is_alive() and errors and time.monotonic() - t0 < 10


def test_command_line_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_FAKE, "--port", "0",
         "--fault", "bad=server_error"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.split("OpenAI base_url=")[1].split()[0]
        ok = httpx.post(base + "/chat/completions", json=CHAT, timeout=10)
        bad = httpx.post(base + "/chat/completions", json={**CHAT, "model": "bad"}, timeout=10)
        assert (ok.status_code, bad.status_code) == (200, 500)
    finally:
        proc.terminate()
        proc.wait(10)


def test_command_line_rejects_unknown_fault() -> None:
    out = subprocess.run(
        [sys.executable, "-c", RUN_FAKE, "--fault", "m=nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and "unknown fault 'nope'" in out.stderr


def test_clear_fault_without_argument_clears_every_model(fake_provider: FakeProvider) -> None:
    # issue 15.8: per-model faults survived clear_fault() and hung the next test
    fake_provider.fail("m1", Fault.overloaded()).fail("*", Fault.server_error())
    fake_provider.flap("m2", down_for=60)
    assert post(fake_provider).status_code == 503
    assert post(fake_provider, {**CHAT, "model": "m2"}).status_code == 503
    fake_provider.clear_fault()
    assert post(fake_provider).status_code == 200
    assert post(fake_provider, {**CHAT, "model": "m2"}).status_code == 200
    assert post(fake_provider, {**CHAT, "model": "m3"}).status_code == 200


def test_clear_fault_of_one_name_keeps_the_others(fake_provider: FakeProvider) -> None:
    fake_provider.fail("m1", Fault.overloaded()).fail("*", Fault.server_error())
    fake_provider.clear_fault("*")
    assert post(fake_provider).status_code == 503
    assert post(fake_provider, {**CHAT, "model": "m2"}).status_code == 200
    fake_provider.clear_fault("m1")
    assert post(fake_provider).status_code == 200


def test_reply_takes_usage_as_documented(fake_provider: FakeProvider) -> None:
    # issue 15.8: the docs say Reply takes usage; Reply(usage=...) raised TypeError
    reply = Reply(text="hi", usage={"input_tokens": 11, "output_tokens": 7, "cached_tokens": 3})
    assert (reply.input_tokens, reply.output_tokens, reply.cached_tokens) == (11, 7, 3)
    fake_provider.script("m1", [reply, {"text": "x", "usage": {"input_tokens": 5,
                                                                "output_tokens": 2}}])
    first, second = post(fake_provider).json(), post(fake_provider).json()
    assert first["usage"]["prompt_tokens"] == 11 and first["usage"]["completion_tokens"] == 7
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert second["usage"]["prompt_tokens"] == 5 and second["usage"]["completion_tokens"] == 2


def test_reply_usage_accepts_smartroute_usage_and_refuses_unknown_keys() -> None:
    from smartroute_llm import Usage

    reply = Reply(usage=Usage(input_tokens=4, output_tokens=2, cached_input_tokens=1))
    assert (reply.input_tokens, reply.output_tokens, reply.cached_tokens) == (4, 2, 1)
    with pytest.raises(ValueError, match="prompt_tokens"):
        Reply(usage={"prompt_tokens": 4})
