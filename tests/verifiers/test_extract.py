"""Answer extraction and AnswerVerifier through the public API."""

from __future__ import annotations

import pytest

from smartroute_llm import ChatRequest, ChatResponse
from smartroute_llm.request import Message
from smartroute_llm.verifiers import (
    AnswerVerifier,
    Check,
    choice_letter,
    code_block,
    final_number,
)
from smartroute_llm.verifiers.extract import declared_number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7", "7"),
        ("#### $1,200.00", "1200"),
        ("Steps: 5 then 6.\nThe answer is 11.", "11"),
        ("so the final answer is: **-3.50**", "-3.5"),
        ("Therefore \\boxed{42} is it.", "42"),
        ("The total is $1000 - $200 = $800.", "800"),
        ("Therefore, it will cost Dennis $18.00 to purchase 6 pounds.", "18"),
        ("Cho hiked 67 kilometers farther than Chloe.", "67"),
        ("First 2 boxes.\nThen 90 - 75 = 15 more popsicles.", "15"),
        ("A result of .5 cups", "0.5"),
        ("#### 12\nlater text 99", "12"),
    ],
)
def test_final_number(text: str, number: str) -> None:
    assert final_number(text) == number


def test_final_number_absent() -> None:
    assert final_number("I do not know.") is None
    assert final_number("") is None


def test_declared_number_needs_a_declaration() -> None:
    assert declared_number("so 4 - 16 = -12 quarts, which is not possible") is None
    assert declared_number("#### 96") == "96"
    assert declared_number("The answer is 5") == "5"


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is (C).", "C"),
        ("Answer: B", "B"),
        ("**Answer:** D because ...", "D"),
        ("#### E", "E"),
        ("A", "A"),
        ("Options (A) and (B) are wrong, so (D)", "D"),
    ],
)
def test_choice_letter(text: str, letter: str) -> None:
    assert choice_letter(text) == letter


def test_choice_letter_absent() -> None:
    assert choice_letter("A good question: it depends.") is None


def test_code_block() -> None:
    text = "Solution:\n```python\ndef f(x):\n    return x * 2\n```\nUse:\n```\nf(2)\n```"
    assert code_block(text) == "def f(x):\n    return x * 2"
    assert code_block(text, "python") == "def f(x):\n    return x * 2"
    assert code_block("```js\nconsole.log(1)\n```", "python") is None
    assert code_block("no code here") is None


def check(text: str) -> Check:
    return Check(ChatRequest(messages=[Message(role="user", content="q")]), ChatResponse(text=text))


def test_answer_verifier_accepts_and_rejects() -> None:
    v = AnswerVerifier("number")
    ok = v.verify(check("#### 42"))
    assert ok.accepted and ok.reason == "final number: 42" and ok.verifier == "answer"
    bad = v.verify(check("I am not sure."))
    assert not bad.accepted and bad.reason == "no final number in the answer"


async def test_answer_verifier_choice_async() -> None:
    v = AnswerVerifier("choice", name="mcq")
    assert (await v.averify(check("Answer: C"))).accepted
    verdict = await v.averify(check("It depends on the context."))
    assert not verdict.accepted and verdict.verifier == "mcq"


def test_answer_verifier_custom_extractor() -> None:
    v = AnswerVerifier(lambda t: "yes" if "yes" in t.lower() else None)
    assert v.verify(check("Yes.")).accepted
    assert not v.verify(check("No.")).accepted


def test_unknown_extractor_named() -> None:
    with pytest.raises(ValueError, match="extract='digits'"):
        AnswerVerifier("digits")  # type: ignore[arg-type]
