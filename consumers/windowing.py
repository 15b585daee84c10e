"""Event-time tumbling windows per (partition, session key) (pure logic, no Kafka).

DESIGN.md, 'Windows and sessions', as Kafka Streams does it (a task per input
partition, each with its own stream time):
- a window is [start, start + size) of event time for one session key *within
  one input partition*. Kafka orders and assigns work per partition, so a
  window never depends on how partitions interleave or which worker owns them:
  a backlog replay, a rebalance or a second worker gives the same windows as an
  in-order pass. Sessions that span partitions (nova-api on one host and
  nova-compute on another, both naming an instance) are joined downstream by
  the incident stage, which sees every partition's results;
- each partition has its own watermark: the largest event time seen there minus
  the allowed lateness; a window closes when its partition's watermark passes
  its end. `watermark` (the minimum over active partitions, as Flink and Kafka
  Streams report it) is what metrics show;
- a partition that received nothing for `idle_timeout` seconds of wall-clock
  time is idle: its windows close and it no longer holds the minimum back;
- a late event (its window already closed, or behind its partition's
  watermark) goes to the oldest open window of its key, or to a new window
  after the closed ones, and is counted, never dropped;
- at most `max_open` windows are open over all partitions; past that the one
  that ends first closes first;
- window ids are derived from (partition, key, start) only, so a replay yields
  the same ids, and a closed window's id is never reused;
- `published` remembers, per window whose result the broker acknowledged,
  the highest input offset it holds. After a crash, Kafka re-delivers every offset above the last commit,
  some of which went into windows already published: an event whose window is
  published with an offset at or above its own was in that result and is
  reported as a duplicate, so the window is not published again with other
  content. The worker backs `published` with a changelog-backed Faust table;
  tests and replays use a dict.

Items and ack tokens are opaque to this module: the worker stores parsed
events and Faust events, a test stores whatever it likes.
"""
from __future__ import annotations

import hashlib
import heapq
import math
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

REMEMBER_PUBLISHED = 200_000   # closed windows remembered (for duplicates and to never reuse an id)


def published_key(partition: int, wid: str) -> str:
    """Key of a published window in `WindowStore.published`: the partition comes first, so the
    worker's Faust table writes it to the changelog partition of the input partition it came from."""
    return f"{partition}/{wid}"


def window_id(key: str, start: float, partition: int = 0) -> str:
    """Deterministic id of the window of `key` in `partition` that starts at `start` (epoch s)."""
    digest = hashlib.sha256(f"{partition}|{key}|{int(round(start * 1000))}".encode()).hexdigest()
    return "w-" + digest[:24]


@dataclass(slots=True)
class Window:
    key: str
    start: float
    end: float
    partition: int = 0
    items: list[Any] = field(default_factory=list)
    tokens: list[Any] = field(default_factory=list)
    event_count: int = 0
    late_count: int = 0
    max_offset: int = -1      # highest input offset in this window (its partition)
    closed_by: str = ""
    id: str = field(default="", repr=False, compare=False)   # window_id(key, start, partition), computed once

    def __post_init__(self) -> None:
        if not self.id:
            self.id = window_id(self.key, self.start, self.partition)


DUPLICATE = object()   # WindowStore.add's answer for an event already in a published window


@dataclass(slots=True)
class _Partition:
    """Stream time of one input partition and its open windows' end times."""

    max_event_time: float = -math.inf
    last_add_wall: float | None = None
    ends: list[tuple[float, str, float]] = field(default_factory=list)   # heap of (end, key, start)
    open_count: int = 0


