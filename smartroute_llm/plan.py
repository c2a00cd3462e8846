"""Plans: the ranked candidates for one request, with scores and every exclusion's reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartroute_llm import pricing
from smartroute_llm.capability import SPEED_SCORE, ProviderCapability
from smartroute_llm.decision import ExcludedSummary, ScoredSummary
from smartroute_llm.features import RequestFeatures
from smartroute_llm.request import ChatRequest, built
from smartroute_llm.target import Target


@dataclass(slots=True, eq=False)
class Profile:
    """Static facts about one target, computed once when the router is built.

    ``in_price``/``out_price`` are what ranking uses: the known price, or for a model whose
    price is unknown (``price_known`` false) the stand-in of :func:`settle_prices`.
    ``price_source`` says where the price came from (:mod:`smartroute_llm.pricing`).
    """

    index: int
    target: Target
    name: str
    model: str
    capability: ProviderCapability
    quality: float
    speed: float
    in_price: float  # USD per token
    out_price: float
    context: int
    max_output: int
    tools: bool
    vision: bool
    json: bool
    provider: str
    static_exclusion: str | None = None
    price_source: str = pricing.GIVEN
    price_known: bool = True

    @classmethod
    def build(
        cls, index: int, target: Target, capability: ProviderCapability, exclusion: str | None
    ) -> Profile:
        price = pricing.resolve(target.model, capability)
        if price.known and (price.input_per_1m, price.output_per_1m) != (
            capability.input_cost_per_1m,
            capability.output_cost_per_1m,
        ):  # billed at the price ranked with
            capability = capability.model_copy(
                update={
                    "input_cost_per_1m": price.input_per_1m,
                    "output_cost_per_1m": price.output_per_1m,
                }
            )
        return cls(
            index=index,
            target=target,
            name=target.name,
            model=target.model,
            capability=capability,
            quality=capability.quality_value,
            speed=SPEED_SCORE[capability.speed_tier],
            in_price=capability.input_cost_per_1m / 1e6,
            out_price=capability.output_cost_per_1m / 1e6,
            context=capability.max_tokens,
            max_output=capability.max_output_tokens,
            tools=capability.supports_tools,
            vision=capability.supports_vision,
            json=capability.supports_json,
            provider=capability.provider,
            static_exclusion=exclusion,
            price_source=price.source,
            price_known=price.known,
        )


def settle_prices(profiles: list[Profile], stacklevel: int = 2) -> list[str]:
    """Give every profile of unknown price its ranking stand-in (twice the dearest known
    price, :func:`smartroute_llm.pricing.unknown_rank_price`) and warn once, naming them all.
    Returns their names."""
    unknown = [p for p in profiles if not p.price_known]
    if not unknown:
        return []
    known = [
        pricing.Price(p.in_price * 1e6, p.out_price * 1e6, p.price_source)
        for p in profiles
        if p.price_known
    ]
    ins, outs = pricing.unknown_rank_price(known)
    for p in unknown:
        p.in_price, p.out_price = ins / 1e6, outs / 1e6
    names = [p.name for p in unknown]
    pricing.warn_unknown(names, stacklevel=stacklevel + 1)
    return names


@dataclass(slots=True, eq=False)
class Candidate:
    """One ranked target. ``quality``/``speed``/``cost`` are its component scores in [0, 1]."""

    profile: Profile
    score: float
    quality: float = 0.0
    speed: float = 0.0
    cost: float = 0.0
    est_cost_usd: float = 0.0
    extra: dict[str, float] | None = None

    @property
    def target(self) -> Target:
        return self.profile.target

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def model(self) -> str:
        return self.profile.model

    @property
    def price_known(self) -> bool:
        return self.profile.price_known

    @property
    def price_source(self) -> str:
        return self.profile.price_source

    @property
    def parts(self) -> dict[str, float]:
        return _parts(self.quality, self.speed, self.cost, self.est_cost_usd, self.extra)

    def __repr__(self) -> str:
        return f"Candidate({self.name!r}, score={self.score:.4f})"


@dataclass(slots=True)
class Exclusion:
    target: str
    model: str
    reason: str


@dataclass(slots=True, eq=False)
class GroupPick:
    """How one deployment group's members were ordered for a request
    (:mod:`smartroute_llm.groups`): the first is the chosen member, the rest its fallback."""

    group: str
    members: list[str]
    spread: str  # least_loaded, weighted, session, or single (one member eligible)
    inflight: list[int] | None = None  # the members' calls in flight, when spread by load
    skipped: list[str] = field(default_factory=list)  # members not eligible (circuit open, ...)

    @property
    def chosen(self) -> str:
        return self.members[0]

    def describe(self) -> str:
        how = {
            "least_loaded": "least in-flight",
            "weighted": "weighted",
            "session": "session affinity",
            "single": "the only eligible member",
        }.get(self.spread, self.spread)
        if self.inflight is not None:
            pairs = zip(self.members, self.inflight, strict=True)
            order = ", ".join(f"{m} ({n} in flight)" for m, n in pairs)
        else:
            order = ", ".join(self.members)
        out = f"group {self.group}: {how}; {order}"
        if self.skipped:
            out += f"; skipped {', '.join(self.skipped)}"
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.members[0],
            "members": list(self.members),
            "spread": self.spread,
            "inflight": None if self.inflight is None else list(self.inflight),
            "skipped": list(self.skipped),
        }


def _parts(
    quality: float, speed: float, cost: float, est_cost_usd: float, extra: dict[str, float] | None
) -> dict[str, float]:
    parts = {"quality": quality, "speed": speed, "cost": cost, "est_cost_usd": est_cost_usd}
    if extra:
        parts.update(extra)
    return parts


# what a decision's summary needs of a candidate, without the candidate (which holds its target
# and, through it, the target's connections: a kept decision must not keep those alive)
SummaryRow = tuple[str, str, float, float, float, float, float, "dict[str, float] | None"]


def summary_rows(candidates: list[Candidate]) -> list[SummaryRow]:
    return [
        (c.profile.name, c.profile.model, c.score, c.quality, c.speed, c.cost, c.est_cost_usd,
         c.extra)
        for c in candidates
    ]


def summarize(
    rows: list[SummaryRow], excluded: list[Exclusion]
) -> tuple[list[ScoredSummary], list[ExcludedSummary]]:
    """What a decision shows of a plan: its candidates' scores and its exclusions."""
    scored = []
    for name, model, score, quality, speed, cost, usd, extra in rows:
        parts = _parts(quality, speed, cost, usd, extra)
        values = {"target": name, "model": model, "score": score, "parts": parts}
        scored.append(built(ScoredSummary, values, {"target", "model", "score", "parts"}))
    excluded_ = []
    for e in excluded:
        values = {"target": e.target, "model": e.model, "reason": e.reason}
        excluded_.append(built(ExcludedSummary, values, {"target", "model", "reason"}))
    return scored, excluded_


