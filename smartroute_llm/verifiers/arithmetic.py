"""Recompute the arithmetic a worked answer states and reject it when a stated result is wrong.

Model-free and cheap, so it can sit in every cascade over math-like prompts, but it catches only
one kind of wrong answer: a slip in a calculation the answer writes out (``17 * 23 = 392``). A
wrong plan computed correctly passes, and so does an answer with nothing to recompute (accepted
with the reason "nothing to check", so it composes with the other verifiers).

What counts as a stated calculation, line by line:

- GSM8K calculator annotations ``<<5000*2.5/100=125>>`` (then removed from the prose);
- ``expression = result`` in prose, where the expression is numbers, ``+ - * / ^``, ``x``/``×``
  /``·``/``\\times`` between numbers, ``÷``/``\\div``, parentheses, ``$1,200``-style amounts and
  percentages (``20%`` is 0.2), and chains ``a + b = c = d`` (every link is checked against the
  one before; a link ``= 8 * 2 = 16`` that restates the last result and goes on is read so).

Deliberately conservative: an expression must hold an operator, and is not checked when words
bind into it (``half of 10 + 4``, ``2 hours * 3``, ``20 + 10%``), when the result carries a
scale word (``= 1.5 million``), for times (``2:30``), or when it is too long, too deeply nested
or its values too large to be sure of. A result counts as right when the exact value, rounded
to the result's stated decimals, down, up or to the nearest, gives it (``10/3 = 3.33``, ``= 3.4``,
``= 4`` buses); literals with two or more decimals are taken as rounded (``0.33 * 900 = 300``).

Expressions are parsed with :mod:`ast` and evaluated over a whitelist of numeric operators on
float intervals (never ``eval``); exponents are small integers, values bounded, so hostile text
cannot hang or exhaust it.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from smartroute_llm.request import ChatRequest
from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict
from smartroute_llm.verifiers.extract import declared_number

MAX_TOKENS = 64  # tokens in one expression
MAX_DEPTH = 12  # nested parentheses
MAX_DIGITS = 24  # characters in one number
MAX_EXPONENT = 64
MAX_VALUE = 1e18  # beyond this floats stop being exact enough to judge a stated integer
MAX_CHARS = 200_000  # of an answer's text; the rest is not read

_REASON_CHARS = 120

_TOKEN = re.compile(
    r"(?P<num>(?:[$€£]\s?)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?%?|[$€£]?\.\d+%?)"
    r"|(?P<cmp>==+|=>|<=|>=|!=)"
    r"|(?P<eq>=)"
    r"|(?P<op>[-+*/^])"
    r"|(?P<lp>\()"
    r"|(?P<rp>\))"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<ws>\s+)"
    r"|(?P<other>.)"
)
_ANNOTATION = re.compile(r"<<([^<>\n]{0,300})>>")
_SENTENCE_END = re.compile(r"\n|[.!?](?=\s)")
_REWRITES = (
    ("\\$", "$"), ("\\*", "*"), ("**", ""), ("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"),
    ("\\left(", "("), ("\\right)", ")"), ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " "),
    ("×", "*"), ("·", "*"), ("⋅", "*"), ("∗", "*"), ("÷", "/"), ("∕", "/"), ("−", "-"),
    ("²", "^2"), ("³", "^3"),
)
_FRAC = re.compile(r"\\d?frac\{\s*([\d.,]+)\s*\}\{\s*([\d.,]+)\s*\}")
# words that bind numbers into a larger expression than the symbols show
_BINDING = frozenset(
    [
        "of", "times", "by", "plus", "minus", "less", "than", "over", "per", "and", "half",
        "twice", "double", "triple", "thrice", "quarter", "third", "thirds", "fourth",
        "fourths", "fifth", "fifths", "from", "to", "into", "divide", "divided", "multiply",
        "multiplied", "add", "added", "subtract", "subtracted", "sqrt", "root", "squared",
        "cubed", "log", "ln", "sin", "cos", "tan", "exp", "e"
    ]
)
_SCALE = frozenset(
    [
        "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
        "billions", "trillion", "dozen", "dozens", "k", "m", "b", "bn", "mn", "mil"
    ]
)
_OPEN_BEFORE = frozenset("([{\"'`*")


class _Unchecked(Exception):
    """This expression cannot be judged (too big, division by zero, unknown notation)."""


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # num, op, lp, rp, eq, word, other
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Equation:
    """One stated calculation: ``text`` as written, ``computed`` its exact value (the middle
    of its interval when it uses rounded constants), ``stated`` the result the answer gives."""

    text: str
    computed: float
    stated: float
    correct: bool


@dataclass(frozen=True, slots=True)
class _Value:
    lo: float
    hi: float
    percent: bool = False

    @property
    def mid(self) -> float:
        return (self.lo + self.hi) / 2


@dataclass(frozen=True, slots=True)
class _Claim:
    """A stated result: the value, the width of its last stated digit (0 for an expression),
    and whether it is written as a percentage (then both readings count)."""

    value: _Value
    unit: float
    percent: bool


class ArithmeticVerifier(BaseVerifier):
    """Rejects an answer in which a calculation it states is wrong.

    ``check_final=True`` also rejects when the declared final answer (``#### N``, ``\\boxed``,
    "the answer is N") differs from the result of the last calculation stated; off by default,
    as answers often finish with a step they do not write as an equation."""

    name = "arithmetic"

    def __init__(self, *, check_final: bool = False, name: str = "arithmetic") -> None:
        self.check_final = check_final
        self.name = name

    def verify(self, check: Check) -> Verdict:
        return self.judge(check.response.text)

    def judge(self, text: str) -> Verdict:
        """The verdict on a whole answer's text."""
        equations = find_equations(text)
        wrong = next((e for e in equations if not e.correct), None)
        if wrong is not None:
            return Verdict(False, _wrong(wrong), verifier=self.name)
        if self.check_final and equations:
            declared = declared_number(text)
            if declared is not None:
                last = equations[-1]
                if not _close(float(declared), last.stated):
                    return Verdict(
                        False,
                        f"final answer {declared} is not the last result stated "
                        f"({_fmt(last.stated)})",
                        verifier=self.name,
                    )
        if not equations:
            return Verdict(True, "nothing to check", verifier=self.name)
        n = len(equations)
        return Verdict(
            True, f"{n} calculation{'s' if n > 1 else ''} check out", verifier=self.name
        )

    def check_prefix(self, request: ChatRequest, text: str) -> Verdict | None:
        """Rejects as soon as a wrong calculation appears in the streamed text's complete
        sentences or lines (a result still arriving, ``= 1`` of ``= 12``, is not judged);
        otherwise no opinion, since the rest of the answer may still go wrong."""
        end = 0
        for m in _SENTENCE_END.finditer(text, 0, min(len(text), MAX_CHARS)):
            end = m.end()
        wrong = next((e for e in find_equations(text[:end]) if not e.correct), None)
        return None if wrong is None else Verdict(False, _wrong(wrong), verifier=self.name)


