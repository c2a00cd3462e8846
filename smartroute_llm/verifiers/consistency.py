"""Self-consistency: ask the same rung again and accept when the answers agree.

A model that knows the answer tends to give the same one when sampled again; one that guesses
scatters. The verifier extracts the final answer (:mod:`smartroute_llm.verifiers.extract`)
from the rung's answer and from ``samples`` more answers of the same candidate at
``temperature`` > 0 (made through the :class:`Check`, so the cascade counts their cost), and
accepts when at least ``agree`` of the samples (default: all) give the same answer.

For code, answers agree when their programs print the same: give ``runner``, a function from
a code block to its output (it runs user code, so sandboxing it is the runner's job; it is
called in a worker thread on the async path). A sample with no extractable answer, or whose
runner raised, disagrees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from smartroute_llm.request import ChatRequest
from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict
from smartroute_llm.verifiers.extract import ExtractKind, Extractor, extractor

Runner = Callable[[str], str]
MAX_SAMPLES = 8


class ConsistencyVerifier(BaseVerifier):
    """Accepts when ``agree`` of ``samples`` re-asked answers match the rung's extracted
    answer; confidence is ``(agreeing + 1) / (samples + 1)``."""

    name = "consistency"

    def __init__(
        self,
        extract: ExtractKind | Extractor = "number",
        *,
        samples: int = 2,
        temperature: float = 0.7,
        agree: int | None = None,
        runner: Runner | None = None,
        name: str = "consistency",
    ) -> None:
        if not 1 <= samples <= MAX_SAMPLES:
            raise ValueError(f"ConsistencyVerifier: samples={samples}; give 1 to {MAX_SAMPLES}")
        if not 0 < temperature <= 2:
            raise ValueError(
                f"ConsistencyVerifier: temperature={temperature}; samples need some randomness, "
                "give a value in (0, 2]"
            )
        if agree is not None and not 1 <= agree <= samples:
            raise ValueError(f"ConsistencyVerifier: agree={agree}; give 1 to samples ({samples})")
        if extract == "code" and runner is None:
            raise ValueError(
                "ConsistencyVerifier(extract='code') compares what programs print: give "
                "runner=, a function from a code block to its output"
            )
        if runner is not None and not callable(runner):
            raise TypeError("ConsistencyVerifier: runner must be a function code -> output")
        self.extract = extractor(extract)
        self.kind = extract.replace("_", " ") if isinstance(extract, str) else "answer"
        self.samples = samples
        self.temperature = temperature
        self.agree = agree or samples
        self.runner = runner
        self.name = name

    def sample_request(self, request: ChatRequest) -> ChatRequest:
        """The request re-asked: sampled, and without a seed that would repeat the answer."""
        return request.model_copy(update={"temperature": self.temperature, "seed": None})

    def verify(self, check: Check) -> Verdict:
        reference = self._value(check.response.text)
        if reference is None:
            return self._nothing()
        request = self.sample_request(check.request)
        values = [self._value(check.call(request, None).text) for _ in range(self.samples)]
        return self._verdict(reference, values)

    async def averify(self, check: Check) -> Verdict:
        reference = await self._avalue(check.response.text)
        if reference is None:
            return self._nothing()
        request = self.sample_request(check.request)
        answers = await asyncio.gather(*(check.acall(request, None) for _ in range(self.samples)))
        values = [await self._avalue(a.text) for a in answers]
        return self._verdict(reference, values)

    def _value(self, text: str) -> str | None:
        value = self.extract(text)
        if value is None or self.runner is None:
            return value
        try:
            return str(self.runner(value)).strip()
        except Exception:
            return None

    async def _avalue(self, text: str) -> str | None:
        if self.runner is None:
            return self._value(text)
        return await asyncio.to_thread(self._value, text)

    def _nothing(self) -> Verdict:
        what = f"{self.kind} output" if self.runner is not None else self.kind
        return Verdict(False, f"no {what} to compare in the answer", verifier=self.name)

    def _verdict(self, reference: str, values: list[str | None]) -> Verdict:
        agreeing = sum(1 for v in values if v == reference)
        n = len(values)
        confidence = (agreeing + 1) / (n + 1)
        if agreeing >= self.agree:
            return Verdict(True, f"{agreeing} of {n} samples agree", confidence, self.name)
        return Verdict(False, f"{n - agreeing} of {n} samples disagree", confidence, self.name)
