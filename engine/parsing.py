"""Parse oslo.log lines of any OpenStack service into ``LogEvent`` objects.

Every OpenStack service (nova-*, neutron-*, cinder-*, glance-*, heat-*,
keystone, placement and the agents) logs through oslo.log with the same
default format::

    [file-name ]YYYY-MM-DD HH:MM:SS.mmm PID LEVEL logger [context] [instance: UUID] message

The leading file-name field appears in collections such as Loghub
(``nova-api.log.1.2017-05-16_13:53:08 2017-05-16 ...``); plain service logs
(devstack) lack it and the service comes from the file name instead.

Multi-line records. oslo.log writes each traceback line with its
``logging_exception_prefix`` (``TIME PID ERROR logger [instance: X]`` and no
request context), so a traceback looks like many lines sharing one header.
Separate records of the same logger often share that header too (a lock
"acquired" and "released" in the same millisecond), so the grouper only
joins a line to the open record when it shares timestamp, pid and logger
*and* looks like a continuation: no request context (the exception prefix),
or a traceback line. Lines without any header (the tail of a multi-line
message) join the open record. The event's ``message`` is the first line's
message; ``raw`` holds every line.

Nothing is lost and nothing raises: a line that cannot be parsed becomes a
``LogEvent`` with ``parse_error`` set and the line as its message.

Speed matters (the worker parses the whole stream): the header is cut with
``str.split`` (about twice as fast as a regex), the epoch of each minute and
the service of each file are cached, continuation lines never become events
of their own, and ``parse_lines`` handles the common line (a header that
starts a new record) inline, without a call to ``RecordGrouper.feed``.

Lines without an oslo.log header: the infrastructure's formats (libvirt, qemu, Open vSwitch,
RabbitMQ, MariaDB, HAProxy, keepalived, Apache, nginx, uWSGI, kernel and systemd bodies) are
tried next (``engine.grammars.parse_infra``), so every caller gets their time, level and ids;
an infrastructure record takes the headerless lines after it (RabbitMQ's crash reports). A line
in none of them keeps the rules above (an orphan continuation, a traceback line).

Services: the leading file-name field or the source path names the service
(``nova/nova-compute.log`` -> ``nova-compute``, ``neutron/server.log`` ->
``neutron-server``); without either, the logger gives a guess
(``nova.compute.manager`` -> ``nova-compute``). ``host`` stays None: oslo.log
lines do not carry it.
"""
from __future__ import annotations

import calendar
import os
import re
from collections.abc import Iterable, Iterator

from engine.grammars import continues_record, parse_infra, parser_for
from schemas.log_event import Frame, LogEvent

__all__ = [
    "LEVELS", "ERROR_LEVELS", "PROJECTS", "parse_line", "parse_lines", "RecordGrouper",
    "service_from_source", "service_from_logger",
]

LEVELS = ("TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL")
_LEVEL_SET = frozenset(LEVELS)
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})  # the levels that count as errors
PROBLEM_LEVELS = ERROR_LEVELS | {"WARNING"}      # the levels a window with a problem has


def has_problem(events) -> bool:
    """Whether any of `events` is an error or a warning: a window without one is quiet (the
    detector clears it, and the stream's follow-up check has no first problem to start from)."""
    return any(e.level in PROBLEM_LEVELS for e in events)

_DATE_START = re.compile(r"(?:\S+ )?\d{4}-\d\d-\d\d[ T]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_GARBAGE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")
_FRAME = re.compile(r'\s*File "([^"]+)", line (\d+), in (.+?)\s*$')
_EXC_TYPE = re.compile(r"[A-Za-z_][\w.]*")
_CONTINUATION_LEVELS = ("ERROR", "TRACE")  # oslo.log's exception prefix levels
_MAX_RECORD_LINES = 5000  # bounds memory when a "record" never ends

