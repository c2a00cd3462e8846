"""langchain-tests standard suites, with the router in front of scripted LangChain models."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from lc_scripted import ScriptedChatModel

from langchain_smartroute import SmartRouterChatModel


class _Scripted:
    @property
    def chat_model_class(self) -> type[SmartRouterChatModel]:
        return SmartRouterChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "candidates": [
                ScriptedChatModel(model="scripted-a"),
                ScriptedChatModel(model="scripted-b"),
            ]
        }

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "scripted-b"


class TestScriptedUnit(_Scripted, ChatModelUnitTests):
    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"SMARTROUTE_API_KEY": "sk-env"}, self.chat_model_params, {"api_key": "sk-env"}


class TestScriptedIntegration(_Scripted, ChatModelIntegrationTests):
    pass
