"""Where the ladder starts: after N rejections of a rung in a row for one cluster of prompts,
calls of that cluster start above it, re-probing it every so often; other clusters are not
affected."""

from __future__ import annotations

from smartroute_llm import Router, RoutingPolicy
from tests.cascade.helpers import ladder, rung_verdicts, says_42

MATH = "Compute the product of {} and {} and give only the number as the final answer."
POEM = "Write a short haiku about the {} sea at dawn, with a seasonal word in it."


def _cheap(request):
    text = request.messages[-1].text
    return "42" if text.startswith("Write") else "no idea"  # fails math, passes poems


def _router(**kw):
    targets = ladder({"cheap": _cheap, "mid": "42", "strong": "42"})
    policy = RoutingPolicy.cascade([says_42], start_higher_after=2, reprobe_every=3, **kw)
    return Router(targets, policy), {t.name: t for t in targets}


def test_a_cluster_the_cheap_rung_keeps_failing_starts_higher_and_is_re_probed():
    r, _t = _router()
    starts = []
    for i in range(9):
        resp = r.chat(MATH.format(i + 3, i + 11))
        starts.append(resp.decision.cascade.rungs[0].target)
        assert resp.decision.target == "mid"
    # two rejections, then started at mid; every third skipping call re-probes cheap
    assert starts == ["cheap", "cheap", "mid", "mid", "cheap", "mid", "mid", "cheap", "mid"]
    later = r.chat(MATH.format(5, 8))
    assert later.decision.cascade.start == 1
    assert "cheap rejected 2+ times in a row" in later.decision.cascade.start_reason
    stats = r.cascade.statistics()
    (cluster,) = [c for c in stats.values() if c["rungs"].get("cheap", {}).get("rejected")]
    assert cluster["rungs"]["cheap"] == {"accepted": 0, "rejected": 4, "streak": 4}
    assert cluster["answered"]["mid"] == 10


def test_other_clusters_still_start_at_the_bottom():
    r, _t = _router()
    for i in range(3):
        r.chat(MATH.format(i, i + 1))
    poem = r.chat(POEM.format("grey"))
    assert rung_verdicts(poem) == [("cheap", "accepted")]


def test_an_accepted_probe_brings_the_cluster_back_to_the_bottom():
    r, t = _router()
    for i in range(3):
        r.chat(MATH.format(i, i + 1))
    t["cheap"].set_script("42")  # the cheap model got better
    verdicts = [rung_verdicts(r.chat(MATH.format(i, 7)))[0] for i in range(5)]
    # one more skipping call, then the probe is accepted and the bottom rung is back
    assert verdicts == [("mid", "accepted")] + [("cheap", "accepted")] * 4


def test_start_higher_can_be_switched_off():
    targets = ladder({"cheap": "no", "mid": "42", "strong": "42"})
    r = Router(targets, RoutingPolicy.cascade([says_42], start_higher_after=0))
    for i in range(6):
        assert r.chat(MATH.format(i, 2)).decision.cascade.rungs[0].target == "cheap"
    assert r.cascade.statistics() == {}
