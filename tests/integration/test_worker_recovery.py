"""Crash recovery: `kill -9` a worker mid-stream; a new one loses nothing.

At-least-once means every good event is counted in some result after the
restart, and the killed worker had committed only offsets whose results were
delivered, so the restart resumes past 0. Idempotence means a window id
published again after the crash stands for the same events: de-duplicated by
id, every event is counted exactly once.
"""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from config.settings import KafkaSettings
from producers.publish import publish
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_worker_e2e import generated_events

pytestmark = pytest.mark.integration


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        c.close()


def test_kill_9_then_restart_loses_no_event(stack, topics, start_worker):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    events = generated_events(seed=11, n_instances=400)  # 2,000 events, ~5 hours of event time
    assert publish(events, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False).failed == 0
    opts = dict(RCA_WORKER_ALLOWED_LATENESS_SECONDS="60", RCA_WORKER_IDLE_TIMEOUT_SECONDS="2",
                RCA_WORKER_SESSION_TIMEOUT_SECONDS="6")

    first = start_worker(**opts)
    drain_until(bootstrap, topics.results, lambda msgs: len(msgs) >= 20, timeout=120)
    deadline = time.monotonic() + 60
    while committed_total(bootstrap, first.group, topics.logs) == 0:  # wait for a commit, polling
        assert time.monotonic() < deadline, "the worker never committed an offset"
    first.stop(kill=True)  # SIGKILL: no graceful commit, no flush
    assert 0 < committed_total(bootstrap, first.group, topics.logs) < len(events)

    second = start_worker(**opts)

    def alive():
        assert second.proc.poll() is None, second.log_text()[-2000:]

    def per_window(msgs) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for m in msgs:
            out.setdefault(m["value"]["window_id"], set()).add(m["value"]["event_count"])
        return out

    results = drain_until(bootstrap, topics.results,
                          lambda msgs: sum(max(c) for c in per_window(msgs).values()) >= len(events),
                          timeout=180, on_poll=alive)
    # idempotent results: a window id published twice (once before the crash, once after) stands
    # for the same events, so de-duplicating by id counts every event exactly once
    copies = per_window(results)
    assert all(len(counts) == 1 for counts in copies.values()), {w: c for w, c in copies.items() if len(c) > 1}
    counted = sum(c.pop() for c in copies.values())
    # on failure say whether the second worker was behind (its commit short of the end) or lost
    # events (committed everything yet counted fewer), with its log
    assert counted == len(events), (f"counted {counted} of {len(events)} events; second worker committed "
                                    f"{committed_total(bootstrap, second.group, topics.logs)}; "
                                    f"log tail:\n{second.log_text()[-4000:]}")
