"""Session keys: which events belong to one story (DESIGN.md, 'Windows and sessions')."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from schemas.log_event import LogEvent


def session_key(instance_id: str | None, request_id: str | None, service: str | None,
                host: str | None) -> str:
    """instance id, else request id, else service@host."""
    if instance_id:
        return instance_id
    if request_id:
        return request_id
    return f"{service or 'unknown'}@{host or 'unknown'}"


def event_session_key(e: LogEvent) -> str:
    return session_key(e.instance_id, e.request_id, e.service, e.host)


def group_sessions(events: Sequence[LogEvent], template_ids: Sequence[str]) -> list[list[str]]:
    """Template-id sequences per session, in time order (the LSTM's sessions)."""
    groups: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    for i, (e, t) in enumerate(zip(events, template_ids)):
        groups[event_session_key(e)].append((e.timestamp or 0.0, i, t))
    return [[t for _, _, t in sorted(g)] for g in groups.values()]
