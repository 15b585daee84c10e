"""`rca retrain`: send a control command and, if asked, follow its events."""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

from confluent_kafka import TopicPartition

import schemas
from config.settings import Settings
from producers.kafka import make_consumer, make_producer, watermarks
from schemas import control as signing
from schemas.log_event import format_timestamp

log = logging.getLogger(__name__)

TERMINAL = frozenset({"finished", "failed", "rejected"})


def build_command(command: str, params: dict, issued_by: str | None = None) -> dict:
    cmd = {"schema_version": 1, "command_id": f"cmd-{uuid.uuid4().hex}", "command": command,
           "issued_at": format_timestamp(time.time()), "params": params}
    if issued_by:
        cmd["issued_by"] = issued_by
    return cmd


def send_command(settings: Settings, command: dict) -> dict:
    """Sign (when a secret is configured), validate and produce; returns what was sent."""
    key = settings.control.secret_bytes()
    if key is not None:
        command = signing.sign(command, key)
    schemas.validate("control_command", command)
    producer = make_producer(settings.kafka)
    errors: list[str] = []
    producer.produce(settings.topics.control, key=command["command_id"].encode(), value=schemas.encode(command),
                     on_delivery=lambda err, _m: err and errors.append(str(err)))
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not deliver the command to {settings.topics.control}: {errors or 'timeout'}")
    return command


def events_end(settings: Settings) -> list[TopicPartition]:
    """Where the control-events topic ends now.

    Taken *before* the command is sent, so following from here cannot miss its first
    event. (Looking up a send time with offsets_for_times races the worker: when the
    lookup finds nothing yet it answers "the end", which librdkafka resolves later,
    possibly after the worker's `accepted` was written.)"""
    topic = settings.topics.control_events
    c = make_consumer(settings.kafka, "rca-retrain", logger=log)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        deadline = time.monotonic() + 15
        return [TopicPartition(topic, p, watermarks(c, TopicPartition(topic, p), deadline)[1]) for p in parts]
    finally:
        c.close()


def follow_events(settings: Settings, command_id: str, start: list[TopicPartition],
                  timeout: float) -> Iterator[dict]:
    """Events of one command, read from `start` (see `events_end`), until a terminal one or `timeout`."""
    c = make_consumer(settings.kafka, "rca-retrain", logger=log)
    try:
        c.assign(start)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error() or msg.key() != command_id.encode():
                continue
            event = schemas.decode(msg.value())
            yield event
            if event["event"] in TERMINAL:
                return
        raise TimeoutError(f"no final event for {command_id} within {timeout:.0f}s")
    finally:
        c.close()
