"""Crash recovery: `kill -9` a worker mid-stream; a new one loses nothing.

At-least-once means every good event is counted in some result after the
restart (duplicates allowed, loss not), and the killed worker had committed
only offsets whose results were delivered, so the restart resumes past 0.
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

    results = drain_until(bootstrap, topics.results,
                          lambda msgs: sum(m["value"]["event_count"] for m in msgs) >= len(events),
                          timeout=180, on_poll=alive)
    assert sum(m["value"]["event_count"] for m in results) >= len(events)
