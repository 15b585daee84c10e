"""Session keys: which events belong to one story (DESIGN.md, 'Windows and sessions')."""
from __future__ import annotations

import math
import zlib
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


def window_offset(key: str, size: float) -> float:
    """Where the tumbling windows of session `key` start within a period of `size` seconds:
    a fixed share of it, from a hash of the key (1/1000 steps; the same in every process).

    Windows aligned to the epoch for every key all close at the same moment, when the
    watermark passes a boundary: thousands of windows scored and sent at once held every
    result of that boundary back by the time they all took (about 0.7 s at 2,300 msg/s,
    `rca bench e2e`). Offset per key, the windows of one key still tile time, and their
    closes spread over the period. Flink's tumbling windows take such an offset too.
    """
    return (zlib.crc32(key.encode("utf-8", "surrogatepass")) % 1000) / 1000.0 * size


def window_start(key: str, ts: float, size: float, staggered: bool = False) -> float:
    """Start (epoch s) of the tumbling window of `size` seconds of session `key` that holds
    time `ts`: aligned to `window_offset(key, size)`, or to the epoch when not `staggered`."""
    offset = window_offset(key, size) if staggered else 0.0
    return math.floor((ts - offset) / size) * size + offset


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
