"""GapRepair: records the consumer skipped wait, are sought back to, and then pass in order."""
from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP

from consumers import redelivery
from consumers.redelivery import GapRepair
from tests.aio import run_alone

LOGS = TP("logs", 0)


class FakeConsumer:
    def __init__(self, committed=None, assigned=(), high=None):
        self._committed_offset = dict(committed or {})
        self.paused: set = set()
        self.sought: list = []
        self.assigned = set(assigned)
        self.high = dict(high or {})

    def assignment(self):
        return set(self.assigned)

    async def highwaters(self, *tps):
        return {tp: self.high[tp] for tp in tps if tp in self.high}

    def pause_partitions(self, tps):
        self.paused |= set(tps)

    def resume_partitions(self, tps):
        self.paused -= set(tps)

    async def seek(self, tp, offset):
        self.sought.append((tp, offset))


def msg(offset, tp=LOGS):
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset)


def repair_with(committed=None):
    consumer = FakeConsumer(committed)
    return GapRepair(SimpleNamespace(consumer=consumer)), consumer


def fake_clock(monkeypatch, start: float = 0.0) -> list[float]:
    """redelivery's monotonic clock, set by the test (now[0])."""
    now = [start]
    monkeypatch.setattr(redelivery.time, "monotonic", lambda: now[0])
    return now


def sought_back(monkeypatch):
    """(repair, consumer, clock) once a gap (the consumer jumped from 10 to 40) drained and was sought back to."""
    now = fake_clock(monkeypatch)
    repair, consumer = repair_with({LOGS: 10})
    assert repair.skipped(msg(40)) is True
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10)]
    return repair, consumer, now


def test_records_in_order_from_the_commit_pass():
    repair, consumer = repair_with({LOGS: 10})
    assert [repair.skipped(msg(o)) for o in (10, 11, 12)] == [False, False, False]
    assert not consumer.paused


def test_an_uncommitted_partition_is_expected_from_offset_0():
    repair, consumer = repair_with()
    assert repair.skipped(msg(5)) is True
    assert consumer.paused == {LOGS}


def test_a_gap_pauses_then_seeks_back_and_the_records_come_in_order(monkeypatch):
    now = fake_clock(monkeypatch, 100.0)
    repair, consumer = repair_with({LOGS: 10})
    assert repair.skipped(msg(10)) is False
    # the consumer jumped from 11 to 40: the partition pauses, 40 and 41 wait
    assert repair.skipped(msg(40)) is True and repair.skipped(msg(41)) is True
    assert consumer.paused == {LOGS}
    run_alone(repair.reread())
    assert consumer.sought == []                       # the stale batch has not drained yet
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 11)] and not consumer.paused
    assert not any(repair.skipped(msg(o)) for o in range(11, 43))   # 11..42, in order


def test_a_stale_record_after_the_seek_back_leads_to_another_seek(monkeypatch):
    # Faust sets its read position after handing a record over, so a record of the batch fetched
    # before the seek, handed over after it, moves that position past the records sought back to
    repair, consumer, now = sought_back(monkeypatch)
    assert not consumer.paused
    assert repair.skipped(msg(41)) is True and repair.skipped(msg(42)) is True   # stale, after the seek
    assert consumer.paused == {LOGS}                   # drains again ...
    now[0] += redelivery.DRAIN_SECONDS / 2
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10)]             # ... until the stale batch is done
    assert repair.skipped(msg(10)) is True             # one sought back to, while draining: comes again
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10), (LOGS, 10)] and not consumer.paused
    assert not any(repair.skipped(msg(o)) for o in range(10, 43))   # then 10..42, in order


def test_a_real_gap_is_let_through_after_the_wait(monkeypatch):
    now = fake_clock(monkeypatch)
    repair, consumer = repair_with({LOGS: 0})
    assert repair.skipped(msg(3)) is True
    now[0] += 1
    run_alone(repair.reread())
    now[0] += redelivery.GAP_WAIT_SECONDS + 1          # offsets 0..2 never come (compacted away)
    assert repair.skipped(msg(3)) is False and repair.skipped(msg(4)) is False


def test_partitions_are_independent_and_reset_forgets():
    other = TP("logs", 1)
    repair, consumer = repair_with({LOGS: 0, other: 7})
    assert repair.skipped(msg(0)) is False and repair.skipped(msg(7, other)) is False
    repair.reset()
    assert repair.next_offset == {} and repair.gaps == {}


def test_a_seek_back_whose_records_do_not_come_is_sought_again_a_few_times(monkeypatch):
    repair, consumer, now = sought_back(monkeypatch)
    run_alone(repair.reread())                          # too soon to seek again
    assert consumer.sought == [(LOGS, 10)]
    for _ in range(redelivery.MAX_RESEEKS + 2):          # the partition stays silent
        now[0] += redelivery.RESEEK_SECONDS + 0.1
        run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10)] * (1 + redelivery.MAX_RESEEKS) and not consumer.paused
    assert not any(repair.skipped(msg(o)) for o in range(10, 42))   # then they come, in order


def silent_setup(monkeypatch, high: int, committed: int = 10):
    now = fake_clock(monkeypatch, 100.0)
    consumer = FakeConsumer({LOGS: committed}, assigned=[LOGS, TP("other", 0)], high={LOGS: high})
    repair = GapRepair(SimpleNamespace(consumer=consumer, rebalancing=False))
    repair.watched.add(LOGS.topic)
    return repair, consumer, now


def test_a_partition_with_records_that_stays_silent_is_sought_to_the_expected_offset(monkeypatch):
    repair, consumer, now = silent_setup(monkeypatch, high=25)
    consumer.paused.add(LOGS)                 # however Faust came to stop reading it
    run_alone(repair.reread())                # the partition's clock starts
    now[0] += redelivery.SILENT_SECONDS / 2 + 0.1
    run_alone(repair.reread())
    assert consumer.sought == []              # not silent long enough yet
    now[0] += redelivery.SILENT_SECONDS
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10)] and LOGS not in consumer.paused   # the commit: nothing read since
    assert not any(repair.skipped(msg(o)) for o in range(10, 25))           # then its records pass in order
    assert repair.next_offset[LOGS] == 25


def test_a_silent_partition_goes_on_from_the_last_record_handed_over(monkeypatch):
    repair, consumer, now = silent_setup(monkeypatch, high=25)
    assert not any(repair.skipped(msg(o)) for o in range(10, 15))
    while not consumer.sought and now[0] < 200:
        now[0] += 1.0
        run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 15)]


def test_a_quiet_partition_with_nothing_to_read_is_left_alone(monkeypatch):
    repair, consumer, now = silent_setup(monkeypatch, high=10)
    for _ in range(6):
        now[0] += redelivery.SILENT_SECONDS
        run_alone(repair.reread())
    assert consumer.sought == []


def test_a_busy_agent_is_backpressure_not_a_stall(monkeypatch):
    repair, consumer, now = silent_setup(monkeypatch, high=25)
    repair.busy = 1                           # an agent waits for scoring or delivery: nothing is read
    for _ in range(6):
        now[0] += redelivery.SILENT_SECONDS
        run_alone(repair.reread())
    assert consumer.sought == []
