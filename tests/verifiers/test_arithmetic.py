"""ArithmeticVerifier through the public API: notations, tolerance, what it leaves alone,
hostile text, streamed prefixes, and its use by name in a cascade."""

from __future__ import annotations

import asyncio
import time

import pytest

from smartroute_llm import Router, RoutingPolicy
from smartroute_llm.request import ChatRequest, Message
from smartroute_llm.response import ChatResponse
from smartroute_llm.verifiers import ArithmeticVerifier, Check, Verdict
from tests.cascade.helpers import ladder, rung_verdicts

REQ = ChatRequest(messages=[Message(role="user", content="q")])


def verdict(text: str, **kw: bool) -> Verdict:
    return ArithmeticVerifier(**kw).verify(Check(request=REQ, response=ChatResponse(text=text)))


RIGHT = [
    "The profit would be 5000 * 2.5/100 = 125 dollars.",
    "the profit would be 5000 * 2.5/100 = $<<5000*2.5/100=125>>125.",
    "In total $1,200 + $300 = $1,500.",
    "He buys 3 x 4 = 12 eggs, then 3 × 4 = 12 more, 12 ÷ 4 = 3 and 12 \\times 2 = 24.",
    "Share: 5/20 = 25%, and 25% * 80 = 20, so 5/20 * 100 = 25%.",
    "Profit = $5,000 * (2.5/100) = $5,000 * 0.025 = $125",
    "First 5 + 3 = 8 * 2 = 16 apples.",  # a link restating the result and going on
    "Half is \\frac{1}{2} \\times 8 = 4, and 2^10 = 1024, and 3² = 9.",
    "**Step 1:** 7 - 10 = -3, (2 + 3) * 4 = 20.",
    "So (5 + 3 = 8) and ((2 + 3) * 4 = 20.",
]

WRONG = [
    ("So 17 * 23 = 392 apples.", "17 * 23 = 392"),
    ("There are <<15*5=70>>70 chairs.", "15*5=70"),
    ("In total $1,200 + $300 = $1,600.", "$1,200 + $300 = $1,600"),
    ("He buys 3 x 4 = 13 eggs.", "3 x 4 = 13"),
    ("The profit would be 5000 * 2.5/100 = 120.", "5000 * 2.5/100 = 120"),
    ("Then 2 + 3 = 5 = 6.", "5 = 6"),
    ("Total: (2 + 3) * 4 = 25", "(2 + 3) * 4 = 25"),
    ("Each gets 10 / 4 = 2.4 cakes", "10 / 4 = 2.4"),
    ("The share is 5/20 = 20%.", "5/20 = 20%"),
]


@pytest.mark.parametrize("text", RIGHT)
def test_right_calculations_in_several_notations_are_accepted(text: str) -> None:
    v = verdict(text)
    assert v.accepted, v.reason
    assert v.verifier == "arithmetic" and "check out" in v.reason


@pytest.mark.parametrize(("text", "shown"), WRONG)
def test_a_wrong_stated_result_rejects_and_says_which(text: str, shown: str) -> None:
    v = verdict(text)
    assert not v.accepted
    assert v.reason.startswith("wrong arithmetic: ") and shown in v.reason


def test_the_reason_gives_the_right_value() -> None:
    assert verdict("So 17 * 23 = 392.").reason == "wrong arithmetic: 17 * 23 = 392 (is 391)"


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("10/3 = 3.33", True),   # rounded to the stated digits
        ("10/3 = 3.3", True),
        ("10/3 = 3.34", True),   # rounded up
        ("100 / 30 = 4 buses", True),  # a count rounded up
        ("40/6=6.666666666666667", True),  # digits past float precision
        ("0.33 * 900 = 300", True),  # 0.33 is a rounded third
        ("10/3 = 3.35", False),
        ("10/3 = 3.2", False),
        ("7.5 * 4 = 31", False),  # an exact integer result must be exact
        ("17 * 23 = 390", False),
    ],
)
def test_tolerance_follows_the_stated_rounding(text: str, accepted: bool) -> None:
    assert verdict(text).accepted is accepted


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 42.",
        "x - 3 = 5, so x = 8.",
        "Let 2x + 3 = 7.",
        "half of 10 + 4 = 9",               # a word binds into the expression
        "2 hours * 3 = 6 hours",
        "She spends 20 + 10% = 22 dollars",  # a percentage added to an amount
        "Revenue 2 * 0.75 = 1.5 million",    # a scale word on the result
        "It starts at 2:30 + 15 = 2:45",     # times
        "if a >= 3 + 4 then b == 2 + 2",
        "1 dozen = 12 eggs",
    ],
)
def test_what_cannot_be_checked_is_accepted_as_nothing_to_check(text: str) -> None:
    v = verdict(text)
    assert v.accepted and v.reason == "nothing to check"


