"""pytest fixtures. Enable them with ``pytest_plugins = ["smartroute_llm.testing.fixtures"]`` in a
``conftest.py``, or import ``fake_provider`` into it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartroute_llm.testing.fake_provider import FakeProvider


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProvider]:
    """One server for the whole test session (starting it costs a few milliseconds)."""
    with FakeProvider() as fp:
        yield fp


@pytest.fixture
def fake_provider(fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The session's server, reset before and after each test so scripts never leak."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A running Redis server's URL: ``SMARTROUTE_REDIS_URL`` if set (CI starts one), else a
    private ``redis-server`` for the session. Without either the test skips (outside CI)."""
    import os

    from smartroute_llm.testing.redis_server import RedisServer, redis_binary

    url = os.environ.get("SMARTROUTE_REDIS_URL")
    if url:
        yield url
        return
    if redis_binary() is None:
        if os.environ.get("SMARTROUTE_REQUIRE_REDIS"):
            pytest.fail("CI must provide Redis: set SMARTROUTE_REDIS_URL or install redis-server")
        pytest.skip("no Redis server: install redis-server or set SMARTROUTE_REDIS_URL")
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def redis_server() -> Iterator[object]:
    """A private ``redis-server`` this test may kill and restart (fault tests)."""
    import os

    from smartroute_llm.testing.redis_server import RedisServer, redis_binary

    if redis_binary() is None:
        if os.environ.get("SMARTROUTE_REQUIRE_REDIS"):
            pytest.fail("CI must install redis-server")
        pytest.skip("no redis-server binary: install it (Debian: apt-get install redis-server)")
    with RedisServer() as server:
        yield server
