"""Fixtures for the limits tests: the FakeProvider, a real Redis, and a store that offers its
client the way RedisStateStore does (``redis_client`` and ``key_prefix``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from smartroute_llm.state import InMemoryStateStore
from smartroute_llm.testing.fixtures import (
    fake_provider,
    fake_provider_server,
    redis_server,
    redis_url,
)

__all__ = [
    "RedisBacked", "fake_provider", "fake_provider_server", "prefix", "redis_server", "redis_url",
]


class RedisBacked(InMemoryStateStore):
    """Circuits and statistics in memory; limits on the Redis client it offers."""

    def __init__(self, url: str, key_prefix: str) -> None:
        import redis

        super().__init__()
        self.redis_client: Any = redis.Redis.from_url(url)
        self.key_prefix = key_prefix


@pytest.fixture
def prefix() -> str:
    return f"smartroute-test:{uuid.uuid4().hex[:12]}:"
