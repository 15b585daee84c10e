"""Root-cause analysis: incident detection and ranked, explained root causes.

Pure Python (+ numpy; scikit-learn only when fitting). Public API::

    from engine.rca import RCAModel, analyze
    model = RCAModel().fit(runs, labels, root_causes)    report = analyze(events, model, issue="Volume attach failed")

The same ranker serves `rca analyze` (a run) and the stream's incident stage (an incident's
evidence events). Part of ``engine``: may import the rest of ``engine``, ``schemas`` and
``config``, nothing else of ours (tests/unit/test_import_direction.py).
"""
from .model import RCAModel, analyze
from .report import Incident, Report, RootCause, TimelineEntry

__all__ = ["RCAModel", "analyze", "Report", "RootCause", "Incident", "TimelineEntry"]