# OpenStack projects whose log directory names the service
# (neutron/server.log -> neutron-server).
PROJECTS = frozenset({
    "nova", "neutron", "cinder", "glance", "heat", "keystone", "placement",
    "swift", "ironic", "octavia", "manila", "barbican", "designate", "aodh",
    "ceilometer", "gnocchi", "magnum", "trove", "horizon", "zun", "masakari",
})
# devstack's short service names (screen-n-cpu.txt, n-cpu.log, ...)
_DEVSTACK_NAMES = {
    "n-api": "nova-api", "n-cpu": "nova-compute", "n-sch": "nova-scheduler",
    "n-cond": "nova-conductor", "n-super-cond": "nova-conductor",
    "n-novnc": "nova-novncproxy", "n-api-meta": "nova-api-metadata",
    "q-svc": "neutron-server", "q-agt": "neutron-openvswitch-agent",
    "q-dhcp": "neutron-dhcp-agent", "q-l3": "neutron-l3-agent",
    "q-meta": "neutron-metadata-agent", "c-api": "cinder-api",
    "c-vol": "cinder-volume", "c-sch": "cinder-scheduler", "c-bak": "cinder-backup",
    "g-api": "glance-api", "g-reg": "glance-registry", "h-eng": "heat-engine",
    "h-api": "heat-api", "h-api-cfn": "heat-api-cfn", "key": "keystone",
}
# logger fallback: nova.compute.manager -> nova-compute (a guess, see below)
_DAEMON_PACKAGES = {
    "compute": "compute", "scheduler": "scheduler", "conductor": "conductor",
    "api": "api", "osapi_compute": "api", "volume": "volume", "backup": "backup",
    "engine": "engine",
}


def service_from_source(path: str | None) -> str | None:
    """Service name from a log file name or path, or None.

    ``nova/nova-compute.log.bzip2.out`` -> ``nova-compute``;
    ``neutron/server.log`` -> ``neutron-server`` (a bare name under a project
    directory is prefixed with the project); ``nova-api.log.1.2017-05-16_13:53:08``
    (Loghub's field) -> ``nova-api``; devstack's ``screen-n-cpu.txt`` ->
    ``nova-compute``.
    """
    if not path:
        return None
    path = path.replace("\\", "/").rstrip("/")
    base = path.rsplit("/", 1)[-1]
    cut = base.find(".log")
    stem = base[:cut] if cut > 0 else base.split(".", 1)[0]
    if stem.startswith("screen-"):
        stem = stem[len("screen-"):]
    if not stem:
        return None
    if stem in _DEVSTACK_NAMES:
        return _DEVSTACK_NAMES[stem]
    parent = os.path.basename(os.path.dirname(path)).lower()
    if parent in PROJECTS and not stem.startswith(parent):
        return f"{parent}-{stem}"
    return stem


def service_from_logger(logger: str | None) -> str | None:
    """Fallback guess from the logger: ``nova.compute.manager`` -> ``nova-compute``.

    Only the project (first part) is reliable; the daemon is a guess from the
    second part (``compute``, ``scheduler``, ``api`` ...). Loggers of shared
    libraries (oslo_*, keystonemiddleware, eventlet) name no service: None.
    """
    if not logger:
        return None
    parts = logger.split(".")
    if parts[0] not in PROJECTS:
        return None
    if len(parts) > 2 and parts[1] in _DAEMON_PACKAGES:
        return f"{parts[0]}-{_DAEMON_PACKAGES[parts[1]]}"
    return parts[0]


# -- timestamps ---------------------------------------------------------------

_MINUTE = re.compile(r"\d{4}-\d\d-\d\d\d\d:\d\d", re.ASCII)
_TIME = re.compile(r"\d\d:\d\d:\d\d(?:\.\d+)?\Z", re.ASCII)
_match_time = _TIME.match
_minute_cache: dict[str, float] = {}


def _timestamp(date: str, time: str) -> float:
    """'2017-05-16', '00:00:01.551' -> epoch seconds (read as UTC).

    The epoch of each minute is cached (and its date checked once, on a
    miss), so a timestamp costs a dict lookup and a float(). ValueError if
    malformed.
    """
    base = _minute_cache.get(date + time[:5])
    if base is None:
        base = _minute_epoch(date, time)
    if _match_time(time) is None:
        raise ValueError(f"bad timestamp {date} {time}")
    return base + float(time[6:])


