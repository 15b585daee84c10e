"""Event-time tumbling windows per session key (pure logic, no Kafka).

DESIGN.md, 'Windows and sessions':
- a window is [start, start + size) of event time for one session key;
- the watermark is the largest event time seen minus the allowed lateness;
  windows whose end is at or before the watermark close;
- when the stream goes quiet for `idle_timeout` seconds of wall-clock time,
  every open window closes (nothing more is coming soon);
- a late event (its window already closed, or behind the watermark) goes to
  the oldest open window of its key, or to a new window after the closed one,
  and is counted, never dropped;
- at most `max_open` windows are open; past that the oldest closes first;
- window ids are derived from (key, start) only, so a replay yields the same ids.

Items and ack tokens are opaque to this module: the worker stores parsed
events and Faust events, a test stores whatever it likes.
"""
from __future__ import annotations

import hashlib
import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


REMEMBER_CLOSED = 200_000   # (key, start) pairs of closed windows kept, so a late event never reuses an id


def window_id(key: str, start: float) -> str:
    """Deterministic id of the window of `key` that starts at `start` (epoch s)."""
    digest = hashlib.sha256(f"{key}|{int(round(start * 1000))}".encode()).hexdigest()
    return "w-" + digest[:24]


@dataclass(slots=True)
class Window:
    key: str
    start: float
    end: float
    items: list[Any] = field(default_factory=list)
    tokens: list[Any] = field(default_factory=list)
    event_count: int = 0
    late_count: int = 0
    closed_by: str = ""
    id: str = field(init=False, repr=False, compare=False)   # window_id(key, start), computed once

    def __post_init__(self) -> None:
        self.id = window_id(self.key, self.start)


class WindowStore:
    """Open windows of every key, closed by watermark, idleness or capacity."""

    def __init__(self, size: float, lateness: float, idle_timeout: float, max_open: int,
                 max_items: int) -> None:
        self.size = size
        self.lateness = lateness
        self.idle_timeout = idle_timeout
        self.max_open = max_open
        self.max_items = max_items
        self._open: dict[tuple[str, float], Window] = {}
        self._by_key: dict[str, set[float]] = {}
        self._ends: list[tuple[float, str, float]] = []  # heap of (end, key, start)
        self._closed: OrderedDict[tuple[str, float], None] = OrderedDict()
        self.max_event_time = -math.inf
        self.last_add_wall: float | None = None
        self.late_total = 0

    @property
    def watermark(self) -> float:
        return self.max_event_time - self.lateness

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: str, ts: float, item: Any, token: Any, now: float) -> list[Window]:
        """Put one event in its window; return windows this closed (oldest first)."""
        self.last_add_wall = now
        start = math.floor(ts / self.size) * self.size
        late = start + self.size <= self.watermark or (key, start) in self._closed
        if late:
            start = self._late_slot(key, start)
            self.late_total += 1
        window = self._open.get((key, start))
        if window is None:
            window = self._open_window(key, start)
        window.event_count += 1
        window.late_count += late
        if len(window.items) < self.max_items:
            window.items.append(item)
        window.tokens.append(token)
        closed: list[Window] = []
        if ts > self.max_event_time:
            self.max_event_time = ts
            closed.extend(self._close_behind_watermark())
        while len(self._open) > self.max_open:
            closed.append(self._close_oldest("capacity"))
        return closed

    def open_windows(self) -> list[Window]:
        return list(self._open.values())

    def expire_idle(self, now: float) -> list[Window]:
        """Close everything when no event arrived for `idle_timeout` seconds."""
        if not self._open or self.last_add_wall is None or now - self.last_add_wall < self.idle_timeout:
            return []
        return self.close_all("idle")

    def close_all(self, reason: str) -> list[Window]:
        out = []
        while self._open:
            out.append(self._close_oldest(reason))
        return out

    # -- internals -------------------------------------------------------
    def _late_slot(self, key: str, start: float) -> float:
        starts = self._by_key.get(key)
        if starts:
            return min(starts)
        slot = max(start + self.size, math.floor(self.watermark / self.size) * self.size)
        while (key, slot) in self._closed:
            slot += self.size
        return slot

    def _open_window(self, key: str, start: float) -> Window:
        window = Window(key, start, start + self.size)
        self._open[(key, start)] = window
        self._by_key.setdefault(key, set()).add(start)
        heapq.heappush(self._ends, (window.end, key, start))
        return window

    def _close_behind_watermark(self) -> list[Window]:
        out = []
        wm = self.watermark
        while self._ends and self._ends[0][0] <= wm:
            _, key, start = heapq.heappop(self._ends)
            if (key, start) in self._open:
                out.append(self._close(key, start, "watermark"))
        return out

    def _close_oldest(self, reason: str) -> Window:
        while True:
            _, key, start = heapq.heappop(self._ends)
            if (key, start) in self._open:
                return self._close(key, start, reason)

    def _close(self, key: str, start: float, reason: str) -> Window:
        window = self._open.pop((key, start))
        starts = self._by_key[key]
        starts.discard(start)
        if not starts:
            del self._by_key[key]
        window.closed_by = reason
        self._closed[(key, start)] = None
        if len(self._closed) > REMEMBER_CLOSED:
            self._closed.popitem(last=False)
        return window
