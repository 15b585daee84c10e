"""Event-time tumbling windows per (partition, session key) (pure logic, no Kafka).

DESIGN.md, 'Windows and sessions', as Kafka Streams does it (a task per input
partition, each with its own stream time):
- a window is [start, start + size) of event time for one session key *within
  one input partition*. Kafka orders and assigns work per partition, so a
  window never depends on how partitions interleave or which worker owns them:
  a backlog replay, a rebalance or a second worker gives the same windows as an
  in-order pass. Sessions that span partitions (nova-api on one host and
  nova-compute on another, both naming an instance) are joined downstream by
  the incident stage, which sees every partition's results. With `staggered`
  (RCA_WORKER_WINDOW_STAGGERED), a key's windows start at its own offset within the
  period (`engine.sessions.window_start`), so windows of different keys do not
  all close at the same moment;
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
  the same ids;
- `published` records every window when it closes: its key, start, how it
  closed, its event and late counts and its input offsets (as ranges). Kafka
  re-delivers every offset above the last commit after a crash, and a
  restarted worker's stream time starts again at the commit, so it could
  assign those events differently. It does not: a re-delivered offset of a
  recorded window either is a duplicate (the window's inputs were all acked:
  some of its offsets lie below the commit, so its result is out) or goes back
  into that very window, which closes again once all its offsets are back
  (its result may or may not have got out: it is published again, with the
  same id and the same events). A closed window's id is never reused. The
  worker backs `published` with a changelog-backed Faust table; tests and
  replays use a dict. `describe(window)` adds what else the record keeps: the
  worker records the window's templates, so the copy a rebuilt window gets
  names them as the first did (a restarted miner has not yet generalised what
  the first had: engine/templates.py);

"Offsets" here are positions within a partition: the worker numbers the records
of a message `offset * 4096 + index` (a batch envelope holds many records), and
any increasing numbering works.

Items and ack tokens are opaque to this module: the worker stores parsed
events and Faust events, a test stores whatever it likes.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import math
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from engine.sessions import window_start

log = logging.getLogger(__name__)

REMEMBER_PUBLISHED = 100_000   # closed windows remembered (for duplicates and to never reuse an id)
REMEMBER_OFFSETS = 2_000_000   # per partition: offsets of closed windows kept for duplicate checks


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
    offsets: list[int] = field(default_factory=list)   # input offsets in this window (its partition)
    expected: set[int] | None = None   # a recorded window being rebuilt: offsets still to come back
    recorded: Any = None               # what the store wrote for it (the worker waits for that write)
    closed_by: str = ""
    record: dict | None = None         # a rebuilt window: its entry in `published` (what its result said)
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
    first_offset: int = -1     # the first offset read since start or a rebalance: the commit
    last_offset: int = -1      # the highest offset read since then
    ends: list[tuple[float, str, float]] = field(default_factory=list)   # heap of (end, key, start)
    open_count: int = 0


class WindowStore:
    """Open windows of every partition and key, closed by watermark, idleness or capacity."""

    def __init__(self, size: float, lateness: float, idle_timeout: float, max_open: int,
                 max_items: int, published: MutableMapping[str, dict] | None = None,
                 staggered: bool = False, describe: Callable[[Window], dict] | None = None) -> None:
        self.size = size
        self.staggered = staggered   # window starts offset per session key (engine.sessions.window_offset)
        self.lateness = lateness
        self.idle_timeout = idle_timeout
        self.max_open = max_open
        self.max_items = max_items
        self.published: MutableMapping[str, dict] = {} if published is None else published
        self.describe = describe   # more of a closed window to record (the pipeline: its templates)
        self._open: dict[tuple[int, str, float], Window] = {}
        self._by_key: dict[tuple[int, str], set[float]] = {}
        self._parts: dict[int, _Partition] = {}
        self._recorded: dict[int, dict[int, str]] = {}   # partition -> offset -> key of its recorded window
        self._replaying: dict[str, Window] = {}           # recorded windows being rebuilt, by key
        self.late_total = 0
        self.duplicates_total = 0
        self.last_window: Window | None = None   # the window the latest event went into
        self.token_added = False                  # whether the latest add/attach gave a window a new token

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
        part = self._part(partition)
        part.last_add_wall = now   # input came: the partition is not idle, even if it is read again
        if (seen := self._seen(partition, part, offset, item, token)) is not None:
            return seen
        start = window_start(key, ts, self.size, self.staggered)
        late = start + self.size <= part.max_event_time - self.lateness
        if late:
            start = self._late_slot(partition, key, start, part)
        window = self._open.get((partition, key, start))
        if window is None:   # a new window, never with the id of a recorded one (open ones never are)
            published = self.published
            while published_key(partition, wid := window_id(key, start, partition)) in published:
                late = True
                start = self._late_slot(partition, key, start, part)
                window = self._open.get((partition, key, start))
                if window is not None:
                    break
            else:
                window = self._open_window(partition, key, start, part, wid)
        self.late_total += late
        self.last_window = window
        window.event_count += 1
        window.late_count += late
        if offset >= 0:
            window.offsets.append(offset)
        if len(window.items) < self.max_items:
            window.items.append(item)
        self._hold(window, token)
        closed: list[Window] = []
        if ts > part.max_event_time:
            part.max_event_time = ts
            closed.extend(self._close_behind_watermark(partition, part))
        while len(self._open) > self.max_open:
            closed.append(self._close_first_ending("capacity"))
        return closed

    def expire_idle(self, now: float) -> list[Window]:
        """Close the windows of every partition that received nothing for `idle_timeout` seconds,
        and the rebuilt windows whose missing offsets were passed (they cannot come back)."""
        out: list[Window] = []
        for partition, part in self._parts.items():
            if part.open_count and part.last_add_wall is not None and now - part.last_add_wall >= self.idle_timeout:
                out.extend(self._close_partition(partition, part, "idle"))
        if self._replaying:
            out.extend(self._give_up_replays(passed_only=True))
        return out

    def _give_up_replays(self, passed_only: bool) -> list[Window]:
        """Recorded windows whose offsets did not all come back: published again as recorded (the
        same counts and templates as the first copy), so their inputs that did come back are acked
        rather than held forever.

        With `passed_only`, only those whose partition was read past their last offset: a
        partition is read in order, so what is missing then was skipped (deleted by retention,
        say) and never comes. Idleness is no sign of that. It once was taken for one: a rebuild slower
        than the idle timeout then went out early from part of its events and again from the rest,
        each copy naming other templates (one way to the chaos test's "copies differ")."""
        out = []
        for pkey, window in list(self._replaying.items()):
            if passed_only and window.offsets[-1] >= self._part(window.partition).last_offset:
                continue
            if window.tokens:
                del self._replaying[pkey]
                window.recorded = None   # its record is already durable
                log.info("partition %d: window %s rebuilt without %d of its %d offsets (%s); published as recorded",
                         window.partition, window.id, len(window.expected), len(window.offsets),
                         "passed: deleted or skipped" if passed_only else "shutting down")
                out.append(window)
        return out

    def close_all(self, reason: str) -> list[Window]:
        out: list[Window] = []
        for partition, part in self._parts.items():
            out.extend(self._close_partition(partition, part, reason))
        out.extend(self._give_up_replays(passed_only=False))
        return out

    def reset(self) -> list[Window]:
        """Forget every open window and each partition's stream time (a rebalance: Faust then
        seeks every assigned partition back to its committed offset, so the events of open
        windows, never acked, come again). Published and closing windows are kept."""
        dropped = list(self._open.values())
        self._open.clear()
        self._by_key.clear()
        self._parts.clear()
        self._recorded.clear()  # rebuilt from the (restored) table
        self._replaying.clear()
        return dropped

    # -- internals -------------------------------------------------------
    def _hold(self, window: Window, token: Any) -> None:
        """The window keeps `token` once however many of its message's records it holds (a batch
        envelope's records share one token): `token_added` says whether it was new to the window,
        so the caller takes one hold per window, and one release per window undoes it."""
        tokens = window.tokens
        self.token_added = not tokens or tokens[-1] is not token
        if self.token_added:
            tokens.append(token)

    def _late_slot(self, partition: int, key: str, start: float, part: _Partition) -> float:
        """Where an event goes whose window `start` is closed: the key's oldest open window, else
        the first window after `start` that its partition's watermark has not passed."""
        starts = self._by_key.get((partition, key))
        if starts:
            return min(starts)
        wm = part.max_event_time - self.lateness
        if wm == -math.inf:      # no stream time yet (a restart): the next window
            return start + self.size
        return max(start + self.size, window_start(key, wm, self.size, self.staggered))

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
        self._record(window)
        return window

    def _record(self, window: Window) -> None:
        """Write the closed window to `published` (before its result is sent; oldest entries go
        first past the bound) and index its offsets."""
        pkey = published_key(window.partition, window.id)
        published = self.published
        published[pkey] = {"key": window.key, "start": window.start, "closed_by": window.closed_by,
                           "events": window.event_count, "late": window.late_count,
                           "offsets": compress_offsets(window.offsets),
                           **(self.describe(window) if self.describe is not None else {})}
        window.recorded = getattr(published, "last_sent", None)
        if len(published) > REMEMBER_PUBLISHED:
            del published[next(iter(published))]
        index = self._recorded.get(window.partition)
        if index is not None:
            index.update(dict.fromkeys(window.offsets, pkey))

    def attach(self, partition: int, offset: int, token: Any) -> list[Window] | object | None:
        """A message that adds no event of its own (a line joining its record): if its offset is
        in a recorded window, as `add` answers (DUPLICATE, or the windows it completed); else None."""
        return self._seen(partition, self._part(partition), offset, None, token)

    def _part(self, partition: int) -> "_Partition":
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        return part

    def _seen(self, partition: int, part: "_Partition", offset: int, item: Any,
              token: Any) -> list[Window] | object | None:
        """For an offset read before: DUPLICATE (by this process: Faust re-reads after a seek; or
        into a recorded window whose inputs were acked), or the windows its replay completed.
        None for a new offset, which is now the highest read."""
        if 0 <= offset <= part.last_offset:
            self.duplicates_total += 1
            return DUPLICATE
        pkey = self._recorded_offsets(partition, part, offset).get(offset) if offset >= 0 else None
        if offset > part.last_offset:
            part.last_offset = offset
        return None if pkey is None else self._replay(pkey, partition, part, offset, item, token)

    def _recorded_offsets(self, partition: int, part: "_Partition", offset: int) -> dict[int, str]:
        """offset -> key of the recorded window holding it, for `partition` (built from `published`
        at the first offset read since start or a rebalance: that offset is the commit)."""
        if part.first_offset < 0:
            part.first_offset = offset
            log.debug("partition %d: first position read %d", partition, offset)
        index = self._recorded.get(partition)
        if index is None:
            index = self._recorded[partition] = {}
            prefix = f"{partition}/"
            for pkey, entry in list(self.published.items()):
                if pkey.startswith(prefix):
                    index.update(dict.fromkeys(expand_offsets(entry["offsets"]), pkey))
        elif len(index) > REMEMBER_OFFSETS:
            for stale in list(itertools.islice(index, REMEMBER_OFFSETS // 10)):
                del index[stale]
        return index

    def _replay(self, pkey: str, partition: int, part: "_Partition", offset: int, item: Any,
                token: Any) -> list[Window] | object:
        """A re-delivered offset of a recorded window: a duplicate if that window's inputs were all
        acked (some of its offsets lie below the commit), else back into that window, which closes
        again, the same, once all its offsets are back."""
        window = self._replaying.get(pkey)
        if window is None:
            entry = self.published.get(pkey)
            offsets = expand_offsets(entry["offsets"]) if entry else []
            if not offsets or offsets[0] < part.first_offset or offset not in offsets:
                self.duplicates_total += 1
                return DUPLICATE
            window = Window(entry["key"], entry["start"], entry["start"] + self.size, partition,
                            id=pkey.split("/", 1)[1], event_count=entry["events"], late_count=entry["late"],
                            closed_by=entry["closed_by"], record=entry)
            window.expected = set(offsets)
            window.offsets = offsets
            self._replaying[pkey] = window
        if offset not in window.expected:
            self.duplicates_total += 1      # read twice within the replay
            return DUPLICATE
        window.expected.discard(offset)
        if item is not None and len(window.items) < self.max_items:
            window.items.append(item)
        self._hold(window, token)
        self.last_window = window
        if window.expected:
            return []
        del self._replaying[pkey]
        window.recorded = None              # its record is already durable
        return [window]


def compress_offsets(offsets: list[int]) -> list[list[int]]:
    """[3, 4, 5, 9] -> [[3, 5], [9, 9]]: a window's offsets as inclusive ranges (compact in the table)."""
    out: list[list[int]] = []
    for o in sorted(offsets):
        if out and o <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], o)
        else:
            out.append([o, o])
    return out


def expand_offsets(ranges) -> list[int]:
    out: list[int] = []
    for lo, hi in ranges:
        out.extend(range(lo, hi + 1))
    return out