def _minute_epoch(date: str, time: str) -> float:
    key = date + time[:5]
    if not _MINUTE.fullmatch(key):
        raise ValueError(f"bad timestamp {date} {time}")
    y, mo, d, h, mi = int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[10:12]), int(key[13:15])
    if not (1 <= y and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60):
        raise ValueError(f"bad timestamp {date} {time}")
    base = float(calendar.timegm((y, mo, d, h, mi, 0)))
    if len(_minute_cache) >= 65536:
        _minute_cache.clear()
    _minute_cache[key] = base
    return base


# -- one line -------------------------------------------------------------------

def _split(line: str):
    """(field, header) of a line, or None if it has no oslo.log header.

    The header is (date, time, pid, level, logger, context, rest). The
    context is the text of oslo's request context "[req-X user project
    domain user_domain project_domain]", "[-]", or with a global request id
    first ("[None req-X ...]", "[req-G req-X ...]"); None when absent. "rest"
    keeps its leading spaces: they indent traceback lines. str.split is about
    four times as fast as a regex here (CPython's regex engine pays per
    character); the timestamp is validated in _event. Indexing and
    startswith are used over slices: each slice builds two objects.
    """
    if len(line) > 10 and line[4] == "-" and line[10] == " ":  # starts with the date
        field = None
        p = line.split(" ", 5)
    else:  # a leading file-name field
        p = line.split(" ", 6)
        field = p.pop(0)
    if len(p) < 5 or p[3] not in _LEVEL_SET:
        return None
    if len(p) == 5:
        date, time, pid, level, logger = p
        rest = ""
    else:
        date, time, pid, level, logger, rest = p
    if not pid.isdecimal() or len(date) != 10 or not logger:
        return None
    ctx = None
    if rest.startswith(("[req-", "[-]")) or (rest.startswith("[") and " req-" in rest[:48]):
        end = rest.find("]")
        if end > 0:
            ctx = rest[1:end]
            rest = rest[end + 2:] if rest.startswith(" ", end + 1) else rest[end + 1:]
    return field, (date, time, pid, level, logger, ctx, rest)


def _strip_instance(body: str) -> tuple[str | None, str]:
    """'[instance: X] msg' -> ('X', 'msg')."""
    if body[:11] == "[instance: ":
        end = body.find("]", 11)
        if end > 0:
            return body[11:end], body[end + 2:] if body[end + 1:end + 2] == " " else body[end + 1:]
    return None, body


def _context_fields(ctx: str) -> tuple[str | None, str | None, str | None]:
    """'req-X user project dom udom pdom' -> (req-X, user, project).

    Also '[None req-X user project]' and '[req-G req-X user ...]' (global
    request id first: the local one names the request in this service).
    '-' and 'None' mean unknown.
    """
    t = ctx.split(" ", 3)
    if len(t) == 4 and t[0][:4] == "req-" and t[1][:4] != "req-":  # the common case
        user, project = t[1], t[2]
        return (t[0], None if user in _UNKNOWN else user,
                None if project in _UNKNOWN else project)
    if t[0][:4] != "req-" or (len(t) > 1 and t[1][:4] == "req-"):
        t = ctx.split(" ", 4)[1:]  # a global request id comes first
    t.extend((None, None))
    request_id, user, project = t[0], t[1], t[2]
    if request_id is None or request_id[:4] != "req-":
        request_id = None
    if user in _UNKNOWN:
        user = None
    if project in _UNKNOWN:
        project = None
    return request_id, user, project


_UNKNOWN = frozenset(("-", "None", "", None))


class _Services:
    """Service of a line, cached: from the file-name field, else the source
    file, else (a guess) the logger."""

    __slots__ = ("source", "of_source", "_by_field", "_by_logger")

    def __init__(self, source: str | None):
        self.source = source
        self.of_source = service_from_source(source)
        self._by_field: dict[str, str | None] = {}
        self._by_logger: dict[str, str | None] = {}

    def get(self, field: str | None, logger: str) -> str | None:
        if field is not None:
            svc = self._by_field.get(field, False)
            if svc is False:
                svc = self._remember(self._by_field, field, service_from_source(field))
            if svc is not None:
                return svc
        if self.of_source is not None:
            return self.of_source
        svc = self._by_logger.get(logger, False)
        if svc is False:
            svc = self._remember(self._by_logger, logger, service_from_logger(logger))
        return svc

    @staticmethod
    def _remember(cache: dict, key: str, value: str | None) -> str | None:
        if len(cache) >= 4096:
            cache.clear()
        cache[key] = value
        return value


