"""``SmartRouterLLM``: one LlamaIndex LLM that routes every call to the best of its candidates.

Planning, fallback, retries, timeouts and circuit breakers all come from one
:class:`smartroute.Router`; this class only translates between LlamaIndex's calling conventions
and the router's neutral ones. Its chat and completion methods are deliberately left
undecorated: the candidate that answers emits the LLM events (see
:mod:`llamaindex_smartroute.target`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from pydantic import Field, PrivateAttr, SecretStr

from llamaindex_smartroute.calls import PIN_KWARG, build_request, selections_of, tools_kwargs
from llamaindex_smartroute.provider_llm import TargetLLM
from llamaindex_smartroute.responses import (
    DECISION_KEY,
    StreamFolder,
    to_completion,
    to_llama_response,
)
from llamaindex_smartroute.target import LlamaIndexTarget
from smartroute_llm.decision import RoutingDecision
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.features import ComplexityClassifier
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk
from smartroute_llm.response import ChatResponse as NeutralResponse
from smartroute_llm.router import Router
from smartroute_llm.state import StateStore
from smartroute_llm.target import Target

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

Candidate = LLM | Target | LlamaIndexTarget | str
Candidates = Sequence[Candidate] | Mapping[str, LLM | Target | str]


def with_providers(
    candidates: Candidates,
    *,
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
) -> Candidates:
    """``candidates`` with each model name (``"gpt-4o"``) replaced by smartroute's HTTP target
    for it, built as :class:`~langchain_smartroute.SmartRouterChatModel` builds them: the
    vendor from the catalog, one ``api_key`` only for names served by one vendor."""
    from smartroute_llm.providers.registry import for_models

    items = list(candidates.items()) if isinstance(candidates, Mapping) else [
        (None, c) for c in candidates
    ]
    named = [(k, c) for k, c in items if isinstance(c, str)]
    if not named:
        if api_key is not None or base_url is not None:
            raise ConfigurationError(
                "SmartRouterLLM: api_key= / base_url= apply to candidates given as model names, "
                "and there are none; configure each LLM's own key and endpoint"
            )
        return candidates
    built = iter(
        for_models(
            [c for _, c in named],
            api_key=api_key,
            base_url=base_url,
            names=[k for k, _ in named],
            where="SmartRouterLLM",
        )
    )
    out = [(k, next(built) if isinstance(c, str) else c) for k, c in items]
    if isinstance(candidates, Mapping):
        return {k: c for k, c in out if k is not None}
    return [c for _, c in out]


def as_target(candidate: Candidate, name: str | None = None) -> LlamaIndexTarget:
    """Any candidate as a :class:`LlamaIndexTarget`; smartroute targets go through
    :class:`TargetLLM` so they emit LlamaIndex events like every other candidate."""
    if isinstance(candidate, str):
        candidate = with_providers([candidate])[0]  # type: ignore[index]
    if isinstance(candidate, LlamaIndexTarget):
        return candidate
    if isinstance(candidate, LLM):
        return LlamaIndexTarget(candidate, name=name)
    if isinstance(candidate, Target):
        return LlamaIndexTarget(
            TargetLLM(candidate),
            name=name or candidate.name,
            model=candidate.model,
            capability=candidate.capability,
        )
    raise ConfigurationError(
        f"candidate {type(candidate).__name__} is neither a LlamaIndex LLM nor a smartroute "
        "Target nor a model name; pass e.g. OpenAI(model=...), \"gpt-4o\", a smartroute "
        "provider, or LlamaIndexTarget(llm, ...)"
    )


def as_targets(candidates: Candidates) -> list[LlamaIndexTarget]:
    """Targets for ``candidates``; LLMs named after the same model get ``-2``, ``-3``..."""
    if isinstance(candidates, Mapping):
        return [as_target(c, name) for name, c in candidates.items()]
    out: list[LlamaIndexTarget] = []
    used: set[str] = set()
    for c in candidates:
        t = as_target(c)
        if t.name in used and isinstance(c, LLM):
            i = 2
            while f"{t.name}-{i}" in used:
                i += 1
            t = LlamaIndexTarget(c, name=f"{t.name}-{i}", model=t.model, capability=t.capability)
        used.add(t.name)
        out.append(t)
    return out


class SmartRouterLLM(FunctionCallingLLM):
    """A LlamaIndex function-calling LLM that picks, per call, which candidate answers.

    ``candidates`` are LlamaIndex LLMs (``OpenAI``, ``Anthropic``, ``OpenAILike``, any ``LLM``),
    smartroute targets (its HTTP providers), model names such as ``"gpt-4o"`` (smartroute's HTTP
    provider for the catalog's vendor, keyed from the vendor's variable, or ``api_key=`` when all
    names share one vendor; ``base_url=`` for a compatible proxy), or :class:`LlamaIndexTarget` to
    name a candidate or give its capability; a mapping names them by key. ``policy`` is the
    :class:`~smartroute.RoutingPolicy` (balanced by default); a ready ``router`` replaces both.

    ``metadata`` must hold for whichever candidate answers, so its context window and output
    tokens are the minimum over the candidates the policy allows (``metadata_aggregate="max"``,
    or explicit ``context_window`` / ``num_output``, to choose otherwise).
    """

    metadata_aggregate: Literal["min", "max"] = Field(
        default="min",
        description="How candidates' context windows and output limits combine in metadata.",
    )
    context_window: int | None = Field(default=None, gt=0)
    num_output: int | None = Field(default=None, gt=0)

    _router: Router = PrivateAttr()
    _llms: dict[str, LLM] = PrivateAttr()
    _recent: deque[RoutingDecision] = PrivateAttr()

    def __init__(
        self,
        candidates: Candidates | None = None,
        policy: RoutingPolicy | None = None,
        *,
        router: Router | None = None,
        classifier: ComplexityClassifier | None = None,
        state: StateStore | None = None,
        callback_manager: CallbackManager | None = None,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=callback_manager or CallbackManager([]), **kwargs)
        if router is not None:
            if candidates is not None or policy is not None or api_key or base_url:
                raise ConfigurationError(
                    "SmartRouterLLM: pass either router=Router(...) or candidates=[...] with an "
                    "optional policy=, api_key=, base_url=, not both"
                )
        else:
            if not candidates:
                raise ConfigurationError(
                    "SmartRouterLLM: no candidates; pass candidates=[OpenAI(model=...), ...] or "
                    "router=Router(...)"
                )
            candidates = with_providers(candidates, api_key=api_key, base_url=base_url)
            router = Router(as_targets(candidates), policy, classifier=classifier, state=state)
        self._router = router
        self._llms = {}
        self._recent = deque(maxlen=100)
        for t in router.targets:
            if isinstance(t, LlamaIndexTarget):
                t.share_callbacks(lambda: self.callback_manager)
                self._llms[t.name] = t.llm

    @classmethod
    def class_name(cls) -> str:
        return "SmartRouterLLM"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | str | os.PathLike[str],
        *,
        candidates: Candidates | None = None,
        **kwargs: Any,
    ) -> SmartRouterLLM:
        """Build from ``{"policy": {...}, "targets": [...]}`` or a YAML/JSON file (the format of
        :mod:`smartroute_llm.config`). LlamaIndex LLMs cannot live in a file, so ``candidates`` adds
        them from code, ahead of the file's HTTP targets."""
        from smartroute_llm.config import _load, build_router, build_targets

        data = _load(config)
        unknown = sorted(set(data) - {"policy", "targets"})
        if unknown:
            raise ConfigurationError(
                f"config: unknown top-level field(s) {unknown}; use policy, targets"
            )
        extra = as_targets(candidates) if candidates else []
        entries = data.get("targets")
        if entries is not None:
            targets = build_targets(entries)
        else:
            targets = [] if extra else build_router(data).targets
        policy = RoutingPolicy.from_dict(data.get("policy") or {})
        return cls([*extra, *(as_target(t) for t in targets)], policy, **kwargs)

    @property
    def router(self) -> Router:
        return self._router

    @property
    def policy(self) -> RoutingPolicy:
        return self._router.policy

    @property
    def candidates(self) -> dict[str, LLM]:
        """The LlamaIndex LLMs the router can pick, by target name."""
        return dict(self._llms)

    @property
    def decisions(self) -> list[RoutingDecision]:
        """The routing decisions of the latest calls (up to 100), oldest first: which candidate
        answered each one and why, also where a query engine hides the LLM's response."""
        return list(self._recent)

    @property
    def metadata(self) -> LLMMetadata:
        eligible = [p for p in self._router.profiles if p.static_exclusion is None]
        pick = min if self.metadata_aggregate == "min" else max
        return LLMMetadata(
            context_window=self.context_window or pick(p.context for p in eligible),
            num_output=self.num_output or pick(p.max_output for p in eligible),
            is_chat_model=True,
            is_function_calling_model=all(p.tools for p in eligible),
            model_name="smartroute[" + ",".join(p.name for p in eligible) + "]",
        )

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """Configuration without secrets: candidates by name, model and class only."""
        data = super().to_dict(**kwargs)
        data["candidates"] = [
            {
                "name": p.name,
                "model": p.model,
                "class_name": (
                    self._llms[p.name].class_name() if p.name in self._llms
                    else type(p.target).__name__
                ),
            }
            for p in self._router.profiles
        ]
        data["policy"] = self._router.policy.to_dict()
        return data

    # --- routing helpers ---------------------------------------------------------------------

    def explain(self, messages: Sequence[ChatMessage] | str, **kwargs: Any) -> str:
        """How the router would rank the candidates for this call, and why (no call is made)."""
        return self._router.explain(self._to_request(messages, kwargs))

    def record_feedback(self, response: ChatResponse | str, quality: float) -> bool:
        """A quality score in [0, 1] for an earlier answer (or its decision id)."""
        decision_id = response if isinstance(response, str) else (
            response.additional_kwargs.get(DECISION_KEY, {}).get("decision_id", "")
        )
        return self._router.record_feedback(decision_id, quality)

    @staticmethod
    def decision_of(response: ChatResponse | CompletionResponse) -> RoutingDecision | None:
        data = response.additional_kwargs.get(DECISION_KEY)
        return None if data is None else RoutingDecision.model_validate(data)

    def _to_request(
        self,
        messages: Sequence[ChatMessage] | str,
        kwargs: dict[str, Any],
        *,
        formatted: bool = False,
    ) -> ChatRequest:
        if isinstance(messages, str):
            return build_request(
                [ChatMessage(role=MessageRole.USER, content=messages)], kwargs,
                prompt=messages, formatted=formatted,
            )
        return build_request(messages, kwargs)

    def _answering(self, response: ChatResponse) -> LLM | None:
        decision = response.additional_kwargs.get(DECISION_KEY)
        if not isinstance(decision, dict):
            return None
        return self._llms.get(decision.get("target", ""))

    # --- chat --------------------------------------------------------------------------------

    def _answer(self, resp: NeutralResponse) -> ChatResponse:
        if resp.decision is not None:
            self._recent.append(resp.decision)
        return to_llama_response(resp)

    def _fold(self, chunks: Iterator[ChatChunk]) -> ChatResponseGen:
        fold = StreamFolder()
        for chunk in chunks:
            if chunk.decision is not None:
                self._recent.append(chunk.decision)
            item = fold.add(chunk)
            if item is not None:
                yield item

    async def _afold(self, chunks: AsyncIterator[ChatChunk]) -> ChatResponseAsyncGen:
        fold = StreamFolder()
        async for chunk in chunks:
            if chunk.decision is not None:
                self._recent.append(chunk.decision)
            item = fold.add(chunk)
            if item is not None:
                yield item

    # ``tags=`` (e.g. ``{"team": "a"}``) is the router's, for budgets per key; it is taken out
    # before the other keywords go to the candidate.

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        tags = _tags(kwargs)
        return self._answer(self._router.chat(self._to_request(messages, kwargs), tags=tags))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        tags = _tags(kwargs)
        request = self._to_request(messages, kwargs)
        return self._answer(await self._router.achat(request, tags=tags))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        tags = _tags(kwargs)
        return self._fold(self._router.stream(self._to_request(messages, kwargs), tags=tags))

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        tags = _tags(kwargs)
        return self._afold(self._router.astream(self._to_request(messages, kwargs), tags=tags))

    # --- completion --------------------------------------------------------------------------

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        tags = _tags(kwargs)
        request = self._to_request(prompt, kwargs, formatted=formatted)
        return to_completion(self._answer(self._router.chat(request, tags=tags)))

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        tags = _tags(kwargs)
        request = self._to_request(prompt, kwargs, formatted=formatted)
        return to_completion(self._answer(await self._router.achat(request, tags=tags)))

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        tags = _tags(kwargs)
        request = self._to_request(prompt, kwargs, formatted=formatted)
        return (to_completion(r) for r in self._fold(self._router.stream(request, tags=tags)))

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        tags = _tags(kwargs)
        request = self._to_request(prompt, kwargs, formatted=formatted)
        chats = self._afold(self._router.astream(request, tags=tags))

        async def gen() -> CompletionResponseAsyncGen:
            async for r in chats:
                yield to_completion(r)

        return gen()

    # --- tools -------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Tools stay in LlamaIndex form here; the candidate the router picks translates them
        with its own ``_prepare_chat_with_tools`` at call time."""
        return tools_kwargs(
            tools, user_msg, chat_history, allow_parallel_tool_calls, tool_required, kwargs
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        llm = self._answering(response)
        if isinstance(llm, FunctionCallingLLM):
            return llm._validate_chat_with_tools_response(
                response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
            )
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """Parsed by the candidate that answered, as it would parse its own answer."""
        llm = self._answering(response)
        if isinstance(llm, FunctionCallingLLM):
            return llm.get_tool_calls_from_response(
                response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
            )
        return selections_of(response, error_on_no_tool_call)


__all__ = ["PIN_KWARG", "SmartRouterLLM", "as_target", "as_targets", "with_providers"]


def _tags(kwargs: dict[str, Any]) -> Any:
    """The call's ``tags=`` for the router (budgets per key), removed from ``kwargs``."""
    return kwargs.pop("tags", None)
