"""A worker started while Kafka is down waits for it and then works (it used to exit: Faust gives
up bootstrapping at once, and a supervisor restarting it in a loop saw it die every time).

On a broker of this test only (bench.chaos.PrivateBroker: free ports, its own data), so the shared
broker that other tests use is never stopped.
"""
from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from bench.chaos import PrivateBroker
from config.settings import KafkaSettings
from producers.kafka import wait_for_broker
from producers.publish import publish
from tests.integration.conftest import _wait_for_leaders
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_worker_e2e import generated_events

pytestmark = pytest.mark.integration


def test_a_worker_started_while_kafka_is_down_waits_and_then_analyses(stack, topics, start_worker, tmp_path):
    broker = PrivateBroker(tmp_path / "broker")
    try:
        broker.up()   # once, to create this test's topics on it, then down: a cluster restart
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        counts = topics.settings().partitions()
        for fut in admin.create_topics([NewTopic(n, p, 1) for n, p in counts.items()]).values():
            fut.result(30)
        _wait_for_leaders(admin, counts)
        broker.down()

        worker = start_worker(RCA_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, RCA_WORKER_IDLE_TIMEOUT_SECONDS="1",
                              RCA_WORKER_SESSION_TIMEOUT_SECONDS="6")
        deadline = time.monotonic() + 120
        while "waiting for Kafka" not in worker.log_text():   # the worker is up, and waits
            assert worker.proc.poll() is None, worker.log_text()[-3000:]
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.2)   # polling the worker's log for the line

        broker.up()
        events = generated_events(seed=5, n_instances=20)
        assert publish(events, KafkaSettings(bootstrap_servers=broker.bootstrap), topics.logs,
                       progress=False).failed == 0

        def alive():
            assert worker.proc.poll() is None, worker.log_text()[-3000:]

        def counted(msgs) -> int:
            best: dict[str, int] = {}
            for m in msgs:
                v = m["value"]
                best[v["window_id"]] = max(best.get(v["window_id"], 0), v["event_count"])
            return sum(best.values())

        results = drain_until(broker.bootstrap, topics.results, lambda msgs: counted(msgs) >= len(events),
                              timeout=180, on_poll=alive)
        assert counted(results) == len(events), worker.log_text()[-3000:]
        assert "answers after" in worker.log_text()
    finally:
        broker.down()