def _event(field: str | None, head: tuple, raw: str, services: _Services) -> LogEvent:
    """LogEvent of a header line (single-line record; the grouper adds the rest).

    This runs once per record, so the common cases of _timestamp and
    _Services.get are inlined.
    """
    date, time, pid, level, logger, ctx, body = head
    base = _minute_cache.get(date + time[:5])
    if base is None or _match_time(time) is None:
        try:
            ts = _timestamp(date, time)
        except ValueError as exc:
            return _error(raw, str(exc), services.source)
    else:
        ts = base + float(time[6:])
    instance = None
    if body[:11] == "[instance: ":
        instance, body = _strip_instance(body)
    if ctx is None or ctx == "-":
        request_id = user = project = None
    else:
        request_id, user, project = _context_fields(ctx)
    source = services.source
    if field is None and source is not None:
        service = services.of_source or services.get(None, logger)
    else:
        service = services._by_field.get(field) if field is not None else None
        if service is None:
            service = services.get(field, logger)
        if source is None:
            source = field
    return LogEvent(
        body, raw, ts, service, None, level, logger, int(pid),
        request_id, user, project, instance, source,
    )


def _error(line: str, reason: str, source: str | None) -> LogEvent:
    return LogEvent(message=line, raw=line, source=source,
                    service=service_from_source(source), parse_error=reason)


def _failure_reason(line: str) -> str:
    if not line.strip():
        return "empty line"
    if _GARBAGE.search(line):
        return "binary or control characters"
    if _DATE_START.match(line):
        return "truncated or malformed oslo.log header"
    return "no oslo.log header"


def _text(line) -> str:
    """A line as str without its line end and terminal colour codes."""
    if not isinstance(line, str):
        line = bytes(line).decode("utf-8", "replace")
    line = line.rstrip("\r\n")
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return line


def parse_line(line: str, source: str | None = None, program: str | None = None) -> LogEvent:
    """Parse one line on its own (no multi-line grouping). Never raises.

    A line without an oslo.log header goes to the infrastructure grammars (``program``: the
    syslog/journal program tag, when the caller has one) before it is called unparsable.
    """
    line = _text(line)
    split = _split(line)
    if split is None:
        infra = parse_infra(line, program, source)
        if infra is not None:
            return infra
        return _error(line, _failure_reason(line), source)
    services = _services_cache.get(source)
    if services is None:
        if len(_services_cache) >= 1024:
            _services_cache.clear()
        services = _services_cache[source] = _Services(source)
    return _event(split[0], split[1], line, services)


_services_cache: dict[str | None, _Services] = {}


# -- multi-line records -------------------------------------------------------------

def _traceback_details(lines: list[str]) -> tuple[list[Frame], str | None, str | None]:
    """Frames and the final exception of the traceback(s) in continuation lines.

    The exception line is the first unindented line after the last frame's
    code line (Python prints it right after the frames); its text may carry
    on over the following unindented lines (e.g. ProcessExecutionError's
    Command/Exit code/Stdout), which are joined into exception_text.
    """
    frames: list[Frame] = []
    last_indented = -1
    for i, text in enumerate(lines):
        if text.startswith((" ", "\t")):
            m = _FRAME.match(text)
            if m:
                frames.append(Frame(m.group(1), int(m.group(2)), m.group(3)))
            last_indented = i
    if not frames:
        return frames, None, None
    tail = [t for t in lines[last_indented + 1:] if t.strip()]
    if not tail:
        return frames, None, None
    first = tail[0]
    name, sep, text = first.partition(":")
    name = name.strip()
    if not _EXC_TYPE.fullmatch(name):
        return frames, None, first.strip()
    parts = [text.strip()] if sep else []
    for extra in tail[1:]:
        if extra.startswith(("Traceback (", "During handling", "The above exception")):
            break
        parts.append(extra.strip())
    return frames, name, "\n".join(p for p in parts if p) or None


