"""First contact with SmartRouterLLM (issue #15 item 4): model names are accepted as LangChain's
SmartRouterChatModel accepts them, with one shared ``api_key`` only for one vendor's models."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from llamaindex_smartroute import SmartRouterLLM
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.testing.fake_provider import FakeProvider

KEY = "sk-llama-first-contact-3f9a"


@pytest.fixture
def openai_here(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """The fake server stands in for api.openai.com."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return fake_provider


def test_model_names_are_candidates(openai_here: FakeProvider) -> None:
    llm = SmartRouterLLM(["gpt-4o-mini", "gpt-4o"], api_key=KEY)
    assert [t.name for t in llm.router.targets] == ["gpt-4o-mini", "gpt-4o"]
    answer = llm.chat([ChatMessage(role=MessageRole.USER, content="hello")])
    assert "hello" in (answer.message.content or "")
    decision = SmartRouterLLM.decision_of(answer)
    assert decision is not None and decision.model in ("gpt-4o-mini", "gpt-4o")
    assert openai_here.count() == 1


def test_model_names_by_key_and_from_the_environment(
    openai_here: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    llm = SmartRouterLLM({"small": "gpt-4o-mini"})
    assert [(t.name, t.model) for t in llm.router.targets] == [("small", "gpt-4o-mini")]
    assert "hi" in llm.complete("hi").text


def test_shared_key_for_several_vendors_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        SmartRouterLLM(["gpt-4o-mini", "claude-3-5-haiku"], api_key=KEY)
    assert "several vendors" in str(info.value) and KEY not in str(info.value)


def test_custom_base_url_needs_a_key(openai_here: FakeProvider) -> None:
    with pytest.raises(ConfigurationError, match="api_key"):
        SmartRouterLLM(["gpt-4o-mini"], base_url="https://proxy.example.net/v1")
    llm = SmartRouterLLM(["gpt-4o-mini"], base_url=openai_here.base_url, api_key=KEY)
    assert llm.complete("ping").text


def test_unknown_model_name_says_how_to_fix() -> None:
    with pytest.raises(ConfigurationError, match="provider="):
        SmartRouterLLM(["totally-unknown-model"])
