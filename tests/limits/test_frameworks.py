"""Budget tags through the frameworks: LangChain config metadata, LlamaIndex ``tags=``."""

from __future__ import annotations

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import BudgetExceeded
from smartroute_llm.testing import ScriptedTarget
from smartroute_llm.testing.scripted import FakeClock


def _router() -> Router:
    cap = ProviderCapability(input_cost_per_1m=50.0, output_cost_per_1m=50.0)
    policy = RoutingPolicy.cheapest().budget(0.1, "1h", per="team")
    return Router([ScriptedTarget("cheap", cap)], policy, clock=FakeClock(1_000_000.0))


def _spend_until_refused(call) -> BudgetExceeded:
    for _ in range(1000):
        try:
            call()
        except BudgetExceeded as exc:
            return exc
        except Exception as exc:  # a framework may wrap it
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BudgetExceeded):
                return cause
            raise
    raise AssertionError("the budget never ran out")


def test_langchain_config_metadata_selects_the_budget():
    pytest.importorskip("langchain_core")
    from langchain_smartroute import SmartRouterChatModel

    router = _router()
    model = SmartRouterChatModel(router=router)
    err = _spend_until_refused(
        lambda: model.invoke("hello there", config={"metadata": {"team": "a", "other": [1]}})
    )
    assert "team=a" in str(err)
    # another team's budget is untouched
    assert model.invoke("hello", config={"metadata": {"team": "b"}}).content


def test_llamaindex_tags_kwarg_selects_the_budget_and_is_not_sent_on():
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage

    from llamaindex_smartroute import SmartRouterLLM

    router = _router()
    llm = SmartRouterLLM(router=router)
    msgs = [ChatMessage(role="user", content="hello there")]
    err = _spend_until_refused(lambda: llm.chat(msgs, tags={"team": "a"}))
    assert "team=a" in str(err)
    assert llm.complete("hello", tags={"team": "b"}).text
    target = router.targets[0]
    assert all("tags" not in (r.metadata or {}) for r in target.calls)
