"""What an analysis returns: the decision, ranked root causes and the timeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.log_event import format_timestamp

MAX_EVIDENCE_LINES = 20
MAX_EVIDENCE_CHARS = 2000


@dataclass
class RootCause:
    """One ranked candidate for where a fault lies."""

    rank: int
    subsystem: str
    service: str | None
    module: str | None
    category: str
    score: float
    first_seen: float | None  # epoch seconds of its first anomalous record
    evidence: list[str] = field(default_factory=list)  # raw lines, capped
    request_ids: list[str] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    recommendation: str = ""
    package: str | None = None
    confidence: float | None = None   # calibrated P(this is the faulty module) (engine/rca/ranker.py)
    # "module" (a Python module of a service) or "infrastructure" (a daemon below the services,
    # ``module`` then names the component, e.g. ``rabbitmq``, on ``host``; engine/rca/infra.py)
    kind: str = "module"
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``root_cause`` object of rca_result.schema.json (first_seen as ISO 8601)."""
        out = {
            "rank": self.rank, "subsystem": self.subsystem, "service": self.service,
            "module": self.module, "category": self.category, "score": round(self.score, 4),
            "first_seen": format_timestamp(self.first_seen) if self.first_seen is not None else None,
            "evidence": list(self.evidence), "request_ids": list(self.request_ids),
            "instance_ids": list(self.instance_ids), "recommendation": self.recommendation,
        }
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        out["kind"] = self.kind
        if self.host is not None:
            out["host"] = self.host
        return out


@dataclass
class TimelineEntry:
    """An anomalous record in time order (what an operator reads first)."""

    time: float | None
    service: str | None
    level: str | None
    logger: str | None
    message: str
    novel: bool  # never (or almost never) seen in normal runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": format_timestamp(self.time) if self.time is not None else None,
            "service": self.service, "level": self.level, "logger": self.logger,
            "message": self.message, "novel": self.novel,
        }


@dataclass
class Incident:
    """One incident: its span, the services involved and its root causes."""

    start: float | None
    end: float | None
    services: list[str]
    summary: str
    score: float
    root_causes: list[RootCause] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": format_timestamp(self.start) if self.start is not None else None,
            "end": format_timestamp(self.end) if self.end is not None else None,
            "services": list(self.services), "summary": self.summary,
            "score": round(self.score, 4),
            "root_causes": [rc.to_dict() for rc in self.root_causes],
            "request_ids": list(self.request_ids), "instance_ids": list(self.instance_ids),
        }


@dataclass
class Report:
    """The analysis of a run or window.

    When ``is_incident`` is False, ``incidents`` and ``root_causes`` are empty
    (unless the caller forced a ranking, see ``analyze(force_rank=...)``;
    ``candidates`` then holds it without claiming an incident).
    """

    is_incident: bool
    anomaly_score: float
    incidents: list[Incident] = field(default_factory=list)
    root_causes: list[RootCause] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    candidates: list[RootCause] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    event_count: int = 0
    # the anomalous records the ranking looked at (LogEvents, time order): what a stream
    # window hands to its incident (engine/rca/evidence.py); not part of to_dict
    anomalous_events: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_incident": self.is_incident,
            "anomaly_score": round(self.anomaly_score, 4),
            "incidents": [i.to_dict() for i in self.incidents],
            "root_causes": [rc.to_dict() for rc in self.root_causes],
            "timeline": [t.to_dict() for t in self.timeline],
            "event_count": self.event_count,
        }


def cap_evidence(lines: list[str]) -> list[str]:
    """At most MAX_EVIDENCE_LINES lines of at most MAX_EVIDENCE_CHARS each."""
    out = []
    for line in lines:
        for part in line.split("\n"):
            if len(out) >= MAX_EVIDENCE_LINES:
                return out
            out.append(part[:MAX_EVIDENCE_CHARS])
    return out
