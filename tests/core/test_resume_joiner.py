"""The continuation joiner never repeats delivered text: restarts, overlaps and fresh
continuations, fed in arbitrary pieces; divergent restarts refuse to join."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartroute_llm.resume import ContinuationJoiner, ContinuationMismatch


def join(delivered: str, continuation: str, pieces: list[int]) -> str:
    j = ContinuationJoiner(delivered)
    out, pos = [], 0
    for size in pieces:
        out.append(j.feed(continuation[pos : pos + size]))
        pos += size
    out.append(j.feed(continuation[pos:]))
    out.append(j.finish())
    return delivered + "".join(out)


def squash(text: str) -> str:
    return " ".join(text.split())


# answers of distinct words, so no continuation is ambiguous by accident
answers = st.integers(8, 80).map(lambda n: " ".join(f"word{i}" for i in range(n)) + ".")
cuts = st.floats(0.1, 0.9)
pieces = st.lists(st.integers(1, 9), max_size=40)


@settings(max_examples=200, deadline=None)
@given(answers, cuts, pieces)
def test_a_full_restart_is_dropped(answer, cut, sizes):
    delivered = answer[: int(len(answer) * cut)]
    assert squash(join(delivered, answer, sizes)) == squash(answer)


@settings(max_examples=200, deadline=None)
@given(answers, cuts, pieces, st.integers(16, 60))
def test_a_repeated_tail_is_dropped(answer, cut, sizes, back):
    i = int(len(answer) * cut)
    delivered = answer[:i]
    back = min(back, i)
    if back < 16:
        return
    assert squash(join(delivered, answer[i - back :], sizes)) == squash(answer)


@settings(max_examples=200, deadline=None)
@given(answers, cuts, pieces)
def test_a_true_continuation_flows_unchanged(answer, cut, sizes):
    i = int(len(answer) * cut)
    assert join(answer[:i], answer[i:], sizes) == answer


def test_restart_with_different_whitespace_is_still_recognised():
    delivered = "Step 1: mix the flour.\n\nStep 2: add"
    restart = "Step 1:  mix the flour.\nStep 2: add water and stir."
    assert squash(join(delivered, restart, [5, 5, 5])) == squash(
        "Step 1: mix the flour. Step 2: add water and stir."
    )


def test_a_restart_that_words_the_answer_differently_cannot_be_joined():
    delivered = "The capital of France is Paris, a city on the Seine"
    j = ContinuationJoiner(delivered)
    with pytest.raises(ContinuationMismatch):
        j.feed("The capital of France is, of course, Paris.")
        j.finish()


def test_a_fresh_continuation_is_held_back_only_briefly():
    j = ContinuationJoiner("Once upon a time there was a dragon")
    first = j.feed(" who loved to read books about knights")
    assert first == " who loved to read books about knights"
    assert j.kind == "fresh" and j.dropped == 0
