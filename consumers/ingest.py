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
- Other pipelines' shapes (engine/shapes: oslo.log JSON, journald, kolla's
  fluentd, Fluent Bit, CRI, Vector, Filebeat, TripleO's rsyslog JSON, syslog
  text) are recognised with no configuration and unwrapped to the record's
  text, which is parsed as a raw line; the metadata the record carries (host,
  file, program, container, time, level, ids) fills what the text lacks and
  wins over the Kafka key. Lines of one stream (the key plus the record's
  host and file or program) join into records as raw lines of one key do. A
  JSON object of no known shape that carries a log record's field (``message``,
  ``log``, ``@timestamp``...) is ``unknown_shape`` (its keys in the error);
  one with only our schema's keys is ``schema_violation`` as before. A raw
  oslo.log line (a date and a space first) is checked first and pays nothing
  for the shapes.
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
from engine.shapes import LOG_MARKERS, Pending, ShapeReader, Shaped
from engine.shapes.record import kubernetes_container
from engine.shapes.syslog import MONTHS
from schemas.log_event import LogEvent

CONTINUATION = "continuation line (no oslo.log header)"   # parse_error of a line that joined a record
ORPHAN = "no oslo.log header"                             # the parser's reason for a headerless line
_JOINABLE = frozenset((ORPHAN, "empty line"))
_KEY_CACHE = 4096
# the keys of our own log event: an object with a message and only these claims our schema
_EVENT_KEYS = frozenset(schemas.schema("log_event")["properties"])


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
    return _Source(host, path, kubernetes_container(path) or service_from_source(path))


