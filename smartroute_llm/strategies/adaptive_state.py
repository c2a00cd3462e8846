"""The shape of ADAPTIVE's saved records, checked before any of them is restored.

A stats file is read back long after it was written, perhaps edited or truncated; a record
with a missing or non-numeric field used to load fine and then fail every call (``KeyError:
'n'`` on the hot path). Every record is checked here first, so a bad file is refused whole,
with the record and field named, and the router keeps what it had.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from smartroute_llm.errors import ConfigurationError

# Required numeric fields per record kind: (name, integer?, may be negative?)
_Fields = tuple[tuple[str, bool, bool], ...]
_TICK_FIELDS: _Fields = (("n", True, False),)
_LATENCY_FIELDS: _Fields = (
    ("w", False, False),
    ("m", False, True),
    ("m2", False, False),
    ("ok", False, False),
    ("fail", False, False),
    ("n", True, False),
    ("nf", True, False),
    ("tick", True, False),
    ("t", False, True),
)
_QUALITY_FIELDS: _Fields = (
    ("w", False, False),
    ("s", False, False),
    ("n", True, False),
    ("t", False, True),
)
# Optional counters, by key prefix: the tick's scored classes, a target's per-class counts.
_TICK_COUNTERS: tuple[str, ...] = ("q/",)
_LATENCY_COUNTERS: tuple[str, ...] = ("n:", "f:")


def checked_records(data: Any) -> dict[str, dict[str, Any]]:
    """The records of ``{"version": ..., "records": {...}}`` as plain dicts, or a
    :class:`ConfigurationError` naming the first bad record and field."""
    records = data.get("records") if isinstance(data, Mapping) else None
    if not isinstance(records, Mapping):
        raise ConfigurationError("adaptive state: 'records' must be an object of key -> record")
    out: dict[str, dict[str, Any]] = {}
    for key, rec in records.items():
        where = f"adaptive state: record {key!r}"
        if not isinstance(key, str):
            raise ConfigurationError(f"{where}: keys must be strings")
        if not isinstance(rec, Mapping):
            raise ConfigurationError(f"{where} is not an object")
        if key == "tick":
            fields, counters = _TICK_FIELDS, _TICK_COUNTERS
        elif key.startswith("lat/") and len(key) > 4:
            fields, counters = _LATENCY_FIELDS, _LATENCY_COUNTERS
        elif key.startswith("q/") and key.count("/") >= 2:
            fields, counters = _QUALITY_FIELDS, ()
        else:
            raise ConfigurationError(
                f"{where}: unknown record (expected 'tick', 'lat/<target>' or "
                f"'q/<target>/<class>')"
            )
        for name, integer, signed in fields:
            if name not in rec:
                raise ConfigurationError(f"{where}: field {name!r} is missing")
            _number(rec[name], integer, signed, f"{where}: field {name!r}")
        for name, value in rec.items():
            if any(name == f for f, _, _ in fields):
                continue
            if not isinstance(name, str) or not name.startswith(counters):
                raise ConfigurationError(f"{where}: unexpected field {name!r}")
            _number(value, True, False, f"{where}: field {name!r}")
        if key.startswith("q/") and rec["s"] > rec["w"] * (1 + 1e-9) + 1e-9:
            raise ConfigurationError(
                f"{where}: field 's' ({rec['s']}) exceeds 'w' ({rec['w']}): quality scores "
                "are in [0, 1], so their sum cannot exceed their weight"
            )
        out[key] = dict(rec)
    tick = out.get("tick", {}).get("n")
    if tick is not None:
        for key, rec in out.items():
            if key.startswith("lat/") and rec["tick"] > tick:
                raise ConfigurationError(
                    f"adaptive state: record {key!r}: field 'tick' ({rec['tick']}) is ahead of "
                    f"the saved outcome count ({tick}); the file mixes two saves"
                )
    return out


def _number(value: Any, integer: bool, signed: bool, where: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float):
        ok = value.is_integer()
    if ok and not (math.isfinite(value) and (signed or value >= 0)):
        ok = False
    if not ok:
        kind = "an integer" if integer else "a finite number"
        sign = "" if signed else " >= 0"
        raise ConfigurationError(f"{where} must be {kind}{sign}, got {value!r}")


CLUSTER_TICK = "\x00tick"


def checked_cluster_stats(data: Any, live: set[int]) -> dict[int, dict[str, list[float]]]:
    """Per cluster: its score count under ``"\\x00tick"`` (``[n]``) and per target
    ``[weight, score sum, count, time, cluster tick]``, or a :class:`ConfigurationError`
    naming the bad entry."""
    where = "adaptive state: cluster_quality"
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where} must be an object of cluster id -> target -> stats")
    out: dict[int, dict[str, list[float]]] = {}
    for key, level in data.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) in live):
            raise ConfigurationError(f"{where}: {key!r} is not the id of a saved cluster")
        if not isinstance(level, Mapping):
            raise ConfigurationError(f"{where}[{key!r}] must be an object of target -> stats")
        tick = level.get(CLUSTER_TICK)
        if not (isinstance(tick, list) and len(tick) == 1):
            raise ConfigurationError(f"{where}[{key!r}]: the cluster's tick [n] is missing")
        _number(tick[0], True, False, f"{where}[{key!r}]: tick")
        rows: dict[str, list[float]] = {CLUSTER_TICK: [float(tick[0])]}
        for target, r in level.items():
            if target == CLUSTER_TICK:
                continue
            at = f"{where}[{key!r}][{target!r}]"
            if not isinstance(r, list) or len(r) != 5:
                raise ConfigurationError(
                    f"{at} must be [weight, score sum, count, time, cluster tick]"
                )
            for name, v, signed in zip(("weight", "score sum", "count", "time", "tick"), r,
                                       (False, False, False, True, False), strict=True):
                _number(v, False, signed, f"{at}: {name}")
            if r[1] > r[0] * (1 + 1e-9) + 1e-9:
                raise ConfigurationError(f"{at}: the score sum exceeds the weight")
            if r[4] > tick[0]:
                raise ConfigurationError(f"{at}: its tick is ahead of the cluster's")
            rows[str(target)] = [float(x) for x in r]
        out[int(key)] = rows
    return out
