"""A replica for the multi-process tests: its own Router on a shared Redis, driven by commands
over a pipe (spawned, so nothing is inherited from the test process but the arguments)."""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from smartroute_llm import ProviderCapability, Router, RoutingPolicy
from smartroute_llm.providers import OpenAICompatible
from smartroute_llm.redis_store import RedisStateStore


def build(redis_url: str, base_url: str, router_name: str, strategy: str) -> Router:
    def target(model: str, price: float) -> OpenAICompatible:
        cap = ProviderCapability(input_cost_per_1m=price, output_cost_per_1m=price)
        return OpenAICompatible(model, base_url=base_url, api_key="sk-test", capability=cap)

    policy = RoutingPolicy.adaptive_() if strategy == "adaptive" else RoutingPolicy.cheapest()
    policy = policy.retries(0).circuit_breaker(failure_threshold=3, cooldown_s=120)
    store = RedisStateStore.from_url(redis_url, router=router_name, retry_s=0.5)
    return Router([target("a", 1.0), target("b", 2.0)], policy, state=store)


def main(conn: Any, redis_url: str, base_url: str, router_name: str, strategy: str) -> None:
    router = build(redis_url, base_url, router_name, strategy)
    store = router.state.store  # type: ignore[attr-defined]
    loop: dict[str, Any] = {}

    def one_call() -> tuple[str, str, float]:
        t0 = time.perf_counter()
        try:
            resp = router.chat("hello")
            return ("ok", resp.decision.target if resp.decision else "?",
                    time.perf_counter() - t0)
        except Exception as exc:
            return ("error", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)

    def background(stop: threading.Event, out: list[tuple[str, str, float]]) -> None:
        while not stop.is_set():
            out.append(one_call())
            time.sleep(0.005)

    while True:
        cmd, arg = conn.recv()
        try:
            if cmd == "calls":
                conn.send([one_call() for _ in range(arg)])
            elif cmd == "blocked":
                conn.send(sorted(router.breakers.blocked()))
            elif cmd == "degraded":
                conn.send(store.degraded)
            elif cmd == "flush":
                conn.send(store.flush(timeout=arg))
            elif cmd == "stats":
                conn.send(router.strategy.stats())  # type: ignore[attr-defined]
            elif cmd == "loop_start":
                loop["stop"], loop["out"] = threading.Event(), []
                loop["t"] = threading.Thread(target=background, args=(loop["stop"], loop["out"]))
                loop["t"].start()
                conn.send(True)
            elif cmd == "loop_stop":
                loop["stop"].set()
                loop["t"].join(timeout=60)
                conn.send(list(loop["out"]))
            elif cmd == "stop":
                store.close()
                conn.send(True)
                return
        except Exception:
            conn.send(("crash", traceback.format_exc()))
