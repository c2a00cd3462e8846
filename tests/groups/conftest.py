"""Three loopback servers, each one deployment of the same model: requests are counted where
they arrive, so a spread is measured at the servers, not from the router's own decisions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from smartroute_llm import ProviderCapability
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.testing.fake_provider import FakeProvider

MODEL = "gpt-4o"
NAMES = ("east", "west", "north")
CAP = ProviderCapability(input_cost_per_1m=2.5, output_cost_per_1m=10)


@pytest.fixture
def servers() -> Iterator[dict[str, FakeProvider]]:
    with contextlib.ExitStack() as stack:
        yield {n: stack.enter_context(FakeProvider(latency=0.05)) for n in NAMES}


def deployments(servers: dict[str, FakeProvider]) -> list[OpenAICompatible]:
    """One target per server, all serving ``MODEL``: identical but for their name."""
    return [
        OpenAICompatible(MODEL, base_url=fp.base_url, api_key="sk-test", name=n, capability=CAP)
        for n, fp in servers.items()
    ]


def counts(servers: dict[str, FakeProvider]) -> dict[str, int]:
    return {n: fp.count() for n, fp in servers.items()}
