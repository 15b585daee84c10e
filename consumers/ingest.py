"""Turn one Kafka message value into a LogEvent, or say why it is rejected.

Pure logic, no Kafka: the worker calls `decode_value` for each message and
sends rejections to the dead-letter topic with `dead_letter`. A JSON object
must follow log_event.schema.json; anything else that is valid UTF-8 text is
treated as a raw oslo.log line (the parser never raises, so a line it does not
understand still becomes an event carrying `parse_error`).
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import orjson

import schemas
from engine.parsing import parse_line
from schemas.log_event import LogEvent, format_timestamp


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # one of dead_letter.schema.json's reasons
    error: str


def decode_value(value: bytes | None, max_bytes: int) -> LogEvent | Rejected:
    if value is None or not value.strip():
        return Rejected("empty", "message has no value")
    if len(value) > max_bytes:
        return Rejected("oversize", f"{len(value)} bytes > limit {max_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected("not_utf8", str(exc))
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            return Rejected("bad_json", str(exc))
        try:
            schemas.validate("log_event", obj)
        except schemas.SchemaError as exc:
            return Rejected("schema_violation", str(exc))
        try:
            return LogEvent.from_dict(obj)
        except ValueError as exc:  # e.g. a timestamp that is not ISO 8601
            return Rejected("schema_violation", f"log_event: timestamp: {exc}")
    if "\x00" in stripped:
        return Rejected("not_utf8", "NUL byte in text")
    return parse_line(stripped)


def dead_letter(rejected: Rejected, topic: str, partition: int, offset: int,
                key: bytes | None, value: bytes | None) -> dict:
    """The dead-letter message: reason, error, where it came from, original bytes."""
    return {
        "schema_version": 1,
        "reason": rejected.reason,
        "error": rejected.error[:2000],
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key_b64": base64.b64encode(key).decode() if key is not None else None,
        "value_b64": base64.b64encode(value or b"").decode(),
        "received_at": format_timestamp(time.time()),
    }
