"""What a bundle learned from, kept with it, so a retrain extends it instead of starting over.

A real cloud has no labels.tsv: the labelled runs a first model learned from, and the operators'
verdicts on its incidents later, are all the failures it will ever be taught. A retrain that
trained only on recent logs (every run taken as fault-free) would keep what normal looks like
and forget every failure: a detector with no positive example flags nothing (measured on the
dev set: detection F1 0.936 -> 0.000). So a bundle carries its ``Experience``: one ``Lesson``
per labelled run or verdict, compact and bounded, holding exactly what refitting the learned
parts needs:

* ``row``: the run's detector features (``features.RUN_FEATURES``) as computed when it was
  learned (the run-scope detector refits on rows);
* ``windows``: its stream windows with an error or warning, each (features, workflow stall at
  its first problem, has anomalies), deduplicated and capped: the window threshold, the stall
  gate and its rescue are recalibrated on them (``calibrate``, the row form of
  ``RCAModel._calibrate_windows``);
* ``events``: for a failed run, its error and warning records (``evidence.pack`` form, bounded):
  the ranker and its memory of past incidents refit on them, with the run's ``cause``.

Normal runs need no records: what they taught (the normal profile, the workflow's follow-ups)
is in the RCA model itself and carried over as is, refreshed by each retrain.
"""
from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.parsing import ERROR_LEVELS
from engine.rca.detector import Detector, calibrate_threshold
from engine.rca.evidence import pack, select, unpack
from engine.rca.features import RUN_FEATURES, run_features, signature
from engine.rca.followups import Activity
from engine.rca.model import (RESCUE_BOUNDS, STALL_GATE_BOUNDS, STALL_GATE_POSITION, RCAModel,
                              _occurrences, _steps, first_problem_time, stream_windows)
from engine.rca.ranker import NOVEL_SHARE, Ranker, build_candidates, find_anomalies, ranking_anomalies
from schemas.log_event import LogEvent

log = logging.getLogger(__name__)

MAX_LESSON_EVENTS = 400        # a failed run's records kept (one per signature first: evidence.select)
MAX_LESSON_CHARS = 400_000
MAX_LESSON_WINDOWS = 64        # distinct window rows kept per run (the most novel first)
MAX_LESSONS = 5_000            # beyond this the oldest training lessons of fault-free runs go first
MISSING = RUN_FEATURES.index("missing_expected")

Window = tuple[tuple[float, ...], float | None, bool]   # (features, stall at its first problem, has anomalies)


@dataclass
class Lesson:
    """One labelled run, or one operator verdict, as a retrain needs it."""

    name: str                       # the run's name, or "verdict:<incident id>"
    failed: bool
    cause: str | None               # the faulty module or component of a failed run, when known
    origin: str = "training"        # training | confirmed | rejected | missed
    row: list[float] | None = None  # run-scope features; None: a verdict (no whole run to measure)
    windows: list[Window] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)   # packed error/warning records (failed runs, verdicts)
    stall: float | None = None      # a verdict: the worker's highest stall over its windows (None: unknown)
    # a failed run whose errors an operator has since called a false alarm (the verdict's name): it
    # counts as fault-free from then on (the verdict is newer than the label)
    overridden_by: str | None = None


@dataclass
class Experience:
    """Every lesson a bundle learned from (bounded, see MAX_LESSONS)."""

    lessons: list[Lesson] = field(default_factory=list)

    def summary(self) -> dict:
        by = {}
        for le in self.lessons:
            by[le.origin] = by.get(le.origin, 0) + 1
        return {"lessons": len(self.lessons), "failed": sum(1 for le in self.lessons if le.failed),
                "with_cause": sum(1 for le in self.lessons if le.failed and le.cause), "by_origin": by,
                "overridden": sum(1 for le in self.lessons if getattr(le, "overridden_by", None))}

    def bounded(self) -> "Experience":
        """At most MAX_LESSONS: fault-free training lessons leave first, oldest first."""
        extra = len(self.lessons) - MAX_LESSONS
        if extra <= 0:
            return self
        drop = {id(le) for le in self.lessons if le.origin == "training" and not le.failed}
        out, dropped = [], 0
        for le in self.lessons:
            if dropped < extra and id(le) in drop:
                dropped += 1
                continue
            out.append(le)
        return Experience(out[-MAX_LESSONS:])


