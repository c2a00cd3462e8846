"""ADAPTIVE: the BALANCED utility with learned quality, latency and reliability.

For every eligible target the strategy keeps a posterior over three things and ranks by one
Thompson sample of the BALANCED utility (weights shifted by complexity exactly as BALANCED does)::

    U = (1 - p_fail) * (w_q * Q + w_s * S + w_c * C)

* ``Q`` -- quality per (target, complexity class): Beta with the tier score (or the classifier's
  predicted quality) as prior mean and ``prior_strength`` pseudo-observations; each score in
  [0, 1] adds ``q`` successes and ``1 - q`` failures. Each new score of a (target, class) first
  discounts its older ones so that they halve every ``half_life_obs`` scores.
* ``S`` -- speed from measured latency, pooled per target (a provider slows down for every
  class at once). Latency is kept in *doublings* ``d = log2(latency / reference)`` where the
  reference is what a very-fast-tier model would take for the same output tokens
  (``SPEED_PRIOR_TTFT_S`` + tokens / ``SPEED_PRIOR_TPS``). The tier's speed score fixes the prior
  ``d0`` (VERY_FAST 0, FAST 1, MEDIUM 2, SLOW 3), and ``S = 1 - 0.25 d`` (the tier step per
  doubling), halving per doubling beyond the slow tier. Requests already in flight to a target
  add ``inflight_latency_share`` of its latency each.
* ``p_fail`` -- provider failures per target: Beta with mean ``prior_failure_rate``.
  Errors the request caused (invalid, filtered, too long) do not count against a target.

Cold connections: a target's first call in a process also opens its connection (DNS, TCP,
TLS: ~0.5 s), which later calls do not pay. So the first latency sample of each target in this
process, when it is slower than the tier's prior, counts as ``FIRST_SAMPLE_WEIGHT`` (1/4) of a
sample: set-up only ever adds time, so a first sample at or under the prior is trusted in full,
and a genuinely slow target still shows as slow after a few calls.

Latency and failure evidence halves every ``latency_half_life_obs`` outcomes recorded
router-wide, so a target that stopped receiving traffic drifts back to its prior and is
probed again: that is how a recovered provider wins its traffic back. With ``half_life_s``
all evidence also halves every so many seconds.

Cold start: the posterior means are the tier priors, so the greedy (mean) ranking is exactly
BALANCED's. Exploration is bounded: the sampled ranking may put a different target first than
the greedy one on at most ``max_explore_share`` of decisions (a token bucket); otherwise the
greedy ranking is used. ``exploration`` scales the sampling noise (0 = always greedy). Quality
is only sampled in classes that have received quality feedback: exploring what nobody will
ever score is waste.

Prompt clusters: when the router passes the prompt's text (:meth:`AdaptiveStrategy.rank_text`),
quality is also learned per cluster of similar prompts (:mod:`smartroute_llm.strategies.clusters`,
coarse then fine), each level shrunk toward the broader one with ``cluster_prior_strength``
pseudo-observations; a cluster's evidence halves every ``cluster_half_life_obs`` scores of the
cluster. The decision's cluster ids travel in its candidates' parts and come back with
feedback by decision id. With ``willingness_to_pay`` the cost term is linear in dollars.

The router hands the strategy its statistics through a
:class:`~smartroute_llm.strategies.feed.LearningFeed`; nothing here imports the feedback loop or
the router. Per-target and per-class records live in the router's
:class:`~smartroute_llm.state.StateStore` under the ``adaptive`` namespace (bounded by the number
of targets); cluster statistics live in this process (bounded by the cluster slots).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

from smartroute_llm.capability import (
    SPEED_PRIOR_TPS,
    SPEED_PRIOR_TTFT_S,
    SPEED_SCORE,
    SpeedTier,
)
from smartroute_llm.errors import ConfigurationError, ErrorKind
from smartroute_llm.features import COMPLEXITY_CLASSES, DEFAULT_OUTPUT_TOKENS, RequestFeatures
from smartroute_llm.plan import Candidate, Profile
from smartroute_llm.policy import RoutingPolicy
from smartroute_llm.state import Record, StateStore
from smartroute_llm.strategies.adaptive_state import (
    CLUSTER_TICK,
    checked_cluster_stats,
    checked_records,
)
from smartroute_llm.strategies.balanced import BalancedWeightsFn
from smartroute_llm.strategies.base import cost_terms, predicted_quality
from smartroute_llm.strategies.clusters import PromptContexts
from smartroute_llm.strategies.feed import LearningFeed, OutcomeLike

STATE_VERSION = 2
_READABLE_VERSIONS = (1, 2)
CONTEXT_KEYS = ("cluster_coarse", "cluster")
NAMESPACE = "adaptive"
_TICK = "tick"
_LN2 = math.log(2.0)
_REF_TTFT = SPEED_PRIOR_TTFT_S[SpeedTier.VERY_FAST]
_REF_TPS = SPEED_PRIOR_TPS[SpeedTier.VERY_FAST]
_TOP_SPEED = SPEED_SCORE[SpeedTier.VERY_FAST]
_SLOWEST = SPEED_SCORE[SpeedTier.SLOW]
_STEP = SPEED_SCORE[SpeedTier.VERY_FAST] - SPEED_SCORE[SpeedTier.FAST]
_SLOW_D = (_TOP_SPEED - _SLOWEST) / _STEP
_MAX_SPEED = _TOP_SPEED + _STEP  # twice as fast as the very-fast reference
_LAT_PRIOR_SD = 0.5  # half a tier, in doublings
_LAT_VAR = _LAT_PRIOR_SD * _LAT_PRIOR_SD
_Z90 = NormalDist().inv_cdf(0.95)
_MIN_VAR = 1e-6
_EPS = 1e-3  # keeps Beta parameters positive when a prior mean is exactly 0 or 1
_NORMAL_FROM = 8.0  # Beta counts from which a draw uses the normal approximation
# A cluster's prior is a pooled estimate, not ignorance: sampling it as if only
# cluster_prior_strength observations backed it explores twice as widely as pays (RouterBench
# online: second-half AIQ 0.756 at full noise, 0.764 at half).
_CLUSTER_NOISE = 0.5
_CTICK = CLUSTER_TICK  # a cluster's score count, beside its per-target rows
# Below one recent failure the failure rate is not sampled: its prior alone is not worth a draw.
_MIN_FAIL_EVIDENCE = 1.0
# Weight of a target's first latency sample in this process when it is slower than the prior
# (it includes connection set-up; see the module doc).
FIRST_SAMPLE_WEIGHT = 0.25

# Errors that say something about the request, not the provider's health.
REQUEST_ERRORS: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.CONTEXT_LENGTH,
        ErrorKind.CONTENT_FILTER,
        ErrorKind.INVALID_REQUEST,
        ErrorKind.CIRCUIT_OPEN,
        ErrorKind.DEADLINE,
    }
)
# Failures whose latency is still a (censored) latency measurement.
SLOW_ERRORS: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.TTFT_TIMEOUT,
        ErrorKind.STREAM_STALL,
    }
)


def speed_score(doublings: float) -> float:
    """Speed score of a latency ``doublings`` slower than the very-fast reference: the tier
    scale (1, .75, .5, .25 at 0..3 doublings), halving per doubling beyond the slow tier."""
    if doublings <= _SLOW_D:
        return min(_MAX_SPEED, _TOP_SPEED - _STEP * doublings)
    return _SLOWEST * math.pow(2.0, _SLOW_D - doublings)


def reference_latency(output_tokens: int) -> float:
    """Seconds a very-fast-tier model takes for ``output_tokens``: the unit of ``doublings``."""
    return _REF_TTFT + output_tokens / _REF_TPS


def prior_doublings(speed: float) -> float:
    """The tier's speed score as doublings (VERY_FAST 0 ... SLOW 3)."""
    return (_TOP_SPEED - speed) / _STEP


