"""smartroute: route every LLM chat call to the right model, and make that call reliable."""

from smartroute import catalog
from smartroute.capability import ProviderCapability, QualityTier, SpeedTier
from smartroute.decision import Attempt, RoutingDecision
from smartroute.errors import (
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
from smartroute.features import (
    Complexity,
    ComplexityClassifier,
    HeuristicClassifier,
    RequestFeatures,
    analyze,
    estimate_tokens,
)
from smartroute.plan import Candidate, Exclusion, RoutingPlan
from smartroute.policy import (
    AdaptiveConfig,
    BalancedWeights,
    CircuitBreakerConfig,
    ErrorAction,
    RaceConfig,
    RetryPolicy,
    RoutingPolicy,
    RoutingStrategy,
)
from smartroute.request import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
    to_request,
)
from smartroute.response import ChatChunk, ChatResponse, ToolCallDelta, Usage
from smartroute.router import Router
from smartroute.state import InMemoryStateStore, StateStore
from smartroute.target import AttemptOptions, Target

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
