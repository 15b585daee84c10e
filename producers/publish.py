"""`rca publish`: log files -> log events -> openstack.logs.

Lines are parsed and multi-line records (tracebacks) grouped into one event
before they leave, so the worker sees whole records. Each event is keyed by
`host:path` of its source (DESIGN.md: the worker fills a record's missing host
and service from it; an unknown host is left empty), delivery reports are
counted, and the caller gets the number of failed deliveries.

With ``batch=N`` (N > 1) records of one key travel together, N to a message,
in the batch envelope of ``schemas/log_batch.schema.json``
(``{"schema_version": 1, "records": [...]}``); a message is sent when it holds
N records or would pass ``MAX_BATCH_BYTES``, at the first record after
``LINGER_SECONDS`` (a slow or followed input), and at the end. One record per
message (``batch=1``, the default) is what most shippers send and stays first
class.
"""
from __future__ import annotations

import heapq
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


LINGER_SECONDS = 1.0        # a partial envelope leaves at the first record after this long
MAX_BATCH_BYTES = 900_000   # under the worker's default message limit (1,000,000 bytes) and the broker's
_ENVELOPE_HEAD = b'{"schema_version":1,"records":['
_ENVELOPE_TAIL = b"]}"


@dataclass
class PublishReport:
    events: int = 0       # records handed to the producer
    delivered: int = 0    # records in messages the broker acknowledged
    failed: int = 0       # records in messages that failed
    messages: int = 0     # messages produced (== events unless batched)
    errors: list[str] = field(default_factory=list)


def encode_batch(records: list[bytes]) -> bytes:
    """The log_batch envelope of records that are already JSON: log event objects, or raw
    lines as JSON strings (``orjson.dumps(line)``)."""
    return _ENVELOPE_HEAD + b",".join(records) + _ENVELOPE_TAIL


def message_key(ev) -> bytes:
    """DESIGN.md's key: `host:path` of the record's source (empty host when unknown), so one
    file's records share a partition and stay in order."""
    return f"{ev.host or ''}:{ev.source or ev.service or 'unknown'}".encode()


class Batcher:
    """Groups encoded records per key into envelopes of at most `size` records and `max_bytes`."""

    def __init__(self, size: int, max_bytes: int = MAX_BATCH_BYTES) -> None:
        if size < 1:
            raise ValueError("batch size must be at least 1")
        self.size, self.max_bytes = size, max_bytes
        self._open: dict[bytes | None, tuple[list[bytes], list[int]]] = {}   # key -> (records, [bytes])

    def add(self, key: bytes | None, record: bytes) -> tuple[bytes | None, bytes, int] | None:
        """Add one record; a full envelope (key, value, record count) when this one filled it."""
        records, size = self._open.setdefault(key, ([], [len(_ENVELOPE_HEAD) + len(_ENVELOPE_TAIL)]))
        out = None
        if records and size[0] + len(record) + 1 > self.max_bytes:
            out = (key, encode_batch(records), len(records))
            records, size = self._open[key] = ([], [len(_ENVELOPE_HEAD) + len(_ENVELOPE_TAIL)])
        records.append(record)
        size[0] += len(record) + 1
        if out is None and len(records) >= self.size:
            out = (key, encode_batch(records), len(records))
            del self._open[key]
        return out

    def drain(self) -> list[tuple[bytes | None, bytes, int]]:
        """Every envelope still open (at the end of the input)."""
        out = [(key, encode_batch(records), len(records)) for key, (records, _) in self._open.items() if records]
        self._open.clear()
        return out


def events_from_paths(paths: list[str], follow: bool = False) -> Iterator[LogEvent]:
    """Parsed, grouped events of every input. Several files are merged in event-time order, as
    live shippers on every host would send them: file after file would put the later files'
    events behind their partition's watermark, so almost all of them would arrive late.
    A record without a time keeps its place after its predecessor. With ``follow``, in file order."""
    files = list(expand(paths))
    if follow or len(files) < 2:
        for path in files:
            yield from file_events(path, follow=follow)
        return
    yield from (ev for _, _, ev in heapq.merge(*(_timed(file_events(p), i) for i, p in enumerate(files))))


def _timed(events: Iterable[LogEvent], index: int) -> Iterator[tuple[float, int, LogEvent]]:
    last = float("-inf")
    for ev in events:
        if ev.timestamp is not None:
            last = ev.timestamp
        yield last, index, ev


def publish(events: Iterable[LogEvent], cfg: KafkaSettings, topic: str, rate: float | None = None,
            progress: bool = True, extra_values: Iterable[tuple[bytes | None, bytes]] = (),
            batch: int = 1) -> PublishReport:
    """Produce every event (and any raw extra values, one per message); wait for all delivery
    reports. With ``batch`` > 1 the events go in envelopes of up to that many records per key."""
    if batch < 1:
        raise ValueError("--batch must be at least 1")
    report = PublishReport()
    producer = make_producer(cfg)

    def on_delivery(n: int):
        def callback(err, _msg) -> None:
            if err is None:
                report.delivered += n
            else:
                report.failed += n
                if len(report.errors) < 10:
                    report.errors.append(str(err))
        return callback

    bar = tqdm(unit=" events", disable=not progress, mininterval=0.5)
    started = time.monotonic()

    def send(key: bytes | None, value: bytes, n: int = 1) -> None:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery(n))
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
        producer.poll(0)
        report.messages += 1

    def count(n: int = 1) -> None:
        report.events += n
        bar.update(n)
        if rate:
            ahead = report.events / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)  # rate limiting, not a readiness wait

    batcher = Batcher(batch) if batch > 1 else None
    drained = time.monotonic()
    for ev in events:
        key = message_key(ev)
        value = schemas.encode(ev.to_dict())
        if batcher is None:
            send(key, value)
        else:
            if (full := batcher.add(key, value)) is not None:
                send(*full)
            if (now := time.monotonic()) - drained >= LINGER_SECONDS:   # a slow input (--rate, --follow)
                for full in batcher.drain():
                    send(*full)
                drained = now
        count()
    if batcher is not None:
        for full in batcher.drain():
            send(*full)
    for key, value in extra_values:
        send(key, value)
        count()
    remaining = producer.flush(60)
    bar.close()
    if remaining:
        report.failed += remaining
        report.errors.append(f"{remaining} messages still queued after 60 s")
    return report
