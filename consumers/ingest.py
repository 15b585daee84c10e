"""Turn one Kafka message into a LogEvent, or say why it is rejected.

Pure logic, no Kafka: the worker calls `Decoder.decode(value, key)` for each
message and sends rejections to the dead-letter topic (consumers/deadletters.py).

- A JSON *object* that looks like a log event (it has "message" or
  "schema_version") must follow log_event.schema.json (else
  ``schema_violation``). One that looks like a batch envelope (a "records"
  list and no key the envelope schema lacks) but was not split as one
  (consumers/envelope.py) is ``schema_violation`` too, with the envelope
  schema's error: every JSON message carries ``schema_version`` (DESIGN.md),
  and a batch read as one raw line would hide its records in one event.
- Anything else that is valid UTF-8 text is a raw line: a plain oslo.log line,
  but also what shippers send on continuation lines (a pprint dump ``{'a': 1}``,
  a logged request body ``{"server": ...}``, a traceback line, an indented
  line). A raw line with an oslo.log header is parsed (the parser never
  raises); one without a header is an orphan continuation: it joins the last
  record of the same Kafka key (same timestamp, service, host, level, logger,
  pid, request and instance, so it lands in that record's window and
  session), or, with no such record, stands as its own event without a time.
  Raw lines never go to the dead-letter topic for what they say.
- The message key (``host`` or ``host:path``, e.g.
  ``compute-1:/var/log/nova/nova-compute.log``) fills ``host`` and ``service``
  (from the file name, as `rca publish` does) when the event lacks them.
- An event time outside [min_event_time, now + max_future_seconds] is
  ``timestamp_out_of_range`` (a year-9999 event would otherwise hold the
  watermark and every window end out of range).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from functools import lru_cache

import orjson

import schemas
from config.settings import WorkerSettings
from consumers.envelope import envelope_error, is_envelope_like
from engine.parsing import RecordJoiner, parse_line, parse_lines, service_from_source
from schemas.log_event import LogEvent

CONTINUATION = "continuation line (no oslo.log header)"   # parse_error of a line that joined a record
ORPHAN = "no oslo.log header"                             # the parser's reason for a headerless line
_JOINABLE = frozenset((ORPHAN, "empty line"))
_KEY_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # one of dead_letter.schema.json's reasons
    error: str


@dataclass(frozen=True, slots=True)
class Joined:
    """A raw line that continues the key's open record (a traceback sent one line per message):
    `event` was updated in place. `alone()` is the line as an event of its own, for when that
    record's window has already closed."""

    event: LogEvent
    line: str

    def alone(self) -> LogEvent:
        prev = self.event
        return LogEvent(self.line, self.line, prev.timestamp, prev.service, prev.host, prev.level, prev.logger,
                        prev.pid, prev.request_id, prev.user_id, prev.project_id, prev.instance_id, prev.source,
                        parse_error=CONTINUATION)


@dataclass(frozen=True, slots=True)
class _Source:
    """What a message key says: host, file path and the service its file name names."""

    host: str | None
    path: str | None
    service: str | None


def _parse_key(key: bytes) -> _Source:
    text = key.decode("utf-8", "replace").strip()
    host, sep, path = text.partition(":")
    host, path = host.strip() or None, path.strip() or None
    if not sep or path is None:
        return _Source(host, None, None)
    return _Source(host, path, service_from_source(path))


