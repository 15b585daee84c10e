"""Small confluent-kafka helpers for integration tests: produce raw values, drain a topic."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer

import schemas


def drain_until(bootstrap: str, topic: str, done: Callable[[list[dict]], bool], timeout: float,
                on_poll: Callable[[], None] | None = None) -> list[dict]:
    """Read `topic` from the start until `done(messages)` holds or `timeout` passes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(out):
            msg = consumer.poll(0.5)
            if on_poll:
                on_poll()
            if msg is None or msg.error():
                continue
            out.append({"key": msg.key(), "value": schemas.decode(msg.value()), "partition": msg.partition()})
    finally:
        consumer.close()
    return out
