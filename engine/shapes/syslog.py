"""Syslog headers: RFC 3164, RFC 5424 and the ISO-8601-prefixed lines rsyslog and syslog-ng write.

Why here: rsyslog's omkafka and syslog-ng's Kafka destination send each record as syslog text,
not JSON (../shared/formats.md section 6), and OpenStack-Ansible's old client forwarded RFC 3164.
The header says when, where and who (time, host, program, pid, severity); the body is the record
(an oslo.log line, or a daemon's own line). `split_syslog` cuts one header off; the shape
decoders (engine/shapes/detect.py) and the infrastructure grammars (engine/grammars) use it.

Forms (sources: RFC 3164 section 4.1, RFC 5424 section 6, rsyslog's ``RSYSLOG_FileFormat``
template ``%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg%``, syslog-ng's default Kafka
message ``$ISODATE $HOST $MSGHDR$MSG``):

- ``<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`` (PRI optional; day space-padded): RFC 3164. It
  has no year: the year is the one that puts the date nearest the arrival time, so a record of
  Dec 31 that arrives on Jan 1 keeps its year and one of Jan 1 from a clock a little ahead
  does not jump back a year.
- ``<PRI>1 2026-12-05T02:13:12.385Z host app procid msgid [sd] msg``: RFC 5424 (``-`` is nil).
- ``2026-12-05T02:13:12.385984+00:00 host tag: msg`` (PRI optional): rsyslog's file format
  and syslog-ng's ISODATE.

The tag is ``program[pid]:`` or ``program:``; a record without one (syslog-ng reading a file
with ``flags(no-parse)`` and no program override) keeps the whole rest as its body.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone

__all__ = ["split_syslog", "SEVERITY_LEVELS", "MONTHS", "iso_time", "looks_like_syslog"]

# syslog severities (PRI % 8) -> oslo.log level names
SEVERITY_LEVELS = ("CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), 1)}
_YEAR_SECONDS = 365.2425 * 86400
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?\Z", re.ASCII)
_CLOCK = re.compile(r"(\d\d):(\d\d):(\d\d)(\.\d+)?\Z", re.ASCII)
_TAG = re.compile(r"([^\s\[\]:]{1,128})(?:\[(\d{1,10})\])?:\Z")

Split = tuple[float | None, str | None, str | None, int | None, str | None, str]


_minutes: dict[str, float | None] = {}
_years: dict[tuple, int] = {}


def _minute(text: str) -> float | None:
    """Epoch of 'YYYY-MM-DDTHH:MM' (cached: a stream's records share few minutes), None if invalid."""
    base = _minutes.get(text, False)
    if base is False:
        y, mo, d, h, mi = int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16])
        base = None
        if 1 <= y and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60:
            base = float(calendar.timegm((y, mo, d, h, mi, 0)))
        if len(_minutes) >= 65536:
            _minutes.clear()
        _minutes[text] = base
    return base


def iso_time(text: str) -> float | None:
    """RFC 3339 / ISO 8601 date-time (``T`` separator; zone optional, UTC assumed) -> epoch
    seconds, or None. Fractions of any length are kept (RFC3339Nano's nine digits too)."""
    m = _ISO.match(text)
    if m is None:
        return None
    base = _minute(text[:16])
    s = int(m.group(6))
    if base is None or s >= 61:
        return None
    ts = base + s
    if m.group(7):
        ts += float(m.group(7))
    zone = m.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        zh, zm = int(zone[1:3]), int(zone[-2:])
        ts += sign * (zh * 3600 + zm * 60)
    return ts


