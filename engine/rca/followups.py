"""Expected follow-ups: does the cloud's normal workflow go on after an error?

Batch analysis tells a failed run from a fault-free one that merely logged an
error by the run's completeness (``missing_expected``: steps of the normal
workflow that never came). A stream has no run to complete, but it has the
next minute: in normal runs some steps are always followed by others within a
short horizon (a volume is created, then attached; a port is bound, then
plugged). ``FollowUps`` learns those pairs from fault-free runs and measures,
around an error, the *stall*: the share of the follow-ups that were due after
the steps seen just before the error and did not come.

    followups = FollowUps.fit(normal_runs_as_time_signature_pairs, horizon=30.0)
    followups.stall(activity, t0)     # 0.0 (all came) .. 1.0 (none came); None: nothing was due

A fault that breaks the workflow stalls it; a bug that fires but leaves the
workflow alone (the error is logged and the work goes on) does not. The stall
needs only ``horizon`` seconds after the error, and the worker closes a window
``allowed lateness`` (30 s by default) after its end, so the stream can decide
when the window closes (``horizon`` <= allowed lateness).

What it learns is plain data (signature strings, index lists): it pickles
inside the RCA model and names no log line. Where it stops helping: in a busy
cloud other requests keep every step's follow-ups coming, so a fault that
breaks a share of the requests shows no stall. The gate that uses it is
calibrated on labelled runs (``RCAModel._calibrate_windows``) and stays off
(threshold 0) when it does not help there.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

HORIZON_SECONDS = 30.0   # a follow-up is due within this long after its step
MIN_RUN_SHARE = 0.9      # a step is part of the workflow when this share of normal runs has it ...
MIN_FOLLOW_SHARE = 0.95  # ... and B follows A when it came within the horizon after this share of A's


@dataclass
class FollowUps:
    """Workflow steps (signatures) and, per step, the steps that always follow it soon."""

    horizon: float = HORIZON_SECONDS
    signatures: list[str] = field(default_factory=list)         # the workflow's steps
    followers: dict[int, list[int]] = field(default_factory=dict)   # step -> steps that follow it
    threshold: float = 0.0      # a window is an incident only at this stall or more (0: no gate)
    # ... and a window the novelty detector passes over is one when its workflow stalled at least
    # this much after its first problem (a fault that logs only familiar errors but stops the
    # work); None: no such rescue (fitted before it existed, or the training runs did not want it)
    rescue: float | None = None

    @property
    def index(self) -> dict[str, int]:
        """signature -> step number (built once, not pickled)."""
        idx = self.__dict__.get("_index")
        if idx is None:
            idx = self.__dict__["_index"] = {s: i for i, s in enumerate(self.signatures)}
        return idx

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_index", None)
        return state

    @classmethod
    def fit(cls, runs: Iterable[Sequence[tuple[float, str]]], horizon: float = HORIZON_SECONDS,
            min_run_share: float = MIN_RUN_SHARE, min_follow_share: float = MIN_FOLLOW_SHARE) -> "FollowUps":
        """Learn from fault-free runs, each a sequence of (event time, signature).

        A step's occurrences are sampled at most once per horizon (a step logged a hundred
        times a second is one step). B follows A when, in the normal runs, B came within
        the horizon after at least ``min_follow_share`` of A's samples.
        """
        runs = [sorted(r) for r in runs]
        if not runs:
            return cls(horizon)
        present: dict[str, int] = {}
        for run in runs:
            for sig in {s for _, s in run}:
                present[sig] = present.get(sig, 0) + 1
        steps = sorted(s for s, n in present.items() if n >= min_run_share * len(runs))
        index = {s: i for i, s in enumerate(steps)}
        n = len(steps)
        samples = np.zeros(n)
        follows = np.zeros((n, n))
        for run in runs:
            times: list[list[float]] = [[] for _ in range(n)]
            for ts, sig in run:
                i = index.get(sig)
                if i is not None:
                    times[i].append(ts)
            owners, starts = _samples(times, horizon)
            if not starts.size:
                continue
            samples += np.bincount(owners, minlength=n)
            for b, tb in enumerate(times):
                if not tb:
                    continue
                arr = np.asarray(tb)
                pos = np.searchsorted(arr, starts, side="right")
                nxt = arr[np.minimum(pos, arr.size - 1)]
                came = (pos < arr.size) & (nxt <= starts + horizon)
                follows[:, b] += np.bincount(owners[came], minlength=n)
        followers: dict[int, list[int]] = {}
        for a in range(n):
            if samples[a] < len(runs):     # too rare to say what follows it
                continue
            bs = [b for b in np.flatnonzero(follows[a] >= min_follow_share * samples[a]).tolist() if b != a]
            if bs:
                followers[a] = bs
        return cls(horizon, steps, followers)

    def stall(self, activity: "Activity", t0: float) -> float | None:
        """Share of the follow-ups due after the steps seen in the horizon before ``t0`` that did
        not come within the horizon after their step; None when no step with follow-ups was seen."""
        due = missing = 0
        for a, followers in self.followers.items():
            ta = activity.last_between(a, t0 - self.horizon, t0)
            if ta is None:
                continue
            for b in followers:
                due += 1
                if not activity.any_between(b, ta, ta + self.horizon):
                    missing += 1
        return missing / due if due else None


def _samples(times: list[list[float]], horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """(step, time) of each step's occurrences, at most one per horizon."""
    owners, starts = [], []
    for i, ts in enumerate(times):
        last = float("-inf")
        for t in sorted(ts):
            if t - last >= horizon:
                owners.append(i)
                starts.append(t)
                last = t
    return np.asarray(owners, dtype=np.int64), np.asarray(starts)


class Activity:
    """When the workflow's steps were seen in a stream: per step, every occurrence time of the
    last ``retention`` seconds of event time (0: all), kept sorted since records arrive out of
    event-time order. Exact, so the stream measures the stall as the calibration did.

    The worker reads it from its scoring thread while the event loop adds to it: a list only
    grows in place, and trimming swaps in a new one, so a reader never indexes past an end.
    Trimming waits until half of a list is stale, so a step logged on every record costs
    amortised O(log n) per record.
    """

    def __init__(self, steps: int, retention: float = 0.0) -> None:
        self.times: list[list[float]] = [[] for _ in range(steps)]
        self.retention = retention

    @classmethod
    def of_run(cls, steps: int, occurrences: Iterable[tuple[float, int]]) -> "Activity":
        """Every occurrence in a whole run: what a stream has seen when a window closes."""
        out = cls(steps)
        for ts, i in occurrences:
            out.times[i].append(ts)
        for ts in out.times:
            ts.sort()
        return out

    def add(self, step: int, ts: float) -> None:
        times = self.times[step]
        if not times or ts >= times[-1]:
            times.append(ts)
        else:
            times.insert(bisect_right(times, ts), ts)
        if self.retention:
            cut = bisect_right(times, times[-1] - self.retention)
            if cut and 2 * cut >= len(times):
                self.times[step] = times[cut:]   # a new list: see the class doc

    def last_between(self, step: int, lo: float, hi: float) -> float | None:
        """The latest occurrence in [lo, hi]."""
        times = self.times[step]
        k = bisect_right(times, hi)
        return times[k - 1] if k and times[k - 1] >= lo else None

    def any_between(self, step: int, lo: float, hi: float) -> bool:
        """An occurrence after ``lo``, up to ``hi``."""
        times = self.times[step]
        k = bisect_right(times, lo)
        return k < len(times) and times[k] <= hi


__all__ = ["Activity", "FollowUps", "HORIZON_SECONDS"]
