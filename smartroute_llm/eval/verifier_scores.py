"""How often the built-in verifiers judge a cheap model's recorded answers right, offline.

An outcome table whose ``M|response`` columns hold each model's answer text (the packaged
RouteLLM GSM8K sample: GPT-4-1106's and Mixtral-8x7B's answers with RouteLLM's correctness
grades) lets the verifiers that need no model call be run on the cheap model's real answers and
their accept/reject compared with the recorded grade.

What is measured, on the recorded text:

- ``structural``: :class:`~smartroute_llm.verifiers.StructuralVerifier` (empty, refusal; the
  recorded rows carry no ``finish_reason`` and no schema, so truncation and JSON/tool checks
  do not fire here);
- ``answer``: :class:`~smartroute_llm.verifiers.AnswerVerifier` ("a final number can be
  extracted");
- ``structural+answer``: both, as a cascade would run them;
- ``declared answer``: ``AnswerVerifier("declared_number")`` (the answer states its final
  number as ``#### N``, ``\\boxed{N}`` or "the answer is N", the form GSM8K prompts ask for);
- ``arithmetic``: :class:`~smartroute_llm.verifiers.ArithmeticVerifier` (every calculation the
  answer writes out recomputes to its stated result); ``arithmetic+final`` with
  ``check_final=True`` (the declared answer is also the last result stated);
  ``declared answer+arithmetic``: both free checks, as a cascade would run them.

What is a reference, not a verifier a cascade has: ``agreement with strong (reference)`` runs
:class:`~smartroute_llm.verifiers.ConsistencyVerifier` with one "sample" that is the strong
model's recorded answer. It shows how far answer agreement can separate right from wrong when
the second answer comes from a better model; a cascade gets its samples from the cheap rung
itself (weaker, correlated with the first answer), and getting this one costs the strong call
a cascade means to save.

Not measured (each needs a live provider): sampled self-consistency, token log-probability
confidence and a judge model. The table has one answer per model, no log-probabilities, and
judging offline would mean inventing a judge.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from smartroute_llm.request import ChatRequest, Message
from smartroute_llm.response import ChatResponse
from smartroute_llm.verifiers import (
    AnswerVerifier,
    ArithmeticVerifier,
    Check,
    ConsistencyVerifier,
    StructuralVerifier,
    Verdict,
)

RESPONSE_SUFFIX = "|response"
CHEAP = "mixtral-8x7b-instruct"
STRONG = "gpt-4-1106-preview"
NOT_MEASURED = (
    "sampled self-consistency (one recorded answer per model)",
    "token log-probability confidence (no log-probabilities recorded)",
    "judge model (needs a live provider)",
    "truncation and JSON/tool schema checks (no finish_reason or schema recorded)",
)


@dataclass(frozen=True, slots=True)
class VerifierScore:
    """One verifier's accept/reject against the recorded grades. Rates are shares of the
    answers they are conditioned on: ``false_accept_rate`` of the wrong answers accepted
    (what escapes to the caller), ``false_reject_rate`` of the right answers rejected (what
    escalates for nothing); a simulated verifier's error rates mean the same."""

    verifier: str
    measures: str
    reference: bool
    true_accept: int
    false_accept: int
    true_reject: int
    false_reject: int
    # per row, in the table's order: whether the cheap model's answer was accepted
    verdicts: tuple[bool, ...] = field(default=(), repr=False, compare=False)

    @property
    def n(self) -> int:
        return self.true_accept + self.false_accept + self.true_reject + self.false_reject

    @property
    def right(self) -> int:
        return self.true_accept + self.false_reject

    @property
    def wrong(self) -> int:
        return self.false_accept + self.true_reject

    @property
    def accuracy(self) -> float:
        return _share(self.true_accept + self.true_reject, self.n)

    @property
    def accept_rate(self) -> float:
        return _share(self.true_accept + self.false_accept, self.n)

    @property
    def false_accept_rate(self) -> float:
        return _share(self.false_accept, self.wrong)

    @property
    def false_reject_rate(self) -> float:
        return _share(self.false_reject, self.right)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier, "measures": self.measures, "reference": self.reference,
            "n": self.n, "true_accept": self.true_accept, "false_accept": self.false_accept,
            "true_reject": self.true_reject, "false_reject": self.false_reject,
            "accuracy": self.accuracy, "accept_rate": self.accept_rate,
            "false_accept_rate": self.false_accept_rate,
            "false_reject_rate": self.false_reject_rate,
        }


@dataclass(frozen=True, slots=True)
class VerifierScores:
    """Every scored verifier on one table, with the cheap model's own accuracy (what
    accepting everything would give) and what could not be measured."""

    table: str
    cheap: str
    strong: str
    rows: int
    cheap_accuracy: float
    scores: tuple[VerifierScore, ...]
    not_measured: tuple[str, ...] = NOT_MEASURED

    def lines(self) -> list[str]:
        """A plain-text table (for the CLI and benchmarks)."""
        out = [
            f"verifiers on {self.cheap}'s recorded answers ({self.rows} rows of {self.table}; "
            f"{self.cheap_accuracy:.1%} graded correct)",
            f"{'verifier':<36} {'acc':>6} {'accept':>7} {'FA rate':>8} {'FR rate':>8}"
            f"  TA/FA/TR/FR",
        ]
        for s in self.scores:
            out.append(
                f"{s.verifier:<36} {s.accuracy:>6.1%} {s.accept_rate:>7.1%} "
                f"{s.false_accept_rate:>8.1%} {s.false_reject_rate:>8.1%}  "
                f"{s.true_accept}/{s.false_accept}/{s.true_reject}/{s.false_reject}"
            )
        out.append("not measured offline: " + "; ".join(self.not_measured))
        return out


