"""A judge: another model grades the rung's answer.

The judge is one of the router's candidates, named by ``model`` (a cheap one: grading is
easier than answering, and the judge's call is added to the cost of every judged rung). It is
asked through the :class:`Check` with this prompt (``{...}`` filled in)::

    system: You grade an AI assistant's answer to a user's request. Judge only whether the
            answer is correct and complete for the request, not its style. Check facts,
            arithmetic and code step by step; do not trust the answer's own reasoning.
            End with one line exactly: GRADE: PASS or GRADE: FAIL
            (scale="score": ... SCORE: N, where N is 1 (certainly wrong) to 10 (certainly right))
    user:   ## Request
            {the conversation, one "[role] text" block per message}

            ## Answer to grade
            {the answer's text, and its tool calls as name(JSON arguments)}

The judge's reply is read from its end: the last ``GRADE: PASS|FAIL`` (any case, markdown
allowed), else the last ``SCORE: N`` or ``N/10`` compared with ``threshold``, else a last line
that is only PASS or FAIL. A reply with no grade is rejected (``on_unparsed="reject"``, the
default: the cascade escalates) or accepted.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from smartroute_llm.request import ChatRequest, Message
from smartroute_llm.response import ChatResponse
from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict

Scale = Literal["pass_fail", "score"]

_INSTRUCTIONS = (
    "You grade an AI assistant's answer to a user's request. Judge only whether the answer is "
    "correct and complete for the request, not its style. Check facts, arithmetic and code "
    "step by step; do not trust the answer's own reasoning.\n"
)
_FINAL_LINE: dict[str, str] = {
    "pass_fail": "End with one line exactly: GRADE: PASS or GRADE: FAIL",
    "score": "End with one line exactly: SCORE: N, where N is 1 (certainly wrong) to 10 "
    "(certainly right)",
}
JUDGE_PROMPTS: dict[str, str] = {k: _INSTRUCTIONS + v for k, v in _FINAL_LINE.items()}

_GRADE = re.compile(r"GRADE[\s*_`]*[:=][\s*_`]*(PASS|FAIL)", re.IGNORECASE)
_SCORE = re.compile(r"SCORE[\s*_`]*[:=][\s*_`]*(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF_TEN = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*10\b")
_BARE = re.compile(r"^[\s*_`]*(PASS|FAIL)[\s*_`.!]*$", re.IGNORECASE)


def parse_grade(text: str) -> tuple[bool | None, float | None]:
    """(pass, score out of 10) from a judge's reply; ``None`` where it holds none."""
    grades = _GRADE.findall(text)
    if grades:
        return grades[-1].upper() == "PASS", None
    scores = _SCORE.findall(text) or _OUT_OF_TEN.findall(text)
    if scores:
        score = float(scores[-1])
        return (None, score) if 0 <= score <= 10 else (None, None)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    bare = _BARE.match(lines[-1]) if lines else None
    if bare:
        return bare.group(1).upper() == "PASS", None
    return None, None


class JudgeVerifier(BaseVerifier):
    """Asks candidate ``model`` to grade the answer (prompt: :data:`JUDGE_PROMPTS`, or
    ``prompt=`` your own system prompt ending in the same final-line format). With
    ``scale="score"`` the answer passes at ``threshold`` (of 10) or more; confidence is the
    score / 10."""

    name = "judge"

    def __init__(
        self,
        model: str,
        *,
        scale: Scale = "pass_fail",
        threshold: float = 7,
        prompt: str | None = None,
        max_output_tokens: int = 512,
        on_unparsed: Literal["accept", "reject"] = "reject",
        name: str = "judge",
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("JudgeVerifier: model= names the candidate that grades, e.g. 'mini'")
        if scale not in JUDGE_PROMPTS:
            raise ValueError(f"JudgeVerifier: scale={scale!r}; use one of {sorted(JUDGE_PROMPTS)}")
        if not 0 <= threshold <= 10:
            raise ValueError(f"JudgeVerifier: threshold={threshold}; give a score in [0, 10]")
        if on_unparsed not in ("accept", "reject"):
            raise ValueError(f"JudgeVerifier: on_unparsed={on_unparsed!r}; use accept or reject")
        self.model = model
        self.scale = scale
        self.threshold = threshold
        self.prompt = prompt if prompt is not None else JUDGE_PROMPTS[scale]
        self.max_output_tokens = max_output_tokens
        self.on_unparsed = on_unparsed
        self.name = name

    def judge_request(self, request: ChatRequest, answer: ChatResponse) -> ChatRequest:
        """What the judge is sent for ``answer`` to ``request``."""
        task = "\n\n".join(f"[{m.role}] {_message_text(m)}" for m in request.messages)
        graded = answer.text
        for call in answer.tool_calls:
            graded += f"\n{call.name}({json.dumps(call.arguments, ensure_ascii=False)})"
        return ChatRequest(
            messages=[
                Message(role="system", content=self.prompt),
                Message(
                    role="user",
                    content=f"## Request\n{task}\n\n## Answer to grade\n{graded.strip()}",
                ),
            ],
            temperature=0,
            max_output_tokens=self.max_output_tokens,
        )

    def verify(self, check: Check) -> Verdict:
        reply = check.call(self.judge_request(check.request, check.response), self.model)
        return self.grade(reply.text)

    async def averify(self, check: Check) -> Verdict:
        reply = await check.acall(self.judge_request(check.request, check.response), self.model)
        return self.grade(reply.text)

    def grade(self, reply: str) -> Verdict:
        """The verdict a judge's reply gives."""
        passed, score = parse_grade(reply)
        if passed is not None:
            return Verdict(passed, f"judge {self.model}: {'PASS' if passed else 'FAIL'}",
                           verifier=self.name)
        if score is not None:
            ok = score >= self.threshold
            return Verdict(
                ok, f"judge {self.model}: score {score:g} {'>=' if ok else '<'} "
                f"{self.threshold:g}", score / 10, self.name,
            )
        return Verdict(self.on_unparsed == "accept", f"judge {self.model} gave no grade",
                       verifier=self.name)


def _message_text(m: Message) -> str:
    text = m.text
    for call in m.tool_calls:
        text += f"\n{call.name}({json.dumps(call.arguments, ensure_ascii=False)})"
    if m.images:
        text += f"\n({len(m.images)} image(s) not shown)"
    return text.strip()
