"""What a model can do and what it costs: the metadata routing decisions are made from."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class SpeedTier(StrEnum):
    VERY_FAST = "very_fast"
    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"


class QualityTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    PREMIUM = "premium"


SPEED_SCORE: dict[SpeedTier, float] = {
    SpeedTier.VERY_FAST: 1.0,
    SpeedTier.FAST: 0.75,
    SpeedTier.MEDIUM: 0.5,
    SpeedTier.SLOW: 0.25,
}
QUALITY_SCORE: dict[QualityTier, float] = {
    QualityTier.LOW: 0.25,
    QualityTier.MEDIUM: 0.5,
    QualityTier.HIGH: 0.75,
    QualityTier.PREMIUM: 1.0,
}
# Typical seconds to first token and output tokens/s per speed tier: the prior the adaptive
# strategy starts from and the latency estimate for a model that was never observed.
SPEED_PRIOR_TTFT_S: dict[SpeedTier, float] = {
    SpeedTier.VERY_FAST: 0.25,
    SpeedTier.FAST: 0.5,
    SpeedTier.MEDIUM: 1.0,
    SpeedTier.SLOW: 2.5,
}
SPEED_PRIOR_TPS: dict[SpeedTier, float] = {
    SpeedTier.VERY_FAST: 250.0,
    SpeedTier.FAST: 120.0,
    SpeedTier.MEDIUM: 60.0,
    SpeedTier.SLOW: 30.0,
}

_MAX_SANE_PRICE_PER_1M = 1000.0
_PRICE_FIELDS = frozenset({"input_cost_per_1m", "output_cost_per_1m"})


def _tier(enum: type[StrEnum], field: str, value: Any) -> Any:
    if isinstance(value, enum) or not isinstance(value, str):
        return value
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    for member in enum:
        if key in (member.value, member.name.lower()):
            return member
    allowed = ", ".join(m.name for m in enum)
    raise ValueError(f"{field}: unknown tier {value!r}; use one of {allowed}")


class ProviderCapability(BaseModel):
    """Capability metadata of one model.

    Prices are USD per 1,000,000 tokens, input and output separately, as vendors list them.
    The seed's single ``cost_per_token`` is accepted as **USD per 1,000 tokens** (its examples,
    e.g. ``gpt-4o: 0.03``, are per-1K list prices); it is converted once, at construction, into
    both per-1M fields (``x 1000``) and is not stored. ``max_tokens`` is the context window (the
    seed's name); ``max_output_tokens`` caps one completion.

    ``quality_score`` (optional, in [0, 1]) is a finer quality than the four tiers: when set,
    routing uses it in place of the tier's score (LOW 0.25 ... PREMIUM 1.0; see
    :attr:`quality_value`). Four evenly spaced tiers cannot express every trade-off (two models
    a quarter-step apart in quality but close in price cannot both be chosen at some cost
    weight); calibration from recorded outcomes sets it (``smartroute_llm.eval.replay.calibrate``).

    A capability built without prices does not mean "free": :attr:`price_known` is false and
    the router prices the model from genai-prices or the catalog, or ranks it as the dearest
    candidate (:mod:`smartroute_llm.pricing`). State ``0`` for a model that really is free.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    speed_tier: SpeedTier = SpeedTier.MEDIUM
    quality_tier: QualityTier = QualityTier.MEDIUM
    input_cost_per_1m: float = Field(0.0, ge=0, description="USD per 1M input tokens")
    output_cost_per_1m: float = Field(0.0, ge=0, description="USD per 1M output tokens")
    max_tokens: int = Field(128_000, gt=0, description="context window in tokens")
    max_output_tokens: int = Field(4_096, gt=0)
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    supports_streaming: bool = True
    supports_prefill: bool = False
    provider: str = ""
    tags: frozenset[str] = frozenset()
    quality_score: float | None = Field(
        None, description="quality in [0, 1] used in place of the tier's score when set"
    )

    @model_validator(mode="before")
    @classmethod
    def _convert_seed_cost(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cost_per_token" in data:
            data = dict(data)
            per_1k = data.pop("cost_per_token")
            if not isinstance(per_1k, int | float) or per_1k < 0:
                raise ValueError(
                    f"cost_per_token: must be a non-negative number of USD per 1,000 tokens, "
                    f"got {per_1k!r}"
                )
            for key in ("input_cost_per_1m", "output_cost_per_1m"):
                if key in data:
                    raise ValueError(
                        f"cost_per_token and {key} both given: pass either the seed's "
                        "cost_per_token (USD per 1K tokens) or the per-1M prices"
                    )
                data[key] = float(per_1k) * 1000.0
        return data

    @field_validator("speed_tier", mode="before")
    @classmethod
    def _speed(cls, v: Any) -> Any:
        return _tier(SpeedTier, "speed_tier", v)

    @field_validator("quality_tier", mode="before")
    @classmethod
    def _quality(cls, v: Any) -> Any:
        return _tier(QualityTier, "quality_tier", v)

    @field_validator("quality_score", mode="before")
    @classmethod
    def _quality_score(cls, v: Any) -> Any:
        if v is None:
            return v
        ok = isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0
        if not ok:
            raise ValueError(
                f"quality_score: must be a number in [0, 1] (or null to use quality_tier), "
                f"got {v!r}"
            )
        return float(v)

    @field_validator("input_cost_per_1m", "output_cost_per_1m")
    @classmethod
    def _sane_price(cls, v: float, info: Any) -> float:
        if v > _MAX_SANE_PRICE_PER_1M:
            raise ValueError(
                f"{info.field_name}: {v} USD per 1M tokens is implausible (over "
                f"{_MAX_SANE_PRICE_PER_1M:.0f}); prices are USD per 1M tokens, e.g. 2.5 for "
                "$2.50/1M. A per-token price must be multiplied by 1,000,000"
            )
        return v

    @model_validator(mode="after")
    def _output_fits(self) -> ProviderCapability:
        if self.max_output_tokens > self.max_tokens:
            object.__setattr__(self, "max_output_tokens", self.max_tokens)
        return self

    @property
    def quality_value(self) -> float:
        """The quality score routing uses: ``quality_score`` when set, else the tier's."""
        return self.quality_score if self.quality_score is not None else QUALITY_SCORE[
            self.quality_tier
        ]

    @property
    def price_known(self) -> bool:
        """Whether a price was stated (``0`` included), rather than left at its default."""
        return not _PRICE_FIELDS.isdisjoint(self.model_fields_set)

    @property
    def cost_per_token(self) -> float:
        """Mean of input and output price in the seed's unit, USD per 1,000 tokens."""
        return (self.input_cost_per_1m + self.output_cost_per_1m) / 2000.0

    @property
    def context_window(self) -> int:
        return self.max_tokens

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD for one call. Cached input tokens are billed at the input price (conservative)."""
        del cached_input_tokens
        return (
            input_tokens * self.input_cost_per_1m + output_tokens * self.output_cost_per_1m
        ) / 1_000_000.0
