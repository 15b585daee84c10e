"""Incident decision for a run or a window.

A logistic model over a few of ``features.RUN_FEATURES``, learned from
labelled training runs. Healthy clouds log errors too, so an ERROR line
alone is weak evidence; what tells a failure apart is errors that normal
runs never show, together with a workflow that stopped early (expected
steps of every normal run are missing).

Two variants are fitted: ``run`` (whole runs) and ``window`` (a short window
cannot be checked for completeness: it uses novel errors, novel warnings and
tracebacks). Without labels (only normal runs given), the decision falls
back to a novelty score thresholded above every normal run.

The fitted state is plain floats and lists (no sklearn objects), so it
pickles small and loads without scikit-learn.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .features import RUN_FEATURES
from .linear import LinearModel, fit_logistic

# Features each scope decides on. Cross-validation by test on the dev set
# preferred the two-feature run model (novel error signatures, and missing
# workflow) to every larger set: error and traceback counts reward periodic
# errors that healthy clouds repeat. A window cannot be checked for
# completeness, so it decides on novelty alone.
SCOPE_FEATURES = {
    "run": ("log_error_sigs_novel", "missing_expected"),
    "window": ("log_error_sigs_novel", "log_warn_sigs_novel", "log_tracebacks"),
}
# their positions in RUN_FEATURES
_COLUMNS = {scope: [RUN_FEATURES.index(n) for n in names] for scope, names in SCOPE_FEATURES.items()}


@dataclass
class Detector:
    """Incident/no-incident per run (``scope='run'``) or window (``'window'``)."""

    scorers: dict[str, LinearModel] = field(default_factory=dict)

    def fit(self, X: Sequence[Sequence[float]], y: Sequence[int | None], c: float = 1.0) -> "Detector":
        Xa = np.asarray(X, dtype=float).reshape(-1, len(RUN_FEATURES))
        ya = np.asarray([-1 if v is None else int(v) for v in y], dtype=int)
        keep = ya >= 0
        Xa, ya = Xa[keep], ya[keep]
        for scope in SCOPE_FEATURES:
            Xs = Xa[:, _COLUMNS[scope]]
            if len(set(ya.tolist())) == 2:
                self.scorers[scope] = fit_logistic(Xs, ya, c)
            else:
                self.scorers[scope] = _fit_novelty(Xs[ya == 0])
        return self

    def probability(self, x: Sequence[float], scope: str = "run") -> float:
        return self.scorers[scope].probability([x[i] for i in _COLUMNS[scope]])

    def decide(self, x: Sequence[float], scope: str = "run") -> tuple[float, bool]:
        p = self.probability(x, scope)
        return p, p >= self.scorers[scope].threshold


def _fit_novelty(X_normal: np.ndarray) -> LinearModel:
    """No failures to learn from: flag what lies well beyond every normal run.

    Score = sum of the scope's features standardised by the normal runs; the
    threshold sits one unit above the highest normal score.
    """
    k = X_normal.shape[1]
    weights = np.ones(k)
    if not len(X_normal):
        return LinearModel(weights.tolist(), -1.0, [0.0] * k, [1.0] * k)
    mean = X_normal.mean(axis=0)
    scale = X_normal.std(axis=0) + 0.1
    top = float((((X_normal - mean) / scale) @ weights).max())
    return LinearModel(weights.tolist(), -(top + 1.0), mean.tolist(), scale.tolist())


# The window threshold is only ever raised by calibration (a fault-free run should raise no
# incident), never lowered below the logistic's own 0.5, and kept below certainty.
WINDOW_THRESHOLD_BOUNDS = (0.5, 0.95)


def calibrate_threshold(run_max: Sequence[float | None], labels: Sequence[bool],
                        bounds: tuple[float, float] = WINDOW_THRESHOLD_BOUNDS, position: float = 0.5) -> float:
    """The window threshold that best tells failed runs from fault-free ones, one run at a time.

    ``run_max[i]``: the highest window probability of training run ``i`` (a run raises an
    incident when any of its windows reaches the threshold; None: it raises none, whatever
    the threshold); ``labels[i]``: it failed.
    Picks the cut with the best run-level F1 (ties: fewer fault-free runs flagged), placed
    between the run scores on either side of it (``position``: 0.5 half-way, less: nearer
    the score below it, so that more runs above it keep being flagged), within ``bounds``.
    """
    lo, hi = bounds
    missed = sum(1 for v, lab in zip(run_max, labels) if v is None and lab)
    pairs = sorted((v, lab) for v, lab in zip(run_max, labels) if v is not None)
    if not pairs or not any(lab for _, lab in pairs) or all(lab for _, lab in pairs):
        return lo
    values = sorted({v for v, _ in pairs})
    best = None
    for k, cut in enumerate(values):
        tp = sum(1 for v, lab in pairs if lab and v >= cut)
        fp = sum(1 for v, lab in pairs if not lab and v >= cut)
        fn = sum(1 for v, lab in pairs if lab and v < cut) + missed
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        below = values[k - 1] if k else 0.0
        key = (f1, -fp)
        if best is None or key > best[0]:
            best = (key, below + (cut - below) * position)
    return min(max(best[1], lo), hi)