HOSTILE = [
    "2^99999 = 1",
    "9^9^9^9 = 3",
    "(2^64)^64^64 = 5",
    "1/0 = 5 and 1/(3 - 3) = 2",
    "1+" * 5000 + "1 = 3",
    "(" * 5000 + "1" + ")" * 5000 + " = 2",
    "(" * 40 + "1" + ")" * 40 + " + 1 = 5",
    "9" * 10_000 + " * 2 = 5",
    "1 = " * 10_000,
    "<<1+1=2>>" * 50_000,
    ("12 * 12 = 144. " * 20_000) + "<<" + "1*" * 140 + "1=1>>",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_is_bounded_and_ignored(text: str) -> None:
    started = time.process_time()
    v = verdict(text)
    assert time.process_time() - started < 20  # generous: linear work, a busy machine
    assert v.accepted, v.reason


def test_a_wrong_sum_buried_in_nested_annotations_is_found_quickly() -> None:
    started = time.process_time()
    v = verdict("<<" * 50_000 + "1+1=3" + ">>" * 50_000)
    assert time.process_time() - started < 20
    assert not v.accepted and "1+1=3" in v.reason


def test_a_wrong_equation_after_hostile_text_is_still_found() -> None:
    text = "(" * 5000 + "1" + ")" * 5000 + " = 2\n" + "2^99999 = 1\n" + "6 * 7 = 43"
    v = verdict(text)
    assert not v.accepted and "6 * 7 = 43" in v.reason


def test_final_answer_check_is_an_option() -> None:
    text = "2 + 3 = 5 apples.\n#### 6"
    assert verdict(text).accepted
    v = verdict(text, check_final=True)
    assert not v.accepted and v.reason == "final answer 6 is not the last result stated (5)"
    assert verdict("2 + 3 = 5 apples.\n#### 5", check_final=True).accepted
    assert verdict("#### 6", check_final=True).reason == "nothing to check"


@pytest.mark.parametrize(
    ("prefix", "rejected"),
    [
        ("So 17 * 23 = 392 apples. Then", True),
        ("So 17 * 23 = 392\nThen", True),
        ("So 17 * 23 = 39", False),          # the result is still arriving
        ("So 17 * 23 = 392", False),         # not known to be complete
        ("So 10 + 5 = 12 + 3", False),       # the right side may go on
        ("So 17 * 23 = 391. Then 2 + 2 = 5", False),
        ("", False),
    ],
)
def test_prefix_rejects_only_a_completed_wrong_equation(prefix: str, rejected: bool) -> None:
    got = ArithmeticVerifier().check_prefix(REQ, prefix)
    if rejected:
        assert got is not None and not got.accepted and "17 * 23 = 392" in got.reason
    else:
        assert got is None


WRONG_WORK = "Each box holds 17 * 23 = 392 pens.\n#### 392"
RIGHT_WORK = "Each box holds 17 * 23 = 391 pens.\n#### 391"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cascade_by_name_escalates_on_wrong_arithmetic(mode: str) -> None:
    targets = ladder({"cheap": WRONG_WORK, "mid": RIGHT_WORK, "strong": "unused"})
    r = Router(targets, RoutingPolicy.cascade(["arithmetic"]))
    resp = r.chat("q") if mode == "sync" else asyncio.run(r.achat("q"))
    assert resp.text == RIGHT_WORK
    assert rung_verdicts(resp) == [("cheap", "rejected"), ("mid", "accepted")]
    rej = resp.decision.cascade.rungs[0]
    assert rej.verifier == "arithmetic"
    assert rej.reason == "wrong arithmetic: 17 * 23 = 392 (is 391)"


def test_cascade_accepts_an_answer_with_nothing_to_check() -> None:
    targets = ladder({"cheap": "Paris.", "mid": "x", "strong": "y"})
    r = Router(targets, RoutingPolicy.cascade([{"name": "arithmetic", "check_final": True}]))
    resp = r.chat("q")
    assert resp.text == "Paris." and rung_verdicts(resp) == [("cheap", "accepted")]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_streamed_cascade_escalates_on_a_wrong_first_sentence(mode: str) -> None:
    cheap = "First, 17 * 23 = 392 pens. " + "Then we pack them all. " * 10
    targets = ladder({"cheap": cheap, "mid": RIGHT_WORK, "strong": "y"}, chunk_chars=5)
    r = Router(targets, RoutingPolicy.cascade(["arithmetic"], stream="first"))
    if mode == "sync":
        chunks = list(r.stream("q"))
    else:
        async def run() -> list:
            return [c async for c in r.astream("q")]
        chunks = asyncio.run(run())
    assert "".join(c.text for c in chunks) == RIGHT_WORK
    rej = chunks[-1].decision.cascade.rungs[0]
    assert (rej.target, rej.verdict) == ("cheap", "rejected")
    assert rej.reason == "prefix: wrong arithmetic: 17 * 23 = 392 (is 391)"


def test_scored_offline_beside_the_other_verifiers(tmp_path) -> None:
    import csv

    from smartroute_llm.eval.verifier_scores import score_verifiers

    table = tmp_path / "t.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "cheap", "cheap|response", "strong", "strong|response"])
        w.writerow(["q1", 1.0, "3 * 4 = 12\n#### 12", 1.0, "#### 12"])   # right, checks out
        w.writerow(["q2", 0.0, "3 * 4 = 13\n#### 13", 1.0, "#### 12"])   # wrong arithmetic
        w.writerow(["q3", 0.0, "#### 7", 1.0, "#### 8"])                 # nothing to check
        w.writerow(["q4", 0.0, "2 + 2 = 4\n#### 5", 1.0, "#### 8"])       # final differs
    scores = {s.verifier: s for s in score_verifiers(table, cheap="cheap", strong="strong").scores}
    got = {
        name: (s.true_accept, s.false_accept, s.true_reject, s.false_reject)
        for name, s in scores.items()
        if "arithmetic" in name
    }
    assert got == {
        "arithmetic": (1, 2, 1, 0),
        "arithmetic+final": (1, 1, 2, 0),
        "declared answer+arithmetic": (1, 2, 1, 0),
    }
    packaged = {s.verifier: s for s in score_verifiers().scores}["arithmetic"]
    assert packaged.n == 200 and packaged.true_reject > 0 and not packaged.reference
