"""Verifiers for the cascade strategy: accept or reject one rung's answer."""

from smartroute_llm.verifiers.answer import AnswerVerifier
from smartroute_llm.verifiers.arithmetic import ArithmeticVerifier
from smartroute_llm.verifiers.base import (
    BaseVerifier,
    CallableVerifier,
    Check,
    Verdict,
    Verifier,
    as_verifier,
)
from smartroute_llm.verifiers.confidence import LogprobVerifier
from smartroute_llm.verifiers.consistency import ConsistencyVerifier
from smartroute_llm.verifiers.extract import choice_letter, code_block, final_number
from smartroute_llm.verifiers.judge import JUDGE_PROMPTS, JudgeVerifier, parse_grade
from smartroute_llm.verifiers.refusal import is_refusal
from smartroute_llm.verifiers.structural import StructuralVerifier

__all__ = [
    "JUDGE_PROMPTS",
    "AnswerVerifier",
    "ArithmeticVerifier",
    "BaseVerifier",
    "CallableVerifier",
    "Check",
    "ConsistencyVerifier",
    "JudgeVerifier",
    "LogprobVerifier",
    "StructuralVerifier",
    "Verdict",
    "Verifier",
    "as_verifier",
    "choice_letter",
    "code_block",
    "final_number",
    "is_refusal",
    "parse_grade",
]
