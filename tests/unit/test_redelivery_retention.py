"""After retention trimmed a topic, a group that never committed sees no gap to wait for."""
from __future__ import annotations

from types import SimpleNamespace

from consumers import redelivery
from consumers.redelivery import GapRepair
from tests.aio import run_alone
from tests.unit.test_redelivery import LOGS, FakeConsumer, fake_clock, msg


class TrimmedConsumer(FakeConsumer):
    """A consumer of a topic whose records below `log_start` retention has deleted."""

    def __init__(self, log_start: int, committed=None):
        super().__init__(committed)
        self.log_start = log_start

    async def earliest_offsets(self, *tps):
        return {tp: self.log_start for tp in tps}


def test_a_never_committed_group_on_a_trimmed_topic_reads_on_without_waiting(monkeypatch):
    now = fake_clock(monkeypatch)
    consumer = TrimmedConsumer(log_start=500)
    repair = GapRepair(SimpleNamespace(consumer=consumer))
    assert repair.skipped(msg(500)) is True            # expected 0: looks like a gap at first
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 500)] and not consumer.paused   # from the log start, not 0
    # the first kept record passes at once (before: it waited GAP_WAIT_SECONDS for 0..499)
    assert repair.skipped(msg(500)) is False and repair.gaps == {}
    assert not any(repair.skipped(msg(o)) for o in range(501, 510))


def test_a_commit_below_the_log_start_is_no_gap_either(monkeypatch):
    now = fake_clock(monkeypatch)
    consumer = TrimmedConsumer(log_start=300, committed={LOGS: 100})
    repair = GapRepair(SimpleNamespace(consumer=consumer))
    assert repair.skipped(msg(300)) is True
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 300)]
    assert repair.skipped(msg(300)) is False


def test_a_gap_above_the_log_start_is_still_read_again(monkeypatch):
    now = fake_clock(monkeypatch)
    consumer = TrimmedConsumer(log_start=5, committed={LOGS: 10})
    repair = GapRepair(SimpleNamespace(consumer=consumer))
    assert repair.skipped(msg(40)) is True
    now[0] += redelivery.DRAIN_SECONDS + 0.1
    run_alone(repair.reread())
    assert consumer.sought == [(LOGS, 10)]             # records 10..39 exist: sought back to
    assert repair.skipped(msg(40)) is True             # and they must come first
