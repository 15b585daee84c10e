"""Typed model of the log event message (schemas/log_event.schema.json).

The parser in ``engine.parsing`` produces these objects, the publisher turns
them into JSON and the worker turns JSON (or a raw line) back into them. The
model lives here, at the bottom of the import graph, so every package can
share it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SCHEMA_VERSION = 1


@dataclass(slots=True)
class Frame:
    """One traceback frame: where the code was when the exception passed."""

    file: str
    line: int
    function: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}


@dataclass(slots=True)
class LogEvent:
    """One oslo.log record (a single line, or a multi-line traceback).

    ``timestamp`` is epoch seconds in UTC (oslo.log writes local time without a
    zone; we read it as UTC so replays are reproducible). A line that could not
    be parsed still becomes an event: ``message`` holds the line and
    ``parse_error`` says why.
    """

    message: str
    raw: str
    timestamp: float | None = None
    service: str | None = None
    host: str | None = None
    level: str | None = None
    logger: str | None = None
    pid: int | None = None
    request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    instance_id: str | None = None
    source: str | None = None
    exception_type: str | None = None
    exception_text: str | None = None
    frames: list[Frame] = field(default_factory=list)
    parse_error: str | None = None
    line_count: int = 1
    # infrastructure lines (engine/grammars): the libvirt domain name (instance-0000001a), the
    # Neutron port id prefix a tap/qvo/qbr device names (first 11 chars of the port UUID), and
    # the other end of the connection a line is about (client of AMQP/SQL/HTTP, "ip[:port]")
    instance_name: str | None = None
    port_id: str | None = None
    peer: str | None = None
    # oslo.context's global request id (the caller's request across services), when the record's
    # wrapper carries it apart (oslo.log JSON's context, kolla's fluentd field)
    global_request_id: str | None = None
    # how the record reached the worker (engine/shapes: "raw", "log_event", "journald", ...);
    # transport, not content: not part of the JSON form
    shape: str = "raw"

    def to_dict(self) -> dict[str, Any]:
        """The JSON message form (see log_event.schema.json)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for name in (
            "service", "host", "level", "logger", "pid", "request_id", "user_id",
            "project_id", "instance_id", "source", "exception_type",
            "exception_text", "parse_error", "instance_name", "port_id", "peer", "global_request_id",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["timestamp"] = format_timestamp(self.timestamp) if self.timestamp is not None else None
        out["message"] = self.message
        out["raw"] = self.raw
        if self.frames:
            out["frames"] = [f.to_dict() for f in self.frames]
        if self.line_count != 1:
            out["line_count"] = self.line_count
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LogEvent":
        """Build from a message that already passed schema validation."""
        ts = data.get("timestamp")
        return cls(
            message=data["message"],
            raw=data.get("raw", data["message"]),
            timestamp=parse_timestamp(ts) if ts is not None else None,
            service=data.get("service"),
            host=data.get("host"),
            level=data.get("level"),
            logger=data.get("logger"),
            pid=data.get("pid"),
            request_id=data.get("request_id"),
            user_id=data.get("user_id"),
            project_id=data.get("project_id"),
            instance_id=data.get("instance_id"),
            source=data.get("source"),
            exception_type=data.get("exception_type"),
            exception_text=data.get("exception_text"),
            frames=[Frame(**f) for f in data.get("frames", ())],
            parse_error=data.get("parse_error"),
            line_count=data.get("line_count", 1),
            instance_name=data.get("instance_name"),
            port_id=data.get("port_id"),
            peer=data.get("peer"),
            global_request_id=data.get("global_request_id"),
        )


def format_timestamp(ts: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with milliseconds, e.g. 2017-05-16T00:00:00.008Z."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> float:
    """ISO 8601 (zone optional, UTC assumed) -> epoch seconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
