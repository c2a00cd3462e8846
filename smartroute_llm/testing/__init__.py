"""Test tools users can use in their own CI: scripted in-process targets and a fake HTTP
provider."""

from smartroute_llm.testing.fake_provider import (
    AttemptRecord,
    FakeProvider,
    Fault,
    FaultKind,
    Reply,
    heavy_tail,
)
from smartroute_llm.testing.scripted import FakeClock, ScriptedTarget, scripted_targets

__all__ = [
    "AttemptRecord",
    "FakeClock",
    "FakeProvider",
    "Fault",
    "FaultKind",
    "Reply",
    "ScriptedTarget",
    "heavy_tail",
    "scripted_targets",
]