class RecordGrouper:
    """Turns a stream of lines of ONE log file into records (LogEvents).

    ``feed(line)`` returns the records completed by that line (usually the
    previous one); ``flush()`` returns the open record at the end of input.
    A record stays open until a line arrives that starts a new one, so a
    stream consumer should call ``flush()`` when its input goes idle.
    """

    def __init__(self, source: str | None = None):
        self.source = source
        self._services = _Services(source)
        self._field: str | None = None
        self._head: tuple | None = None  # header of the open record
        self._first: str = ""
        self._more: list[str] = []  # continuation lines (raw)
        self._bodies: list[str] = []  # their message parts (for tracebacks)
        self._in_traceback = False
        self._parse_infra = parser_for(source)  # lines without an oslo.log header (engine.grammars)
        self._infra: LogEvent | None = None  # the open infrastructure record
        self._infra_more: list[str] = []      # its headerless lines

    def feed(self, line: str) -> list[LogEvent]:
        """Add one line; return the records it completed (often none)."""
        if not isinstance(line, str) or line[-1:] in "\r\n" or "\x1b" in line:
            line = _text(line)
        split = _split(line)
        if split is None:
            return self._headerless(line)
        if self._infra is not None:
            out = self._close_infra()
            out.extend(self._feed_split(line, split))
            return out
        return self._feed_split(line, split)

    def _feed_split(self, line: str, split: tuple) -> list[LogEvent]:
        field, h = split
        head = self._head
        if head is None:
            out = []
        elif h[1] == head[1] and h[2] == head[2] and h[4] == head[4] and h[0] == head[0] \
                and field == self._field and (body := self._continuation(h)) is not None:
            # same time, pid, logger, date and file-name field
            self._add(line, body)
            return []
        elif self._more:
            out = self.flush()
        else:
            out = [_event(self._field, head, self._first, self._services)]
        self._head = h
        self._field = field
        self._first = line
        return out

    def _headerless(self, line: str) -> list[LogEvent]:
        infra = self._parse_infra(line)
        if infra is not None:   # an infrastructure line starts a record of its own
            prev = self._infra
            if prev is None:
                out = self.flush()
            elif continues_record(prev, infra) and len(self._infra_more) < _MAX_RECORD_LINES:
                self._infra_more.append(line)   # its header repeated on the next line of a record
                return []
            elif self._infra_more:
                out = self._close_infra()
            else:
                out = [prev]
            self._infra = infra
            return out
        reason = _failure_reason(line)
        if reason in ("empty line", "no oslo.log header"):
            if self._head is not None and len(self._more) < _MAX_RECORD_LINES:
                self._add(line, line)  # the tail of a multi-line message
                return []
            if self._infra is not None and len(self._infra_more) < _MAX_RECORD_LINES:
                self._infra_more.append(line)  # the tail of an infrastructure record
                return []
        out = self.flush()
        out.append(_error(line, reason, self.source))
        return out

    def _close_infra(self) -> list[LogEvent]:
        event = self._infra
        self._infra = None
        if self._infra_more:
            event.raw = event.raw + "\n" + "\n".join(self._infra_more)
            event.line_count = 1 + len(self._infra_more)
            self._infra_more = []
        return [event]

    def _continuation(self, h: tuple) -> str | None:
        """If a line with the open record's time, pid and logger continues it: its message part."""
        head = self._head
        if (h[3] != head[3] and h[3] not in _CONTINUATION_LEVELS) or len(self._more) >= _MAX_RECORD_LINES:
            return None
        ctx = h[5]
        body = _strip_instance(h[6])[1]
        if ctx is None:
            # oslo.log's exception prefix carries no request context
            continues = head[5] is not None or self._in_traceback or body.startswith(("Traceback (", " "))
        else:
            # some deployments put the full context on traceback lines too
            continues = ctx == head[5] and (self._in_traceback or body.startswith("Traceback ("))
        return body if continues else None

    def _add(self, raw: str, body: str) -> None:
        self._more.append(raw)
        self._bodies.append(body)
        if body.startswith("Traceback ("):
            self._in_traceback = True

    def flush(self) -> list[LogEvent]:
        """Close the open record (end of input or idle stream)."""
        head = self._head
        if head is None:
            return self._close_infra() if self._infra is not None else []
        self._head = None
        if not self._more:
            return [_event(self._field, head, self._first, self._services)]
        raw = self._first + "\n" + "\n".join(self._more)
        event = _event(self._field, head, raw, self._services)
        if event.parse_error is None:
            event.line_count = 1 + len(self._more)
            event.frames, event.exception_type, event.exception_text = \
                _traceback_details([event.message, *self._bodies])
        self._more = []
        self._bodies = []
        self._in_traceback = False
        return [event]


