"""pytest fixtures. Enable them with ``pytest_plugins = ["smartroute.testing.fixtures"]`` in a
``conftest.py``, or import ``fake_provider`` into it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartroute.testing.fake_provider import FakeProvider


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
