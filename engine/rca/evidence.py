"""The evidence events of a stream incident, and the one analyzer that ranks them.

One analyzer, two scopes: ``rca analyze`` ranks a whole run's anomalous records;
a stream incident is ranked by the same code (``model.analyze(..., scope="run")``)
over the anomalous records of the windows it groups. Windows send those records
along with their result (``pack``: a LogEvent as its JSON form, bounded), the
incident stage keeps a bounded set of them with its state (``select``), so a
restart ranks what it ranked before, and ranks again when a window joins.

Why records and not the windows' causes: a window sees a few seconds of one
session; merging the causes windows ranked on their own loses what only the
whole story shows (which subsystem deviated first, the request chain from
origin to symptom, the memory of past incidents over all the symptoms).

Bounds: at most ``MAX_WINDOW_EVENTS`` per window and ``MAX_INCIDENT_EVENTS`` per
incident, each record's text cut to ``MAX_EVENT_CHARS`` and its frames to
``MAX_FRAMES``. When there are more, one record per signature is kept first
(what the ranker's candidates and memory look at), earliest first, then the
earliest others (their counts weigh a little).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.log_event import LogEvent

MAX_WINDOW_EVENTS = 60
MAX_CONTEXT_EVENTS = 30        # records of the quiet windows before an incident window, carried along
MAX_RECENT_EVENTS = 400        # what the window stage remembers of them
MAX_RECENT_INCIDENT_WINDOWS = 64   # incident windows a later quiet window's records may belong to
CONTEXT_KEY = "_anomalous_events"   # a quiet window's records in an analysis, for the worker only
MAX_INCIDENT_EVENTS = 200
MAX_EVENT_CHARS = 4000
MAX_FRAMES = 40
# an incident's records fit one Kafka message (1 MB by default) with room to spare
MAX_INCIDENT_CHARS = 400_000


def pack(event: LogEvent) -> dict[str, Any]:
    """A record as the JSON form of log_event (bounded; ``raw`` left out when it is the message)."""
    d = event.to_dict()
    del d["schema_version"]
    if d.get("raw") == d.get("message"):
        del d["raw"]
    for k in ("message", "raw", "exception_text"):
        if k in d and len(d[k]) > MAX_EVENT_CHARS:
            d[k] = d[k][:MAX_EVENT_CHARS]
    if len(d.get("frames", ())) > MAX_FRAMES:
        frames = d["frames"]
        d["frames"] = frames[: MAX_FRAMES // 2] + frames[-MAX_FRAMES // 2:]
    return d


def unpack(data: dict[str, Any]) -> LogEvent:
    return LogEvent.from_dict(data)


def select(events: Sequence[dict[str, Any]], cap: int, max_chars: int = MAX_INCIDENT_CHARS) -> list[dict[str, Any]]:
    """At most ``cap`` packed records (and about ``max_chars`` of text), in time order, each once:
    one per signature first, then the earliest others."""
    unique = {_key(d): d for d in events}   # a record two windows carried is one record
    if len(unique) < len(events):
        events = list(unique.values())
    order = sorted(range(len(events)), key=lambda i: (events[i].get("timestamp") or "", i))
    sizes = [_size(events[i]) for i in range(len(events))]
    if len(order) <= cap and sum(sizes) <= max_chars:
        return [events[i] for i in order]
    seen: set[str] = set()
    first, rest = [], []
    for i in order:
        sig = _sig(events[i])
        (rest if sig in seen else first).append(i)
        seen.add(sig)
    keep, used = set(), 0
    for i in first + rest:
        if len(keep) >= cap:
            break
        if used + sizes[i] > max_chars:
            continue
        keep.add(i)
        used += sizes[i]
    return [events[i] for i in order if i in keep]


def _size(d: dict[str, Any]) -> int:
    return len(d.get("message") or "") + len(d.get("raw") or "") + 80 * len(d.get("frames") or ()) + 200


def _key(d: dict[str, Any]) -> tuple:
    return (d.get("timestamp"), d.get("service"), d.get("host"), d.get("pid"), (d.get("message") or "")[:300])


def _sig(d: dict[str, Any]) -> str:
    return f"{d.get('level')}|{d.get('logger')}|{(d.get('message') or '').split(chr(10), 1)[0][:120]}"


def window_evidence(events: Iterable[LogEvent]) -> list[dict[str, Any]]:
    """What a window's result carries to the incident stage: its anomalous records, packed, bounded."""
    packed = [pack(e) for e in events]
    return select(packed, MAX_WINDOW_EVENTS)



class RecentAnomalies:
    """The anomalous records of the worker's recent windows that were not incidents (bounded).

    A fault's first symptoms often sit in windows that were not flagged on their own (a familiar
    error, a novel warning in another session); batch analysis sees them because it sees the
    whole run. An incident window carries the ones of the ``gap`` seconds before it (at most
    ``MAX_CONTEXT_EVENTS``), so the incident is ranked over what led up to it too.

    Windows of different sessions close in their own time, so the quiet window holding a fault's
    first error often closes *after* the incident window it led up to (on the large set's CV, a
    cinder-volume error 3 s before nova-compute's incident window, in a window that closed later:
    the incident was ranked without it). ``late_context`` gives such a window's records that fall
    in the span of a recent incident window (from ``gap`` before it to its end), for the incident
    stage to add to that incident.
    """

    def __init__(self, cap: int = MAX_RECENT_EVENTS) -> None:
        self._records: deque[tuple[float, dict[str, Any]]] = deque(maxlen=cap)
        self._incidents: deque[tuple[float, float]] = deque(maxlen=MAX_RECENT_INCIDENT_WINDOWS)

    def add(self, events: Iterable[LogEvent]) -> None:
        for e in events:
            if e.timestamp is not None:
                self._records.append((e.timestamp, pack(e)))

    def context(self, start: float, gap: float) -> list[dict[str, Any]]:
        """Records between ``gap`` seconds before ``start`` and ``start``, bounded."""
        recent = [d for t, d in self._records if start - gap <= t <= start]
        return select(recent, MAX_CONTEXT_EVENTS)

    def incident_window(self, start: float, end: float) -> None:
        """An incident window closed: quiet windows closing after it may hold what led up to it."""
        self._incidents.append((start, end))

    def late_context(self, events: Iterable[LogEvent], gap: float) -> list[dict[str, Any]]:
        """A quiet window's records within ``gap`` seconds before a recent incident window's
        start and its end, packed, bounded (none: nothing of it belongs to a recent incident)."""
        spans = list(self._incidents)
        if not spans:
            return []
        late = [pack(e) for e in events
                if e.timestamp is not None and any(s - gap <= e.timestamp <= end for s, end in spans)]
        return select(late, MAX_CONTEXT_EVENTS) if late else []
