"""The baseline window analyzer: honest counting, no learned model.

Used by the worker until a production model is registered (and by
`--fast-mode`-style fallbacks). It reports what is plainly in the window:
level counts, the services involved, the most frequent templates and the
first error. It calls a window an incident only when it holds an ERROR or
CRITICAL record *with a traceback*: healthy clouds log plain errors too
(DESIGN.md), so a bare ERROR line alone is weak evidence.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.chains import named_requests
from engine.parsing import ERROR_LEVELS
from schemas.log_event import LogEvent, format_timestamp


@dataclass(slots=True)
class MinedEvent:
    """A parsed event with its template (what windows hold).

    ``template_id`` is the stable id results name (the same in every process); ``model_id`` the
    key the served model knows the template by (engine/templates.py says why they can differ)."""

    event: LogEvent
    template_id: str
    template: str
    params: list[str] = field(default_factory=list)
    signature: str | None = None   # engine.rca.features.signature, when the window stage needed it already
    model_id: str | None = None    # None: the same as template_id

    @classmethod
    def from_match(cls, event: LogEvent, result) -> "MinedEvent":
        """The event with the miner's answer for its message (a ``templates.MatchResult``)."""
        return cls(event, result.template_id, result.template, list(result.params), None, result.model_id)

    @property
    def model_key(self) -> str:
        return self.model_id or self.template_id


def _subsystem(service: str | None, logger: str | None) -> str:
    if logger:
        return logger.split(".", 1)[0]
    if service:
        return service.split("-", 1)[0]
    return "unknown"


def _errors(items: list[MinedEvent]) -> list[LogEvent]:
    """The window's ERROR/CRITICAL events in time order."""
    errors = [m.event for m in items if m.event.level in ERROR_LEVELS]
    errors.sort(key=lambda e: e.timestamp or 0.0)
    return errors


def window_summary(items: list[MinedEvent]) -> dict:
    """What is plainly in a window: level counts, services, top templates, first error."""
    return _summary(items, _errors(items))


def _summary(items: list[MinedEvent], errors: list[LogEvent]) -> dict:
    levels = Counter(m.event.level or "UNKNOWN" for m in items)
    services = sorted({m.event.service for m in items if m.event.service})
    first = errors[0] if errors else None
    return {
        "levels": dict(levels),
        "services": services,
        # who else this window touches: what the incident correlator (consumers/incidents.py) links on
        "hosts": _capped(m.event.host for m in items),
        # the request chain its lines name too (the global request id, "used request id req-...")
        "request_ids": _capped(r for m in items for r in named_requests(m.event)),
        "instance_ids": _capped(m.event.instance_id for m in items),
        "templates": template_summary(items),
        "first_error": None if first is None else {
            "time": format_timestamp(first.timestamp) if first.timestamp else None,
            "service": first.service,
            "logger": first.logger,
            "message": first.message[:1000],
        },
    }


MAX_IDS = 50
def template_summary(items: list[MinedEvent]) -> list[dict]:
    """A window's ten most frequent templates (id, text, count), as results show them."""
    templates = Counter((m.template_id, m.template) for m in items)
    return [{"template_id": tid, "template": text, "count": count} for (tid, text), count in templates.most_common(10)]


def _capped(values) -> list[str]:
    """Distinct non-empty values, sorted, at most MAX_IDS."""
    return sorted({v for v in values if v})[:MAX_IDS]


def analyze_window(items: list[MinedEvent]) -> dict:
    """Summary and (at most one) root-cause candidate for one window."""
    errors = _errors(items)
    with_trace = [e for e in errors if e.exception_type or e.frames]
    n = max(len(items), 1)
    score = min(1.0, (len(errors) + 2 * len(with_trace)) / n)
    root_causes = []
    if with_trace:
        origin = with_trace[0]
        module = origin.frames[-1].file if origin.frames else origin.logger
        root_causes.append({
            "rank": 1,
            "subsystem": _subsystem(origin.service, origin.logger),
            "service": origin.service,
            "module": _module_from_path(module) if module else None,
            "category": "error",
            "score": round(score, 4),
            "first_seen": format_timestamp(origin.timestamp) if origin.timestamp else None,
            "evidence": [origin.raw[:2000]],
            "request_ids": sorted({e.request_id for e in with_trace if e.request_id}),
            "instance_ids": sorted({e.instance_id for e in with_trace if e.instance_id}),
            "recommendation": "Inspect the traceback of the first error; the baseline analyzer does not rank causes.",
        })
    return {
        **_summary(items, errors),
        "is_incident": bool(with_trace),
        "anomaly_score": round(score, 4),
        "root_causes": root_causes,
        "incidents": [{"start": root_causes[0]["first_seen"], "summary": with_trace[0].message[:200]}]
        if with_trace else [],
    }


def _module_from_path(path: str) -> str:
    """'/opt/stack/nova/nova/compute/manager.py' -> 'nova.compute.manager'; a logger stays as it is."""
    if not path.endswith(".py"):
        return path
    parts = path[:-3].strip("/").split("/")
    # keep from the last occurrence of a top-level package that repeats (repo/pkg/...)
    for i in range(len(parts) - 1):
        if parts[i] == parts[i + 1]:
            parts = parts[i + 1:]
            break
    else:
        for i, p in enumerate(parts):
            if p in ("site-packages", "dist-packages"):
                parts = parts[i + 1:]
                break
    return ".".join(parts)
