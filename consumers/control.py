"""Validation of control commands.

A command is accepted only if it follows control_command.schema.json, names
an allowed command, reads from an allowed source (an allow-list of topics,
S3 prefixes and local folders), stays within the parameter bounds, carries a
valid HMAC signature when a shared secret is configured, was issued recently
(``issued_at``, covered by the signature, within max_command_age_seconds in
the past and max_command_future_seconds ahead), and was not seen before
(duplicate command ids are ignored, not re-run).

Replays across restarts: the ids seen are kept in memory, and at start the
control agent seeds them with `processed_command_ids` (a read of
rca.control.events from the beginning), so a captured command sent again
after a restart is ignored. The age check bounds what must be remembered: a
command older than max_command_age_seconds is rejected whatever its id, so
the events topic's retention only needs to exceed that age.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import schemas
from config.settings import ControlSettings
from config.timeparse import time_range
from schemas import control as signing
from schemas.log_event import format_timestamp, parse_timestamp

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"
REMEMBER_COMMANDS = 10_000   # command ids kept for duplicate detection


def control_event(command_id: str, event: str, worker: str, **fields) -> dict:
    """A control event message (validated against control_event.schema.json)."""
    msg = {"schema_version": 1, "command_id": command_id, "event": event,
           "at": format_timestamp(time.time()), "worker": worker, **fields}
    schemas.validate("control_event", msg)
    return msg


@dataclass(frozen=True)
class Verdict:
    command: dict | None
    reason: str | None  # None: accepted; DUPLICATE: ignore silently; else: rejected with this reason

    @property
    def accepted(self) -> bool:
        return self.reason is None


class CommandValidator:
    def __init__(self, cfg: ControlSettings) -> None:
        self.cfg = cfg
        self.secret = cfg.secret_bytes()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check(self, value: bytes | None, now: float | None = None) -> Verdict:
        try:
            command = schemas.decode(value or b"")
        except ValueError as exc:
            return Verdict(None, f"not JSON: {exc}")
        try:
            schemas.validate("control_command", command)
        except schemas.SchemaError as exc:
            return Verdict(command if isinstance(command, dict) else None, f"schema: {exc}")
        if self.secret is not None and not signing.verify(command, self.secret):
            return Verdict(command, "missing or invalid signature" if "signature" in command
                           else "missing signature (a shared secret is configured)")
        cid = command["command_id"]
        if cid in self._seen:
            return Verdict(command, DUPLICATE)
        now = time.time() if now is None else now
        reason = self._check_age(command["issued_at"], now) or self._check_params(command, now)
        if reason is None:
            self.remember((cid,))
        return Verdict(command, reason)

    def remember(self, command_ids: Iterable[str]) -> None:
        """Mark command ids as processed (a later command with one of them is a DUPLICATE)."""
        for cid in command_ids:
            self._seen[cid] = None
            self._seen.move_to_end(cid)
        while len(self._seen) > REMEMBER_COMMANDS:
            self._seen.popitem(last=False)

    def _check_age(self, issued_at: str, now: float) -> str | None:
        try:
            issued = parse_timestamp(issued_at)
        except (ValueError, OverflowError):
            return f"issued_at is not an ISO 8601 time: {issued_at[:64]!r}"
        age = now - issued
        if age > self.cfg.max_command_age_seconds:
            return (f"issued_at {issued_at} is {age:.0f} s old, more than the "
                    f"{self.cfg.max_command_age_seconds:g} s allowed (a replayed command? issue a new one)")
        if -age > self.cfg.max_command_future_seconds:
            return (f"issued_at {issued_at} is {-age:.0f} s in the future, more than the "
                    f"{self.cfg.max_command_future_seconds:g} s of clock skew allowed")
        return None

    def _check_params(self, command: dict, now: float) -> str | None:
        if command["command"] != "retrain":
            return None
        params = command["params"]
        source = params.get("source")
        if not source:
            return "params.source is required for retrain"
        if not self.source_allowed(source):
            return f"source not allowed: {source}"
        epochs = params.get("epochs", 3)
        if epochs > self.cfg.max_epochs:
            return f"epochs {epochs} above the limit {self.cfg.max_epochs}"
        if source.startswith("topic:"):
            if "since" not in params:
                return "params.since is required for a topic source"
            try:
                since, until = time_range(params, now)
            except ValueError as exc:
                return str(exc)
            if until <= since:
                return "params.until must be after params.since"
            if (until - since) / 3600 > self.cfg.max_range_hours:
                return f"time range above the limit of {self.cfg.max_range_hours:g} hours"
        return None

    def source_allowed(self, source: str) -> bool:
        for prefix in self.cfg.source_prefixes():
            if source.startswith("topic:") or prefix.startswith("topic:"):
                if source == prefix:
                    return True
            elif source.startswith("s3://") or prefix.startswith("s3://"):
                if source.startswith(prefix.rstrip("/") + "/") or source == prefix:
                    return True
            else:
                try:
                    if Path(source).resolve().is_relative_to(Path(prefix).resolve()):
                        return True
                except (OSError, ValueError):
                    continue
        return False


# Events that show a command was processed by a worker. "rejected" is left out: a forged command
# with someone else's id would otherwise block the real one; a rejected command sent again is
# checked (and rejected) again, it never runs.
PROCESSED_EVENTS = frozenset({"accepted", "started", "progress", "finished", "failed"})


def processed_command_ids(kafka, topic: str, timeout: float = 30.0) -> set[str]:
    """Ids of the commands that rca.control.events says were processed, read from the beginning up
    to the end offsets at the time of the call (blocking: run it in an executor). An absent topic
    gives an empty set; a read that does not reach the end within ``timeout`` returns what it got."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from producers.kafka import make_consumer

    consumer = make_consumer(kafka, "rca-control-seen", logger=log)
    ids: set[str] = set()
    try:
        md = consumer.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            return ids
        ends: dict[int, int] = {}
        for p in md.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return ids
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                p = msg.partition()
                try:
                    event = schemas.decode(msg.value())
                    if event.get("event") in PROCESSED_EVENTS and isinstance(event.get("command_id"), str):
                        ids.add(event["command_id"])
                except (ValueError, AttributeError):
                    pass
                if p in ends and msg.offset() + 1 >= ends[p]:
                    del ends[p]
        if ends:
            log.warning("read %s for %.0f s without reaching its end; %d processed commands known",
                        topic, timeout, len(ids))
        return ids
    finally:
        consumer.close()
