"""Users who call ``asyncio.run(router.achat(...))`` without ``aclose()`` leak nothing."""

import asyncio
import gc
import logging
import os
import warnings

from smartroute_llm import Router
from smartroute_llm.providers import OpenAICompatible


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_async_clients_close_when_their_loop_shuts_down(fake_provider, caplog):
    router = Router([OpenAICompatible("m", base_url=fake_provider.base_url, api_key="k")])
    asyncio.run(router.achat("warm"))  # first loop: imports, pools
    gc.collect()
    before = open_fds()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR):
        warnings.simplefilter("always")
        for i in range(5):
            assert asyncio.run(router.achat(f"call {i}")).text.endswith(f"call {i}")
        gc.collect()
    unclosed = [w for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []
    assert "Unclosed" not in caplog.text
    assert open_fds() <= before + 1


async def test_explicit_aclose_then_loop_shutdown_is_fine(fake_provider):
    router = Router([OpenAICompatible("m", base_url=fake_provider.base_url, api_key="k")])
    await router.achat("hi")
    await router.aclose()
    await router.aclose()  # idempotent
