"""``SmartRouterChatModel``: one LangChain chat model in front of many, routed by policy.

Every call is planned and executed by one :class:`smartroute.Router` (fallback, retries,
breakers, racing), and each candidate is called at the leaf (``_generate``/``_stream``), so
callbacks, tracing and ``astream_events`` see exactly one chat-model run per routed call.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from contextvars import ContextVar
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal, Self, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from langchain_core.utils.utils import secret_from_env
from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from langchain_smartroute.errors import to_langchain_error
from langchain_smartroute.messages import ai_chunk, ai_message, to_request, usage_metadata
from langchain_smartroute.profiles import capability_for, merge_profiles, profile_from_capability
from langchain_smartroute.target import _ANSWER_KEYS, CALL_KEY, LangChainCall, LangChainTarget
from smartroute_llm.capability import ProviderCapability
from smartroute_llm.errors import ConfigurationError
from smartroute_llm.features import estimate_tokens
from smartroute_llm.limits import pick_tags
from smartroute_llm.plan import RoutingPlan
from smartroute_llm.policy import RoutingPolicy, RoutingStrategy
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.router import Router
from smartroute_llm.target import Target


@dataclass(slots=True, eq=False)
class _Pending:
    """The call being set up. LangChain asks for the trace metadata (``_first_choice``) before
    the messages reach ``_generate``; the request and plan made for it are kept here so the call
    itself converts and plans once, not twice."""

    messages: list[BaseMessage]
    stop: list[str] | None = None
    kwargs: dict[str, Any] | None = None
    request: ChatRequest | None = None
    call: LangChainCall | None = None
    plan: RoutingPlan | None = None

    def take(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[ChatRequest, LangChainCall, RoutingPlan] | None:
        """What ``_first_choice`` prepared, if it was for exactly this call (once)."""
        request, call, plan, seen = self.request, self.call, self.plan, self.kwargs
        self.request = self.call = self.plan = self.kwargs = None
        if (
            request is None
            or call is None
            or plan is None
            or seen is None
            or stop is not self.stop
            or len(kwargs) != len(seen)
            or any(seen.get(k, _MISSING) is not v for k, v in kwargs.items())
            or len(messages) != len(self.messages)
            or any(a is not b for a, b in zip(messages, self.messages, strict=True))
        ):
            return None
        return request, call, plan


_MISSING = object()
_PENDING: ContextVar[_Pending | None] = ContextVar("smartroute_lc_messages", default=None)
# rankings that draw or advance state on every plan: only the call itself may plan them
_STATEFUL = frozenset(
    {RoutingStrategy.ADAPTIVE, RoutingStrategy.WEIGHTED, RoutingStrategy.ROUND_ROBIN}
)

StructuredMethod = Literal["function_calling", "json_schema", "json_mode"]
_TOOL_KEYS = ("tools", "tool_choice", "strict", "parallel_tool_calls")


class SmartRouterChatModel(BaseChatModel):
    """A chat model that routes each call to the best of its ``candidates``.

    ``candidates`` are LangChain chat models, smartroute targets (e.g. ``OpenAICompatible``),
    or ``{"model": <either>, "name": str, "capability": {...}}`` entries. Capabilities come from
    ``capabilities[name]``, else the smartroute catalog by model name, refined by the
    candidate's LangChain ``profile``. Pass a ready ``router=`` to share one router (its
    learned statistics and breakers) between several chat models.

    Example:
        ```python
        llm = SmartRouterChatModel(
            candidates=[ChatOpenAI(model="gpt-4o-mini"), ChatAnthropic(model="claude-3-haiku")],
            policy=RoutingPolicy.balanced().fallback_chain(["claude-3-haiku"]),
        )
        msg = llm.invoke("hi")
        msg.response_metadata["model_name"], msg.response_metadata["smartroute"]["reason"]
        ```
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    candidates: list[Any] = Field(default_factory=list, exclude=True)
    policy: RoutingPolicy | None = Field(default=None, exclude=True)
    router: Router | None = Field(default=None, exclude=True)
    # Where circuits and learned statistics live (e.g. RedisStateStore.from_url(...) to share
    # them between replicas); used when the model builds its own router from candidates.
    state: Any = Field(default=None, exclude=True)
    capabilities: dict[str, ProviderCapability | dict[str, Any]] = Field(
        default_factory=dict, exclude=True
    )
    model_name: str = Field(default="smartroute", alias="model")
    """The router's own name in traces; the answering model is in ``response_metadata``."""
    temperature: float | None = None
    """Sent to smartroute targets; LangChain candidates keep their own configuration."""
    max_tokens: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    """Per-attempt timeout in seconds, applied to the routing policy."""
    max_retries: int | None = None
    """Retries on the same candidate for retryable errors, applied to the routing policy."""
    streaming: bool = False
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("SMARTROUTE_API_KEY", default=None), exclude=True
    )
    """Key for candidates given as catalog model names (smartroute's HTTP providers). One key
    belongs to one vendor: it is refused when those names are served by several vendors."""
    base_url: str | None = Field(default=None, exclude=True)
    """Endpoint for candidates given as model names (an OpenAI-compatible proxy, say); a host
    other than the vendor's own needs ``api_key`` (vendor keys only go to their vendor)."""

    _router: Router = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            # pydantic would show the whole input (the key too) beside our own message
            cause = _configuration_error(exc)
            if cause is None:
                raise
            raise cause from None

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "SMARTROUTE_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        # candidates are live objects (clients, routers); there is nothing portable to dump
        return False

    @model_validator(mode="after")
    def _build_router(self) -> Self:
        if self.router is not None:
            if self.candidates:
                raise ConfigurationError(
                    "SmartRouterChatModel: pass either router= or candidates=, not both"
                )
            if self.state is not None:
                raise ConfigurationError(
                    "SmartRouterChatModel: state= is for the router built from candidates=; "
                    "pass it to Router(..., state=) instead"
                )
            self._router = self.router
        else:
            if not self.candidates:
                raise ConfigurationError(
                    "SmartRouterChatModel: candidates= is empty; pass LangChain chat models "
                    "and/or smartroute targets, or a ready router="
                )
            policy = self.policy or RoutingPolicy.balanced()
            if self.max_retries is not None:
                policy = policy.retries(self.max_retries)
            if self.timeout is not None:
                policy = policy.timeouts(timeout=self.timeout)
            self._router = Router(self._targets(), policy, state=self.state)
        if self.profile is None:
            self.profile = merge_profiles(
                [self._candidate_profile(p.target, p.capability) for p in self._router.profiles]
            )
        return self

    def _targets(self) -> list[Target]:
        targets: list[Target] = []
        seen: set[str] = set()
        entries = [self._entry(i, e) for i, e in enumerate(self.candidates)]
        resolved = iter(self._providers_for(entries))
        for i, (obj, name, given) in enumerate(entries):
            if isinstance(obj, str):
                obj, name = next(resolved), None
            if isinstance(obj, BaseChatModel):
                probe = LangChainTarget(obj, ProviderCapability(), name=name)
                name = _unique(probe.name, seen)
                given = given if given is not None else self.capabilities.get(name)
                cap = capability_for(obj, probe.model, given)
                targets.append(LangChainTarget(obj, cap, name=name))
            elif isinstance(obj, Target):
                if name is not None and name != obj.name:
                    raise ConfigurationError(
                        f"candidates[{i}]: name={name!r} differs from the target's own name "
                        f"{obj.name!r}; name the target when constructing it"
                    )
                seen.add(obj.name)
                targets.append(obj)
            else:
                raise ConfigurationError(
                    f"candidates[{i}]: {type(obj).__name__} is neither a LangChain chat model "
                    "nor a smartroute Target"
                )
        extra = {
            n: c
            for n, c in self.capabilities.items()
            if any(
                isinstance(t, Target) and not isinstance(t, LangChainTarget) and t.name == n
                for t in targets
            )
        }
        if extra:
            policy = self.policy or RoutingPolicy.balanced()
            for n, c in extra.items():
                policy = policy.add_provider(n, c)
            self.policy = policy
        return targets

    @staticmethod
    def _entry(i: int, entry: Any) -> tuple[Any, str | None, Any]:
        if isinstance(entry, Mapping):
            if "model" not in entry:
                raise ConfigurationError(
                    f"candidates[{i}]: a mapping needs 'model' (a chat model or target)"
                )
            return entry["model"], entry.get("name"), entry.get("capability")
        return entry, None, None

    def _providers_for(self, entries: list[tuple[Any, str | None, Any]]) -> list[Target]:
        """Targets for the candidates given as model names, built together so that one
        ``api_key`` goes only to the vendor it belongs to."""
        named = [(obj, name) for obj, name, _ in entries if isinstance(obj, str)]
        caps = {
            obj: _as_capability(given if given is not None else self.capabilities.get(name or obj))
            for obj, name, given in entries
            if isinstance(obj, str)
        }
        if not named:
            if self.base_url is not None:
                raise ConfigurationError(
                    "SmartRouterChatModel: base_url= applies to candidates given as model "
                    "names, and there are none; configure each chat model's own base URL"
                )
            return []
        from smartroute_llm.providers.registry import for_models

        explicit = "api_key" in self.model_fields_set
        return list(
            for_models(
                [m for m, _ in named],
                caps,
                api_key=self.api_key,
                base_url=self.base_url,
                names=[n for _, n in named],
                where="SmartRouterChatModel",
                key_source="api_key=" if explicit else "SMARTROUTE_API_KEY",
            )
        )

    @staticmethod
    def _candidate_profile(target: Target, cap: ProviderCapability) -> ModelProfile:
        base = profile_from_capability(cap)
        if isinstance(target, LangChainTarget) and target.chat_model.profile:
            return ModelProfile(**{**base, **target.chat_model.profile})
        return base

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str, **kwargs: Any) -> SmartRouterChatModel:
        """Build from a dict or a YAML/JSON file path; see :mod:`langchain_smartroute.config`."""
        from langchain_smartroute.config import chat_model_kwargs

        return cls(**{**chat_model_kwargs(config), **kwargs})

    # --- identity -------------------------------------------------------------------------

    @property
    def routing(self) -> Router:
        """The router making every decision (plans, stats, feedback)."""
        return self._router

    @property
    def _llm_type(self) -> str:
        return "smartroute"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "strategy": self._router.policy.strategy.value,
            "candidates": [p.name for p in self._router.profiles],
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        provider, model = self._first_choice(stop, kwargs)
        params = LangSmithParams(
            ls_provider=provider,
            ls_model_name=kwargs.get("model") or model,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, int | float):
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _first_choice(self, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[str, str]:
        """Provider and model of the candidate the router plans to call first, so tracing
        tools can price the run; ``("smartroute", model_name)`` when that is not known."""
        pending = _PENDING.get()
        unknown = ("smartroute", self.model_name)
        if (
            pending is None
            or "model_name" in self.model_fields_set
            or self._router.policy.strategy in _STATEFUL
        ):
            return unknown
        try:
            request, call = self._request(pending.messages, stop, None, False, kwargs)
            plan = self._router.plan(request)
        except Exception:  # no candidate fits, or all are resting: the call reports it
            return unknown
        pending.stop, pending.kwargs = stop, dict(kwargs)
        pending.request, pending.call, pending.plan = request, call, plan
        target = plan.first.target
        if isinstance(target, LangChainTarget):
            try:
                own = target.chat_model._get_ls_params()
            except Exception:
                own = LangSmithParams()
            return own.get("ls_provider") or "smartroute", own.get("ls_model_name") or target.model
        return str(getattr(target, "provider", None) or "smartroute"), target.model

    # The messages of the call being set up; LangChain asks for the trace metadata before the
    # messages reach ``_generate``/``_stream``, so they are parked here for ``_first_choice``.

    def generate(self, messages: list[list[BaseMessage]], *args: Any, **kwargs: Any) -> Any:
        token = _PENDING.set(_Pending(messages[0]) if len(messages) == 1 else None)
        try:
            return super().generate(messages, *args, **kwargs)
        finally:
            _PENDING.reset(token)

    async def agenerate(self, messages: list[list[BaseMessage]], *args: Any, **kwargs: Any) -> Any:
        token = _PENDING.set(_Pending(messages[0]) if len(messages) == 1 else None)
        try:
            return await super().agenerate(messages, *args, **kwargs)
        finally:
            _PENDING.reset(token)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        chunks = cast(Generator[AIMessageChunk], super().stream(input, config, stop=stop, **kwargs))
        # the trace metadata is made on the first step; set and reset within that step
        token = _PENDING.set(_Pending(self._convert_input(input).to_messages()))
        try:
            first = next(chunks, None)
        finally:
            _PENDING.reset(token)
        if first is None:
            return
        try:
            yield first
            yield from chunks
        finally:
            chunks.close()

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        chunks = cast(
            AsyncGenerator[AIMessageChunk], super().astream(input, config, stop=stop, **kwargs)
        )
        token = _PENDING.set(_Pending(self._convert_input(input).to_messages()))
        try:
            first = await anext(chunks, None)
        finally:
            _PENDING.reset(token)
        if first is None:
            return
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    # --- token counting -------------------------------------------------------------------

    def get_num_tokens(self, text: str) -> int:
        """smartroute's own estimate (the one routing uses), so counting needs no tokenizer
        download; ``custom_get_token_ids`` still wins when given."""
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        return estimate_tokens(text)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """The prompt size the router plans with (messages, per-message overhead, tools)."""
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        specs = [t if _is_openai_tool(t) else convert_to_openai_tool(t) for t in tools or ()]
        return self._router.features(to_request(messages, tools=specs)).prompt_tokens

    # --- tools and structured output ------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools in a neutral (OpenAI) form; each candidate re-binds them its own way per call.

        ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True`` or a tool name.
        """
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        names = [t["function"]["name"] for t in formatted]
        keywords = ("auto", "none", "any", "required")
        if isinstance(tool_choice, str) and tool_choice not in (*keywords, *names):
            raise ValueError(
                f"tool_choice={tool_choice!r} names no bound tool; use one of {names} or "
                "'auto', 'none', 'any'"
            )
        bound: dict[str, Any] = {"tools": formatted}
        for key, value in (
            ("tool_choice", tool_choice),
            ("strict", strict),
            ("parallel_tool_calls", parallel_tool_calls),
        ):
            if value is not None:
                bound[key] = value
        return super().bind(**bound, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Structured answers: ``function_calling`` (any tool-calling candidate, the default),
        ``json_schema`` (native structured output) or ``json_mode``."""
        if kwargs:
            raise ValueError(f"with_structured_output: unsupported arguments {sorted(kwargs)}")
        is_model = isinstance(schema, type) and is_basemodel_subclass(schema)
        trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            if schema is None:
                raise ValueError("method='function_calling' needs a schema")
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools(
                [schema], tool_choice=name, strict=strict, ls_structured_output_format=trace
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if is_model
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            if method == "json_schema":
                if schema is None:
                    raise ValueError("method='json_schema' needs a schema")
                json_schema = convert_to_json_schema(schema)
                spec: dict[str, Any] = {
                    "name": json_schema.get("title", "response"),
                    "schema": json_schema,
                }
                if strict is not None:
                    spec["strict"] = strict
                fmt: dict[str, Any] = {"type": "json_schema", "json_schema": spec}
            else:
                fmt = {"type": "json_object"}
                trace = {"kwargs": {"method": method}, "schema": schema}
            llm = self.bind(
                response_format=fmt,
                ls_structured_output_format=trace if schema is not None else None,
            )
            parser = (
                PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()
            )
        else:
            raise ValueError(
                f"method={method!r}: use 'function_calling', 'json_schema' or 'json_mode'"
            )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        none = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([none], exception_key="parsing_error")

    # --- one routed call ------------------------------------------------------------------

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: Any,
        streaming: bool,
        kwargs: dict[str, Any],
    ) -> tuple[ChatRequest, LangChainCall]:
        kw = dict(kwargs)
        pinned = kw.pop("model", None)
        kw.pop("ls_structured_output_format", None)
        kw.pop("stream", None)
        tools_opts = {k: kw.pop(k) for k in _TOOL_KEYS if k in kw}
        tools = tools_opts.pop("tools", None)
        if tools:
            tools = [t if _is_openai_tool(t) else convert_to_openai_tool(t) for t in tools]
        stop = stop or self.stop or None
        call = LangChainCall(
            messages=messages,
            neutral_len=len(messages),
            stop=stop,
            run_manager=run_manager,
            streaming=streaming,
            kwargs=kw,
            tools=tools or None,
            tool_options=tools_opts,
        )
        request = to_request(
            messages,
            tools=tools,
            tool_choice=tools_opts.get("tool_choice"),
            parallel_tool_calls=tools_opts.get("parallel_tool_calls"),
            response_format_=kw.get("response_format"),
            stop=stop,
            temperature=kw.get("temperature", self.temperature),
            max_tokens=kw.get("max_tokens", self.max_tokens),
            model=pinned if isinstance(pinned, str) else None,
            metadata={CALL_KEY: call},
        )
        return request, call

    def _result(self, resp: ChatResponse, call: LangChainCall) -> ChatResult:
        decision = resp.decision
        raw = resp.raw
        answer = call.answers.get(decision.target) if decision is not None else None
        native = isinstance(raw, AIMessage)
        meta = {} if native or not answer else dict(answer[0])
        if native:
            meta.update(raw.response_metadata)
        else:
            meta["finish_reason"] = resp.finish_reason  # first, where ai_message puts it
        meta["model_name"] = resp.model or (decision.model if decision else self.model_name)
        meta["finish_reason"] = resp.finish_reason
        if decision is not None:
            meta["smartroute"] = decision.model_dump(mode="json")
        if not native:
            # a neutral answer: its message is built once, with the final metadata
            return ChatResult(generations=[ChatGeneration(message=ai_message(resp, meta))])
        usage = raw.usage_metadata or (answer[1] if answer else None) or usage_metadata(resp.usage)
        msg = raw.model_copy(update={"response_metadata": meta, "usage_metadata": usage})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _chunk(
        self, chunk: ChatChunk, call: LangChainCall, list_content: bool
    ) -> ChatGenerationChunk:
        decision = chunk.decision
        if decision is None:
            raw = chunk.raw
            return ChatGenerationChunk(
                message=raw if isinstance(raw, AIMessageChunk) else ai_chunk(chunk)
            )
        answer = call.answers.get(decision.target)
        meta = {k: v for k, v in answer[0].items() if k in _ANSWER_KEYS} if answer else {}
        meta["model_name"] = chunk.model or decision.model
        meta["finish_reason"] = chunk.finish_reason
        meta["smartroute"] = decision.model_dump(mode="json")
        usage = (answer[1] if answer else None) or usage_metadata(chunk.usage)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=[] if list_content else "",
                usage_metadata=usage,
                response_metadata=meta,
                chunk_position="last",
            )
        )

    def _tags(self, run_manager: Any) -> dict[str, str] | None:
        """Budgets per key read their key from the run's config metadata:
        ``invoke(msgs, config={"metadata": {"team": "a"}})`` for ``budget(..., per="team")``."""
        meta = getattr(run_manager, "metadata", None)
        return pick_tags(self._router.policy, meta)

    def _prepared(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: Any,
        kwargs: dict[str, Any],
    ) -> tuple[ChatRequest, LangChainCall, RoutingPlan | None]:
        """The request for this call, converted once: ``_first_choice`` already made it (and
        its plan) when tracing asked. The plan is reused only where the router would make the
        same one now: without rate limits, the only input (with the call's tags) it did not see.
        """
        pending = _PENDING.get()
        taken = pending.take(messages, stop, kwargs) if pending is not None else None
        if taken is None:
            request, call = self._request(messages, stop, run_manager, False, kwargs)
            return request, call, None
        request, call, plan = taken
        call.run_manager = run_manager
        router = self._router
        if (
            router.limiter is not None
            or router.cascade is not None  # a cascade plans its own ladder
            or router.policy.when_rate_limited_ == "wait"
        ):
            return request, call, None
        plan.started_at = router.clock()
        return request, call, plan

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request, call, plan = self._prepared(messages, stop, run_manager, kwargs)
        try:
            tags = self._tags(run_manager)
            if plan is not None and tags is None:
                resp = self._router.executor.complete(plan, None)
            else:
                resp = self._router.chat(request, tags=tags)
        except Exception as exc:
            raise to_langchain_error(exc) from exc.__cause__
        return self._result(resp, call)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request, call, plan = self._prepared(messages, stop, run_manager, kwargs)
        try:
            tags = self._tags(run_manager)
            if plan is not None and tags is None:
                resp = await self._router.executor.acomplete(plan, None)
            else:
                resp = await self._router.achat(request, tags=tags)
        except Exception as exc:
            raise to_langchain_error(exc) from exc.__cause__
        return self._result(resp, call)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request, call = self._request(messages, stop, run_manager, True, kwargs)
        list_content = False
        try:
            for chunk in self._router.stream(request, tags=self._tags(run_manager)):
                gen = self._chunk(chunk, call, list_content)
                list_content = isinstance(gen.message.content, list)
                yield gen
        except Exception as exc:
            raise to_langchain_error(exc) from exc.__cause__

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request, call = self._request(messages, stop, run_manager, True, kwargs)
        list_content = False
        try:
            async for chunk in self._router.astream(request, tags=self._tags(run_manager)):
                gen = self._chunk(chunk, call, list_content)
                list_content = isinstance(gen.message.content, list)
                yield gen
        except Exception as exc:
            raise to_langchain_error(exc) from exc.__cause__


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 1
    while candidate in seen:
        n += 1
        candidate = f"{name}#{n}"
    seen.add(candidate)
    return candidate


def _configuration_error(exc: ValidationError) -> ConfigurationError | None:
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigurationError):
            return cause
    return None


def _as_capability(cap: ProviderCapability | Mapping[str, Any] | None) -> ProviderCapability | None:
    if cap is None or isinstance(cap, ProviderCapability):
        return cap
    return ProviderCapability.model_validate(dict(cap))


def _is_openai_tool(tool: Any) -> bool:
    return isinstance(tool, Mapping) and tool.get("type") == "function" and "function" in tool
