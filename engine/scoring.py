"""Score windows and batches with a model bundle, and explain them.

Three signals, combined:
- the RCA model (engine.rca): the learned incident detector and the root-cause
  ranker (traceback frames, loggers, request/instance-id propagation, timing);
- the DeepLog LSTM: share of events whose template was not among the top-g
  predicted next templates of their session;
- the parameter model: numeric parameters (durations, sizes, status codes)
  far outside their normal range.
The decision is the detector's; the LSTM and parameter signals raise the
anomaly score and add evidence (they catch slow-downs and unusual orderings
that carry no error). `fast_mode` skips the LSTM and says so.

A stream window is scored detection first: most windows are quiet (no error, no warning), and
for those the detector's features are all zero, so its decision is one constant per model
(`_quiet_decision`); such a window skips the signatures, the anomaly search and the ranking, and
its analysis is exactly what the full path would give (tests/engine/test_scoring_fast_path.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.baseline import MinedEvent, window_summary
from engine.bundle import ModelBundle
from engine.parsing import has_problem
from engine.rca import analyze as rca_analyze
from engine.rca.evidence import CONTEXT_KEY, window_evidence
from engine.rca.features import run_features
from engine.rca.model import rank_incident
from engine.rca.report import Report
from engine.sessions import session_indexes
from engine.templates import TemplateMiner
from schemas.log_event import LogEvent


@dataclass
class Signals:
    sequence_ratio: float | None = None      # None when the LSTM was skipped
    sequence_deviations: list[int] = field(default_factory=list)  # event indexes
    param_deviations: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"sequence_deviation_ratio": None if self.sequence_ratio is None else round(self.sequence_ratio, 4),
                "sequence_deviations": len(self.sequence_deviations),
                "parameter_deviations": len(self.param_deviations)}


class BundleScorer:
    """Everything inference needs, loaded from one bundle."""

    def __init__(self, bundle: ModelBundle, version: str | None = None) -> None:
        self.bundle = bundle
        self.version = version
        self.miner = TemplateMiner.load(bundle.miner_state)
        self._quiet: tuple[float, bool] | None = None   # the detector on a quiet window (see _quiet_decision)

    def _quiet_decision(self) -> tuple[float, bool]:
        """(score, is incident) of the window detector for a window with no error and no warning.

        Its features are then all zero (run_features counts errors, tracebacks, novel error and
        warning signatures; the window scope skips completeness), whatever its events say, so the
        decision depends on the model alone: computed once, with the detector's own functions."""
        if self._quiet is None:
            model = self.bundle.rca_model
            score, is_incident = model.detector.decide(run_features([], model.profile, completeness=False, sigs=[]),
                                                       "window")
            self._quiet = (score, bool(is_incident))
        return self._quiet

    def self_check(self) -> None:
        """Score a tiny synthetic window; raises if the bundle does not work with this code.

        A bundle pickled by an older release can unpickle fine and still fail
        at scoring time; a worker must find that out before it serves it.
        """
        probe = TemplateMiner.load(self.bundle.miner_state)
        events = [LogEvent(message=m, raw=m, timestamp=1.0 + i, service="nova-compute", level=lvl,
                           logger="nova.compute.manager", instance_id="00000000-0000-0000-0000-000000000001")
                  for i, (m, lvl) in enumerate([("Starting instance...", "INFO"),
                                                ("Instance failed to spawn", "ERROR")])]
        self.analyze_window([MinedEvent.from_match(e, probe.add(e.message)) for e in events])

    # -- signals ---------------------------------------------------------
    def signals(self, events: Sequence[LogEvent], template_ids: Sequence[str], params: Sequence[Sequence[str]],
                fast_mode: bool = False, sequence_deviations: list[int] | None = None) -> Signals:
        """The LSTM and parameter signals; `sequence_deviations` when the LSTM already ran (a batch)."""
        sig = Signals()
        pm = self.bundle.param_model
        if pm is not None:
            sig.param_deviations = [i for i, (t, p) in enumerate(zip(template_ids, params)) if pm.is_deviation(t, p)]
        seq = self.bundle.sequence_model
        if seq is not None and not fast_mode and events:
            if sequence_deviations is None:
                sequence_deviations = self._sequence_deviations([(events, template_ids)])[0]
            sig.sequence_deviations = sequence_deviations
            sig.sequence_ratio = len(sequence_deviations) / len(events)
        return sig

    def _sequence_deviations(self, windows: Sequence[tuple[Sequence[LogEvent], Sequence[str]]]) -> list[list[int]]:
        """Event indexes the LSTM did not expect, per window: every session of every window in one
        batched call (one model call per step, not per window)."""
        sessions, owners = [], []
        for w, (events, template_ids) in enumerate(windows):
            for s in session_indexes(events):
                sessions.append([template_ids[i] for i in s])
                owners.append((w, s))
        out: list[list[int]] = [[] for _ in windows]
        for (w, s), flags in zip(owners, self.bundle.sequence_model.score_sessions(sessions)):
            out[w].extend(i for i, bad in zip(s, flags) if bad)
        return [sorted(d) for d in out]

    def combined_score(self, report: Report, sig: Signals) -> float:
        return self._combined(report.anomaly_score, sig)

    def _combined(self, detector_score: float, sig: Signals) -> float:
        th = self.bundle.thresholds.get("sequence_deviation_ratio", 0.5) or 0.5
        seq_part = 0.0 if sig.sequence_ratio is None else min(1.0, 0.5 * sig.sequence_ratio / th)
        param_part = min(0.5, 0.1 * len(sig.param_deviations))
        return max(float(detector_score), seq_part, param_part)

    # -- batch analysis ---------------------------------------------------
    def analyze(self, events: Sequence[LogEvent], issue: str | None = None, fast_mode: bool = False,
                scope: str = "run") -> tuple[Report, Signals]:
        match = self.miner.match
        tids, params = [], []
        for e in events:
            r = match(e.message)
            tids.append(r.model_id if r else "?")   # the model's keys (results name template ids)
            params.append(list(r.params) if r else [])
        sig = self.signals(events, tids, params, fast_mode=fast_mode)
        report = rca_analyze(events, self.bundle.rca_model, issue=issue, scope=scope)
        report.anomaly_score = self.combined_score(report, sig)
        return report, sig

    def rank_incident(self, packed: Sequence[dict]) -> list[dict]:
        """A stream incident's root causes: the run-level analysis (as ``rca analyze``) of its
        evidence records (engine/rca/evidence.py), as rca_result root_cause dicts."""
        return [rc.to_dict() for rc in rank_incident(packed, self.bundle.rca_model)]

    # -- streaming windows ------------------------------------------------
    def analyze_window(self, items: list[MinedEvent]) -> dict:
        """The analysis part of an RCA result for one closed window (same keys as the baseline)."""
        return self.analyze_windows([items])[0]

    def analyze_windows(self, windows: Sequence[list[MinedEvent]],
                        stalls: Sequence[float | None] | None = None) -> list[dict]:
        """The analyses of many closed windows: the LSTM runs once over all of them. ``stalls``: each
        window's workflow stall (the worker's follow-up check, consumers/pipeline.py), which the
        model decides with (engine.rca.model.window_decision)."""
        events = [[m.event for m in items] for items in windows]
        tids = [[m.model_key for m in items] for items in windows]   # the keys the model was trained on
        seq_dev: list[list[int] | None] = [None] * len(windows)
        if self.bundle.sequence_model is not None:
            seq_dev = self._sequence_deviations([(e, t) for e, t in zip(events, tids) if e])
            it = iter(seq_dev)
            seq_dev = [next(it) if e else None for e in events]
        out = []
        checked = stalls is not None    # the worker measured stalls: results say them (None: nothing was due)
        stalls = list(stalls) if stalls is not None else [None] * len(windows)
        for items, evs, t, dev, stall in zip(windows, events, tids, seq_dev, stalls):
            summary = window_summary(items)
            sig = self.signals(evs, t, [m.params for m in items], sequence_deviations=dev)   # t: model keys
            quiet = stall is None and not has_problem(evs)
            if quiet and not (decision := self._quiet_decision())[1]:
                # detection first: a quiet window the detector clears is not ranked (see the module doc)
                summary.update({
                    "is_incident": False,
                    "anomaly_score": round(self._combined(decision[0], sig), 4),
                    "root_causes": [],
                    "incidents": [],
                    "scores": {"detector": round(float(decision[0]), 4), **sig.to_dict()},
                })
                report = None
            else:
                known = [m.signature for m in items]
                report = rca_analyze(evs, self.bundle.rca_model, scope="window",
                                     sigs=known if None not in known else None, stall=stall)
                summary.update({
                    "is_incident": report.is_incident,
                    "anomaly_score": round(self.combined_score(report, sig), 4),
                    "root_causes": [rc.to_dict() for rc in report.root_causes],
                    "incidents": [{**i.to_dict(), "signals": sig.to_dict()} for i in report.incidents],
                    "scores": {"detector": round(float(report.anomaly_score), 4), **sig.to_dict()},
                })
            if checked:
                summary["scores"]["workflow_stall"] = None if stall is None else round(stall, 4)
            if report is not None and report.is_incident:   # the incident stage ranks these records (engine/rca/evidence.py)
                summary["evidence_events"] = window_evidence(report.anomalous_events)
            elif report is not None and report.anomalous_events:
                summary[CONTEXT_KEY] = report.anomalous_events   # the worker keeps them (never published)
            out.append(summary)
        return out