class Decoder:
    """Decodes the messages of one worker; remembers the last record of each key (bounded LRU)."""

    def __init__(self, cfg: WorkerSettings, clock: Callable[[], float] = time.time) -> None:
        self.max_bytes = cfg.max_message_bytes
        start = cfg.min_event_time
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.min_time = start.timestamp()
        self.max_future = cfg.max_future_seconds
        self.max_keys = cfg.continuation_keys
        self.clock = clock
        self._sources: dict[bytes, _Source] = {}
        self._last: dict[bytes, LogEvent] = {}   # key -> last record (insertion order = recency)
        self._joiners: dict[bytes, RecordJoiner] = {}   # key -> its open raw record (same bound)

    def forget_records(self) -> None:
        """Forget each key's last and open record (a rebalance: Faust reads every partition again
        from its commit, and a line must join what a fresh worker would join it to, not a record
        read before the rebalance, whose window is gone)."""
        self._last.clear()
        self._joiners.clear()

    # -- the message -------------------------------------------------------------------

    def decode(self, value: bytes | None, key: bytes | None) -> LogEvent | Joined | Rejected:
        if value is None or not value.strip():
            return Rejected("empty", "message has no value")
        if len(value) > self.max_bytes:
            return Rejected("oversize", f"{len(value)} bytes > limit {self.max_bytes}")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejected("not_utf8", str(exc))
        src = None
        if key is not None:
            src = self._sources.get(key)
            if src is None:
                src = self._source(key)
        stripped = text.strip()
        if not stripped:
            return Rejected("empty", "message has only white space")
        if stripped[0] in "{[":
            out = self._json(stripped)
            if out is not None:
                if out.__class__ is Rejected:
                    return out
                return self._record(out, key, src)
        if "\x00" in stripped:
            return Rejected("not_utf8", "NUL byte in text")
        return self._raw(text, stripped, key, src)

    def _json(self, stripped: str) -> LogEvent | Rejected | None:
        """A log event object, its rejection, or None: not a log event, so a raw line."""
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None  # '{' or '[' text that is not JSON: a pprint dump, a cut body...
        if obj.__class__ is not dict:
            return None  # a logged list: a raw line
        if "message" not in obj and "schema_version" not in obj:
            if is_envelope_like(obj):   # a batch envelope without its schema_version: never a raw line
                return Rejected("schema_violation", envelope_error(obj))
            return None  # a logged body: a raw line
        try:
            schemas.validate("log_event", obj)
        except schemas.SchemaError as exc:
            return Rejected("schema_violation", str(exc))
        try:
            return LogEvent.from_dict(obj)
        except (ValueError, OverflowError) as exc:  # a timestamp that is not a date
            if str(exc).startswith("year "):        # "year 0 is out of range"
                return Rejected("timestamp_out_of_range", f"timestamp {obj.get('timestamp')!r}: {exc}")
            return Rejected("schema_violation", f"log_event: timestamp: {exc}")

    def _raw(self, text: str, stripped: str, key: bytes | None, src: _Source | None) -> LogEvent | Joined | Rejected:
        path = src.path if src is not None else None
        if "\n" in stripped:
            # a shipper grouped a multi-line record (traceback, dump) into one message
            records = list(parse_lines(stripped.split("\n"), source=path))
            event = records[0]
            if len(records) > 1:
                event.raw, event.line_count = stripped, stripped.count("\n") + 1  # nothing is lost
        else:
            # one line per message: a line with its record's header (a traceback line) joins it
            fed = self._joiner(key, path).feed_line(stripped) if key is not None and "\x1b" not in stripped else None
            if fed is None:
                event = parse_line(stripped, path)
            else:
                event, joined = fed
                if joined:
                    return Joined(event, text.rstrip())
        if event.parse_error is None:
            return self._record(event, key, src)
        if event.parse_error in _JOINABLE:
            # an orphan continuation: keep its indentation, join the key's last record
            line = text.rstrip()
            joiner = self._joiners.get(key) if key is not None else None
            if joiner is not None and (record := joiner.join_tail(line)) is not None:
                return Joined(record, line)      # the tail of the key's open raw record
            prev = self._last.get(key) if key is not None else None
            if prev is not None:
                return LogEvent(line, line, prev.timestamp, prev.service, prev.host, prev.level, prev.logger,
                                prev.pid, prev.request_id, prev.user_id, prev.project_id, prev.instance_id, prev.source,
                                parse_error=CONTINUATION)
            event.message = event.raw = line
        if src is not None:
            if event.host is None:
                event.host = src.host
            if event.service is None:
                event.service = src.service
        return event

    def _record(self, event: LogEvent, key: bytes | None, src: _Source | None) -> LogEvent | Rejected:
        ts = event.timestamp
        if ts is not None and not (self.min_time <= ts <= self.clock() + self.max_future):
            return Rejected("timestamp_out_of_range",
                            f"event time {ts:.3f} outside [{self.min_time:.0f}, now + {self.max_future:.0f} s]")
        if src is not None:
            if event.host is None:
                event.host = src.host
            if event.service is None:
                event.service = src.service
        if key is not None:
            last = self._last
            if key in last:
                del last[key]
            elif len(last) >= self.max_keys:
                del last[next(iter(last))]
            last[key] = event
            joiner = self._joiners.get(key)
            if joiner is not None and joiner.event is not event:
                joiner.reset()   # another record came between: nothing joins the old one any more
        return event

    def _joiner(self, key: bytes, path: str | None) -> RecordJoiner:
        joiners = self._joiners
        joiner = joiners.get(key)
        if joiner is None:
            if len(joiners) >= self.max_keys:
                del joiners[next(iter(joiners))]
            joiner = joiners[key] = RecordJoiner(path)
        return joiner

    def _source(self, key: bytes) -> _Source:
        if len(self._sources) >= _KEY_CACHE:
            self._sources.clear()
        src = self._sources[key] = _parse_key(key)
        return src


@lru_cache(maxsize=8)
def _stateless(max_bytes: int) -> Decoder:
    return Decoder(WorkerSettings(max_message_bytes=max_bytes))


def decode_value(value: bytes | None, max_bytes: int) -> LogEvent | Rejected:
    """One message on its own (no key, so no continuation joins): for readers of a topic such as
    the trainer. The worker uses a `Decoder`."""
    return _stateless(max_bytes).decode(value, None)
