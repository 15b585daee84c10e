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


def session_indexes(events: Sequence[LogEvent]) -> list[list[int]]:
    """Indexes of ``events`` per session, each in time order (sessions in order of first appearance)."""
    groups: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for i, e in enumerate(events):
        groups[event_session_key(e)].append((e.timestamp or 0.0, i))
    return [[i for _, i in sorted(g)] for g in groups.values()]


def group_sessions(events: Sequence[LogEvent], template_ids: Sequence[str]) -> list[list[str]]:
    """Template-id sequences per session, in time order (the LSTM's sessions)."""
    if len(template_ids) < len(events):
        events = events[:len(template_ids)]  # pairs as zip() would: extra events are left out
    return [[template_ids[i] for i in s] for s in session_indexes(events)]
