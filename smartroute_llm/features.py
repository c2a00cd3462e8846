"""What a request needs and how hard it is: the only input routing strategies see.

The default :class:`HeuristicClassifier` scores complexity from cheap text signals in English and
Chinese (a few microseconds for a short prompt). Anything with a ``classify`` method can replace
it, e.g. the trained predictor in :mod:`smartroute_llm.eval`, which may also predict each model's
expected quality for the prompt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol, runtime_checkable

from smartroute_llm.errors import RequestValidationError
from smartroute_llm.request import MAX_NESTING, ChatRequest, Message, ToolCall

ComplexityClass = Literal["simple", "moderate", "complex"]
COMPLEXITY_CLASSES: tuple[ComplexityClass, ...] = ("simple", "moderate", "complex")

_CJK = re.compile(
    r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]"
)
# cl100k averages ~4 characters per token for English prose and ~1.1 tokens per CJK character
# (measured on mixed prose); the heuristic is within ~15% of tiktoken on both.
_CHARS_PER_TOKEN = 4.0
_TOKENS_PER_CJK = 1.1


@lru_cache(maxsize=1)
def _tiktoken_encoder() -> Any:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # not installed, or its BPE file cannot be fetched offline
        return None


def estimate_tokens(text: str, *, exact: bool = False) -> int:
    """Token count estimate. ``exact=True`` uses tiktoken when installed and loadable."""
    if not text:
        return 0
    if exact:
        enc = _tiktoken_encoder()
        if enc is not None:
            return len(enc.encode(text, disallowed_special=()))
    if text.isascii():
        n = round(len(text) / _CHARS_PER_TOKEN)
        return n if n else 1
    cjk = len(_CJK.findall(text))
    return max(1, round(cjk * _TOKENS_PER_CJK + (len(text) - cjk) / _CHARS_PER_TOKEN))


# Keyword signals: one ``str.split`` of the lowercased text and one set intersection against
# every keyword; phrases are only searched when one of their words is present.
_KEYWORDS: dict[str, frozenset[str]] = {
    "code": frozenset(
        [
            "def",
            "class",
            "function",
            "import",
            "return",
            "const",
            "var",
            "let",
            "async",
            "await",
            "lambda",
            "struct",
            "impl",
            "fn",
            "python",
            "javascript",
            "typescript",
            "rust",
            "golang",
            "java",
            "c++",
            "c#",
            "sql",
            "regex",
            "bash",
            "kotlin",
            "swift",
            "refactor",
            "debug",
            "compile",
            "compiler",
            "traceback",
            "exception",
            "api",
            "json",
            "yaml",
            "html",
            "css",
            "algorithm",
            "recursion",
            "unittest",
            "pytest",
            "docker",
            "kubernetes",
            "select",
        ]
    ),
    "math": frozenset(
        [
            "theorem",
            "lemma",
            "integral",
            "derivative",
            "equation",
            "equations",
            "matrix",
            "eigenvalue",
            "eigenvalues",
            "probability",
            "polynomial",
            "solve",
            "calculate",
            "compute",
            "algebra",
            "geometry",
            "calculus",
            "statistics",
            "variance",
            "logarithm",
            "factorial",
            "prime",
            "primes",
            "modulo",
            "inequality",
        ]
    ),
    "reasoning": frozenset(
        [
            "analyze",
            "analyse",
            "analysis",
            "compare",
            "contrast",
            "tradeoff",
            "tradeoffs",
            "trade-off",
            "trade-offs",
            "evaluate",
            "justify",
            "reasoning",
            "reason",
            "plan",
            "optimize",
            "optimise",
            "why",
            "critique",
            "assess",
            "strategy",
            "implications",
            "hypothesis",
            "step-by-step",
            "explain",
            "step",
            "steps",
        ]
    ),
    # The kind of work a stronger model is for: one of these is enough to call a request hard.
    "task": frozenset(
        [
            "prove",
            "proof",
            "proofs",
            "derive",
            "derivation",
            "design",
            "architect",
            "architecture",
            "implement",
            "implementation",
            "rigorous",
            "rigorously",
        ]
    ),
    "constraints": frozenset(
        [
            "must",
            "exactly",
            "only",
            "format",
            "ensure",
            "without",
            "never",
            "always",
            "required",
            "requirements",
            "constraints",
            "strictly",
        ]
    ),
}
_PHRASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "step": ("reasoning", ("step by step",)),
    "explain": ("reasoning", ("explain why", "explain how")),
    "pros": ("reasoning", ("pros and cons",)),
    "root": ("reasoning", ("root cause",)),
    "show": ("task", ("show that",)),
    "least": ("constraints", ("at least",)),
    "most": ("constraints", ("at most",)),
    "than": ("constraints", ("no more than", "fewer than")),
    "sure": ("constraints", ("make sure",)),
}
_CATEGORY = {w: cat for cat, ws in _KEYWORDS.items() for w in ws}
_ALL_WORDS = frozenset(_CATEGORY) | frozenset(_PHRASES)
_CJK_TERMS: dict[str, tuple[str, ...]] = {
    "code": ("代码", "函数", "编程", "调试", "算法", "编写"),
    "math": ("求解", "方程", "积分", "导数", "概率", "计算", "几何", "矩阵", "公式"),
    "reasoning": ("分析", "比较", "为什么", "解释", "推理", "逐步", "权衡", "评估", "优化"),
    "task": ("证明", "推导", "设计", "架构", "实现"),
    "constraints": ("必须", "至少", "至多", "不超过", "不要", "要求", "格式", "确保", "只能"),
}
_CODE_MARKS = ("```", "#include", "console.log", "=>", "();", "{\n")
_MATH_EXPR = re.compile(r"\\(?:frac|int|sum|sqrt)|\d\s*[\^*/=+-]\s*\d")
_LIST_ITEM = re.compile(r"(?m)^\s*(?:\d+[.)、]|[-*•])\s+")
# Punctuation becomes spaces so ``split`` yields words; cheaper than a word regex. ASCII text
# (most prompts) goes through ``bytes.translate``, a table lookup per byte, where
# ``str.translate`` calls into its mapping per character; the C0 separators that ``str.split``
# (but not ``bytes.split``) treats as whitespace become spaces too, so both split alike.
_PUNCT_CHARS = "!\"$%&'()*,./:;<=>?@[\\]^_`{|}~"
_PUNCT = str.maketrans({c: " " for c in _PUNCT_CHARS})
_PUNCT_ASCII = bytes.maketrans(
    (_PUNCT_CHARS + "\x1c\x1d\x1e\x1f").encode(), b" " * (len(_PUNCT_CHARS) + 4)
)
_ALL_WORDS_ASCII = {w.encode(): w for w in _ALL_WORDS if w.isascii()}


def _keyword_counts(text: str, ascii_: bool) -> dict[str, float]:
    low = text.lower()
    counts = {"code": 0.0, "math": 0.0, "reasoning": 0.0, "task": 0.0, "constraints": 0.0}
    if ascii_:
        found = _ALL_WORDS_ASCII.keys() & low.encode().translate(_PUNCT_ASCII).split()
        words = [_ALL_WORDS_ASCII[w] for w in found] if found else ()
    else:
        words = _ALL_WORDS.intersection(low.translate(_PUNCT).split())  # type: ignore[assignment]
    for word in words:
        cat = _CATEGORY.get(word)
        if cat is not None:
            counts[cat] += 1
        phrase = _PHRASES.get(word)
        if phrase is not None:
            counts[phrase[0]] += sum(1 for p in phrase[1] if p in low)
    if "`" in text or "(" in text or "=" in text or "#" in text or "{" in text:
        counts["code"] += sum(1 for m in _CODE_MARKS if m in low)
    if "=" in text or "^" in text or "\\" in text or "+" in text:
        counts["math"] += 0.5 * len(_MATH_EXPR.findall(text, 0, 2000))  # "2+2" is half a cue
    if not ascii_:
        for cat, terms in _CJK_TERMS.items():
            counts[cat] += sum(1 for t in terms if t in text)
    return counts


# Strength of each signal in [0, 1]; the score combines them as a noisy-OR,
# 1 - prod(1 - weight * signal), so several cues together approach 1 without a cap. "task" (a
# proof, a derivation, a design, an implementation) counts in full at one hit and alone makes a
# request "complex": on the labelled prompts of tests/data/complexity_labels.jsonl single-cue
# hard requests scored 0.24-0.46 when it was spread over the other keyword signals.
SIGNAL_WEIGHTS: dict[str, float] = {
    "length": 0.35,
    "code": 0.45,
    "math": 0.45,
    "reasoning": 0.55,
    "task": 0.6,
    "constraints": 0.3,
    "questions": 0.2,
    "tools": 0.25,
    "structured_output": 0.2,
    "depth": 0.2,
}
_WEIGHT_VALUES = tuple(SIGNAL_WEIGHTS.values())  # in the order classify() builds its signals
SIMPLE_BELOW = 0.2
COMPLEX_FROM = 0.45


def complexity_class(score: float) -> ComplexityClass:
    if score < SIMPLE_BELOW:
        return "simple"
    return "moderate" if score < COMPLEX_FROM else "complex"


@dataclass(slots=True)
class Complexity:
    score: float
    label: ComplexityClass
    signals: dict[str, float] = field(default_factory=dict)
    # Expected quality in [0, 1] per model name, from a trained predictor; used by BALANCED
    # in place of the quality tier when present.
    model_quality: Mapping[str, float] | None = None
    # Expected USD of this request per model name, from a trained predictor; used by the
    # strategies in place of the price-list estimate when present.
    model_cost: Mapping[str, float] | None = None


@runtime_checkable
class ComplexityClassifier(Protocol):
    def classify(self, request: ChatRequest, prompt: str) -> Complexity: ...


class HeuristicClassifier:
    """Scores complexity as a weighted sum of text signals (see ``SIGNAL_WEIGHTS``).

    Only the last user turn is scanned, and at most its first 8,000 characters, so the cost
    stays bounded for huge prompts. Keywords are matched as whole words (English) or
    substrings (Chinese); each signal saturates after a few hits.
    """

    scan_chars = 8000

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        return self.score(prompt, bool(request.tools), request.needs_json, len(request.messages))

    def score(self, prompt: str, tools: bool, json_: bool, messages: int) -> Complexity:
        """``classify`` from the few request facts it reads, so it can run after the request
        was analysed (lazily, see :func:`analyze`)."""
        text = prompt[: self.scan_chars]
        ascii_ = text.isascii()
        counts = _keyword_counts(text, ascii_)
        tokens = estimate_tokens(prompt)
        questions = text.count("?")
        if not ascii_:
            questions += text.count("？")
        items = len(_LIST_ITEM.findall(text)) if "\n" in text else 0
        length = min(1.0, math.log1p(tokens / 40.0) / _LOG_LONG)
        # most prompts have few cues: a zero count is a zero signal without the call
        code = _saturate(counts["code"]) if counts["code"] else 0.0
        math_ = _saturate(counts["math"]) if counts["math"] else 0.0
        reasoning = _saturate(counts["reasoning"]) if counts["reasoning"] else 0.0
        task = 1.0 if counts["task"] else 0.0
        constraints = counts["constraints"] + items / 2
        constraints = _saturate(constraints) if constraints else 0.0
        asked = _saturate(questions - 1) if questions > 1 else 0.0
        depth = min(1.0, (messages - 2) / 10) if messages > 2 else 0.0
        tool_signal = 1.0 if tools else 0.0
        json_signal = 1.0 if json_ else 0.0
        values = (
            length, code, math_, reasoning, task, constraints, asked, tool_signal, json_signal,
            depth,
        )
        # the noisy-OR in SIGNAL_WEIGHTS' order; a zero signal's factor is exactly 1.0, so
        # leaving it out gives the same float
        miss = 1.0
        for w, v in zip(_WEIGHT_VALUES, values, strict=True):
            if v:
                miss *= 1.0 - w * v
        score = 1.0 - miss
        signals = {
            "length": length,
            "code": code,
            "math": math_,
            "reasoning": reasoning,
            "task": task,
            "constraints": constraints,
            "questions": asked,
            "tools": tool_signal,
            "structured_output": json_signal,
            "depth": depth,
        }
        return Complexity(score, complexity_class(score), signals)


_LOG_LONG = math.log1p(1500 / 40.0)


def _saturate(hits: float) -> float:
    """0 hits -> 0, 1 -> 0.5, 2 -> 0.75, 3 -> 0.875: each further cue adds less."""
    return 1.0 - 0.5**hits if hits > 0 else 0.0
DEFAULT_CLASSIFIER = HeuristicClassifier()


@dataclass(slots=True)
class RequestFeatures:
    """What the planner knows about a request before choosing."""

    prompt_tokens: int
    output_tokens: int
    needs_tools: bool
    needs_vision: bool
    needs_json: bool
    depth: int
    complexity: Complexity
    pinned_model: str | None = None
    requested_output: bool = False

    @property
    def complexity_score(self) -> float:
        return self.complexity.score

    @property
    def complexity_class(self) -> ComplexityClass:
        return self.complexity.label

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def model_quality(self) -> Mapping[str, float] | None:
        """The classifier's per-model quality, read without classifying when the classifier
        is the heuristic one (which predicts none)."""
        c = _stored(self)
        return None if type(c) is tuple else c.model_quality

    @property
    def model_cost(self) -> Mapping[str, float] | None:
        c = _stored(self)
        return None if type(c) is tuple else c.model_cost


# ``complexity`` stays a dataclass field (init, repr, eq, fields() as before), read through a
# property. :func:`analyze` may store in it, in place of a Complexity, the arguments of a
# heuristic classification not run yet, ``(classifier, prompt, tools, json, messages)``: most
# policies never read the complexity of the request they route, so it runs on first read.
_slot: Any = RequestFeatures.__dict__["complexity"]
_stored = _slot.__get__


def _get_complexity(self: RequestFeatures) -> Complexity:
    c = _stored(self)
    if type(c) is tuple:
        c = c[0].score(*c[1:])
        _slot.__set__(self, c)
    return c  # type: ignore[no-any-return]


setattr(  # noqa: B010  (mypy keeps seeing the field's type)
    RequestFeatures, "complexity", property(_get_complexity, _slot.__set__)
)


DEFAULT_OUTPUT_TOKENS = 512
_PER_MESSAGE_OVERHEAD = 4
_PER_IMAGE_TOKENS = 800


def _arguments_text(request: ChatRequest, m: Message, tc: ToolCall) -> str:
    """Routed requests were depth-checked at the edge; a request analysed directly may not
    have been, and ``str`` recurses once per level."""
    try:
        return str(tc.arguments)
    except RecursionError:
        i = next(i for i, x in enumerate(request.messages) if x is m)
        k = next(k for k, x in enumerate(m.tool_calls) if x is tc)
        raise RequestValidationError(
            f"messages[{i}].tool_calls[{k}].arguments",
            f"nested deeper than {MAX_NESTING} levels; flatten it",
        ) from None


def analyze(
    request: ChatRequest,
    classifier: ComplexityClassifier | None = None,
    *,
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> RequestFeatures:
    """Extract :class:`RequestFeatures`; this runs on every routed call, so it stays cheap:
    one pass over the messages, and the heuristic classifier's complexity is only computed
    when something reads it (a custom classifier runs here, since ranking reads what it
    predicts and its errors belong to planning)."""
    prompt_tokens = 0
    images = 0
    depth = 0
    last_user = ""
    messages = request.messages
    for m in messages:
        content = m.content
        if type(content) is str:
            text = content
        else:
            text = m.text
            images += len(m.images)
        prompt_tokens += estimate_tokens(text) + _PER_MESSAGE_OVERHEAD
        if m.role == "user":
            last_user = text
            depth += 1
        if m.tool_calls:
            for tc in m.tool_calls:
                prompt_tokens += 20 + estimate_tokens(_arguments_text(request, m, tc))
    prompt_tokens += images * _PER_IMAGE_TOKENS
    tools = request.tools
    for tool in tools:
        prompt_tokens += (
            10 + estimate_tokens(tool.description) + 4 * len(tool.parameters.get("properties", ()))
        )
    fmt = request.response_format
    needs_json = fmt is not None and fmt.type != "text"
    classifier = classifier or DEFAULT_CLASSIFIER
    complexity: Any
    if type(classifier) is HeuristicClassifier:
        complexity = (classifier, last_user, bool(tools), needs_json, len(messages))
    else:
        complexity = classifier.classify(request, last_user)
    out = request.max_output_tokens
    return RequestFeatures(
        prompt_tokens,
        out or default_output_tokens,
        bool(tools) and request.tool_choice != "none",
        images > 0,
        needs_json,
        depth,
        complexity,
        request.model,
        out is not None,
    )
