"""Offline policy evaluation: replay routing policies over recorded per-model outcomes.

Needs the ``eval`` extra (numpy). Names below are imported on first use, so importing this
package (as the command line does) does not import numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartroute_llm.eval.cascade import (
        CascadeReport,
        CascadeRun,
        RecordedVerdicts,
        SimulatedVerifier,
        evaluate_cascade,
        run_ladder,
    )

__all__ = [
    "CascadeReport",
    "CascadeRun",
    "RecordedVerdicts",
    "SimulatedVerifier",
    "evaluate_cascade",
    "run_ladder",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'smartroute_llm.eval' has no attribute {name!r}")
    return getattr(importlib.import_module("smartroute_llm.eval.cascade"), name)
