"""The window stage's follow-up check (Pipeline.follow / _stall, engine.rca.model.window_decision),
without Kafka or a trained bundle.

A served model's ``FollowUps`` (learned here from crafted normal runs) says which steps
always come soon after which; the pipeline measures each problem window's stall and the
model decides with it: a novel error whose workflow went on is not an incident, and (the
rescue) a familiar error after which the workflow stopped is one.
"""
from __future__ import annotations

from types import SimpleNamespace

from config.settings import WorkerSettings
from consumers.pipeline import Pipeline
from engine.baseline import analyze_window
from engine.parsing import parse_line
from engine.rca.features import signature
from engine.rca.followups import FollowUps
from engine.rca.model import window_decision

CREATE = "2019-08-01 10:00:{s:02d}.000 7 INFO cinder.volume.manager [req-1 - - - -] Creating volume {n}"
CREATED = "2019-08-01 10:00:{s:02d}.000 7 INFO cinder.volume.manager [req-1 - - - -] Created volume {n}"
ERROR = "2019-08-01 10:00:{s:02d}.000 9 ERROR cinder.api.middleware.fault [req-2 - - - -] Caught error: Exception"


def steps(lines):
    out = []
    for line in lines:
        event = parse_line(line)
        out.append((event.timestamp, signature(event)))
    return out


def followups(gate: float, rescue: float | None = None) -> FollowUps:
    # normal runs: every "Creating volume" is followed by "Created volume" 5 s later
    runs = [steps([CREATE.format(s=k, n=i), CREATED.format(s=k + 5, n=i)]) for i, k in enumerate((0, 10, 20, 30))]
    fu = FollowUps.fit(runs, horizon=30.0)
    fu.threshold = gate
    fu.rescue = rescue
    return fu


def pipeline_after(lines, gate: float = 0.5, rescue: float | None = None, novel: bool = True) -> Pipeline:
    p = Pipeline(WorkerSettings(window_seconds=60, allowed_lateness_seconds=30))
    model = SimpleNamespace(followups=followups(gate, rescue))
    p.follow(model.followups)

    def analyzer(windows, stalls=None):
        """As BundleScorer.analyze_windows: an error window is novel (or not, ``novel``), and the
        model decides with the stall the pipeline measured."""
        checked, stalls = stalls is not None, stalls or [None] * len(windows)
        out = []
        for items, stall in zip(windows, stalls):
            error = any(m.event.level == "ERROR" for m in items)
            decided = error and novel if stall is None else error and window_decision(model, novel, stall)
            scores = {"detector": 0.9, "workflow_stall": stall} if checked else {"detector": 0.9}
            out.append({**analyze_window(items), "is_incident": decided, "scores": scores})
        return out

    p.analyzer = analyzer
    p.analyzer_name = "bundle"
    for offset, line in enumerate(lines):
        p.handle(line.encode(), f"host:{offset % 2}".encode(), 0, offset, None, now=0)
    return p


def incident_windows(p: Pipeline) -> list[dict]:
    results = p.results(p.windows.close_all("shutdown"))   # validated against rca_result's schema
    return [r for r in results if r["levels"].get("ERROR")]


def test_an_error_while_the_workflow_goes_on_is_not_an_incident():
    p = pipeline_after([CREATE.format(s=1, n=9), ERROR.format(s=2), CREATED.format(s=6, n=9)])
    [window] = incident_windows(p)
    assert window["scores"]["workflow_stall"] == 0.0
    assert window["is_incident"] is False and window["root_causes"] == [] and window["incidents"] == []
    assert p.counters.incidents == 0


def test_an_error_after_which_the_workflow_stops_is_an_incident():
    p = pipeline_after([CREATE.format(s=1, n=9), ERROR.format(s=2)])
    [window] = incident_windows(p)
    assert window["scores"]["workflow_stall"] == 1.0 and window["is_incident"] is True
    assert p.counters.incidents == 1


def test_no_step_due_or_no_gate_leaves_the_decision_alone():
    p = pipeline_after([ERROR.format(s=2)])                # no step before the error: nothing was due
    [window] = incident_windows(p)
    assert window["scores"]["workflow_stall"] is None and window["is_incident"] is True
    p = pipeline_after([CREATE.format(s=1, n=9), ERROR.format(s=2), CREATED.format(s=6, n=9)], gate=0.0)
    assert incident_windows(p)[0]["is_incident"] is True  # a gate of 0 lets every incident window through


def test_a_model_without_follow_ups_drops_the_check():
    p = pipeline_after([CREATE.format(s=1, n=9), ERROR.format(s=2), CREATED.format(s=6, n=9)])
    p.follow(None)
    assert p.followups is None and p.activity is None
    assert "workflow_stall" not in incident_windows(p)[0]["scores"]


def test_a_familiar_error_after_which_the_workflow_stops_is_rescued():
    lines = [CREATE.format(s=1, n=9), ERROR.format(s=2)]
    assert incident_windows(pipeline_after(lines, novel=False))[0]["is_incident"] is False   # no rescue cut
    [window] = incident_windows(pipeline_after(lines, rescue=0.5, novel=False))
    assert window["scores"]["workflow_stall"] == 1.0 and window["is_incident"] is True
    went_on = [CREATE.format(s=1, n=9), ERROR.format(s=2), CREATED.format(s=6, n=9)]
    assert incident_windows(pipeline_after(went_on, rescue=0.5, novel=False))[0]["is_incident"] is False
