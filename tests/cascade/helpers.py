"""Targets and verifiers the cascade tests share."""

from __future__ import annotations

from typing import Any

from smartroute_llm import ProviderCapability
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.request import ChatRequest
from smartroute_llm.testing import ScriptedTarget
from smartroute_llm.verifiers import BaseVerifier, Check, Verdict

PRICES = {"cheap": 1.0, "mid": 5.0, "strong": 20.0}


def cap(price: float, **kw: Any) -> ProviderCapability:
    return ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price, **kw)


def ladder(scripts: dict[str, Any], **kw: Any) -> list[ScriptedTarget]:
    """Scripted rungs named cheap/mid/strong, priced so the default ladder is that order.
    Listed dearest first, so an order that follows the list would be caught."""
    return [
        ScriptedTarget(name, cap(PRICES[name]), script=script, **kw)
        for name, script in reversed(scripts.items())
    ]


def http_ladder(fp: Any, names: tuple[str, ...] = ("cheap", "mid", "strong")) -> list[Any]:
    return [
        OpenAICompatible(n, base_url=fp.base_url, api_key="sk-test", capability=cap(PRICES[n]))
        for n in names
    ]


def says_42(request: ChatRequest, response: Any) -> tuple[bool, str]:
    return "42" in response.text, "no 42 in the answer"


class NoRefusal(BaseVerifier):
    """Rejects answers (and prefixes) that open with an apology; counts its calls."""

    name = "no_refusal"

    def __init__(self) -> None:
        self.calls = 0
        self.prefixes: list[str] = []

    def verify(self, check: Check) -> Verdict:
        self.calls += 1
        return self._judge(check.response.text) or Verdict(True)

    def check_prefix(self, request: ChatRequest, text: str) -> Verdict | None:
        self.prefixes.append(text)
        return self._judge(text)

    @staticmethod
    def _judge(text: str) -> Verdict | None:
        if text.lower().startswith(("i'm sorry", "sorry")):
            return Verdict(False, "refusal")
        return None


def rung_verdicts(resp: Any) -> list[tuple[str, str]]:
    return [(r.target, r.verdict) for r in resp.decision.cascade.rungs]
