"""Accept an answer only when a final answer of the expected kind can be extracted from it.

A weak check on its own (a confidently wrong number passes), but free, and it catches answers
that trail off, ramble without concluding, or answer in the wrong form (prose where a choice
letter was asked for). It is also the offline-measurable half of answer extraction: see
:mod:`smartroute_llm.eval.verifier_scores`.
"""

from __future__ import annotations

from smartroute_llm.verifiers.base import BaseVerifier, Check, Verdict
from smartroute_llm.verifiers.extract import ExtractKind, Extractor, extractor


class AnswerVerifier(BaseVerifier):
    """``extract``: ``"number"``, ``"choice"``, ``"code"`` or a function ``text -> str | None``
    (see :mod:`smartroute_llm.verifiers.extract`)."""

    name = "answer"

    def __init__(
        self, extract: ExtractKind | Extractor = "number", *, name: str = "answer"
    ) -> None:
        self.extract = extractor(extract)
        self.kind = extract.replace("_", " ") if isinstance(extract, str) else "answer"
        self.name = name

    def verify(self, check: Check) -> Verdict:
        value = self.extract(check.response.text)
        if value is None:
            return Verdict(False, f"no final {self.kind} in the answer", verifier=self.name)
        return Verdict(True, f"final {self.kind}: {_clip(value)}", verifier=self.name)


def _clip(value: str, limit: int = 40) -> str:
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."
