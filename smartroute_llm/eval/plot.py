"""The cost-quality plot of an evaluation, shared by ``smartroute eval --plot`` and the demo.

Lives in the library (not the command line) so that library code never imports ``cli``;
matplotlib is imported only when a plot is drawn (the ``cli`` extra installs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartroute_llm.eval.replay import Evaluation


def plot_curves(ev: Evaluation, path: Path, extra: Sequence[tuple[str, float, float]] = ()) -> None:
    """Cost per 1k (log) against quality: policy curves, single models, oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in ev.policies.items():
        pts = sorted((p.cost_per_1k, p.quality) for p in r.points)
        ax.plot([c for c, _ in pts], [q for _, q in pts], marker=".",
                label=f"{name} (AIQ {r.aiq:.3f})")
    singles = {k: v for k, v in ev.baselines.items() if k.startswith("model:")}
    for name, r in singles.items():
        ax.scatter([r.best.cost_per_1k], [r.best.quality], marker="s", color="grey")
        short = name.removeprefix("model:").split("/")[-1]
        ax.annotate(short, (r.best.cost_per_1k, r.best.quality), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    o = ev.baselines["oracle"].best
    ax.scatter([o.cost_per_1k], [o.quality], marker="*", s=120, color="gold", label="oracle")
    for label, cost, q in extra:
        ax.scatter([cost], [q], marker="D", s=60, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("USD per 1,000 queries (log)")
    ax.set_ylabel("mean quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
