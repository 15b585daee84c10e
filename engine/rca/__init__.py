"""Root-cause analysis: incident detection and ranked, explained root causes.

Pure Python (+ numpy; scikit-learn only when fitting). Public API::

    from engine.rca import RCAModel, analyze
    model = RCAModel().fit(runs, labels, root_causes)
    report = analyze(events, model, issue="Volume attach failed")
"""
from .model import RCAModel, analyze
from .report import Incident, Report, RootCause, TimelineEntry

__all__ = ["RCAModel", "analyze", "Report", "RootCause", "Incident", "TimelineEntry"]
