"""confluent-kafka clients with the settings shared by every command."""
from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

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


# a partition still getting its leader (a topic created a moment ago): asked again
_NOT_READY = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                        KafkaError.UNKNOWN_TOPIC_OR_PART})


def watermarks(consumer: Consumer, tp: TopicPartition, deadline: float) -> tuple[int, int]:
    """(low, high) watermarks of `tp`, asked again until `deadline` (monotonic) while its
    partition has no leader yet; any other error is raised at once."""
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_READY or time.monotonic() > deadline:
                raise
            log.debug("%s[%d] not ready: %s", tp.topic, tp.partition, exc.args[0].str())
        time.sleep(0.2)   # retry interval while the broker elects the partition's leader


def wait_for_broker(cfg: KafkaSettings, timeout: float, attempt: float = 5.0) -> float:
    """Until the cluster answers a metadata request; the seconds it took. RuntimeError (one line)
    after `timeout` seconds (0: one attempt).

    Why: a worker that a supervisor starts while Kafka is down (a broker restart, a cluster
    coming up after its clients) should wait for it, as librdkafka clients do, rather than let
    Faust give up bootstrapping and exit; and the published-windows table must be made with the
    input topic's real partition count, which only the broker knows."""
    from confluent_kafka.admin import AdminClient

    started = time.monotonic()
    deadline = started + timeout
    admin = AdminClient({**cfg.confluent_config(), "logger": log, "log_level": 0})
    warned_at = None
    while True:
        try:
            admin.list_topics(timeout=max(0.5, min(attempt, deadline - time.monotonic())))
            waited = time.monotonic() - started
            if warned_at is not None:
                log.info("Kafka at %s answers after %.1f s", cfg.bootstrap_servers, waited)
            return waited
        except KafkaException as exc:
            now = time.monotonic()
            if now >= deadline:
                raise RuntimeError(f"Kafka at {cfg.bootstrap_servers} did not answer in {timeout:.0f} s "
                                   f"({exc.args[0].str() if exc.args else exc})") from None
            if warned_at is None or now - warned_at >= 30:
                log.warning("waiting for Kafka at %s (up to %.0f s more)", cfg.bootstrap_servers, deadline - now)
                warned_at = now
            # list_topics waited `attempt` seconds already when the broker is down; a refused
            # connection returns at once, so pause a little before asking again
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


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
