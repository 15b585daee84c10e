"""confluent-kafka producer settings shared by every publishing command."""
from __future__ import annotations

import logging

from confluent_kafka import Producer

from config.settings import KafkaSettings

log = logging.getLogger(__name__)


def make_producer(cfg: KafkaSettings, **overrides: object) -> Producer:
    """Idempotent, batched, compressed: safe retries without duplicates."""
    conf = {
        **cfg.confluent_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "compression.type": "zstd",
        "message.timeout.ms": 60_000,
        "logger": log,
        **overrides,
    }
    return Producer(conf)
