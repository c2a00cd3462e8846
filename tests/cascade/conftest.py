"""Fixtures for the cascade tests: the loopback fake provider, and small verifiers."""

from __future__ import annotations

from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["fake_provider", "fake_provider_server"]
