"""Records faust-streaming 0.15.3 would lose after a rebalance, read again.

Two issues found on the real broker, both around the seek that ends Faust's table
recovery (`Consumer.perform_seek`):

1. **Uncommitted partitions are not sought.** `perform_seek` relies on aiokafka's
   `seek_to_committed`, which seeks only partitions whose committed offset is above 0.
   A partition nobody has committed yet (a new topic, a new group) keeps the position
   its pre-recovery fetch reached, and records fetched while Faust held the partition
   paused are dropped, never delivered. On the one-message control topic that lost a
   retrain command now and then: the command arrived during the rebalance of a second
   worker joining. `seek_uncommitted_to_beginning` adds what `auto.offset.reset=earliest`
   means: such partitions are sought to their first offset.
2. **Records dropped after the seek.** A fetch batch still in flight when the seek happens
   moves Faust's read position forward; Faust then drops the re-fetched records below it
   (about 140-420 per partition in 1 of 3 or 4 restarts). `GapRepair` notices the gap
   (an offset above the one expected next), pauses the partition, lets the stale batch
   drain, seeks back and resumes. Its own seek can meet the same race: a record of the
   stale batch that reaches the agent after the seek back has moved Faust's read position
   past the records sought back to (Faust sets it after handing each record over), so
   they would be dropped too and the partition would go silent. Such a record puts the
   gap back to draining, and the partition is sought again once the stale batch is done.
   Records that retention deleted are no gap: before seeking back, the gap is moved up to
   the log-start offset (a group that never committed expects offset 0, and the first
   record of a trimmed topic is above it).

3. **A partition that goes silent.** After a rebalance, a worker now and then reads nothing
   more of some of its partitions although they hold records (CI: a worker joining a group read
   1 record of its 3 partitions in 75 s; a restart after `kill -9` stopped at 859 of 2,000
   events): no gap shows, because no record above the expected one ever comes. `GapRepair`
   watches every partition its agents read: one with records to read (the broker's high-water
   above the offset expected next) that handed nothing to an idle agent for `SILENT_SECONDS` is
   sought to that offset and resumed (Faust's own pause, flow and buffer sets are logged, to
   find the cause upstream), then handled as a gap sought back to.

All three are workarounds at the narrowest point we found; remove them when faust-streaming
fixes its seek.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from faust.types import TP

log = logging.getLogger(__name__)

GAP_WAIT_SECONDS = 10.0   # how long a partition waits for skipped records it sought back to
DRAIN_SECONDS = 0.5       # quiet time after the last skipped record before seeking back
RESEEK_SECONDS = 2.0      # the records sought back to have not come after this long: seek again ...
MAX_RESEEKS = 3           # ... at most this many times (then GAP_WAIT_SECONDS lets the gap through)
SILENT_SECONDS = 10.0     # records to read, none handed to an idle agent this long: the partition is stalled


@dataclass(slots=True)
class Gap:
    """Records of one partition the consumer skipped, and where their repair stands."""

    start: int              # the first offset to read again
    since: float            # monotonic time of the last skipped record (draining) or of the seek
    sought: bool = False    # sought back to `start`, waiting for its records
    reseeks: int = 0        # seeks after the first one


def seek_uncommitted_to_beginning() -> None:
    """Patch faust's aiokafka consumer thread: after seeking to the committed offsets, seek the
    assigned partitions that have none (or 0) to their beginning. Changelog partitions are left
    alone (Faust's recovery positions them itself). Idempotent."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread.seek_to_committed, "rca_patched", False):
        return

    async def seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        changelogs = set(self.app.tables.changelog_topics)

        async def seek() -> Mapping[TP, int]:
            committed = dict(await consumer.seek_to_committed())
            fresh = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
            for tp in fresh:
                # offset 0, with no request to the broker: when retention has deleted it, the fetch
                # is out of range and auto.offset.reset=earliest moves on to the first one kept.
                # (Asking for the beginning here, by seek_to_beginning or beginning_offsets, held
                # this seek back ~1.5 s and the stream stalled after it now and then.)
                consumer.seek(tp, 0)
            return committed

        return await self.call_thread(seek)

    seek_to_committed.rca_patched = True
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed


class GapRepair:
    """Per partition, the offset the agents expect next; a record above it waits (see module doc).

    `skipped(message)` is called by an agent for each record before it handles it; `reread`
    runs on a timer; `reset` on every rebalance (Faust seeks to the commit again).
    """

    def __init__(self, app) -> None:
        self.app = app   # its consumer exists once the worker starts
        self.next_offset: dict[TP, int] = {}   # since the last rebalance
        self.gaps: dict[TP, Gap] = {}
        self.watched: set[str] = set()         # topics whose records go through `events`
        self.last_seen: dict[TP, float] = {}   # when a partition last handed a record over (or was sought)
        self.busy = 0                          # agents inside their body now: nothing is read meanwhile
        self._checked = 0.0

    async def events(self, stream, ack: bool = True):
        """The stream's events, from the end of table recovery on, without the records that must
        wait. With `ack`, an event is acked once the agent's body is done with it; without, the
        agent acks (the window stage acks through its AckGate)."""
        recovered = self.app.tables.recovery.completed
        self.watched.update(getattr(stream.channel, "topics", ()) or ())
        async for event in stream.noack().events():
            if not recovered.is_set():
                # Faust can hand over records fetched before its table recovery ends; it then
                # seeks back to the commit and hands them over again: take them after that
                await recovered.wait()
            if self.skipped(event.message):
                continue   # not acked: it comes again after the records before it
            self.busy += 1
            try:
                yield event
            finally:
                self.busy -= 1
            if ack:
                event.ack()

    def skipped(self, message) -> bool:
        """True when this record must wait: the consumer skipped records before it.

        Such a record is not handled and not acked: it comes again after the records before it.
        A gap still there GAP_WAIT_SECONDS after the seek back is real (transaction markers,
        compaction) and is let through."""
        tp, offset = TP(message.topic, message.partition), message.offset
        self.last_seen[tp] = time.monotonic()
        gap = self.gaps.get(tp)
        if gap is not None:
            now = time.monotonic()
            if gap.sought and (offset <= gap.start or now > gap.since + GAP_WAIT_SECONDS):
                del self.gaps[tp]            # the records sought back to are here (or never will be)
                if offset > gap.start:
                    log.warning("partition %s/%d: records %d..%d did not come %.0f s after the seek back; "
                                "going on without them", tp.topic, tp.partition, gap.start, offset - 1,
                                GAP_WAIT_SECONDS)
            else:
                if gap.sought and gap.reseeks < MAX_RESEEKS:
                    # a stale record handed over after the seek back: Faust's read position is now
                    # past gap.start and it would drop the records sought back to: drain, seek again
                    log.warning("partition %s/%d: record %d, fetched before the seek back to %d, came after it; "
                                "seeking again once that batch is done", tp.topic, tp.partition, offset, gap.start)
                    gap.sought = False
                    gap.reseeks += 1
                    self.app.consumer.pause_partitions({tp})
                if not gap.sought:
                    gap.since = now
                return True
        else:
            expected = self.next_offset.get(tp)
            if expected is None:
                # set by Faust's seek: the commit, or the beginning (None: 0) with the patch above
                expected = self.app.consumer._committed_offset.get(tp) or 0
            if offset > expected:
                log.warning("partition %s/%d: records %d..%d were skipped by the consumer; reading them again",
                            tp.topic, tp.partition, expected, offset - 1)
                self.app.consumer.pause_partitions({tp})
                self.gaps[tp] = Gap(expected, time.monotonic())
                return True
        self.next_offset[tp] = max(offset + 1, self.next_offset.get(tp, 0))
        return False

    async def reread(self) -> None:
        """Seek back each gap whose stale batch has drained, and resume its partition. A gap whose
        records have not come RESEEK_SECONDS after its seek is sought again: in one CI run a
        partition stayed silent after the seek back (the worker read every other partition to
        its end and nothing more of that one), which lost its records until a restart. (A stale
        record handed over after the seek also leads to a new seek: see `skipped`.)"""
        for tp, gap in list(self.gaps.items()):
            since = time.monotonic() - gap.since
            if gap.sought:   # sought already: again, if its records have not come
                if gap.reseeks >= MAX_RESEEKS or since <= RESEEK_SECONDS:
                    continue
                log.warning("partition %s/%d: records from %d did not come after the seek back; seeking again",
                            tp.topic, tp.partition, gap.start)
                gap.reseeks += 1
            elif since <= DRAIN_SECONDS:
                continue
            else:
                await self._skip_deleted(tp, gap)
            await self._seek_back(tp, gap)
        await self._wake_silent()

    async def _seek_back(self, tp: TP, gap: Gap) -> None:
        """Read the partition again from the gap's start; its records are then awaited."""
        await self.app.consumer.seek(tp, gap.start)
        self.app.consumer.resume_partitions({tp})
        gap.since, gap.sought = time.monotonic(), True

    async def _wake_silent(self) -> None:
        """Seek a stalled partition (records to read, none handed to an idle agent for
        SILENT_SECONDS) to the offset expected next and resume it (module doc, item 3)."""
        now = time.monotonic()
        if self.busy or now - self._checked < SILENT_SECONDS / 2 or getattr(self.app, "rebalancing", False):
            return
        self._checked = now
        consumer = self.app.consumer
        tps = [tp for tp in consumer.assignment()
               if tp.topic in self.watched and tp not in self.gaps
               and now - self.last_seen.setdefault(tp, now) > SILENT_SECONDS]
        if not tps:
            return
        state = {tp: {name: tp in (getattr(consumer, attr, None) or ())
                      for name, attr in (("paused", "_paused_partitions"), ("active", "_active_partitions"),
                                         ("buffered", "_buffered_partitions"))} for tp in tps}
        flow = getattr(consumer, "flow_active", True)
        try:
            highwaters = await consumer.highwaters(*tps)
        except Exception:  # noqa: BLE001 - asked again at the next check
            log.debug("high-water marks unknown for %s", tps, exc_info=True)
            return
        if self.busy or getattr(self.app, "rebalancing", False) or getattr(self.app, "in_recovery", False):
            return   # a rebalance began meanwhile: Faust seeks to the commit itself
        assigned = consumer.assignment()
        for tp in tps:
            expected = self.next_offset.get(tp)
            if expected is None:
                expected = consumer._committed_offset.get(tp) or 0
            high = highwaters.get(tp)
            self.last_seen[tp] = now
            if tp not in assigned or high is None or high <= expected:
                continue   # nothing to read: quiet, not stalled
            log.warning("partition %s/%d: %d records to read from offset %d, none came for %.0f s (faust: %s, "
                        "flow active %s); seeking there and resuming", tp.topic, tp.partition, high - expected,
                        expected, SILENT_SECONDS, state[tp], flow)
            if not getattr(consumer, "flow_active", True):
                consumer.resume_flow()   # left stopped after a rebalance: nothing at all is fetched
            gap = self.gaps[tp] = Gap(expected, now)
            await self._skip_deleted(tp, gap)
            await self._seek_back(tp, gap)

    async def _skip_deleted(self, tp: TP, gap: Gap) -> None:
        """Records below the log-start offset were deleted by retention: they never come, so the
        gap starts at the log start. Without this, a group that never committed (expecting offset
        0) on a trimmed topic sought back to 0, got the first kept record, which is above 0, and
        waited GAP_WAIT_SECONDS for records that no longer exist."""
        try:
            start = (await self.app.consumer.earliest_offsets(tp)).get(tp)
        except Exception:  # noqa: BLE001 - the seek back below is right in any case, only slower
            log.debug("partition %s/%d: log-start offset unknown", tp.topic, tp.partition, exc_info=True)
            return
        if start is not None and start > gap.start:
            log.info("partition %s/%d: records %d..%d were deleted by retention; reading from %d",
                     tp.topic, tp.partition, gap.start, start - 1, start)
            gap.start = start

    def reset(self) -> None:
        self.next_offset.clear()
        self.gaps.clear()
        self.last_seen.clear()
