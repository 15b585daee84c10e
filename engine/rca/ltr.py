"""A learning-to-rank model kept as plain data: LightGBM lambdarank, fitted once, its trees copied out.

Fitting needs ``lightgbm`` (a training-time dependency, like scikit-learn for the logistic
models); scoring walks the copied trees in plain Python, so a bundle pickles small, loads
without LightGBM and scores the same on every machine. Training is deterministic for a seed
(one thread, LightGBM's ``deterministic`` mode), so the same training incidents give the same
model.

Why lambdarank and not a classifier per candidate: what matters is which candidate of one
incident comes first; an incident with 40 candidates should weigh as much as one with 5
(each training incident is a group).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Small data (about a hundred training incidents): shallow trees, strong shrinkage, leaves that need
# several incidents' candidates, a few hundred trees at most. Chosen on the large set's 5-fold CV
# (docs/accuracy.md, "Ranking").
DEFAULT_PARAMS = {
    "objective": "lambdarank",
    "learning_rate": 0.05,
    "num_leaves": 4,
    "max_depth": 3,
    "min_data_in_leaf": 10,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 10,
    "eval_at": [1, 3],
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
DEFAULT_ROUNDS = 150
DEFAULT_BAG = 1


@dataclass
class Tree:
    """One regression tree: node i splits on ``feature[i] <= threshold[i]`` (left) or is a leaf
    (``feature[i] == -1``, value ``value[i]``)."""

    feature: list[int]
    threshold: list[float]
    left: list[int]
    right: list[int]
    value: list[float]
    nan_left: list[bool]

    def predict(self, x: Sequence[float]) -> float:
        i = 0
        feature, threshold = self.feature, self.threshold
        while feature[i] >= 0:
            v = x[feature[i]]
            if v != v:   # NaN: LightGBM's default direction
                i = self.left[i] if self.nan_left[i] else self.right[i]
            else:
                i = self.left[i] if v <= threshold[i] else self.right[i]
        return self.value[i]


@dataclass
class TreeRanker:
    """Sum of trees: a candidate's ranking score (higher ranks first; only order within one
    incident means anything)."""

    trees: list[Tree] = field(default_factory=list)
    features: tuple = ()
    learned: bool = False

    def score(self, x: Sequence[float]) -> float:
        return sum(t.predict(x) for t in self.trees)

    def importance(self) -> dict[str, int]:
        """Splits per feature (what the model leans on)."""
        counts = [0] * len(self.features)
        for t in self.trees:
            for f in t.feature:
                if f >= 0:
                    counts[f] += 1
        return dict(zip(self.features, counts))


def fit_lambdarank(X: Sequence[Sequence[float]], y: Sequence[int], groups: Sequence[int],
                   features: Sequence[str], seed: int = 0, rounds: int | None = None,
                   params: dict | None = None, bag: int | None = None) -> TreeRanker:
    """Fit a lambdarank model; ``groups``: the number of consecutive rows of each incident.

    ``bag`` models with seeds derived from ``seed`` are averaged (their trees kept together,
    leaves scaled): with a hundred training incidents one model's choice of rows and features
    moves a ranking by a few incidents, the average much less."""
    import lightgbm as lgb

    bag = bag or DEFAULT_BAG
    Xa = np.asarray(X, dtype=float)
    trees: list[Tree] = []
    for k in range(bag):
        s = seed * 1000 + k
        p = dict(DEFAULT_PARAMS, **(params or {}))
        p.update(seed=s, bagging_seed=s, feature_fraction_seed=s, data_random_seed=s)
        p.pop("eval_at", None)
        data = lgb.Dataset(Xa, label=np.asarray(y, dtype=float), group=list(groups),
                           feature_name=[f"f{i}" for i in range(len(features))],
                           params={"verbosity": -1, "min_data_in_bin": 1}, free_raw_data=True)
        booster = lgb.train(p, data, num_boost_round=rounds or DEFAULT_ROUNDS)
        for t in trees_of(booster.dump_model()):
            t.value = [v / bag for v in t.value]
            trees.append(t)
    return TreeRanker(trees, tuple(features), learned=True)


def trees_of(dump: dict) -> list[Tree]:
    """Copy the trees out of ``Booster.dump_model()``."""
    out = []
    for info in dump.get("tree_info", []):
        t = Tree([], [], [], [], [], [])
        _add_node(t, info["tree_structure"])
        out.append(t)
    return out


def _add_node(t: Tree, node: dict) -> int:
    i = len(t.feature)
    t.feature.append(-1)
    t.threshold.append(0.0)
    t.left.append(-1)
    t.right.append(-1)
    t.value.append(float(node.get("leaf_value", 0.0)))
    t.nan_left.append(False)
    if "split_feature" in node:
        t.feature[i] = int(node["split_feature"])
        t.threshold[i] = float(node["threshold"])
        t.nan_left[i] = bool(node.get("default_left", True))
        t.left[i] = _add_node(t, node["left_child"])
        t.right[i] = _add_node(t, node["right_child"])
    return i
