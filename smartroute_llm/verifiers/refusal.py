"""Refusal openings, in English and Chinese.

Conservative on purpose: a false "refusal" escalates a good answer (costly), a missed one only
leaves the answer to the other verifiers. So only the opening of an answer is looked at, and
only phrasings that decline outright ("I'm sorry, but I can't help with that", "抱歉，我无法
提供"); an apology followed by an answer, or "As an AI, I don't have opinions, but ..." is
not a refusal.
"""

from __future__ import annotations

import re

# Characters of the opening that are examined; a refusal says so in its first sentence.
OPENING = 200
# Once a streamed prefix is this long without a refusal opening, none is coming.
DECIDED = 80

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\uff0c": ",", "\u3002": "."})

_CANNOT = (
    r"(?:can ?not|can't|won't|will not|am unable to|'m unable to|am not able to|'m not able to|"
    r"must decline|have to decline|must refuse|do not feel comfortable|don't feel comfortable)"
)
_EN = re.compile(
    r"^(?:(?:i'm|i am|i'm really|i am really|we're|we are)\s+(?:very\s+|so\s+|truly\s+)?"
    r"(?:sorry|afraid)[,.!]?\s+(?:but\s+)?(?:i|we)\s+" + _CANNOT + r"|"
    r"(?:sorry|apologies)[,.!]?\s+(?:but\s+)?(?:i|we)\s+" + _CANNOT + r"|"
    r"(?:i|we)\s+" + _CANNOT + r"\s+(?:help|assist|comply|provide|fulfil|fulfill|answer|"
    r"support|create|generate|write|do that|do this|engage|participate|share|give)|"
    r"as an ai(?: language model| model| assistant)?,?\s+i\s+" + _CANNOT + r")"
)
_ZH = re.compile(
    r"^(?:(?:很|非常|真的)?(?:抱歉|对不起|不好意思)[,，.。!！]?\s*"
    r"(?:但是?|不过)?[,，]?\s*(?:我|本助手)(?:无法|不能|没办法|不可以|不便)|"
    r"(?:我|本助手)(?:无法|不能|不可以)(?:提供|回答|协助|帮助|满足|完成|参与|生成|处理)|"
    r"作为(?:一个|一名)?(?:人工智能|AI|ai)(?:语言模型|助手|模型)?[,，]?\s*我(?:无法|不能))"
)


def _opening(text: str) -> str:
    head = text.lstrip()[:OPENING].translate(_APOSTROPHES)
    return " ".join(head.lstrip("*_#> ").split()).lower()


def is_refusal(text: str) -> bool:
    """Whether the answer opens by declining (English or Chinese)."""
    head = _opening(text)
    return bool(_EN.match(head) or _ZH.match(head))


def refusal_prefix(text: str) -> bool | None:
    """For a streamed prefix: ``True`` a refusal opening, ``False`` none is coming, ``None``
    too short to tell."""
    if is_refusal(text):
        return True
    return False if len(text.strip()) >= DECIDED else None