def find_equations(text: str) -> list[Equation]:
    """Every calculation ``text`` states that can be checked, in order."""
    out: list[Equation] = []
    for line in _rewrite(text[:MAX_CHARS]).splitlines():
        out.extend(_line_equations(line))
    return out


def _rewrite(text: str) -> str:
    for old, new in _REWRITES:
        text = text.replace(old, new)
    return _FRAC.sub(r"(\1/\2)", text)


def _line_equations(line: str) -> Iterator[Equation]:
    """Annotations first where they stand, then the prose around them, in order of place."""
    found: list[tuple[int, Equation]] = []
    prose, last, at = [], 0, 0
    for m in _ANNOTATION.finditer(line):
        prose.append(line[last : m.start()])
        at += m.start() - last
        found.extend((at, e) for _, e in _equations(m.group(1), chained=True))
        last = m.end()
    prose.append(line[last:])
    found.extend(_equations("".join(prose), chained=False))
    found.sort(key=lambda pair: pair[0])
    return (e for _, e in found)


def _equations(line: str, *, chained: bool) -> Iterator[tuple[int, Equation]]:
    """``chained``: the line is one calculation (an annotation), its first side taken whole."""
    toks = _tokens(line)
    eqs = [i for i, t in enumerate(toks) if t.kind == "eq"]
    for n, k in enumerate(eqs):
        seg_start = eqs[n - 1] + 1 if n else 0
        seg_end = eqs[n + 1] if n + 1 < len(eqs) else len(toks)
        left_seg, right_seg = toks[seg_start:k], toks[k + 1 : seg_end]
        try:
            if n or chained:
                if not left_seg or not all(_is_expr(t) for t in left_seg):
                    left = _trailing(line, toks, seg_start, k)
                else:
                    left = left_seg
            else:
                left = _trailing(line, toks, seg_start, k)
            if left is None:
                continue
            computed = _evaluate(left)
            claims = _claims(line, right_seg)
        except _Unchecked:
            continue
        if not claims:
            continue
        ok = any(_matches(computed, c) for c in claims)
        stated = next((c for c in claims if _matches(computed, c)), claims[0])
        end = right_seg[_lead_len(right_seg) - 1].end
        shown = " ".join(line[left[0].start : end].split())
        yield left[0].start, Equation(shown, computed.mid, stated.value.mid, ok)


