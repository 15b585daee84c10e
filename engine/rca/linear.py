"""A logistic model kept as plain floats (pickles small, predicts without sklearn)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class LinearModel:
    """p = sigmoid(intercept + coef . (x - mean) / scale)."""

    coef: list[float]
    intercept: float = 0.0
    mean: list[float] | None = None
    scale: list[float] | None = None
    threshold: float = 0.5
    learned: bool = False

    def z(self, x: Sequence[float]) -> float:
        mean = self.mean or [0.0] * len(self.coef)
        scale = self.scale or [1.0] * len(self.coef)
        return self.intercept + sum(w * (v - m) / s for w, v, m, s in zip(self.coef, x, mean, scale))

    def probability(self, x: Sequence[float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(min(self.z(x), 50.0), -50.0)))

    def weights(self, names: Sequence[str]) -> dict[str, float]:
        return {n: round(w, 3) for n, w in zip(names, self.coef)}


def fit_logistic(X, y, c: float = 1.0, balanced: bool = True) -> LinearModel:
    """Standardise X, fit an L2 logistic regression (scikit-learn), keep the numbers."""
    from sklearn.linear_model import LogisticRegression

    Xa = np.asarray(X, dtype=float)
    mean = Xa.mean(axis=0)
    scale = Xa.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000)
    lr.fit((Xa - mean) / scale, np.asarray(y, dtype=int))
    return LinearModel(lr.coef_[0].tolist(), float(lr.intercept_[0]), mean.tolist(), scale.tolist(),
                       learned=True)
