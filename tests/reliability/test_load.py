"""5,000 requests at concurrency 200 through the async router against three loopback providers:
one healthy, one failing half its calls with 503, one that never answers. Every request ends in
exactly one answer (its own) or one clean error; no task or connection outlives the router."""

import asyncio
import os
import random

from smartroute import AllTargetsFailed, ProviderCapability, Router, RoutingPolicy
from smartroute.providers import OpenAICompatible
from smartroute.testing.fake_provider import FakeProvider, Fault

N = 5000
CONCURRENCY = 200


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_load_5000_requests_mixed_health():
    rng = random.Random(5)

    def flaky(model, body):
        return Fault.overloaded() if rng.random() < 0.5 else None

    with FakeProvider(record=False) as fp:
        fp.configure("flaky", responder=lambda m, b: flaky(m, b) or _echo(b))
        fp.fail("hang", Fault.no_response(delay=30))
        targets = [
            OpenAICompatible(
                m,
                base_url=fp.base_url,
                api_key="sk-test",
                capability=ProviderCapability(input_cost_per_1m=1, output_cost_per_1m=1),
            )
            for m in ("hang", "flaky", "healthy")
        ]
        policy = (
            RoutingPolicy.round_robin()
            .retries(1, backoff_base_s=0.01)
            .timeouts(ttft=2.0)
            .deadline(20)
            .circuit_breaker(failure_threshold=5, cooldown_s=1.0)
        )
        fds_before = open_fds()
        tasks_before = len(asyncio.all_tasks())
        router = Router(targets, policy)
        answers: dict[int, str] = {}
        errors: dict[int, BaseException] = {}
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with sem:
                try:
                    resp = await router.achat(f"request {i}")
                except AllTargetsFailed as exc:
                    assert i not in errors and i not in answers
                    errors[i] = exc
                else:
                    assert i not in answers and i not in errors
                    answers[i] = resp.text

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N))), timeout=240)
        await router.aclose()
        await asyncio.sleep(0.1)

    assert len(answers) + len(errors) == N
    assert all(text.endswith(f"request {i}") for i, text in answers.items())
    assert len(answers) >= 0.99 * N  # the healthy target is always in the plan
    assert len(asyncio.all_tasks()) == tasks_before
    assert open_fds() <= fds_before + 2


def _echo(body):
    return "echo: " + body["messages"][-1]["content"]