def _tokens(line: str) -> list[Tok]:
    toks = [
        Tok(str(m.lastgroup), m.group(), m.start(), m.end())
        for m in _TOKEN.finditer(line)
        if m.lastgroup != "ws"
    ] if "=" in line else []
    for i, t in enumerate(toks):  # "3 x 4": x between numbers multiplies
        if t.kind == "word" and t.text in ("x", "X") and 0 < i < len(toks) - 1:
            before, after = toks[i - 1], toks[i + 1]
            if before.kind in ("num", "rp") and after.kind in ("num", "lp"):
                toks[i] = Tok("op", "*", t.start, t.end)
    return toks


def _is_expr(t: Tok) -> bool:
    return t.kind in ("num", "op", "lp", "rp")


def _follows(a: Tok, b: Tok) -> bool:
    """Can ``b`` come right after ``a`` in an expression?"""
    if a.kind in ("num", "rp"):
        return b.kind in ("op", "rp")
    return b.kind in ("num", "lp") or (b.kind == "op" and b.text == "-")


def _trailing(line: str, toks: list[Tok], lo: int, k: int) -> list[Tok] | None:
    """The expression that ends right before ``toks[k]`` (an ``=``), when it stands on its own:
    it holds an operator, no word binds into it and its parentheses close inside it."""
    if k == lo or toks[k - 1].kind not in ("num", "rp"):
        return None
    i = k - 1
    while i > lo and _is_expr(toks[i - 1]) and _follows(toks[i - 1], toks[i]):
        i -= 1
        if k - i > MAX_TOKENS:
            raise _Unchecked
    run = toks[i:k]
    depth, opened = 0, 0
    for n, t in enumerate(run):
        depth += (t.kind == "lp") - (t.kind == "rp")
        if depth < 0:
            return None  # closes a parenthesis opened in prose
        if t.kind == "lp" and n == opened:
            opened += 1
    if depth > 0:  # "(5 + 3 = 8)": drop the parentheses left open at its start
        if depth > opened:
            return None
        run, i = run[depth:], i + depth
    if not run or (run[0].kind == "op" and run[0].text != "-"):
        return None
    if not any(t.kind == "op" and n and _follows(run[n - 1], t) for n, t in enumerate(run)):
        return None
    if run[0].kind == "op" and i > lo:
        return None  # "x - 3": the minus belongs to what stands before
    start = run[0].start
    if start and not (line[start - 1].isspace() or line[start - 1] in _OPEN_BEFORE):
        return None
    if i > lo:
        prev = toks[i - 1]
        if prev.kind in ("num", "rp") or (prev.kind == "word" and prev.text.lower() in _BINDING):
            return None
    return run


def _lead_len(seg: list[Tok]) -> int:
    """Tokens of the expression that opens ``seg`` (at least 1 when there is one)."""
    n = 1 if seg and _is_expr(seg[0]) else 0
    while n < len(seg) and n < MAX_TOKENS and _is_expr(seg[n]) and _follows(seg[n - 1], seg[n]):
        n += 1
    return max(n, 1) if seg else 0


def _claims(line: str, seg: list[Tok]) -> list[_Claim]:
    """What the right side states: its leading number (with its rounding), and the value of
    the whole expression that opens it when that is longer."""
    if not seg:
        return []
    sign, at = (-1.0, 1) if seg[0].kind == "op" and seg[0].text == "-" else (1.0, 0)
    out: list[_Claim] = []
    if at < len(seg) and seg[at].kind == "num":
        num = seg[at]
        after = line[num.end : num.end + 2]
        if re.match(r":\d", after):
            raise _Unchecked  # a time of day
        word = seg[at + 1] if at + 1 < len(seg) else None
        if word is not None and word.kind == "word" and word.text.lower() in _SCALE:
            raise _Unchecked  # "= 1.5 million"
        value, decimals, percent = _number(num.text)
        unit = 10.0 ** -decimals
        out.append(_Claim(_Value(sign * value, sign * value), unit, percent))
    n = _lead_len(seg)
    while n > 0 and seg[n - 1].kind in ("op", "lp"):
        n -= 1
    if n > at + 1:
        with contextlib.suppress(_Unchecked):
            out.append(_Claim(_evaluate(seg[:n]), 0.0, False))
    return out


