"""smartroute: route every LLM chat call to the right model, and make that call reliable."""

from smartroute_llm import catalog
from smartroute_llm.capability import ProviderCapability, QualityTier, SpeedTier
from smartroute_llm.decision import Attempt, RoutingDecision
from smartroute_llm.errors import (
    AllTargetsFailed,
    CircuitOpenError,
    ConfigurationError,
    ErrorKind,
    NoCandidatesError,
    ProviderError,
    RequestValidationError,
    SmartRouteError,
    StrategyNotAvailableError,
    StreamInterrupted,
)
from smartroute_llm.features import (
    Complexity,
    ComplexityClassifier,
    HeuristicClassifier,
    RequestFeatures,
    analyze,
    estimate_tokens,
)
from smartroute_llm.plan import Candidate, Exclusion, RoutingPlan
from smartroute_llm.policy import (
    AdaptiveConfig,
    BalancedWeights,
    CircuitBreakerConfig,
    ErrorAction,
    RaceConfig,
    RetryPolicy,
    RoutingPolicy,
    RoutingStrategy,
)
from smartroute_llm.request import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
    to_request,
)
from smartroute_llm.response import ChatChunk, ChatResponse, ToolCallDelta, Usage
from smartroute_llm.router import Router
from smartroute_llm.state import InMemoryStateStore, StateStore
from smartroute_llm.target import AttemptOptions, Target

__version__ = "0.1.0"

__all__ = [
    "AdaptiveConfig",
    "AllTargetsFailed",
    "Attempt",
    "AttemptOptions",
    "BalancedWeights",
    "Candidate",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "Complexity",
    "ComplexityClassifier",
    "ConfigurationError",
    "ErrorAction",
    "ErrorKind",
    "Exclusion",
    "HeuristicClassifier",
    "ImagePart",
    "InMemoryStateStore",
    "Message",
    "NoCandidatesError",
    "ProviderCapability",
    "ProviderError",
    "QualityTier",
    "RaceConfig",
    "RequestFeatures",
    "RequestValidationError",
    "ResponseFormat",
    "RetryPolicy",
    "Router",
    "RoutingDecision",
    "RoutingPlan",
    "RoutingPolicy",
    "RoutingStrategy",
    "SmartRouteError",
    "SpeedTier",
    "StateStore",
    "StrategyNotAvailableError",
    "StreamInterrupted",
    "Target",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
    "analyze",
    "catalog",
    "estimate_tokens",
    "to_request",
]
