import pytest

from smartroute_llm import (
    ChatRequest,
    Complexity,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolSpec,
    analyze,
    estimate_tokens,
    to_request,
)

SIMPLE = [
    "What is the capital of France?",
    "hi",
    "法国的首都是哪里？",
    "Translate 'good morning' to Spanish.",
]
COMPLEX = [
    "Design a distributed rate limiter for a multi-region API. Explain the trade-offs step by "
    "step, compare token bucket and sliding window, and implement it in Python with tests. It "
    "must handle at least 10k requests per second.",
    "请逐步分析并设计一个分布式限流系统，比较令牌桶和滑动窗口的优缺点，并用Python实现代码。"
    "必须支持至少每秒一万次请求。",
    "Prove that the sum of the first n odd numbers equals n^2, then derive a closed form for "
    "the sum of squares, explain why the induction step works, and analyze the complexity of "
    "computing it in Python.",
]


@pytest.mark.parametrize("prompt", SIMPLE)
def test_simple_prompts_are_simple(prompt):
    f = analyze(to_request(prompt))
    assert f.complexity.label == "simple"
    assert 0.0 <= f.complexity.score < 0.2


@pytest.mark.parametrize("prompt", COMPLEX)
def test_complex_prompts_are_complex_with_their_signals(prompt):
    f = analyze(to_request(prompt))
    assert f.complexity.label == "complex", f.complexity
    assert f.complexity.signals["reasoning"] > 0
    assert sum(1 for v in f.complexity.signals.values() if v > 0) >= 3


def test_math_prompt_raises_math_signal():
    f = analyze(to_request("Solve the equation x^2 + 3x - 4 = 0."))
    assert f.complexity.signals["math"] > 0.5
    assert f.complexity.label != "simple"


def test_token_estimate_english_and_chinese_are_plausible():
    english = "The quick brown fox jumps over the lazy dog. " * 20
    assert 150 <= estimate_tokens(english) <= 260  # cl100k: 200
    chinese = "人工智能正在改变世界。" * 20
    assert 150 <= estimate_tokens(chinese) <= 300  # cl100k: ~220
    assert estimate_tokens("") == 0


def test_needs_tools_vision_json_and_depth():
    req = ChatRequest(
        messages=[
            Message(role="system", content="be brief"),
            Message(
                role="user",
                content=[
                    TextPart(text="what is this?"),
                    ImagePart(url="https://example.com/a.png"),
                ],
            ),
            Message(role="assistant", content="a cat"),
            Message(role="user", content="and its colour?"),
        ],
        tools=[ToolSpec(name="lookup", parameters={"type": "object", "properties": {"q": {}}})],
        response_format=ResponseFormat(type="json_object"),
        max_output_tokens=100,
    )
    f = analyze(req)
    assert (f.needs_tools, f.needs_vision, f.needs_json) == (True, True, True)
    assert f.depth == 2
    assert f.output_tokens == 100 and f.requested_output
    assert f.prompt_tokens > 800  # the image counts
    assert f.complexity.signals["tools"] == 1.0


def test_tool_choice_none_does_not_need_tools():
    req = to_request("hi", tools=[ToolSpec(name="t")], tool_choice="none")
    assert not analyze(req).needs_tools


def test_classifier_is_pluggable():
    class Always:
        def classify(self, request, prompt):
            return Complexity(
                score=0.9, label="complex", signals={"custom": 1.0}, model_quality={"a": 0.1}
            )

    f = analyze(to_request("hi"), Always())
    assert f.complexity.label == "complex"
    assert f.complexity.model_quality == {"a": 0.1}


def test_bad_request_inputs_fail_clearly():
    with pytest.raises(ValueError, match="at least one message"):
        ChatRequest(messages=[])
    with pytest.raises(ValueError, match="exactly one of url= or data="):
        ImagePart()
    with pytest.raises(ValueError, match="json_schema"):
        ResponseFormat(type="json_schema")