def _number(text: str) -> tuple[float, int, bool]:
    percent = text.endswith("%")
    digits = text.strip("$€£%").strip().replace(",", "")
    if len(digits) > MAX_DIGITS:
        raise _Unchecked
    decimals = len(digits.partition(".")[2])
    return float(digits), decimals, percent


def _evaluate(run: list[Tok]) -> _Value:
    """The value of an expression's tokens, through :mod:`ast` and a whitelist of operators."""
    if len(run) > MAX_TOKENS:
        raise _Unchecked
    depth = 0
    literals: dict[str, _Value] = {}
    parts = []
    for t in run:
        depth += (t.kind == "lp") - (t.kind == "rp")
        if depth > MAX_DEPTH:
            raise _Unchecked
        if t.kind == "num":
            name = f"n{len(literals)}"
            literals[name] = _literal(t.text)
            parts.append(name)
        else:
            parts.append("**" if t.text == "^" else t.text)
    try:
        tree = ast.parse(" ".join(parts), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _Unchecked from None
    try:
        return _eval(tree.body, literals)
    except (ArithmeticError, RecursionError):
        raise _Unchecked from None


def _literal(text: str) -> _Value:
    value, decimals, percent = _number(text)
    half = 0.5 * 10.0 ** -decimals if decimals >= 2 else 0.0  # 0.33, 3.14: rounded constants
    lo, hi = value - half, value + half
    if percent:
        return _Value(lo / 100, hi / 100, True)
    return _Value(lo, hi)


def _eval(node: ast.expr, literals: dict[str, _Value]) -> _Value:
    if isinstance(node, ast.Name) and node.id in literals:
        return literals[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand, literals)
        return v if isinstance(node.op, ast.UAdd) else _Value(-v.hi, -v.lo, v.percent)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, literals), _eval(node.right, literals)
        return _bounded(_binop(node.op, a, b))
    raise _Unchecked


def _binop(op: ast.operator, a: _Value, b: _Value) -> _Value:
    if isinstance(op, ast.Add | ast.Sub):
        if a.percent != b.percent:
            raise _Unchecked  # "20 + 10%" usually means 20 * 1.1
        if isinstance(op, ast.Add):
            return _Value(a.lo + b.lo, a.hi + b.hi, a.percent)
        return _Value(a.lo - b.hi, a.hi - b.lo, a.percent)
    if isinstance(op, ast.Mult):
        p = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
        return _Value(min(p), max(p))
    if isinstance(op, ast.Div):
        if b.lo <= 0 <= b.hi:
            raise _Unchecked
        q = (a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi)
        return _Value(min(q), max(q))
    if isinstance(op, ast.Pow):
        e = b.lo
        if b.lo != b.hi or e != int(e) or abs(e) > MAX_EXPONENT:
            raise _Unchecked
        if e < 0 and a.lo <= 0 <= a.hi:
            raise _Unchecked
        ends = (a.lo ** int(e), a.hi ** int(e))
        lo, hi = min(ends), max(ends)
        if int(e) % 2 == 0 and a.lo < 0 < a.hi:
            lo = 0.0
        return _Value(float(lo), float(hi))
    raise _Unchecked


def _bounded(v: _Value) -> _Value:
    if not (math.isfinite(v.lo) and math.isfinite(v.hi)) or max(-v.lo, v.hi) > MAX_VALUE:
        raise _Unchecked
    return v


def _matches(computed: _Value, claim: _Claim) -> bool:
    """Some value in ``computed`` rounds (down, up or to the nearest) to the claim's stated
    digits; a percentage may be read as a share or as points."""
    readings = [(claim.value, claim.unit)]
    if claim.percent:
        v = claim.value
        readings.append((_Value(v.lo / 100, v.hi / 100), claim.unit / 100))
    for v, unit in readings:
        eps = 1e-9 * max(1.0, abs(v.lo), abs(v.hi), abs(computed.lo), abs(computed.hi))
        if unit:  # "= 6.666666666666667": digits past float precision are noise
            unit = max(unit, 1e-12 * max(1.0, abs(v.lo), abs(v.hi)))
            eps = min(eps, unit / 4)
            if computed.lo < v.hi + unit - eps and computed.hi > v.lo - unit + eps:
                return True
        elif computed.lo <= v.hi + eps and computed.hi >= v.lo - eps:
            return True
    return False


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _fmt(x: float) -> str:
    return str(round(x)) if _close(x, round(x)) else f"{x:.6g}"


def _wrong(e: Equation) -> str:
    shown = e.text if len(e.text) <= 60 else e.text[:57] + "..."
    return f"wrong arithmetic: {shown} (is {_fmt(e.computed)})"[:_REASON_CHARS]
