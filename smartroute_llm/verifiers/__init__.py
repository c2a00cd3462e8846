"""Verifiers for the cascade strategy: accept or reject one rung's answer."""

from smartroute_llm.verifiers.base import (
    BaseVerifier,
    CallableVerifier,
    Check,
    Verdict,
    Verifier,
    as_verifier,
)

__all__ = [
    "BaseVerifier",
    "CallableVerifier",
    "Check",
    "Verdict",
    "Verifier",
    "as_verifier",
]