class RecordJoiner(RecordGrouper):
    """The grouper for a stream that cannot wait: one line at a time, answered at once.

    A shipper that sends one line per message (kcat, Fluent Bit without a
    multiline parser) splits a traceback into lines that all carry the same
    oslo.log header. ``feed_line`` returns the record a line starts, or the open
    record it continues, updated in place (raw text, line count, frames,
    exception) with ``True``, so a consumer that already holds that record sees
    the whole traceback by the time it reads it.
    """

    def __init__(self, source: str | None = None):
        super().__init__(source)
        self.event: LogEvent | None = None   # the open record, as returned by the last feed_line

    def reset(self) -> None:
        """Close the open record: the next line starts a new one."""
        self._head = self.event = None

    def join_tail(self, line: str) -> LogEvent | None:
        """A line without a header continues the open record (a dump, a body); None if none is open."""
        event = self.event
        if event is None or len(self._more) >= _MAX_RECORD_LINES:
            return None
        self._add(line, line)
        self._update(event)
        return event

    def _update(self, event: LogEvent) -> None:
        event.raw = self._first + "\n" + "\n".join(self._more)
        event.line_count = 1 + len(self._more)
        if event.parse_error is None:
            event.frames, event.exception_type, event.exception_text = \
                _traceback_details([event.message, *self._bodies])

    def feed_line(self, line: str) -> tuple[LogEvent, bool] | None:
        """(record, joined) for a line with an oslo.log header; None for any other line."""
        split = _split(line)
        if split is None:
            return None
        field, h = split
        head, event = self._head, self.event
        if head is not None and event is not None and h[1] == head[1] and h[2] == head[2] \
                and h[4] == head[4] and h[0] == head[0] and field == self._field \
                and (body := self._continuation(h)) is not None:
            self._add(line, body)
            self._update(event)
            return event, True
        self._head, self._field, self._first = h, field, line
        self._more, self._bodies, self._in_traceback = [], [], False
        self.event = _event(field, h, line, self._services)
        return self.event, False


def parse_lines(lines: Iterable[str], source: str | None = None) -> Iterator[LogEvent]:
    """Parse the lines of one log file into records, grouping multi-line ones.

    This is ``RecordGrouper.feed`` for every line, then ``flush``; the
    common case (a clean header line that starts a new record while the
    open one is a single line) is inlined here with the grouper's state in
    local variables, and everything else goes through ``feed``.
    """
    grouper = RecordGrouper(source)
    services = grouper._services
    feed = grouper.feed
    headerless = grouper._headerless
    split = _split
    event = _event
    head: tuple | None = None  # the grouper's state while it has no continuation lines
    field: str | None = None
    first = ""
    simple = True  # the open record (if any) has no continuation lines
    infra = False  # an infrastructure record is open (the grouper holds it)
    for line in lines:
        if simple and line.__class__ is str and line[-1:] not in "\r\n" and "\x1b" not in line:
            s = split(line)
            if s is None:  # no oslo.log header: an infrastructure line or a tail (no second split)
                if head is not None:   # (it only ever closes the open record, never opens one)
                    grouper._head = head
                    grouper._field = field
                    grouper._first = first
                    out = headerless(line)
                    head = grouper._head
                else:
                    out = headerless(line)
                simple = not grouper._more
                infra = grouper._infra is not None
                if out:
                    yield from out
                continue
            if not infra:
                if head is None:
                    field, head = s
                    first = line
                    continue
                f, h = s
                if not (h[1] == head[1] and h[2] == head[2] and h[4] == head[4] and h[0] == head[0]
                        and f == field):
                    ev = event(field, head, first, services)
                    field = f
                    head = h
                    first = line
                    yield ev
                    continue
        grouper._head = head
        grouper._field = field
        grouper._first = first
        out = feed(line)
        head = grouper._head
        field = grouper._field
        first = grouper._first
        simple = not grouper._more
        infra = grouper._infra is not None
        if out:
            yield from out
    grouper._head = head
    grouper._field = field
    grouper._first = first
    yield from grouper.flush()
