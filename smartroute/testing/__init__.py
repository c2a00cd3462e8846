"""Test helpers users can use in their own CI: scripted in-process targets and a fake HTTP provider."""

from smartroute.testing.scripted import FakeClock, ScriptedTarget, scripted_targets

__all__ = ["FakeClock", "ScriptedTarget", "scripted_targets"]
