"""Fixtures for the shared-state tests: a real Redis (no fake) and the loopback FakeProvider."""

from __future__ import annotations

from smartroute_llm.testing.fixtures import (
    fake_provider,
    fake_provider_server,
    redis_server,
    redis_url,
)

__all__ = ["fake_provider", "fake_provider_server", "redis_server", "redis_url"]