def _rfc3164_time(month: str, day: str, clock: str, arrival: float | None) -> float | None:
    """'Dec', '31', '23:59:58' -> epoch seconds in the year nearest `arrival` (UTC)."""
    mo = MONTHS.get(month)
    m = _CLOCK.match(clock)
    if mo is None or m is None or not day.isdecimal():
        return None
    d, h, mi, s = int(day), int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    frac = float(m.group(4)) if m.group(4) else 0.0
    if arrival is None:
        arrival = datetime.now(timezone.utc).timestamp()
    key = (mo, d, h, int(arrival // 3600))   # the year nearest the arrival, per hour of arrival
    year = _years.get(key)
    if year is None:
        now = datetime.fromtimestamp(arrival, timezone.utc).year
        best = None
        for y in (now - 1, now, now + 1):
            if d > calendar.monthrange(y, mo)[1]:
                continue   # Feb 29 of a year without one
            ts = calendar.timegm((y, mo, d, h, 30, 0))
            if best is None or abs(ts - arrival) < abs(best[1] - arrival):
                best = (y, ts)
        if best is None:
            return None
        if len(_years) >= 65536:
            _years.clear()
        year = _years[key] = best[0]
    base = _minute(f"{year:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}")
    return None if base is None else base + s + frac


def _tag(rest: str) -> tuple[str | None, int | None, str]:
    """(program, pid, body) of 'tag[pid]: body' or 'tag: body'; no tag: (None, None, rest)."""
    cut = rest.find(" ")
    head = rest if cut < 0 else rest[:cut]
    m = _TAG.match(head)
    if m is None:
        return None, None, rest
    body = "" if cut < 0 else rest[cut + 1:]
    return m.group(1), int(m.group(2)) if m.group(2) else None, body


def looks_like_syslog(text: str) -> bool:
    """A cheap first look (no parsing): PRI, an RFC 3164 month, or an ISO date with ``T``."""
    if not text:
        return False
    c = text[0]
    if c == "<":
        return True
    if len(text) > 16 and text[4] == "-" and text[10] == "T":
        return True
    return len(text) > 15 and text[3] == " " and text[:3] in MONTHS


def split_syslog(text: str, arrival: float | None = None) -> Split | None:
    """(timestamp, host, program, pid, priority_level, body) of one syslog record, or None when
    the text has no syslog header. `arrival` (epoch seconds, default now) gives an RFC 3164
    record its year. The body keeps its own newlines; a missing part is None."""
    level = None
    rest = text
    if rest[:1] == "<":
        end = rest.find(">", 1, 5)
        if end < 2 or not rest[1:end].isdecimal():
            return None
        pri = int(rest[1:end])
        if pri > 191:
            return None
        level = SEVERITY_LEVELS[pri & 7]
        rest = rest[end + 1:]
        if rest[:2] == "1 ":   # RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
            return _rfc5424(rest[2:], level)
    if len(rest) > 16 and rest[4] == "-" and rest[10] == "T":
        stamp, sep, rest = rest.partition(" ")
        ts = iso_time(stamp)
        if ts is None or not sep:
            return None
    elif len(rest) > 15 and rest[3] == " " and rest[:3] in MONTHS:
        # 'Mmm dd hh:mm:ss ' with the day space-padded ('Dec  5')
        day = rest[4:6].strip()
        if rest[6:7] != " ":
            return None
        clock, sep, after = rest[7:].partition(" ")
        ts = _rfc3164_time(rest[:3], day, clock, arrival)
        if ts is None or not sep:
            return None
        rest = after
    else:
        return None
    host, sep, rest = rest.partition(" ")
    if not host or not sep or host.isdecimal() or host[0] in "[(|":
        return None   # not a host name (MariaDB's thread id, a bracket): another daemon's own stamp
    program, pid, body = _tag(rest)
    if program is None and level is None and not (body[4:5] == "-" and body[10:11] == " "):
        return None   # no PRI, no tag, no oslo.log record: a line that merely starts with a date
    return ts, host, program, pid, level, body


def _nil(field: str) -> str | None:
    return None if field == "-" else field


def _rfc5424(rest: str, level: str | None) -> Split | None:
    parts = rest.split(" ", 5)
    if len(parts) < 5:
        return None
    stamp, host, app, procid, _msgid = parts[:5]
    ts = None if stamp == "-" else iso_time(stamp)
    if ts is None and stamp != "-":
        return None
    tail = parts[5] if len(parts) > 5 else ""
    # structured data: '-' or one or more '[id k="v" ...]' elements (']' inside values is escaped)
    if tail.startswith("-"):
        body = tail[2:] if tail[1:2] == " " else tail[1:]
    elif tail.startswith("["):
        i, n = 0, len(tail)
        while i < n and tail[i] == "[":
            i += 1
            quoted = False
            while i < n and (quoted or tail[i] != "]"):
                if tail[i] == "\\":
                    i += 1
                elif tail[i] == '"':
                    quoted = not quoted
                i += 1
            i += 1
        body = tail[i + 1:] if tail[i:i + 1] == " " else tail[i:]
    else:
        body = tail
    if body.startswith("\ufeff"):   # the BOM RFC 5424 allows before a UTF-8 MSG
        body = body[1:]
    pid = int(procid) if procid.isdecimal() else None
    return ts, _nil(host), _nil(app), pid, level, body