def problem_records(events: Iterable[LogEvent]) -> list[dict]:
    """A run's error and warning records, packed and bounded (what the ranker looks at)."""
    packed = [pack(e) for e in events if e.parse_error is None and (e.level in ERROR_LEVELS or e.level == "WARNING")]
    return select(packed, MAX_LESSON_EVENTS, MAX_LESSON_CHARS)


def window_rows(model: RCAModel, events: Sequence[LogEvent], exclude_self: bool = False,
                measured: bool = True, stall: float | None = None) -> list[Window]:
    """The run's stream windows with a problem: (features, stall, has anomalies), distinct, capped.

    ``measured``: the stall is measured on the run's own activity, as the calibration does; else
    every window gets ``stall`` (the worker's measurement, or None: unknown), for a verdict whose
    records are only the anomalous ones (a stall measured on them would say everything stopped).
    """
    fu = model.followups
    activity = None
    if fu is not None and fu.followers and measured:
        activity = Activity.of_run(len(fu.signatures), _occurrences(fu, _steps(events)))
    rows: set[Window] = set()
    for w, sigs in stream_windows(events):
        x = tuple(round(v, 6) for v in run_features(w, model.profile, exclude_self=exclude_self,
                                                      completeness=False, sigs=sigs))
        s = fu.stall(activity, first_problem_time(w)) if activity is not None else stall
        rows.add((x, None if s is None else round(s, 6), bool(find_anomalies(w, model.profile, sigs=sigs))))
    ordered = sorted(rows, key=lambda r: (-(r[0][1] + r[0][3] + r[0][2]), -(r[1] or 0.0)))
    return ordered[:MAX_LESSON_WINDOWS]


def lessons_of_training(model: RCAModel, runs: Sequence[Sequence[LogEvent]], labels: Sequence[bool | None],
                        causes: Sequence[str | None], names: Sequence[str]) -> Experience:
    """The lessons of the runs ``model`` was just fitted on (unlabelled runs teach nothing here)."""
    normal = {i for i, v in enumerate(labels) if v is False}
    out = []
    for i, events in enumerate(runs):
        if labels[i] is None:
            continue
        failed = bool(labels[i])
        out.append(Lesson(
            name=names[i] if i < len(names) else f"run-{i}", failed=failed, cause=causes[i] if failed else None,
            row=[round(v, 6) for v in run_features(events, model.profile, exclude_self=i in normal)],
            windows=window_rows(model, events, exclude_self=i in normal),
            events=problem_records(events) if failed else []))
    return Experience(out).bounded()


def verdict_lesson(name: str, origin: str, events: Sequence[LogEvent], cause: str | None,
                   stall: float | None = None) -> Lesson:
    """An operator's verdict as a lesson: confirmed and missed faults are failed runs (with their
    cause when known), a rejected incident a fault-free one. Its records are kept whatever the
    verdict (the gate replays them); its window rows are measured by ``refit``, against the
    profile the verdicts leave (a rejected incident's lines are familiar by then). ``stall``: the
    worker's highest workflow stall over the incident's windows (a verdict's records are only the
    anomalous ones: a stall measured on them would say the whole workflow stopped)."""
    failed = origin in ("confirmed", "missed")
    events = sorted((e for e in events if e.parse_error is None), key=lambda e: e.timestamp or 0.0)
    return Lesson(name=name, failed=failed, cause=cause if failed else None, origin=origin, row=None,
                  windows=[], events=problem_records(events), stall=stall)


def known_normal(model: RCAModel, events: Iterable[LogEvent]) -> int:
    """An operator said these records are no incident: their error and warning signatures become
    familiar (a share of the normal runs above the novelty cut), so the same lines no longer look
    novel. Returns how many signatures changed."""
    prof = model.profile
    need = math.floor(NOVEL_SHARE * max(prof.n_runs, 1)) + 1    # novel: a share of at most NOVEL_SHARE
    changed = 0
    for e in events:
        if e.parse_error is None and (e.level in ERROR_LEVELS or e.level == "WARNING"):
            sig = signature(e)
            if prof.doc_freq.get(sig, 0) < need:
                prof.doc_freq[sig] = need
                changed += 1
    return changed


