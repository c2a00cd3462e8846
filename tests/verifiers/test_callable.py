"""Any user function as a verifier (CallableVerifier / as_verifier)."""

from __future__ import annotations

import pytest

from smartroute_llm import ChatRequest, ChatResponse
from smartroute_llm.request import Message
from smartroute_llm.verifiers import (
    CallableVerifier,
    Check,
    StructuralVerifier,
    Verdict,
    Verifier,
    as_verifier,
)


def check(text: str) -> Check:
    return Check(ChatRequest(messages=[Message(role="user", content="q")]), ChatResponse(text=text))


def short(request: ChatRequest, response: ChatResponse) -> bool:
    return len(response.text) < 10


def test_bool_result() -> None:
    v = as_verifier(short)
    assert isinstance(v, Verifier) and v.name == "short"
    assert v.verify(check("ok")) == Verdict(True, "", None, "short")
    assert v.verify(check("far too long an answer")) == Verdict(False, "rejected", None, "short")


def test_tuple_and_verdict_results() -> None:
    v = CallableVerifier(lambda req, resp: (False, "mentions a competitor"), name="brand")
    assert v.verify(check("x")) == Verdict(False, "mentions a competitor", None, "brand")
    w = CallableVerifier(lambda req, resp: Verdict(True, "fine", 0.9))
    assert w.verify(check("x")) == Verdict(True, "fine", 0.9, "<lambda>")
    named = CallableVerifier(lambda req, resp: Verdict(True, verifier="mine"))
    assert named.verify(check("x")).verifier == "mine"


def test_check_prefix_has_no_opinion() -> None:
    assert as_verifier(short).check_prefix(check("").request, "anything") is None


async def test_async_function() -> None:
    async def remote(request: ChatRequest, response: ChatResponse) -> tuple[bool, str]:
        return "42" in response.text, "looked up"

    v = as_verifier(remote)
    assert (await v.averify(check("42"))).accepted
    assert not (await v.averify(check("41"))).accepted
    with pytest.raises(TypeError, match="coroutine function"):
        v.verify(check("42"))


async def test_sync_function_on_async_path() -> None:
    assert (await as_verifier(short).averify(check("ok"))).accepted


def test_bad_return_named() -> None:
    v = CallableVerifier(lambda req, resp: "yes", name="odd")
    with pytest.raises(TypeError, match="'odd' returned str"):
        v.verify(check("x"))


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        CallableVerifier(42)  # type: ignore[arg-type]


def test_built_in_verifiers_pass_through() -> None:
    built_in = StructuralVerifier()
    assert as_verifier(built_in) is built_in