def sample_table() -> Path:
    """The packaged RouteLLM GSM8K sample."""
    data = resources.files("smartroute_llm").joinpath("data/demo/routellm_gsm8k_sample.csv")
    return Path(str(data))


def score_verifiers(
    path: str | Path | None = None, *, cheap: str = CHEAP, strong: str = STRONG
) -> VerifierScores:
    """Score the offline-runnable verifiers on ``cheap``'s answers in ``path`` (default: the
    packaged GSM8K sample). The table needs ``prompt``, ``M`` (grade, >= 0.5 is right) and
    ``M|response`` for both models."""
    table = Path(path) if path is not None else sample_table()
    rows = _read(table, (cheap, strong))
    structural, answer = StructuralVerifier(), AnswerVerifier("number")
    declared = AnswerVerifier("declared_number", name="declared answer")
    agreement = ConsistencyVerifier("number", samples=1, name="agreement with strong")

    arithmetic = ArithmeticVerifier()
    arithmetic_final = ArithmeticVerifier(check_final=True, name="arithmetic+final")

    def both(check: Check) -> Verdict:
        first = structural.verify(check)
        return first if not first.accepted else answer.verify(check)

    def declared_arithmetic(check: Check) -> Verdict:
        first = declared.verify(check)
        return first if not first.accepted else arithmetic.verify(check)

    judged: Sequence[tuple[str, str, bool, Callable[[Check], Verdict]]] = (
        ("structural", "empty answer or refusal", False, structural.verify),
        ("answer", "a final number can be extracted", False, answer.verify),
        ("structural+answer", "both of the above", False, both),
        ("declared answer", "'#### N', boxed or 'the answer is N' present", False,
         declared.verify),
        ("arithmetic", "every calculation written out recomputes to its stated result", False,
         arithmetic.verify),
        ("arithmetic+final", "and the declared answer is the last result stated", False,
         arithmetic_final.verify),
        ("declared answer+arithmetic", "both free checks", False, declared_arithmetic),
        ("agreement with strong (reference)",
         "final number equals the strong model's (uses its answer)", True, agreement.verify),
    )
    counts = {name: [0, 0, 0, 0] for name, *_ in judged}
    verdicts: dict[str, list[bool]] = {name: [] for name, *_ in judged}
    right_total = 0
    for prompt, grades, texts in rows:
        right = grades[cheap] >= 0.5
        right_total += right
        strong_answer = ChatResponse(text=texts[strong], finish_reason="stop")
        for name, _, _, verify in judged:
            check = Check(
                request=ChatRequest(messages=[Message(role="user", content=prompt)]),
                response=ChatResponse(text=texts[cheap], finish_reason="stop"),
                rung=cheap,
                call_model=_replay(strong_answer),
            )
            accepted = verify(check).accepted
            verdicts[name].append(accepted)
            # cells: true accept, false accept, true reject, false reject
            counts[name][(0 if right else 1) if accepted else (3 if right else 2)] += 1
    scores = tuple(
        VerifierScore(
            name, measures, reference, *_cells(counts[name]), verdicts=tuple(verdicts[name])
        )
        for name, measures, reference, _ in judged
    )
    return VerifierScores(
        table=table.name, cheap=cheap, strong=strong, rows=len(rows),
        cheap_accuracy=_share(right_total, len(rows)), scores=scores,
    )


def _cells(c: list[int]) -> tuple[int, int, int, int]:
    return c[0], c[1], c[2], c[3]


def _replay(answer: ChatResponse) -> Callable[[ChatRequest, str | None], ChatResponse]:
    """A model call that returns a recorded answer (the "sample" of the reference row)."""
    return lambda _request, _model: answer


def _read(path: Path, models: Sequence[str]) -> list[tuple[str, dict[str, float], dict[str, str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"verifier scores: no outcome table at {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = set(reader.fieldnames or ())
        needed = ["prompt"] + [c for m in models for c in (m, m + RESPONSE_SUFFIX)]
        missing = [c for c in needed if c not in header]
        if missing:
            raise ValueError(
                f"verifier scores: {path.name} lacks columns {missing}; it needs prompt, and "
                "per model M the grade column M and the answer text M|response"
            )
        out = []
        for i, row in enumerate(reader):
            try:
                grades = {m: float(row[m]) for m in models}
            except ValueError:
                raise ValueError(
                    f"verifier scores: {path.name} row {i + 1}: grades must be numbers in [0, 1]"
                ) from None
            out.append((row["prompt"], grades, {m: row[m + RESPONSE_SUFFIX] for m in models}))
    return out


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
