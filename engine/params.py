"""A model of numeric parameters per template (durations, sizes, HTTP status and time).

Sequences miss slow-downs: "Took 95.3 seconds to spawn the instance" has the
same template as "Took 9.1 seconds ...". For every template and parameter
position that is numeric in training, we keep robust statistics (median and
MAD of log1p(value)); at inference a value more than `z_threshold` robust
deviations above the median is a deviation. Parameters that are identifiers
(many distinct values with no central tendency) are skipped by requiring a
minimum count and a non-zero spread. Status-like parameters (few distinct
values) are modelled as a set of seen values instead.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?s?$")


def _as_number(text: str) -> float | None:
    text = text.strip().rstrip(",;")
    if not _NUMBER.match(text):
        return None
    try:
        return float(text.rstrip("s"))
    except ValueError:
        return None


@dataclass
class ParamStat:
    median: float
    mad: float
    count: int
    categories: frozenset[str] = frozenset()


@dataclass
class ParamModel:
    z_threshold: float = 6.0
    min_count: int = 20
    max_categories: int = 8
    stats: dict[tuple[str, int], ParamStat] = field(default_factory=dict)

    def fit(self, samples: Iterable[tuple[str, Sequence[str]]]) -> "ParamModel":
        """samples: (template_id, params) of normal events."""
        values: dict[tuple[str, int], list[float]] = defaultdict(list)
        raw: dict[tuple[str, int], set[str]] = defaultdict(set)
        for tid, params in samples:
            for i, p in enumerate(params):
                v = _as_number(p)
                if v is None:
                    continue
                key = (tid, i)
                if len(values[key]) < 5000:
                    values[key].append(math.log1p(abs(v)))
                if len(raw[key]) <= self.max_categories:
                    raw[key].add(p)
        for key, vs in values.items():
            if len(vs) < self.min_count:
                continue
            vs.sort()
            median = vs[len(vs) // 2]
            mad = sorted(abs(v - median) for v in vs)[len(vs) // 2]
            cats = frozenset(raw[key]) if len(raw[key]) <= self.max_categories else frozenset()
            self.stats[key] = ParamStat(median, mad, len(vs), cats)
        return self

    def deviation(self, template_id: str, params: Sequence[str]) -> float:
        """Largest robust z-score (upwards) among this event's numeric parameters; 0 if normal."""
        worst = 0.0
        for i, p in enumerate(params):
            stat = self.stats.get((template_id, i))
            if stat is None:
                continue
            if stat.categories:
                if p not in stat.categories and _as_number(p) is not None:
                    worst = max(worst, self.z_threshold)
                continue
            v = _as_number(p)
            if v is None:
                continue
            spread = max(stat.mad * 1.4826, 0.05)
            z = (math.log1p(abs(v)) - stat.median) / spread
            worst = max(worst, z)
        return worst

    def is_deviation(self, template_id: str, params: Sequence[str]) -> bool:
        return self.deviation(template_id, params) >= self.z_threshold
