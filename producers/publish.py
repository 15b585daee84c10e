"""`rca publish`: log files -> log events -> openstack.logs.

Lines are parsed and multi-line records (tracebacks) grouped into one event
before they leave, so the worker sees whole records. Each event is keyed by
its service (the producer's choice of DESIGN.md), delivery reports are
counted, and the caller gets the number of failed deliveries.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tqdm import tqdm

import schemas
from config.settings import KafkaSettings
from producers.kafka import make_producer
from engine.readers import expand, file_events
from schemas.log_event import LogEvent

log = logging.getLogger(__name__)


@dataclass
class PublishReport:
    events: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def events_from_paths(paths: list[str], follow: bool = False) -> Iterator[LogEvent]:
    """Parsed, grouped events of every input, in file order."""
    for path in expand(paths):
        yield from file_events(path, follow=follow)


def publish(events: Iterable[LogEvent], cfg: KafkaSettings, topic: str, rate: float | None = None,
            progress: bool = True, extra_values: Iterable[tuple[bytes | None, bytes]] = ()) -> PublishReport:
    """Produce every event (and any raw extra values); wait for all delivery reports."""
    report = PublishReport()
    producer = make_producer(cfg)

    def on_delivery(err, _msg) -> None:
        if err is None:
            report.delivered += 1
        else:
            report.failed += 1
            if len(report.errors) < 10:
                report.errors.append(str(err))

    bar = tqdm(unit=" events", disable=not progress, mininterval=0.5)
    started = time.monotonic()

    def send(key: bytes | None, value: bytes) -> None:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
        producer.poll(0)
        report.events += 1
        bar.update(1)
        if rate:
            ahead = report.events / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)  # rate limiting, not a readiness wait

    for ev in events:
        key = (ev.service or ev.host or "unknown").encode()
        send(key, schemas.encode(ev.to_dict()))
    for key, value in extra_values:
        send(key, value)
    remaining = producer.flush(60)
    bar.close()
    if remaining:
        report.failed += remaining
        report.errors.append(f"{remaining} messages still queued after 60 s")
    return report
