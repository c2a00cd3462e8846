"""Confidence from the answer's own token log-probabilities.

A model that hesitates spreads probability over alternatives; the tokens it picks then carry
low probability. The verifier reads ``ChatResponse.logprobs`` (OpenAI-compatible targets
return them when the request asks: ``ChatRequest(logprobs=True)``; :meth:`prepare` sets it)
and accepts when a statistic of the per-token probabilities reaches ``threshold``:

- ``"mean"``: the arithmetic mean of the token probabilities;
- ``"geomean"``: ``exp(mean log-probability)``, i.e. one over the perplexity;
- ``"min"``: the least likely token (one wrong digit in a number shows here).

Thresholds are model-specific: calibrate on answers with known outcomes. Targets that give no
log-probabilities (Anthropic, Gemini here, streamed answers, some compatible servers) leave
the answer without them; ``when_absent`` says what the verdict is then, and its reason says
that nothing was measured.
"""

from __future__ import annotations

import math
from typing import Literal

from smartroute_llm.request import ChatRequest
from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict

Statistic = Literal["mean", "geomean", "min"]
_STATISTICS = ("mean", "geomean", "min")


class LogprobVerifier(BaseVerifier):
    """Accepts when the answer's token probabilities (``statistic``) reach ``threshold``;
    the confidence is that statistic."""

    name = "confidence"

    def __init__(
        self,
        threshold: float = 0.8,
        *,
        statistic: Statistic = "mean",
        when_absent: Literal["accept", "reject"] = "accept",
        name: str = "confidence",
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(
                f"LogprobVerifier: threshold={threshold}; give a probability in [0, 1]"
            )
        if statistic not in _STATISTICS:
            raise ValueError(f"LogprobVerifier: statistic={statistic!r}; use one of {_STATISTICS}")
        if when_absent not in ("accept", "reject"):
            raise ValueError(
                f"LogprobVerifier: when_absent={when_absent!r}; use 'accept' or 'reject'"
            )
        self.threshold = threshold
        self.statistic = statistic
        self.when_absent = when_absent
        self.name = name

    def prepare(self, request: ChatRequest) -> ChatRequest:
        if request.logprobs:
            return request
        return request.model_copy(update={"logprobs": True})

    def verify(self, check: Check) -> Verdict:
        tokens = check.response.logprobs
        if not tokens:
            accepted = self.when_absent == "accept"
            return Verdict(accepted, "no log-probabilities from the provider", None, self.name)
        logprobs = [t.logprob for t in tokens]
        value = _statistic(self.statistic, logprobs)
        ok = value >= self.threshold
        reason = (
            f"{self.statistic} token probability {value:.2f} {'>=' if ok else '<'} "
            f"{self.threshold:.2f}"
        )
        return Verdict(ok, reason, value, self.name)


def _statistic(kind: Statistic, logprobs: list[float]) -> float:
    if kind == "min":
        return math.exp(min(logprobs))
    if kind == "geomean":
        return math.exp(sum(logprobs) / len(logprobs))
    return sum(math.exp(lp) for lp in logprobs) / len(logprobs)
