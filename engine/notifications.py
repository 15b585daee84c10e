"""OpenStack notifications (oslo.messaging) as log events.

A service that fails a request often says so twice: in its log, and in an error
notification (`instance.create.error`, `compute.instance.create.error`) that
oslo.messaging's notifier publishes, with the Kafka driver on the topics
`<topic>.<priority>` (`notifications.error`, `versioned_notifications.error`).
The notification carries what a log line may lack: the request context (request
and global request ids, user, project), the instance, and for versioned
notifications the fault: exception class and message, the module and function
that raised it, the traceback. Made an event of the publishing service and
host, it joins the incident of the same request (same session key) and its
module is evidence like a logged traceback's.

Shapes read (formats.md section 7; oslo.messaging `impl_kafka.py`, `_drivers/common.py`;
nova `notifications/objects/exception.py`):
- the Kafka/AMQP envelope `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}`, or the
  notification object itself (a v1 message, a driver that does not wrap);
- the context as the Kafka driver packs it (`_context: {...}`) or flattened as older drivers
  did (`_context_request_id`, ...);
- `publisher_id` `service:host` (versioned) or `topic.host` (legacy, e.g. `compute.cmp-1`);
- a versioned fault under `payload.nova_object.data.fault.nova_object.data`, or a legacy
  payload's `exception` / `message` / `traceback`.

Pure: bytes in, a LogEvent or a reason out; the worker's notification stage
(consumers/notifications.py) moves them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from engine.parsing import _traceback_details
from schemas.log_event import Frame, LogEvent

MAX_RAW_CHARS = 16_000   # a notification's payload can be large; the event keeps its start
# Legacy (unversioned) publisher ids name the service by its RPC topic: `compute.cmp-1`.
LEGACY_PUBLISHERS = {
    "compute": "nova-compute", "conductor": "nova-conductor", "scheduler": "nova-scheduler",
    "api": "nova-api", "network": "neutron-server", "volume": "cinder-volume", "image": "glance-api",
    "identity": "keystone", "orchestration": "heat-engine",
}
_PRIORITY_LEVELS = {"WARN": "WARNING", "SAMPLE": "INFO"}
_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class NotANotification:
    """Why a message could not be read as a notification (a dead-letter reason and the detail)."""

    reason: str   # not_utf8, bad_json, unknown_shape
    error: str


def decode_notification(value: bytes | None, topic: str | None = None) -> LogEvent | NotANotification:
    """One Kafka message of a notification topic -> its event, or why it is not one."""
    if not value:
        return NotANotification("empty", "empty message")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NotANotification("not_utf8", str(exc))
    try:
        outer = json.loads(text)
        inner = outer.get("oslo.message") if isinstance(outer, dict) else None
        message = json.loads(inner) if isinstance(inner, str) else outer
    except (json.JSONDecodeError, RecursionError) as exc:
        return NotANotification("bad_json", str(exc))
    if not isinstance(message, dict) or not ("event_type" in message and "publisher_id" in message):
        keys = sorted(message)[:20] if isinstance(message, dict) else type(message).__name__
        return NotANotification("unknown_shape", f"not an oslo.messaging notification: keys {keys}")
    return notification_event(message, topic, raw=inner if isinstance(inner, str) else text)


def notification_event(message: dict[str, Any], topic: str | None = None, raw: str | None = None) -> LogEvent:
    """A decoded notification (message_id, publisher_id, event_type, priority, payload,
    timestamp, context) -> the event of its service and host."""
    service, host = split_publisher(str(message.get("publisher_id") or ""))
    event_type = str(message.get("event_type") or "")
    context = _context(message)
    payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
    fault = _fault(payload)
    exc_type, exc_text, module, function, trace = (fault.get(k) for k in (
        "exception", "exception_message", "module_name", "function_name", "traceback"))
    frames: list[Frame] = []
    if trace:
        lines = trace if isinstance(trace, list) else str(trace).splitlines()
        lines = [line for chunk in lines for line in str(chunk).splitlines()]
        frames, tb_type, tb_text = _traceback_details(lines)
        exc_type = exc_type or tb_type
        exc_text = exc_text or tb_text
    if not frames and module and function:
        # no traceback (legacy payloads, or one cut off): where it was raised, as a frame of
        # that module's file, so the module is evidence all the same (line unknown: 0)
        frames = [Frame(str(module).replace(".", "/") + ".py", 0, str(function))]
    summary = ": ".join(str(p) for p in (exc_type, exc_text) if p)
    event = LogEvent(
        message=f"Notification {event_type}" + (f": {summary}" if summary else ""),
        raw=(raw or json.dumps(message, default=str))[:MAX_RAW_CHARS],
        timestamp=_timestamp(message.get("timestamp")),
        service=service, host=host, level=_level(message.get("priority"), topic),
        logger=str(module) if module else None,
        request_id=_text(context.get("request_id")),
        user_id=_text(context.get("user_id") or context.get("user")),
        project_id=_text(context.get("project_id") or context.get("tenant") or context.get("project")),
        instance_id=_instance(payload),
        source=topic,
        exception_type=_text(exc_type), exception_text=_text(exc_text), frames=frames,
        line_count=1,
    )
    global_id = _text(context.get("global_request_id"))
    if global_id and "global_request_id" in LogEvent.__dataclass_fields__:
        event.global_request_id = global_id   # a field engine.shapes adds to LogEvent
    return event


def split_publisher(publisher_id: str) -> tuple[str | None, str | None]:
    """`nova-compute:cmp-1` -> (nova-compute, cmp-1); legacy `compute.cmp-1.example.org` ->
    (nova-compute, cmp-1.example.org); a bare name is the service."""
    if not publisher_id:
        return None, None
    if ":" in publisher_id:
        service, _, host = publisher_id.partition(":")
        return service or None, host or None
    prefix, dot, host = publisher_id.partition(".")
    if dot and prefix in LEGACY_PUBLISHERS:
        return LEGACY_PUBLISHERS[prefix], host or None
    return publisher_id, None


def _context(message: dict[str, Any]) -> dict[str, Any]:
    ctx = message.get("_context")
    if isinstance(ctx, dict):
        return ctx
    return {k[len("_context_"):]: v for k, v in message.items() if k.startswith("_context_")}


def _fault(payload: dict[str, Any]) -> dict[str, Any]:
    """The fault of a versioned payload (`nova_object.data.fault.nova_object.data`), else the
    legacy payload's exception fields under the versioned names."""
    data = _object_data(payload)
    fault = _object_data(data.get("fault")) if data else {}
    if fault:
        return fault
    exc = payload.get("exception")
    legacy: dict[str, Any] = {"traceback": payload.get("traceback")}
    if isinstance(exc, dict):   # an exception serialised as an object
        legacy["exception"] = exc.get("class") or exc.get("type")
        legacy["exception_message"] = exc.get("message") or exc.get("msg")
    elif isinstance(exc, str) and exc.isidentifier():
        legacy["exception"] = exc
        legacy["exception_message"] = payload.get("message")
    else:
        legacy["exception_message"] = exc or payload.get("message")
    return legacy


def _object_data(value: Any) -> dict[str, Any]:
    """A versioned object's fields: `{"nova_object.data": {...}}` (any project's prefix)."""
    if not isinstance(value, dict):
        return {}
    for key, data in value.items():
        if key.endswith("_object.data") and isinstance(data, dict):
            return data
    return {}


def _instance(payload: dict[str, Any]) -> str | None:
    for key in ("instance_uuid", "instance_id"):
        if isinstance(payload.get(key), str):
            return payload[key]
    for key, name in payload.items():
        if key.endswith("_object.name") and isinstance(name, str) and name.startswith("Instance"):
            return _text(_object_data(payload).get("uuid"))
    return None


def _level(priority: Any, topic: str | None) -> str:
    """The notification's priority as a log level (the topic's suffix when it has none)."""
    name = str(priority or (topic or "").rsplit(".", 1)[-1] or "INFO").upper()
    name = _PRIORITY_LEVELS.get(name, name)
    return name if name in _LEVELS else "INFO"


def _timestamp(value: Any) -> float | None:
    """oslo.messaging writes `str(utcnow())`, `2026-12-05 04:30:12.123456`: UTC, no zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "", "-") else None
