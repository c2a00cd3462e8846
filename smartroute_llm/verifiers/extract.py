"""Pull the final answer out of a free-text response, so two answers can be compared.

Each extractor maps an answer's text to a canonical string, or ``None`` when it holds no
answer of that kind:

- :func:`final_number`: GSM8K style. In order: ``#### 42``, ``\\boxed{42}``, "the answer is
  42", then in the final line holding a number: its last number after ``=``, a colon,
  "is"/"are"/"was"/"were"/"be"/"equals", else its first ``$`` amount, else its last number.
  ``$``, thousands commas and trailing zeros are dropped (``$1,200.00`` -> ``1200``).
  :func:`declared_number` (``"declared_number"``) takes only the first three forms.
- :func:`choice_letter`: a multiple-choice letter A-E ("The answer is (C)", "Answer: B",
  ``#### D``, a bare letter, the last ``(E)``).
- :func:`code_block`: the longest fenced code block (of ``language`` where given), its text
  stripped; comparing programs means running them, see ``ConsistencyVerifier(runner=)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Literal

Extractor = Callable[[str], "str | None"]
ExtractKind = Literal["number", "declared_number", "choice", "code"]

_NUM = r"(-(?=\$?\d))?\$?\s?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
_HASHES = re.compile(r"####\s*" + _NUM)
_BOXED = re.compile(r"\\boxed\{\s*" + _NUM)
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:is|:|=|would be|will be)\s*:?\s*" + _NUM)
_ANY = re.compile(r"(?<![\w.])" + _NUM)
_MARKED = re.compile(r"(?:=|:|\bis|\bare|\bbe|\bwas|\bwere|\bequals)\s*$", re.IGNORECASE)


def final_number(text: str) -> str | None:
    """The final numeric answer, canonical (``"42"``, ``"-3.5"``), or ``None``."""
    clean = text.replace("*", "").replace("\\$", "$")
    return _declared(clean) or _last_line_number(clean)


def declared_number(text: str) -> str | None:
    """Only a number the answer declares final (``####``, ``\\boxed{}``, "the answer is"):
    stricter than :func:`final_number`, for prompts that ask for that form."""
    return _declared(text.replace("*", "").replace("\\$", "$"))


def _declared(clean: str) -> str | None:
    for pattern in (_HASHES, _BOXED, _ANSWER_IS):
        found = pattern.findall(clean)
        if found:
            return _canonical(*found[-1])
    return None


def _last_line_number(clean: str) -> str | None:
    """The final line's last number after ``=``/"is"/..., else its first ``$`` amount, else
    its last number."""
    lines = [line for line in clean.splitlines() if _ANY.search(line)]
    if not lines:
        return None
    last = lines[-1]
    matches = list(_ANY.finditer(last))
    dollars = [m for m in matches if "$" in m.group(0)]
    marked = [m for m in matches if _MARKED.search(last[: m.start()])]
    best = marked[-1] if marked else dollars[0] if dollars else matches[-1]
    return _canonical(best.group(1), best.group(2))


def _canonical(sign: str | None, digits: str) -> str | None:
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None
    if sign:
        value = -value
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


_CHOICE_PATTERNS = (
    re.compile(r"(?i:answer)\s*(?:is|:|=)?\s*:?\s*\(?([A-E])\)?(?![\w'])"),
    re.compile(r"####\s*\(?([A-E])\)?(?!\w)"),
    re.compile(r"^\s*\(?([A-E])\)?[.:]?\s*$"),
    re.compile(r"\(([A-E])\)"),
)


def choice_letter(text: str) -> str | None:
    """The chosen letter, ``"A"``-``"E"``, or ``None``."""
    clean = text.replace("*", "")
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(clean)
        if found:
            return str(found[-1])
    return None


_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)


def code_block(text: str, language: str | None = None) -> str | None:
    """The longest fenced code block's text (only blocks tagged ``language``, or untagged,
    when given), or ``None``."""
    blocks = [
        body.strip()
        for tag, body in _FENCE.findall(text)
        if language is None or tag.lower() in ("", language.lower())
    ]
    blocks = [b for b in blocks if b]
    return max(blocks, key=len) if blocks else None


EXTRACTORS: dict[str, Extractor] = {
    "number": final_number,
    "declared_number": declared_number,
    "choice": choice_letter,
    "code": code_block,
}


def extractor(kind: ExtractKind | Extractor) -> Extractor:
    """An extractor by name (``"number"``, ``"choice"``, ``"code"``), or a given callable."""
    if callable(kind):
        return kind
    found = EXTRACTORS.get(kind)
    if found is None:
        raise ValueError(
            f"extract={kind!r}: use one of {sorted(EXTRACTORS)} or a function text -> str | None"
        )
    return found