class Decoder:
    """Decodes the messages of one worker; remembers the last record of each key (bounded LRU).

    `stream` is the stream key of the last message decoded (the Kafka key for a raw line; the
    key plus the record's host and file or program for a shaped one): the pipeline keys the
    windows of joined lines by it. `shape_counts` counts the messages by shape (/metrics)."""

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
        self._services: dict[tuple, str | None] = {}   # (file, program) of shaped records -> service
        self._last: dict = {}   # stream key -> last record (insertion order = recency)
        self._joiners: dict = {}   # stream key -> its open raw record (same bound)
        self.shapes = ShapeReader(cfg.continuation_keys)
        self.stream = None
        self.raw_count = 0                       # raw lines (an int: the common path pays one add)
        self._shape_counts: dict[str, int] = {}  # every other shape

    @property
    def shape_counts(self) -> dict[str, int]:
        """Messages decoded, by shape (raw lines included)."""
        out = dict(self._shape_counts)
        if self.raw_count:
            out["raw"] = self.raw_count
        return out

    def forget_records(self) -> None:
        """Forget each key's last and open record (a rebalance: Faust reads every partition again
        from its commit, and a line must join what a fresh worker would join it to, not a record
        read before the rebalance, whose window is gone)."""
        self._last.clear()
        self._joiners.clear()
        self.shapes.forget()

    def _count(self, shape: str) -> None:
        counts = self._shape_counts
        counts[shape] = counts.get(shape, 0) + 1

    # -- the message -------------------------------------------------------------------

    def decode(self, value: bytes | None, key: bytes | None,
               arrival: float | None = None) -> LogEvent | Joined | Rejected | Pending:
        """One message. `arrival`: when it reached the broker (epoch seconds; default now), which
        gives an RFC 3164 syslog record its year. `Pending`: a piece of a record that a later
        message of its stream completes (nothing to window yet)."""
        self.stream = key
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
        c = stripped[0]
        if c in "{[":
            out = self._json(stripped, key, src, arrival)
            if out is not None:
                return out
        elif not (len(stripped) > 10 and stripped[10] == " " and stripped[4] == "-") and (
                c == "<" or (len(stripped) > 20 and stripped[4] == "-" and stripped[10] == "T")
                or (len(stripped) > 15 and stripped[3] == " " and stripped[:3] in MONTHS)):
            # not an oslo.log line (a date and a space): maybe syslog text or a CRI line
            if "\x00" not in stripped:
                shaped = self.shapes.text(stripped, arrival if arrival is not None else self.clock(), key)
                if shaped is not None:
                    return self._shaped(shaped, key, src, arrival)
        if "\x00" in stripped:
            return Rejected("not_utf8", "NUL byte in text")
        self.raw_count += 1
        return self._raw(text, stripped, key, src)

    def _json(self, stripped: str, key: bytes | None, src: _Source | None,
              arrival: float | None) -> LogEvent | Joined | Rejected | Pending | None:
        """A log event object, a shaped record's event, a rejection, or None: not a log record,
        so a raw line (a logged body, a pprint dump)."""
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None  # '{' or '[' text that is not JSON: a pprint dump, a cut body...
        if obj.__class__ is not dict:
            return None  # a logged list: a raw line
        if "schema_version" not in obj:
            shaped = self.shapes.object(obj, arrival, key)
            if shaped is not None:
                return self._shaped(shaped, key, src, arrival)
            if "message" not in obj or not obj.keys() <= _EVENT_KEYS:
                if is_envelope_like(obj):   # a batch envelope without its schema_version: never a raw line
                    return Rejected("schema_violation", envelope_error(obj))
                if not LOG_MARKERS.isdisjoint(obj):
                    self._count("unknown")
                    keys = sorted(obj)
                    listed = ", ".join(k[:64] for k in keys[:40]) + (f", ... ({len(keys)} keys)" if len(keys) > 40 else "")
                    return Rejected("unknown_shape", f"a JSON log record of no known shape; its keys: {listed}")
                return None  # a logged body: a raw line
        try:
            schemas.validate("log_event", obj)
        except schemas.SchemaError as exc:
            return Rejected("schema_violation", str(exc))
        try:
            event = LogEvent.from_dict(obj)
        except (ValueError, OverflowError) as exc:  # a timestamp that is not a date
            if str(exc).startswith("year "):        # "year 0 is out of range"
                return Rejected("timestamp_out_of_range", f"timestamp {obj.get('timestamp')!r}: {exc}")
            return Rejected("schema_violation", f"log_event: timestamp: {exc}")
        event.shape = "log_event"
        self._count("log_event")
        return self._record(event, key, src)

    def _shaped(self, shaped: Shaped | Pending, key: bytes | None, src: _Source | None,
                arrival: float | None) -> LogEvent | Joined | Rejected | Pending:
        """A record out of its wrapper: its text parsed as a raw line of its stream, the wrapper's
        metadata filling what the text lacks (host, file, program and container win over the key)."""
        self._count(shaped.shape)
        if shaped.__class__ is Pending:
            return shaped
        stream = (key, shaped.host, shaped.path or shaped.program, shaped.stream)
        self.stream = stream
        path = shaped.path or (src.path if src is not None else None)
        named = (shaped.path, shaped.program)
        service = self._services.get(named, False)
        if service is False:   # what the record's file or program names (cached: a stream has one)
            if len(self._services) >= _KEY_CACHE:
                self._services.clear()
            service = self._services[named] = shaped.service()
        if service is None and shaped.path is None and src is not None and src.service is not None:
            service = None if src.path is None else src.service
        text = shaped.text.rstrip()   # as a raw line's: trailing white space is no part of the record
        stripped = text.lstrip()
        if not stripped:
            # an empty line of a stream split per line: the open record's, as in a raw file
            joiner = self._joiners.get(stream)
            if joiner is not None and (record := joiner.join_tail("")) is not None:
                return Joined(record, "")
            return Rejected("empty", f"{shaped.shape} record with an empty message")
        event = self._parse(text, stripped, stream, path, shaped.program, orphans_join=shaped.time is None)
        if event.__class__ is Joined or event.parse_error is CONTINUATION:
            return event
        event.shape = shaped.shape
        if service is not None:
            event.service = service
        elif event.service is None and src is not None:
            event.service = src.service
        event.host = shaped.host or event.host or (src.host if src is not None else None)
        if not shaped.header_pid or event.pid is None:
            event.pid = shaped.pid   # a rebuilt header's pid was a stand-in
        if event.timestamp is None:
            event.timestamp = shaped.time
        if event.level is None:
            event.level = shaped.level
        if event.logger is None:
            event.logger = shaped.logger
        if event.request_id is None:
            event.request_id = shaped.request_id
        if event.user_id is None:
            event.user_id = shaped.user_id
        if event.project_id is None:
            event.project_id = shaped.project_id
        if event.instance_id is None:
            event.instance_id = shaped.instance_id
        event.global_request_id = shaped.global_request_id
        if event.parse_error is None:
            return self._record(event, stream, None)
        ts = event.timestamp
        if ts is not None and not (self.min_time <= ts <= self.clock() + self.max_future):
            return Rejected("timestamp_out_of_range",
                            f"event time {ts:.3f} outside [{self.min_time:.0f}, now + {self.max_future:.0f} s]")
        return event

    def _parse(self, text: str, stripped: str, key, path: str | None, program: str | None = None,
               orphans_join: bool = True) -> LogEvent | Joined:
        """A raw text's event: a parsed record (parse_error None), a line that joined the key's open
        record (Joined), a copy of the key's last record for an orphan line (parse_error
        CONTINUATION; only with `orphans_join`), or the unparsed line."""
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
            return event
        if event.parse_error in _JOINABLE:
            # an orphan continuation: keep its indentation, join the key's last record
            line = text.rstrip()
            joiner = self._joiners.get(key) if key is not None else None
            if joiner is not None and (record := joiner.join_tail(line)) is not None:
                return Joined(record, line)      # the tail of the key's open raw record
            prev = self._last.get(key) if key is not None and orphans_join else None
            if prev is not None:
                return LogEvent(line, line, prev.timestamp, prev.service, prev.host, prev.level, prev.logger,
                                prev.pid, prev.request_id, prev.user_id, prev.project_id, prev.instance_id, prev.source,
                                parse_error=CONTINUATION, shape=prev.shape)
            if program is not None and stripped:
                # nothing to join: a line of another daemon, read with its program tag (engine/grammars)
                infra = parse_line(stripped, path, program)
                if infra.parse_error is None:
                    return infra
            event.message = event.raw = line
        return event

    def _raw(self, text: str, stripped: str, key: bytes | None, src: _Source | None) -> LogEvent | Joined | Rejected:
        if key is not None and "\n" not in stripped and "\x1b" not in stripped:
            # the common line (one record per message, keyed), inline: its header starts or joins a record
            fed = self._joiner(key, src.path).feed_line(stripped)
            if fed is not None:
                event, joined = fed
                if joined:
                    return Joined(event, text.rstrip())
                if event.parse_error is None:
                    return self._record(event, key, src)
                if event.host is None:       # a header with a bad date: the line as it is
                    event.host = src.host
                if event.service is None:
                    event.service = src.service
                return event
        event = self._parse(text, stripped, key, src.path if src is not None else None)
        if event.__class__ is Joined:
            return event
        if event.parse_error is None:
            return self._record(event, key, src)
        if event.parse_error is CONTINUATION:
            return event
        if src is not None:
            if event.host is None:
                event.host = src.host
            if event.service is None:
                event.service = src.service
        return event

    def _record(self, event: LogEvent, key, src: _Source | None) -> LogEvent | Rejected:
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

    def _joiner(self, key, path: str | None) -> RecordJoiner:
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


def decode_value(value: bytes | None, max_bytes: int) -> LogEvent | Joined | Rejected | Pending:
    """One message without its key: for readers of a topic such as the trainer (the worker uses a
    `Decoder`). Raw lines do not join (no key); a shaped record's lines still join by the stream
    its metadata names (Joined: the record returned before holds the line; Pending: a CRI piece)."""
    return _stateless(max_bytes).decode(value, None)
