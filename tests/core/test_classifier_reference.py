"""The heuristic classifier's fast path (bytes translation for ASCII text, zero signals left out
of the noisy-OR) gives exactly, bit for bit, what the straightforward formulation below gives."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from smartroute_llm import features
from smartroute_llm.features import (
    _CATEGORY,
    _CJK_TERMS,
    _CODE_MARKS,
    _LIST_ITEM,
    _LOG_LONG,
    _MATH_EXPR,
    _PHRASES,
    DEFAULT_CLASSIFIER,
    SIGNAL_WEIGHTS,
    complexity_class,
    estimate_tokens,
)

_PUNCT = str.maketrans({c: " " for c in "!\"$%&'()*,./:;<=>?@[\\]^_`{|}~"})


def _saturate(hits):
    return 1.0 - 0.5**hits if hits > 0 else 0.0


def reference(prompt, tools, json_, messages):
    text = prompt[:8000]
    low = text.lower()
    counts = {"code": 0.0, "math": 0.0, "reasoning": 0.0, "task": 0.0, "constraints": 0.0}
    for word in set(low.translate(_PUNCT).split()):
        cat = _CATEGORY.get(word)
        if cat is not None:
            counts[cat] += 1
        phrase = _PHRASES.get(word)
        if phrase is not None:
            counts[phrase[0]] += sum(1 for p in phrase[1] if p in low)
    if any(c in text for c in "`(=#{"):
        counts["code"] += sum(1 for m in _CODE_MARKS if m in low)
    if any(c in text for c in "=^\\+"):
        counts["math"] += 0.5 * len(_MATH_EXPR.findall(text, 0, 2000))
    for cat, terms in _CJK_TERMS.items():
        counts[cat] += sum(1 for t in terms if t in text)
    questions = text.count("?") + text.count("？")
    items = len(_LIST_ITEM.findall(text)) if "\n" in text else 0
    signals = {
        "length": min(1.0, math.log1p(estimate_tokens(prompt) / 40.0) / _LOG_LONG),
        "code": _saturate(counts["code"]),
        "math": _saturate(counts["math"]),
        "reasoning": _saturate(counts["reasoning"]),
        "task": 1.0 if counts["task"] else 0.0,
        "constraints": _saturate(counts["constraints"] + items / 2),
        "questions": _saturate(max(0, questions - 1)),
        "tools": 1.0 if tools else 0.0,
        "structured_output": 1.0 if json_ else 0.0,
        "depth": min(1.0, max(0, messages - 2) / 10),
    }
    miss = 1.0
    for name, v in signals.items():
        miss *= 1.0 - SIGNAL_WEIGHTS[name] * v
    return 1.0 - miss, signals


# words the classifier knows (keywords, phrase heads, CJK terms), glued by every kind of
# separator it splits on, including the C0 separators str.split treats as whitespace
VOCAB = sorted(_CATEGORY) + sorted(_PHRASES) + [t for ts in _CJK_TERMS.values() for t in ts]
PIECES = st.one_of(
    st.sampled_from(VOCAB),
    st.sampled_from([w.upper() for w in VOCAB if w.isascii()]),
    st.sampled_from(["step by step", "explain why", "at least", "no more than", "show that",
                     "2+2", "0/0", "x = 3 * 4", "console.log", "\\frac", "```", "=>", "();",
                     "{\n", "\n1. ", "\n- "]),
    st.sampled_from([" ", "  ", "\n", "\t", ",", ".", "?", "？", "!", "(", ")", "\x1c", "\x1f",
                     "\x0b", "\x85", "\xa0", "-", "#", "+", "é", "ß"]),
    st.text(max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=40), st.booleans(), st.booleans(), st.integers(0, 30))
def test_fast_classifier_equals_the_reference(pieces, tools, json_, messages):
    prompt = "".join(pieces)
    got = DEFAULT_CLASSIFIER.score(prompt, tools, json_, messages)
    score, signals = reference(prompt, tools, json_, messages)
    assert got.signals == signals
    assert got.score == score  # exactly: the same floats in the same order
    assert got.label == complexity_class(score)


def test_ascii_prompts_take_the_bytes_path(monkeypatch):
    """An ASCII prompt's words are found by the bytes table, never by str.translate."""

    class NoStrTranslate(dict):
        def __getitem__(self, key):
            raise AssertionError("str.translate used for ASCII text")

    monkeypatch.setattr(features, "_PUNCT", NoStrTranslate())
    got = DEFAULT_CLASSIFIER.score("Prove that, step by step: implement it in Python!", False,
                                   False, 1)
    assert got.signals["task"] == 1.0 and got.signals["reasoning"] > 0
    assert got.signals["code"] > 0
