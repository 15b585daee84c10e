"""`rca results --since T --follow` on the real broker: nothing older than T, nothing newer lost."""
from __future__ import annotations

import time

import orjson
import pytest
from confluent_kafka import Producer

from config.settings import KafkaSettings
from consumers.results import CAUGHT_UP, read_topic

pytestmark = pytest.mark.integration


def test_since_with_follow_skips_older_messages_and_keeps_one_written_after_catching_up(stack, topics):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(3):
        producer.produce(topics.results, partition=i, value=orjson.dumps({"n": f"old-{i}"}))
    assert producer.flush(10) == 0
    since_ms = int(time.time() * 1000) + 1    # after every message above

    deadline = time.monotonic() + 30
    reader = read_topic(KafkaSettings(bootstrap_servers=bootstrap), topics.results, follow=True,
                        since_ms=since_ms, stop=lambda: time.monotonic() > deadline)
    try:
        # No message is at or after `since` yet: the reader is caught up before it polls once.
        # A message written now, before the first poll, must still be read: the start is
        # the end the reader saw, not a logical "end" resolved at the first fetch.
        assert next(reader) is CAUGHT_UP
        producer.produce(topics.results, partition=0, value=orjson.dumps({"n": "new"}))
        assert producer.flush(10) == 0
        got = next(reader, None)
    finally:
        reader.close()
    assert got == {"n": "new"}