@dataclass(slots=True, eq=False)
class RoutingPlan:
    request: ChatRequest
    features: RequestFeatures
    strategy: str
    candidates: list[Candidate]
    excluded: list[Exclusion]
    weights: dict[str, float] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)
    # the router's clock when the call began (before any wait for a circuit); None: at execution
    started_at: float | None = None
    # deployment groups: each grouped candidate's name -> how its group was ordered
    groups: dict[str, GroupPick] = field(default_factory=dict)

    @property
    def first(self) -> Candidate:
        return self.candidates[0]

    def __len__(self) -> int:
        return len(self.candidates)

    def summary(self, top: int = 10) -> tuple[list[ScoredSummary], list[ExcludedSummary]]:
        return summarize(summary_rows(self.candidates[:top]), self.excluded[:top])

    def explain(self, top: int = 10) -> str:
        """A human-readable account of the plan."""
        f = self.features
        c = f.complexity
        lines = [
            f"strategy: {self.strategy}",
            f"request: ~{f.prompt_tokens} prompt tokens, complexity {c.score:.2f} ({c.label})"
            + (f", needs {', '.join(_needs(f))}" if _needs(f) else ""),
        ]
        signals = ", ".join(f"{k}={v:.2f}" for k, v in c.signals.items() if v)
        if signals:
            lines.append(f"signals: {signals}")
        if self.weights:
            lines.append("weights: " + ", ".join(f"{k}={v:.2f}" for k, v in self.weights.items()))
        lines.append(
            "candidates: score= weighted q(uality), s(peed), c(ost); ~$ = this request"
        )
        entries = self._entries()
        for i, cand in enumerate(entries[:top], 1):
            extra = ""
            if cand.extra:
                extra = " " + " ".join(f"{k}={v:.3g}" for k, v in cand.extra.items())
            usd = f"~${cand.est_cost_usd:.2g}" if cand.price_known else "~$? price unknown"
            lines.append(
                f"  {i}. {cand.name:<24} {cand.score:.3f}  q={cand.quality:.2f} "
                f"s={cand.speed:.2f} c={cand.cost:.2f}  {usd}{extra}"
            )
            pick = self.groups.get(cand.name)
            if pick is not None:
                lines.append(f"       {pick.describe()}")
        if len(entries) > top:
            lines.append(f"  ... {len(entries) - top} more")
        lines.extend(_price_lines(self.candidates[:top]))
        scored = [c for c in entries[:top] if c.profile.capability.quality_score is not None]
        if scored:
            lines.append(
                "quality scores (in place of the tier): "
                + ", ".join(
                    f"{c.name}={c.profile.capability.quality_value:.4g} "
                    f"({c.profile.capability.quality_tier.value})"
                    for c in scored
                )
            )
        if self.excluded:
            lines.append("excluded:")
            for e in self.excluded[:top]:
                lines.append(f"  - {e.target}: {e.reason}")
            if len(self.excluded) > top:
                lines.append(f"  ... {len(self.excluded) - top} more")
        return "\n".join(lines)

    def _entries(self) -> list[Candidate]:
        """One entry per group (its chosen member) or ungrouped candidate, in rank order."""
        groups = self.groups
        if not groups:
            return self.candidates
        return [
            c for c in self.candidates if (p := groups.get(c.name)) is None or p.chosen == c.name
        ]

    def __str__(self) -> str:
        return self.explain()

    @property
    def prices(self) -> dict[str, str]:
        """Where each candidate's price came from, by target name (``unknown``: no price)."""
        return {c.name: c.price_source for c in self.candidates}


def _price_lines(candidates: list[Candidate]) -> list[str]:
    by_source: dict[str, list[str]] = {}
    for c in candidates:
        by_source.setdefault(c.price_source, []).append(c.name)
    lines = [
        f"  {src}: {', '.join(names)}" for src, names in by_source.items() if src != pricing.UNKNOWN
    ]
    if pricing.UNKNOWN in by_source:
        lines.append(
            f"  price unknown (ranked as the dearest for cost): "
            f"{', '.join(by_source[pricing.UNKNOWN])}"
        )
    return ["prices from:", *lines] if lines else []


def _needs(f: RequestFeatures) -> list[str]:
    return [
        n
        for n, on in (("tools", f.needs_tools), ("vision", f.needs_vision), ("json", f.needs_json))
        if on
    ]