def refresh_profile(model: RCAModel, events: Sequence[LogEvent]) -> int:
    """Count the new events as one more normal run of the profile.

    Their error and warning signatures that are novel to the profile are left out: detection
    rests on those, and a retrain's time range holds faults too (measured on generated runs:
    counting the records of the windows production did not flag still cost a failed run in ten).
    Only an operator's rejection makes such lines familiar (``known_normal``). The workflow's
    expected steps stay: they are learned from whole runs, and a time range is not one.
    Returns the signatures counted."""
    prof = model.profile
    sigs = set()
    for e in events:
        if e.parse_error is not None:
            continue
        sig = signature(e)
        if (e.level in ERROR_LEVELS or e.level == "WARNING") and prof.share(sig) <= NOVEL_SHARE:
            continue
        sigs.add(sig)
    if not sigs:
        return 0
    expected = prof.expected
    prof.add_run(sigs)
    prof.expected = expected
    return len(sigs)


def calibrate(model: RCAModel, lessons: Sequence[Lesson]) -> None:
    """The window threshold, the stall gate and its rescue from the lessons' window rows: what
    ``RCAModel._calibrate_windows`` does from whole runs (see there for why each step)."""
    if "window" not in model.detector.scorers:
        return
    scored = [([(model.detector.probability(list(x), "window"), stall, anom) for x, stall, anom in le.windows],
               le.failed) for le in lessons]
    flags = [f for _, f in scored]
    threshold = calibrate_threshold([max((p for p, _, _ in ws), default=0.0) for ws, _ in scored], flags)
    model.detector.scorers["window"].threshold = threshold
    fu = model.followups
    if fu is None or not fu.followers:
        return
    run_stall = []
    for ws, _ in scored:
        above = [s for p, s, _ in ws if p >= threshold]
        run_stall.append(max(1.0 if s is None else s for s in above) if above else None)
    fu.threshold = calibrate_threshold(run_stall, flags, bounds=STALL_GATE_BOUNDS, position=STALL_GATE_POSITION)
    unflagged, left = [], []
    for (ws, flag), stall in zip(scored, run_stall):
        if stall is not None and stall >= fu.threshold:
            continue
        stalls = [s for _, s, anom in ws if anom and s is not None]
        unflagged.append(max(stalls) if stalls else None)
        left.append(flag)
    rescue = calibrate_threshold(unflagged, left, bounds=RESCUE_BOUNDS, position=STALL_GATE_POSITION)
    fu.rescue = rescue if rescue <= 1.0 else None


def refit(base: RCAModel, experience: Experience, verdicts: Sequence[Lesson] = (),
          new_events: Sequence[LogEvent] = (), rejected_events: Sequence[LogEvent] = ()) -> tuple[RCAModel, Experience]:
    """A new RCA model from the production one: the normal profile refreshed from ``new_events``
    (and made to know the records of rejected incidents), the follow-ups and incident gap kept,
    the detector, its calibration, the ranker and its memory refitted on every kept lesson plus
    the verdicts. Returns the model and its experience (kept lessons + verdicts, bounded)."""
    model = copy.deepcopy(base)
    refresh_profile(model, new_events)
    known_normal(model, rejected_events)
    rejected = [le for le in verdicts if le.origin == "rejected"]
    known_normal(model, (unpack(d) for le in rejected for d in le.events))
    if rejected:
        experience = Experience([_overridden(le, base, model, rejected) for le in experience.lessons])
    verdicts = [copy.copy(le) for le in verdicts]
    for le in verdicts + [le for le in experience.lessons if getattr(le, "overridden_by", None) and not le.windows]:
        events = [unpack(d) for d in le.events]
        le.windows = window_rows(model, events, measured=False, stall=getattr(le, "stall", None))
    lessons = list(experience.lessons) + verdicts
    rows = [le.row for le in lessons if le.row is not None]
    fill = float(np.median([r[MISSING] for r in rows])) if rows else 0.0
    X, y = [], []
    for le in lessons:
        row = list(le.row) if le.row is not None else _verdict_row(le, fill)
        if row is None:
            continue
        X.append(row)
        y.append(int(le.failed))
    if X:
        model.detector = Detector().fit(X, y)
    calibrate(model, lessons)
    incidents = []
    for le in lessons:
        if le.failed and le.cause and le.events:
            events = [unpack(d) for d in le.events]
            incidents.append((ranking_anomalies(events, model.profile), le.cause))
    if incidents:
        # a ranker that learned with a map of the code (engine/rca/codemap.py) keeps using it
        code_map = getattr(base.ranker, "code_map", None)
        model.ranker = Ranker().fit(incidents, code_map=code_map) if code_map is not None else Ranker().fit(incidents)
        _weigh_verdicts(model, lessons)
    model.metadata = {**base.metadata, "refit_lessons": len(lessons), "refit_incidents": len(incidents),
                      "verdicts": len(verdicts), "ranker_learned": model.ranker.learned,
                      "window_threshold": round(model.detector.scorers["window"].threshold, 4)
                      if "window" in model.detector.scorers else None}
    log.info("RCA model refitted on %d lessons (%d verdicts, %d incidents with a cause)",
             len(lessons), len(verdicts), len(incidents))
    return model, Experience(lessons).bounded()