class AdaptiveStrategy:
    """Thompson sampling over the BALANCED utility with learned quality, latency and failures."""

    name = "adaptive"

    def __init__(
        self,
        policy: RoutingPolicy,
        *,
        state: StateStore,
        clock: Callable[[], float],
        feed: LearningFeed | None = None,
        feedback: LearningFeed | None = None,
        namespace: str = NAMESPACE,
    ) -> None:
        feed = feed if feed is not None else feedback
        self.policy = policy
        self._weights = BalancedWeightsFn(policy)
        cfg = policy.adaptive
        self.config = cfg
        self.store = state
        self.clock = clock
        self.feed = feed
        self.ns = namespace
        self._gq = 0.5 ** (1.0 / cfg.half_life_obs)
        self._gl = 0.5 ** (1.0 / cfg.latency_half_life_obs)
        self._hl_s = cfg.half_life_s
        self._k = cfg.prior_strength
        self._kl = cfg.latency_prior_strength
        self._kf_fail = cfg.prior_strength * cfg.prior_failure_rate
        self._kf_ok = cfg.prior_strength - self._kf_fail
        self._explore = cfg.exploration
        self._share = cfg.max_explore_share
        self._inflight_share = cfg.inflight_latency_share
        seed = cfg.seed if cfg.seed is not None else policy.seed
        self._rng = random.Random(seed)
        self._credit = 0.0
        self._decisions = 0
        self._explored = 0
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, dict[str, str]]] = {}
        # Per prompt cluster and target: [weight, score sum, count, time, cluster tick]; the
        # cluster's own count of scores under _CTICK. Evidence halves every
        # cluster_half_life_obs scores *of the cluster*, so a model that stopped being chosen
        # drifts back to the pooled estimate and is tried again. Kept in this process
        # (cluster ids are local), exported with the rest by export_state.
        self._use_clusters = cfg.clusters
        self._kc = cfg.cluster_prior_strength
        self._gc = 0.5 ** (1.0 / cfg.cluster_half_life_obs)
        self._cq: dict[int, dict[str, list[float]]] = {}
        self.contexts = PromptContexts(self._forget)
        # targets whose first latency sample this process has learned (their connection is warm)
        self._warm: set[str] = set()
        if feed is not None:
            feed.subscribe(self)

    # --- keys ----------------------------------------------------------------------------

    def _key(self, target: str) -> tuple[str, dict[str, str]]:
        k = self._keys.get(target)
        if k is None:
            k = (f"lat/{target}", {c: f"q/{target}/{c}" for c in (*COMPLEXITY_CLASSES, "*")})
            self._keys[target] = k
        return k

    def _qkey(self, target: str, cls: str) -> str:
        keys = self._key(target)[1]
        key = keys.get(cls)
        if key is None:
            key = keys[cls] = f"q/{target}/{cls}"
        return key

    def _time_factor(self, then: float, now: float) -> float:
        hl = self._hl_s
        if hl is None or now <= then:
            return 1.0
        return math.pow(0.5, (now - then) / hl)

    # --- ranking (hot path) ----------------------------------------------------------------

    def _forget(self, cluster: int) -> None:
        with self._lock:
            self._cq.pop(cluster, None)

    def rank(
        self, eligible: list[Profile], features: RequestFeatures
    ) -> tuple[list[Candidate], dict[str, float]]:
        return self.rank_text(eligible, features, None)

    def rank_text(
        self, eligible: list[Profile], features: RequestFeatures, prompt: str | None
    ) -> tuple[list[Candidate], dict[str, float]]:
        """:meth:`rank` for a prompt whose text is known: quality is then learned per
        cluster of similar prompts (coarse, then fine), shrunk toward the class estimate."""
        ctx = None
        if prompt is not None and self._use_clusters:
            ctx = self.contexts.assign(prompt)
        wq, ws, wc = self._weights(features.complexity.score)
        costs, cscores = cost_terms(eligible, features)
        per_usd = self._weights.per_usd
        if per_usd:
            # willingness to pay: the cost term is linear in dollars, as in BALANCED
            wc = wq * per_usd
            cterms = [-x for x in costs]
        else:
            cterms = cscores
        has_pred = features.model_quality is not None
        cls = features.complexity.label
        store, ns = self.store, self.ns
        get = store.get
        tick_rec = get(ns, _TICK)
        tick = tick_rec["n"] if tick_rec else 0
        scored = tick_rec is not None and tick_rec.get("q/" + cls, 0) > 0
        timed = self._hl_s is not None
        now = self.clock() if timed else 0.0
        gl = self._gl
        k, kl, kff, kfo = self._k, self._kl, self._kf_fail, self._kf_ok
        e = self._explore
        rng = self._rng
        gauss = rng.gauss
        beta = self._beta
        inflight = self.feed.inflight if self.feed is not None else None
        cq_c = cq_f = None
        if ctx is not None:
            cq_c, cq_f = self._cq.get(ctx[0]), self._cq.get(ctx[1])
            gc = self._gc
            kc = self._kc
            tf = self._time_factor
            ec = e * _CLUSTER_NOISE
        ref = reference_latency(features.output_tokens)
        out: list[Candidate] = []
        best_mean = best_sample = -math.inf
        greedy_i = sampled_i = 0
        for i, (p, est, c, ct) in enumerate(
            zip(eligible, costs, cscores, cterms, strict=True)
        ):
            lat_key, qkeys = self._key(p.name)
            # quality
            q0 = predicted_quality(p, features) if has_pred else p.quality
            qa, qn = k * q0, 0.0
            qr = get(ns, qkeys[cls] if cls in qkeys else self._qkey(p.name, cls))
            if qr is not None and qr["w"] > 0:
                f = self._time_factor(qr["t"], now) if timed else 1.0
                qn = f * qr["w"]
                qa += f * qr["s"]
            qt = k + qn
            q_mean = qa / qt
            if ctx is not None:
                # hierarchical: class estimate -> coarse cluster -> fine cluster
                for level in (cq_c, cq_f):
                    r = level.get(p.name) if level is not None else None
                    if r is None:
                        qa, qt = kc * q_mean, kc
                    else:
                        f = gc ** (level[_CTICK][0] - r[4])  # type: ignore[index]
                        if timed:
                            f *= tf(r[3], now)
                        qa, qt = kc * q_mean + f * r[1], kc + f * r[0]
                    q_mean = qa / qt
                q_s = q_mean + ec * (beta(qa, qt - qa) - q_mean) if scored and e else q_mean
            else:
                q_s = q_mean + e * (beta(qa, qt - qa) - q_mean) if scored and e else q_mean
            # latency and failures
            d0 = prior_doublings(p.speed)
            ln = 0.0
            d_mean = d0
            fa, fb = kff, kfo
            lr = get(ns, lat_key)
            if lr is not None:
                f = gl ** (tick - lr["tick"])
                if timed:
                    f *= self._time_factor(lr["t"], now)
                ln = f * lr["w"]
                n = kl + ln
                d_mean = (kl * d0 + f * lr["m"]) / n
                var = (kl * (d0 * d0 + _LAT_VAR) + f * lr["m2"]) / n - d_mean * d_mean
                sd = math.sqrt(max(var, _MIN_VAR) / n)
                fa += f * lr["fail"]
                fb += f * lr["ok"]
            else:
                sd = _LAT_PRIOR_SD / math.sqrt(kl)
            busy = inflight(p.name) if inflight is not None else 0
            if busy:
                d_mean += math.log1p(self._inflight_share * busy) / _LN2
            d_s = d_mean + e * sd * gauss() if e else d_mean
            p_mean = fa / (fa + fb)
            if e and fa >= _MIN_FAIL_EVIDENCE:
                p_s = min(1.0, max(0.0, p_mean + e * (beta(fa, fb) - p_mean)))
            else:
                p_s = p_mean
            s_mean = speed_score(d_mean)
            u_mean = (1.0 - p_mean) * (wq * q_mean + ws * s_mean + wc * ct)
            u_s = (1.0 - p_s) * (wq * q_s + ws * speed_score(d_s) + wc * ct)
            if u_mean > best_mean:
                best_mean, greedy_i = u_mean, i
            if u_s > best_sample:
                best_sample, sampled_i = u_s, i
            out.append(
                Candidate(
                    p, u_s, q_mean, s_mean, c, est,
                    {
                        "utility_mean": u_mean,
                        "utility_sample": u_s,
                        "quality_sample": q_s,
                        "quality_evidence": qn,
                        "latency_s": ref * 2.0**d_mean,
                        "speed_sample": speed_score(d_s),
                        "latency_evidence": ln,
                        "failure_rate": p_mean,
                        "failure_sample": p_s,
                        "inflight": float(busy),
                    },
                )
            )
        contested = sampled_i != greedy_i
        explore = contested and self._spend_exploration()
        if contested and not explore:
            for cand in out:
                cand.score = cand.extra["utility_mean"]  # type: ignore[index]
        out.sort(key=_by_score, reverse=True)
        top = out[0].extra
        assert top is not None
        top["explored"] = 1.0 if explore else 0.0
        top["budget_spent"] = 1.0 if contested and not explore else 0.0
        if ctx is not None:
            for cand in out:
                x = cand.extra
                assert x is not None
                x["cluster_coarse"], x["cluster"] = float(ctx[0]), float(ctx[1])
        if per_usd:
            return out, {"quality": wq, "speed": ws, "usd_penalty": wc}
        return out, {"quality": wq, "speed": ws, "cost": wc}

    def _beta(self, a: float, b: float) -> float:
        """A Beta(a, b) draw; the normal approximation once both counts are large (a quarter
        of the cost, and indistinguishable there)."""
        if a >= _NORMAL_FROM and b >= _NORMAL_FROM:
            n = a + b
            m = a / n
            return min(1.0, max(0.0, m + math.sqrt(m * (1.0 - m) / (n + 1.0)) * self._rng.gauss()))
        return self._rng.betavariate(max(a, _EPS), max(b, _EPS))

    def _spend_exploration(self) -> bool:
        """A token bucket: each decision earns ``max_explore_share`` of one exploration."""
        with self._lock:
            self._decisions += 1
            self._credit = min(1.0, self._credit + self._share)
            if self._credit >= 1.0 - 1e-12:
                self._credit -= 1.0
                self._explored += 1
                return True
            return False

    def explain(self, candidates: Sequence[Candidate]) -> dict[str, Any]:
        """Why the first candidate: the rule, whether sampling overruled the means, and the
        deciding numbers. Every candidate's estimates and samples are in its ``parts``."""
        if not candidates:
            return {}
        top = candidates[0]
        extra = top.extra or {}
        greedy = max(candidates, key=_mean_utility)
        if extra.get("explored"):
            mode = "explore"  # the sample put a target first that the means do not
        elif extra.get("budget_spent"):
            mode = "greedy"  # the sample disagreed but the exploration budget is spent
        else:
            mode = "exploit"  # the sample agrees with the means
        return {
            "rule": "thompson",
            "mode": mode,
            "chosen": top.name,
            "greedy_choice": greedy.name,
            "chosen_utility": extra.get("utility_mean", top.score),
            "chosen_sampled_utility": extra.get("utility_sample", top.score),
            "greedy_utility": _mean_utility(greedy),
            "quality": top.quality,
            "latency_s": extra.get("latency_s"),
            "failure_rate": extra.get("failure_rate"),
        }

    # --- learning --------------------------------------------------------------------------

    def on_outcome(self, outcome: OutcomeLike) -> None:
        kind = outcome.error_kind
        if not outcome.ok and kind in REQUEST_ERRORS:
            return
        store, ns = self.store, self.ns
        tick = store.update(ns, _TICK, _bump("n"))["n"]
        at = outcome.at
        measured = outcome.ok or kind in SLOW_ERRORS
        d = 0.0
        if measured:
            tokens = outcome.output_tokens if outcome.ok and outcome.output_tokens else (
                DEFAULT_OUTPUT_TOKENS if outcome.ok else 0
            )
            d = math.log2(max(outcome.latency_s, 1e-6) / reference_latency(tokens))
        wd = self._sample_weight(outcome.target, d) if measured else 0.0
        gl = self._gl
        cls = outcome.complexity_class
        ok = outcome.ok

        def update(old: Record | None) -> Record:
            if old is None:
                rec: Record = {"w": 0.0, "m": 0.0, "m2": 0.0, "ok": 0.0, "fail": 0.0,
                               "n": 0, "nf": 0, "tick": tick, "t": at}
            else:
                rec = dict(old)
                f = gl ** max(0, tick - rec["tick"]) * self._time_factor(rec["t"], at)
                for name in ("w", "m", "m2", "ok", "fail"):
                    rec[name] *= f
                # max: with a shared store another process may have stored a later tick
                # already; going back would decay the next update twice
                rec["tick"] = max(rec["tick"], tick)
                rec["t"] = max(rec["t"], at)
            if measured:
                rec["w"] += wd
                rec["m"] += wd * d
                rec["m2"] += wd * d * d
            rec["ok" if ok else "fail"] += 1.0
            rec["n"] += 1
            if not ok:
                rec["nf"] += 1
            by = "n:" + cls
            rec[by] = rec.get(by, 0) + 1
            if not ok:
                rec["f:" + cls] = rec.get("f:" + cls, 0) + 1
            return rec

        store.update(ns, self._key(outcome.target)[0], update)

    def _sample_weight(self, target: str, d: float) -> float:
        """1, or ``FIRST_SAMPLE_WEIGHT`` for a target's first sample in this process when it is
        slower (``d`` doublings) than its tier's prior: it paid for the connection's set-up."""
        with self._lock:
            if target in self._warm:
                return 1.0
            self._warm.add(target)
        prior = next((p.speed for p in self._profiles() if p.name == target), None)
        if prior is None or d <= prior_doublings(prior):
            return 1.0
        return FIRST_SAMPLE_WEIGHT

    def on_quality(
        self,
        target: str,
        complexity_class: str,
        quality: float,
        at: float,
        context: tuple[int, ...] | None = None,
    ) -> None:
        """A score in [0, 1]. ``complexity_class == "all"`` (the seed's
        ``record_routing_decision`` knows no class) updates every class of the target;
        ``context`` (the decision's cluster ids) also updates those clusters."""
        if context:
            self._learn_clusters(target, quality, at, context)
        classes: Sequence[str] = (
            COMPLEXITY_CLASSES if complexity_class == "all" else (complexity_class,)
        )
        store, ns = self.store, self.ns
        gq = self._gq

        def update(old: Record | None) -> Record:
            if old is None:
                return {"w": 1.0, "s": quality, "n": 1, "t": at}
            f = gq * self._time_factor(old["t"], at)
            return {"w": old["w"] * f + 1.0, "s": old["s"] * f + quality,
                    "n": old["n"] + 1, "t": max(old["t"], at)}

        for cls in classes:
            store.update(ns, self._qkey(target, cls), update)
            store.update(ns, _TICK, _bump("q/" + cls))

    def _learn_clusters(
        self, target: str, quality: float, at: float, context: tuple[int, ...]
    ) -> None:
        gc = self._gc
        with self._lock:
            for cid in context:
                level = self._cq.get(cid)
                if level is None:
                    if len(self._cq) > 4 * len(self.contexts.live_ids()) + 64:
                        live = self.contexts.live_ids()
                        for dead in [c for c in self._cq if c not in live]:
                            del self._cq[dead]
                    level = self._cq.setdefault(cid, {_CTICK: [0.0]})
                tick = level[_CTICK][0] + 1.0
                level[_CTICK][0] = tick
                r = level.get(target)
                if r is None:
                    level[target] = [1.0, quality, 1.0, at, tick]
                else:
                    f = gc ** (tick - r[4]) * self._time_factor(r[3], at)
                    r[0] = r[0] * f + 1.0
                    r[1] = r[1] * f + quality
                    r[2] += 1.0
                    r[3] = max(r[3], at)
                    r[4] = tick

    # --- reading ---------------------------------------------------------------------------

    def _profiles(self) -> list[Profile]:
        return list(self.feed.profiles) if self.feed is not None else []

    def stats(self) -> dict[str, Any]:
        """Per target: outcomes, latency and failure estimates with 90% credible intervals
        (normal approximation), and per complexity class: quality estimates and counts."""
        ns = self.ns
        tick_rec = self.store.get(ns, _TICK) or {}
        tick = tick_rec.get("n", 0)
        now = self.clock()
        k, kl = self._k, self._kl
        targets: dict[str, Any] = {}
        for p in self._profiles():
            lat_key, _ = self._key(p.name)
            lr = self.store.get(ns, lat_key)
            d0 = prior_doublings(p.speed)
            ln, d_mean, var = 0.0, d0, _LAT_VAR
            fa, fb = self._kf_fail, self._kf_ok
            if lr is not None:
                f = self._gl ** (tick - lr["tick"]) * self._time_factor(lr["t"], now)
                ln = f * lr["w"]
                n = kl + ln
                d_mean = (kl * d0 + f * lr["m"]) / n
                var = max((kl * (d0 * d0 + _LAT_VAR) + f * lr["m2"]) / n - d_mean**2, _MIN_VAR)
                fa += f * lr["fail"]
                fb += f * lr["ok"]
            half = _Z90 * math.sqrt(var / (kl + ln))
            ref = reference_latency(DEFAULT_OUTPUT_TOKENS)
            classes: dict[str, Any] = {}
            for cls in COMPLEXITY_CLASSES:
                qr = self.store.get(ns, self._qkey(p.name, cls))
                qn, qs, nq = 0.0, 0.0, 0
                if qr is not None:
                    f = self._time_factor(qr["t"], now)
                    qn, qs, nq = f * qr["w"], f * qr["s"], qr["n"]
                qa = min(k + qn - _EPS, max(_EPS, k * p.quality + qs))
                qm, qlo, qhi = _beta_summary(qa, k + qn - qa)
                classes[cls] = {
                    "outcomes": (lr or {}).get("n:" + cls, 0),
                    "failures": (lr or {}).get("f:" + cls, 0),
                    "quality_scores": nq,
                    "quality_evidence": round(qn, 3),
                    "quality": round(qm, 4),
                    "quality_ci90": [round(qlo, 4), round(qhi, 4)],
                }
            pm, plo, phi = _beta_summary(fa, fb)
            targets[p.name] = {
                "model": p.model,
                "outcomes": (lr or {}).get("n", 0),
                "failures": (lr or {}).get("nf", 0),
                "latency_evidence": round(ln, 3),
                "latency_s": round(ref * 2.0**d_mean, 4),
                "latency_s_ci90": [
                    round(ref * 2.0 ** (d_mean - half), 4),
                    round(ref * 2.0 ** (d_mean + half), 4),
                ],
                "latency_for_output_tokens": DEFAULT_OUTPUT_TOKENS,
                "speed": round(speed_score(d_mean), 4),
                "failure_rate": round(pm, 4),
                "failure_rate_ci90": [round(plo, 4), round(phi, 4)],
                "classes": classes,
            }
        with self._lock:
            decisions, explored = self._decisions, self._explored
        return {
            "strategy": self.name,
            "outcomes_seen": tick,
            "explored": explored,
            "contested_decisions": decisions,
            "config": self.config.model_dump(),
            "targets": targets,
        }

    def export_state(self) -> dict[str, Any]:
        """Version 2: the store's records (shared between processes that share the store)
        and this process's prompt clusters with their per-target quality."""
        with self._lock:
            stats = {
                str(cid): {t: list(r) for t, r in level.items()}
                for cid, level in self._cq.items()
            }
        return {
            "version": STATE_VERSION,
            "records": {key: dict(rec) for key, rec in self.store.items(self.ns)},
            "clusters": self.contexts.export(),
            "cluster_quality": stats,
        }

    def import_state(self, data: Mapping[str, Any]) -> None:
        """Version 1 (records only) or 2; everything is checked before anything is
        replaced."""
        version = data.get("version") if isinstance(data, Mapping) else None
        if version not in _READABLE_VERSIONS:
            raise ConfigurationError(
                f"adaptive state: unsupported version {version!r} (expected one of "
                f"{list(_READABLE_VERSIONS)}); save it again with this smartroute version"
            )
        records = checked_records(data)  # all or nothing: a bad record leaves the store as it was
        contexts = stats = None
        if version == 2:
            contexts = PromptContexts(self._forget)
            contexts.restore(data.get("clusters"))
            stats = checked_cluster_stats(data.get("cluster_quality"), contexts.live_ids())
        for key, rec in records.items():
            self.store.put(self.ns, key, rec)
        if contexts is not None and stats is not None:
            with self._lock:
                self.contexts, self._cq = contexts, stats


def _bump(field: str) -> Callable[[Record | None], Record]:
    def fn(old: Record | None) -> Record:
        new = dict(old) if old else {"n": 0}
        new[field] = new.get(field, 0) + 1
        return new

    return fn


def _beta_summary(a: float, b: float) -> tuple[float, float, float]:
    n = a + b
    m = a / n
    sd = math.sqrt(a * b / (n * n * (n + 1)))
    return m, max(0.0, m - _Z90 * sd), min(1.0, m + _Z90 * sd)


def _by_score(c: Candidate) -> float:
    return c.score


def _mean_utility(c: Candidate) -> float:
    return c.extra.get("utility_mean", c.score) if c.extra else c.score
