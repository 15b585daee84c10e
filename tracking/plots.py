"""PNG plots a person would look at: training curve and score distribution.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no
display needed), so it is safe in workers and threads.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence


def _figure(title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _finite(values: Sequence[float]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def training_curve(history: Sequence[float] | Mapping[str, Sequence[float]], title: str = "Training curve") -> bytes:
    """Loss (and any other per-epoch series, e.g. val_loss) against epoch."""
    series = history if isinstance(history, Mapping) else {"loss": history}
    fig, ax = _figure(title)
    for name, values in series.items():
        ys = [float(v) for v in values]
        ax.plot(range(1, len(ys) + 1), ys, marker="o" if len(ys) <= 30 else None, label=str(name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    if series:
        ax.legend()
    return _png(fig)


def score_distribution(scores: Sequence[float], threshold: float | None = None,
                       title: str = "Anomaly score distribution") -> bytes:
    """Histogram of window scores, with the decision threshold if there is one."""
    values = _finite(scores)
    fig, ax = _figure(title)
    if values:
        ax.hist(values, bins=min(50, max(5, int(math.sqrt(len(values))))), color="#4477aa", alpha=0.85)
    if threshold is not None and math.isfinite(threshold):
        ax.axvline(threshold, color="#cc3311", linestyle="--", label=f"threshold {threshold:.3g}")
        ax.legend()
    ax.set_xlabel("score")
    ax.set_ylabel("windows")
    return _png(fig)


__all__ = ["training_curve", "score_distribution"]
