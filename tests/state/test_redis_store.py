"""RedisStateStore on a real Redis: key layout, TTLs, secrets, URLs, atomic updates, and
degradation when the server goes away."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.config import build_router
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.redis_store import RedisStateStore
from smartroute_llm.state import FailSafeStore
from smartroute_llm.testing import ScriptedTarget

pytestmark = pytest.mark.redis


def fresh() -> str:
    return "u" + uuid.uuid4().hex[:10]


def bump(rec):
    return {"n": (rec or {}).get("n", 0) + 1}


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_keys_are_namespaced_per_router_and_versioned(redis_url):
    r1, r2 = fresh(), fresh()
    raw = redis.Redis.from_url(redis_url)
    with RedisStateStore.from_url(redis_url, router=r1) as a, \
            RedisStateStore.from_url(redis_url, router=r2) as b:
        a.put("breaker", "gpt:4o", {"state": "open"})
        assert raw.exists(f"smartroute:v1:{r1}:breaker:gpt:4o")
        assert raw.sismember(f"smartroute:v1:{r1}#keys:breaker", "gpt:4o")
        assert int(raw.get(f"smartroute:v1:{r1}#rev:breaker")) == 1
        assert b.get("breaker", "gpt:4o") is None
        assert list(b.items("breaker")) == []
        assert not raw.keys(f"smartroute:v1:{r2}:*")
        with RedisStateStore.from_url(redis_url, router=r1) as a2:  # same name: shared
            assert a2.get("breaker", "gpt:4o") == {"state": "open"}


def test_every_key_has_a_ttl_refreshed_by_writes(redis_url):
    name = fresh()
    raw = redis.Redis.from_url(redis_url)
    with RedisStateStore.from_url(redis_url, router=name, ttl_s=60) as s:
        s.update("breaker", "a", bump)
        s.update("adaptive", "tick", bump)
        assert s.flush(10)
        keys = raw.keys(f"smartroute:v1:{name}*")
        assert len(keys) == 6  # two records, two index sets, two revision counters
        for k in keys:
            assert 0 < raw.pttl(k) <= 60_000, k
        raw.pexpire(f"smartroute:v1:{name}:breaker:a", 1000)
        s.update("breaker", "a", bump)
        assert raw.pttl(f"smartroute:v1:{name}:breaker:a") > 30_000


def test_secrets_never_in_repr_or_errors(monkeypatch, caplog):
    s = RedisStateStore.from_url("redis://user:hunter2secret@127.0.0.1:1/0", router=fresh(),
                                 retry_s=30)
    assert "hunter2secret" not in repr(s) and "***" in repr(s)
    monkeypatch.setenv("SMARTROUTE_REDIS_PASSWORD", "envsecret42")
    e = RedisStateStore.from_url("redis://127.0.0.1:1/0", router=fresh(), retry_s=30)
    assert e._fg.connection_pool.connection_kwargs["password"] == "envsecret42"
    assert "envsecret42" not in repr(e)
    with pytest.raises(ConfigurationError) as exc:
        RedisStateStore.from_url("http://user:hunter2secret@host/0")
    assert "hunter2secret" not in str(exc.value) and "redis://" in str(exc.value)
    with caplog.at_level(logging.WARNING, logger="smartroute"):
        for store in (s, e):
            assert store.update("breaker", "a", bump) == {"n": 1}  # no Redis: local state
            store.close()
    assert "Redis failed" in caplog.text
    assert "hunter2secret" not in caplog.text and "envsecret42" not in caplog.text


def test_from_url_variants():
    tls = RedisStateStore.from_url("rediss://:pw@cache.example:6380/2", router="r")
    kw = tls._fg.connection_pool.connection_kwargs
    assert tls._fg.connection_pool.connection_class is redis.SSLConnection
    assert (kw["host"], kw["port"], kw["db"], kw["password"]) == ("cache.example", 6380, 2, "pw")
    sock = RedisStateStore.from_url("unix:///run/redis.sock?db=1", router="r")
    assert sock._fg.connection_pool.connection_kwargs["path"] == "/run/redis.sock"
    for bad in ("", "localhost:6379", "memcached://x"):
        with pytest.raises(ConfigurationError, match="url"):
            RedisStateStore.from_url(bad)
    with pytest.raises(ConfigurationError, match="router name"):
        RedisStateStore.from_url("redis://x", router="a:b")
    with pytest.raises(ConfigurationError, match="ttl_s"):
        RedisStateStore.from_url("redis://x", ttl_s=0)


def test_core_imports_no_redis_until_asked():
    code = ("import sys, smartroute_llm, smartroute_llm.state, smartroute_llm.config\n"
            "import smartroute_llm.router\n"
            "assert 'redis' not in sys.modules, 'core imported redis'\n"
            "from smartroute_llm.state import RedisStateStore\n"
            "assert RedisStateStore.__module__ == 'smartroute_llm.redis_store'\n"
            "assert 'redis' not in sys.modules  # only from_url imports the client\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_updates_are_atomic_across_stores_and_threads(redis_url):
    name = fresh()
    stores = [RedisStateStore.from_url(redis_url, router=name) for _ in range(3)]

    def work(store):
        for _ in range(30):
            store.update("breaker", "k", bump)  # write-through
            store.update("adaptive", "k", bump)  # write-behind

    threads = [threading.Thread(target=work, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert all(s.flush(20) for s in stores)
        with RedisStateStore.from_url(redis_url, router=name) as check:
            assert check.get("breaker", "k") == {"n": 180}
            assert check.get("adaptive", "k") == {"n": 180}
        for s in stores:  # every mirror converges on the shared values
            assert wait_for(lambda s=s: s.get("adaptive", "k") == {"n": 180}
                            and s.get("breaker", "k") == {"n": 180})
    finally:
        for s in stores:
            s.close()


def test_router_passes_through_failsafe_and_config_builds_it(redis_url):
    name = fresh()
    store = RedisStateStore.from_url(redis_url, router=name)
    router = Router([ScriptedTarget("a")], RoutingPolicy.cheapest(), state=store)
    assert isinstance(router.state, FailSafeStore) and router.state.get == store.get
    router.chat("hi")
    assert router.state.revision("breaker") == store.revision("breaker")
    store.close()
    built = build_router({"targets": [{"model": "gpt-4o-mini", "api_key_env": "NOPE_KEY"}],
                          "state": {"redis_url": redis_url, "router": name, "ttl_s": 30}})
    inner = built.state.store  # type: ignore[attr-defined]
    assert isinstance(inner, RedisStateStore) and inner.router == name and inner.ttl_ms == 30_000
    inner.close()
    for bad, field in (({"router": "x"}, "redis_url"), ({"redis_url": redis_url, "pasword": 1},
                       "unknown"), ({"redis_url": redis_url, "ttl_s": -1}, "ttl_s")):
        with pytest.raises(ConfigurationError, match=field):
            build_router({"targets": [{"model": "gpt-4o-mini"}], "state": bad})


def test_redis_away_degrades_to_local_state_logs_once_and_resyncs(redis_server, caplog):
    name = fresh()
    a = RedisStateStore.from_url(redis_server.url, router=name, retry_s=0.2)
    b = RedisStateStore.from_url(redis_server.url, router=name, retry_s=0.2)
    try:
        a.update("breaker", "x", bump)
        assert wait_for(lambda: b.get("breaker", "x") == {"n": 1})
        with caplog.at_level(logging.WARNING, logger="smartroute"):
            redis_server.kill()
            t0 = time.perf_counter()
            for i in range(200):
                assert a.update("breaker", "x", bump) == {"n": i + 2}
                a.update("adaptive", "t", bump)
                a.get("breaker", "x")
            elapsed = time.perf_counter() - t0
            assert a.degraded
            failures = [r for r in caplog.records if "Redis failed" in r.getMessage()]
            assert len(failures) <= 2  # once per store, not per call
            assert elapsed < 2.0, f"200 calls took {elapsed:.2f}s with Redis down"
            redis_server.start()
            assert wait_for(lambda: not a.degraded and not b.degraded, timeout=10)
        assert "Redis is back" in caplog.text
        # Redis came back empty: the mirrors re-seed it, queued write-behind updates replay
        assert a.flush(10)
        assert wait_for(lambda: b.get("adaptive", "t") == {"n": 200})
        a.update("breaker", "y", bump)
        assert wait_for(lambda: b.get("breaker", "y") == {"n": 1})
    finally:
        a.close()
        b.close()


def test_framework_classes_pass_the_store_through(redis_url):
    from langchain_smartroute import SmartRouterChatModel
    from llamaindex_smartroute import SmartRouterLLM

    store = RedisStateStore.from_url(redis_url, router=fresh())
    try:
        lc = SmartRouterChatModel(candidates=[ScriptedTarget("a")], state=store)
        li = SmartRouterLLM(candidates=[ScriptedTarget("b")], state=store)
        assert lc._router.state.store is store and li.router.state.store is store
        with pytest.raises(ValueError, match="state= is for the router built"):
            SmartRouterChatModel(router=lc._router, state=store)
    finally:
        store.close()


def test_rate_limits_through_a_redis_state_store_are_shared(redis_url):
    """Routers on RedisStateStores of one router name share one rate limit: the limiter finds
    the store's Redis client (a regression: it counted per process)."""
    import uuid

    from smartroute_llm import ProviderCapability, Router, RoutingPolicy
    from smartroute_llm.state import RedisStateStore
    from smartroute_llm.testing import ScriptedTarget

    name = "limits-" + uuid.uuid4().hex[:8]
    policy = RoutingPolicy.cheapest().rate_limit("a", rpm=5)
    routers, stores = [], []
    for _ in range(2):
        store = RedisStateStore.from_url(redis_url, router=name)
        stores.append(store)
        targets = [
            ScriptedTarget(n, ProviderCapability(input_cost_per_1m=p, output_cost_per_1m=p))
            for n, p in (("a", 1.0), ("b", 2.0))
        ]
        routers.append(Router(targets, policy, state=store))
    answered = [r.chat(f"q{i}").decision.target for i in range(8) for r in routers]
    to_a = sum(len(r.targets[0].calls) for r in routers)
    assert to_a == 5 and answered.count("a") == 5 and answered.count("b") == 11
    for s in stores:
        s.close()
