"""`rca results`: read rca.results with confluent-kafka and show them."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import schemas
from config.settings import KafkaSettings
from producers.kafka import make_consumer

log = logging.getLogger(__name__)


def read_results(cfg: KafkaSettings, topic: str, follow: bool = False, since_ms: int | None = None,
                 idle_timeout: float = 3.0) -> Iterator[dict]:
    """Yield decoded results from the start (or from `since_ms`); stop when idle unless following."""
    consumer = make_consumer(cfg, "rca-results-reader", logger=log)
    try:
        md = consumer.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            raise RuntimeError(f"topic {topic} not found on {cfg.bootstrap_servers}")
        tps = [TopicPartition(topic, p, since_ms if since_ms is not None else OFFSET_BEGINNING)
               for p in md.topics[topic].partitions]
        if since_ms is not None:
            tps = consumer.offsets_for_times(tps, timeout=10)
        consumer.assign(tps)
        last = time.monotonic()
        while True:
            msg = consumer.poll(0.5)
            if msg is None:
                if not follow and time.monotonic() - last > idle_timeout:
                    return
                continue
            if msg.error():
                log.warning("consumer error: %s", msg.error())
                continue
            last = time.monotonic()
            try:
                yield schemas.decode(msg.value())
            except ValueError:
                log.warning("skipping undecodable result at %s[%d]@%d", topic, msg.partition(), msg.offset())
    finally:
        consumer.close()


def format_row(r: dict) -> str:
    top = r["root_causes"][0] if r.get("root_causes") else None
    cause = f"{top['subsystem']}/{top.get('module') or '-'} ({top['category']}, {top['score']:.2f})" if top else "-"
    return (f"{r['window_start'][:19]:19}  {r['window_id']}  {r['session_key'][:36]:36}  {r['event_count']:6d}  "
            f"{'INCIDENT' if r['is_incident'] else 'ok':8}  {r['anomaly_score']:5.2f}  {cause}")


HEADER = (f"{'window start':19}  {'window id':26}  {'session key':36}  {'events':>6}  {'status':8}  "
          f"{'score':>5}  top root cause")
