"""Detection first (engine/scoring.py): a quiet window (no error, no warning) skips the ranking,
and its analysis is exactly what the full path gives. The full path is the reference: forcing
`_quiet_decision` to say "maybe an incident" sends every window through it."""
from __future__ import annotations


import pytest

from engine.baseline import MinedEvent
from engine.scoring import BundleScorer
from engine.templates import TemplateMiner
from engine.training import TrainingData, train
from schemas.log_event import LogEvent
from tests.engine.generated import nova_run

def run(seed: int, n: int = 30, trouble: bool = False) -> list[LogEvent]:
    return nova_run(seed, n, trouble)


@pytest.fixture(scope="module")
def scorer():
    runs = [run(s) for s in range(3)]
    bundle = train(TrainingData(runs=runs, names=["a", "b", "c"], labels=[False] * 3, root_causes=[None] * 3,
                                lines=sum(len(r) for r in runs)), epochs=1)
    return BundleScorer(bundle, "test")


def windows_of(scorer: BundleScorer, events: list[LogEvent], size: int = 5) -> list[list[MinedEvent]]:
    miner = TemplateMiner.load(scorer.bundle.miner_state)
    items = [MinedEvent.from_match(e, miner.add(e.message)) for e in events]
    return [items[i:i + size] for i in range(0, len(items), size)]


def test_quiet_windows_score_as_the_full_path_does(scorer):
    windows = windows_of(scorer, run(11, trouble=True)) + [[]]
    fast = scorer.analyze_windows(windows)
    score, _ = scorer._quiet_decision()
    quiet = [not any(m.event.level in ("ERROR", "CRITICAL", "WARNING") for m in w) for w in windows]
    assert any(quiet) and not all(quiet)
    scorer._quiet = (score, True)        # "may be an incident": every window takes the full path
    try:
        full = scorer.analyze_windows(windows)
    finally:
        scorer._quiet = None
    assert fast == full


def test_the_quiet_decision_is_the_detectors_on_a_quiet_window(scorer):
    from engine.rca import analyze

    [window] = windows_of(scorer, run(5, n=2), size=10)
    report = analyze([m.event for m in window], scorer.bundle.rca_model, scope="window")
    assert scorer._quiet_decision() == (report.anomaly_score, report.is_incident)