class WindowStore:
    """Open windows of every partition and key, closed by watermark, idleness or capacity."""

    def __init__(self, size: float, lateness: float, idle_timeout: float, max_open: int,
                 max_items: int, published: MutableMapping[str, int] | None = None) -> None:
        self.size = size
        self.lateness = lateness
        self.idle_timeout = idle_timeout
        self.max_open = max_open
        self.max_items = max_items
        self.published: MutableMapping[str, int] = {} if published is None else published
        self._open: dict[tuple[int, str, float], Window] = {}
        self._by_key: dict[tuple[int, str], set[float]] = {}
        self._parts: dict[int, _Partition] = {}
        self._closing: OrderedDict[str, int] = OrderedDict()   # closed, result not yet delivered
        self.late_total = 0
        self.duplicates_total = 0
        self.last_window: Window | None = None   # the window the latest event went into
        self.duplicate_of = -1   # after DUPLICATE: the highest offset of the published window it was in

    # -- what metrics and the pipeline read -------------------------------
    def __len__(self) -> int:
        return len(self._open)

    def stream_time(self, partition: int) -> float:
        """Largest event time seen in `partition` (-inf before its first event)."""
        part = self._parts.get(partition)
        return part.max_event_time if part else -math.inf

    @property
    def watermark(self) -> float:
        """Minimum watermark over partitions that are not idle (-inf when none)."""
        active = [p.max_event_time for p in self._parts.values() if p.open_count]
        return min(active) - self.lateness if active else -math.inf

    def open_windows(self) -> list[Window]:
        return list(self._open.values())

    # -- events in --------------------------------------------------------
    def add(self, key: str, ts: float, item: Any, token: Any, now: float, partition: int = 0,
            offset: int = -1) -> list[Window] | object:
        """Put one event in its window; return windows this closed (oldest first), or DUPLICATE
        when the event (partition, offset) is already in a published window (ack it, nothing else)."""
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        start = math.floor(ts / self.size) * self.size
        late = start + self.size <= part.max_event_time - self.lateness
        if late:
            start = self._late_slot(partition, key, start, part)
        window = self._open.get((partition, key, start))
        if window is None:   # a new window: unless it was published before (open ones never are)
            published, closing = self.published, self._closing
            while (pkey := published_key(partition, wid := window_id(key, start, partition))) in closing \
                    or pkey in published:
                if 0 <= offset <= (held := closing.get(pkey, published.get(pkey, -1))):
                    self.duplicates_total += 1
                    self.duplicate_of = held
                    return DUPLICATE
                late = True
                start = self._late_slot(partition, key, start, part)
                window = self._open.get((partition, key, start))
                if window is not None:
                    break
            else:
                window = self._open_window(partition, key, start, part, wid)
        part.last_add_wall = now
        self.late_total += late
        self.last_window = window
        window.event_count += 1
        window.late_count += late
        if offset > window.max_offset:
            window.max_offset = offset
        if len(window.items) < self.max_items:
            window.items.append(item)
        window.tokens.append(token)
        closed: list[Window] = []
        if ts > part.max_event_time:
            part.max_event_time = ts
            closed.extend(self._close_behind_watermark(partition, part))
        while len(self._open) > self.max_open:
            closed.append(self._close_first_ending("capacity"))
        return closed

    def expire_idle(self, now: float) -> list[Window]:
        """Close the windows of every partition that received nothing for `idle_timeout` seconds."""
        out: list[Window] = []
        for partition, part in self._parts.items():
            if part.open_count and part.last_add_wall is not None and now - part.last_add_wall >= self.idle_timeout:
                out.extend(self._close_partition(partition, part, "idle"))
        return out

    def close_all(self, reason: str) -> list[Window]:
        out: list[Window] = []
        for partition, part in self._parts.items():
            out.extend(self._close_partition(partition, part, reason))
        return out

    def reset(self) -> list[Window]:
        """Forget every open window and each partition's stream time (a rebalance: Faust then
        seeks every assigned partition back to its committed offset, so the events of open
        windows, never acked, come again). Published and closing windows are kept."""
        dropped = list(self._open.values())
        self._open.clear()
        self._by_key.clear()
        self._parts.clear()
        return dropped

    # -- internals -------------------------------------------------------
    def _late_slot(self, partition: int, key: str, start: float, part: _Partition) -> float:
        """Where an event goes whose window `start` is closed: the key's oldest open window, else
        the first window after `start` that its partition's watermark has not passed."""
        starts = self._by_key.get((partition, key))
        if starts:
            return min(starts)
        wm = part.max_event_time - self.lateness
        return max(start + self.size, math.floor(wm / self.size) * self.size)

    def _open_window(self, partition: int, key: str, start: float, part: _Partition, wid: str) -> Window:
        window = Window(key, start, start + self.size, partition, id=wid)
        self._open[(partition, key, start)] = window
        self._by_key.setdefault((partition, key), set()).add(start)
        heapq.heappush(part.ends, (window.end, key, start))
        part.open_count += 1
        return window

    def _close_behind_watermark(self, partition: int, part: _Partition) -> list[Window]:
        out = []
        wm = part.max_event_time - self.lateness
        ends = part.ends
        while ends and ends[0][0] <= wm:
            _, key, start = heapq.heappop(ends)
            out.append(self._close(partition, key, start, "watermark", part))
        return out

    def _close_partition(self, partition: int, part: _Partition, reason: str) -> list[Window]:
        out = []
        while part.ends:
            _, key, start = heapq.heappop(part.ends)
            out.append(self._close(partition, key, start, reason, part))
        return out

    def _close_first_ending(self, reason: str) -> Window:
        partition, part = min(((p, s) for p, s in self._parts.items() if s.ends), key=lambda ps: ps[1].ends[0])
        _, key, start = heapq.heappop(part.ends)
        return self._close(partition, key, start, reason, part)

    def _close(self, partition: int, key: str, start: float, reason: str, part: _Partition) -> Window:
        window = self._open.pop((partition, key, start))
        part.open_count -= 1
        starts = self._by_key[(partition, key)]
        starts.discard(start)
        if not starts:
            del self._by_key[(partition, key)]
        window.closed_by = reason
        closing = self._closing
        closing[published_key(partition, window.id)] = window.max_offset
        if len(closing) > REMEMBER_PUBLISHED:
            closing.popitem(last=False)
        return window

    def mark_published(self, window: Window) -> None:
        """Remember a window whose result the broker acknowledged (call before acking its inputs).

        Written only after delivery: an entry for a result that never got out would make its
        re-delivered events look like duplicates and lose them. Between close and delivery the
        in-memory `_closing` keeps its id from being reused. Oldest entries go first past the bound.
        """
        key = published_key(window.partition, window.id)
        published = self.published
        published[key] = window.max_offset
        self._closing.pop(key, None)
        if len(published) > REMEMBER_PUBLISHED:
            del published[next(iter(published))]
