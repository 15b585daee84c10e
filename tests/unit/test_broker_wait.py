"""producers.kafka.wait_for_broker: a worker waits for Kafka, then gives up with one line."""
from __future__ import annotations

import socket
import time

import pytest

from config.settings import KafkaSettings
from producers.kafka import wait_for_broker


def test_waiting_for_kafka_gives_up_with_one_line_after_its_timeout():
    with socket.socket() as probe:   # a loopback port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"^Kafka at 127\.0\.0\.1:{port} did not answer in 2 s") as caught:
        wait_for_broker(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"), timeout=2.0, attempt=0.5)
    assert "\n" not in str(caught.value)
    assert time.monotonic() - started >= 2.0   # it did wait
