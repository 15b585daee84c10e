"""confluent-kafka clients with the settings shared by every command."""
from __future__ import annotations

import logging
import uuid

from confluent_kafka import Consumer, Producer

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


def make_consumer(cfg: KafkaSettings, group_prefix: str, **overrides: object) -> Consumer:
    """A throwaway reader: its own random group ``{group_prefix}-xxxxxxxx``, no committed offsets,
    starting at the earliest offset unless an assignment says otherwise."""
    conf = {
        **cfg.confluent_config(),
        "group.id": f"{group_prefix}-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "logger": log,
        **overrides,
    }
    return Consumer(conf)


def topic_partitions(cfg: KafkaSettings, topic: str, timeout: float = 10.0) -> int | None:
    """How many partitions `topic` has (None when it does not exist or the broker does not answer)."""
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient({**cfg.confluent_config(), "logger": log}).list_topics(topic, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the caller falls back to the configured count
        log.warning("could not read the partitions of %s: %s", topic, exc)
        return None
    meta = md.topics.get(topic)
    return len(meta.partitions) if meta is not None and meta.error is None and meta.partitions else None
