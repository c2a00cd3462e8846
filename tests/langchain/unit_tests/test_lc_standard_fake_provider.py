"""langchain-tests standard suites with the router in front of smartroute's
``OpenAICompatible`` provider talking to the loopback ``FakeProvider``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from lc_scripted import openai_reply

from langchain_smartroute import SmartRouterChatModel
from smartroute_llm import ProviderCapability, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing.fake_provider import FakeProvider

_server: FakeProvider | None = None


@pytest.fixture(scope="module", autouse=True)
def fake_provider() -> Iterator[FakeProvider]:
    global _server
    with FakeProvider(responder=openai_reply) as server:
        _server = server
        yield server
    _server = None


def _targets() -> list[OpenAICompatible]:
    assert _server is not None, "the FakeProvider fixture is not running"
    cap = ProviderCapability(supports_tools=True, supports_json=True)
    return [
        OpenAICompatible(
            name, base_url=_server.base_url, api_key="sk-fake", capability=cap, transport="httpx"
        )
        for name in ("fake-a", "fake-b")
    ]


class _OverFakeProvider:
    @property
    def chat_model_class(self) -> type[SmartRouterChatModel]:
        return SmartRouterChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"candidates": _targets(), "policy": RoutingPolicy.balanced()}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "fake-b"


class TestFakeProviderUnit(_OverFakeProvider, ChatModelUnitTests):
    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"SMARTROUTE_API_KEY": "sk-env"}, self.chat_model_params, {"api_key": "sk-env"}


class TestFakeProviderIntegration(_OverFakeProvider, ChatModelIntegrationTests):
    pass


def test_from_config_builds_provider_targets(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-fake")
    llm = SmartRouterChatModel.from_config(
        {
            "policy": {"strategy": "cheapest"},
            "targets": [
                {
                    "model": "fake-c",
                    "provider": "openai",
                    "base_url": fake_provider.base_url,
                    "api_key_env": "FAKE_KEY",
                    "transport": "httpx",
                },
            ],
        }
    )
    msg = llm.invoke("hi there")
    assert msg.text == "[fake-c] hi there"
    assert msg.response_metadata["smartroute"]["strategy"] == "cheapest"
    assert "sk-fake" not in repr(llm) + str(msg.response_metadata)