VERDICT_MEMORY_WEIGHT = 3   # an operator's confirmed incident counts as this many in the memory of past incidents


def _weigh_verdicts(model: RCAModel, lessons: Sequence[Lesson]) -> None:
    """Confirmed and missed faults with a cause join the memory of past incidents VERDICT_MEMORY_WEIGHT
    times in all (the fit added each once): an operator's verdict on this very cloud says more about
    what its symptoms mean than one lab run does, and the memory is what points from a symptom in one
    service to a cause in another. Added after the fit, so the ranker's weights were still learned
    with each incident left out of its own features once."""
    memory = getattr(model.ranker, "memory", None)
    if memory is None or not hasattr(memory, "add"):
        return
    for le in lessons:
        if le.failed and le.cause and le.events and le.origin in ("confirmed", "missed"):
            anomalies = ranking_anomalies([unpack(d) for d in le.events], model.profile)
            code_map = getattr(model.ranker, "code_map", None)
            cands = {c.module for c in (build_candidates(anomalies, None, code_map=code_map) if code_map is not None
                                        else build_candidates(anomalies, None))}
            for _ in range(VERDICT_MEMORY_WEIGHT - 1):
                memory.add({a.sig for a in anomalies}, cands, le.cause)


OVERRIDE_SHARE = 0.5   # a kept failed run is overridden when more than this share of its novel signatures was rejected


def _overridden(le: Lesson, base: RCAModel, model: RCAModel, rejected: Sequence[Lesson]) -> Lesson:
    """``le``, relabelled fault-free when most of the records that made it look novel (its error and
    warning signatures the production profile did not know; more than OVERRIDE_SHARE of them) are
    familiar now because an operator rejected an incident showing them (an incident's records are
    those of its flagged windows: measured, 5 of a run's 7 novel signatures): the operator said that pattern is
    no fault, and the verdict is newer than the label. Errors that were familiar already (a healthy
    cloud's usual ones) do not count, so rejecting one story does not relabel every run sharing a
    common error line."""
    if not le.failed or getattr(le, "overridden_by", None):
        return le
    novel = {signature(e) for e in (unpack(d) for d in le.events)}
    novel = {s for s in novel if base.profile.share(s) <= NOVEL_SHARE}
    if not novel:
        return le
    familiar = {s for s in novel if model.profile.share(s) > NOVEL_SHARE}
    if len(familiar) <= OVERRIDE_SHARE * len(novel):
        return le
    by = next((r.name for r in rejected if familiar & {signature(unpack(d)) for d in r.events}), rejected[0].name)
    out = copy.copy(le)
    out.failed, out.overridden_by, out.row, out.stall = False, by, None, None
    out.windows = []          # measured again by refit, against the profile the verdict left
    return out


def _verdict_row(le: Lesson, fill: float) -> list[float] | None:
    """A verdict has no whole run: its row is its most novel window's, with the run-only feature
    (the workflow's completeness) set to the kept runs' median, i.e. unknown."""
    if not le.windows:
        return None
    x = list(max(le.windows, key=lambda w: w[0][1] + w[0][3] + w[0][2])[0])
    x[MISSING] = fill
    return x


__all__ = ["Experience", "Lesson", "calibrate", "known_normal", "lessons_of_training", "refit",
           "verdict_lesson", "window_rows"]
