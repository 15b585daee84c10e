"""What every infrastructure grammar shares: times, level words, the ids a line names.

Why a module of its own: each grammar (one per daemon family) only cuts its own
header; turning "Dec", "+0000" or "[warning]" into epoch seconds and oslo levels,
and finding the instance, port, request and peer a message names, is the same
work everywhere, and doing it one way keeps the events of every family alike.
Everything here is pure and cached where a stream repeats itself (the epoch of
each minute).
"""
from __future__ import annotations

import calendar
import re

from schemas.log_event import LogEvent

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

# syslog severities and the words daemons use for them -> oslo levels
_LEVEL_WORDS = {
    "emerg": "CRITICAL", "emergency": "CRITICAL", "emer": "CRITICAL", "alert": "CRITICAL",
    "aler": "CRITICAL", "crit": "CRITICAL", "critical": "CRITICAL", "fatal": "CRITICAL",
    "err": "ERROR", "error": "ERROR", "erro": "ERROR",
    "warn": "WARNING", "warning": "WARNING",
    "notice": "INFO", "noti": "INFO", "note": "INFO", "info": "INFO", "system": "INFO",
    "debug": "DEBUG", "debu": "DEBUG", "dbg": "DEBUG",
}


_LEVEL_WORDS.update({k.upper(): v for k, v in list(_LEVEL_WORDS.items())})
_LEVEL_WORDS.update({k.capitalize(): v for k, v in list(_LEVEL_WORDS.items())})


def level_of(word: str) -> str | None:
    """An oslo level for a daemon's level word (any case; Apache's trace1-8 is DEBUG)."""
    level = _LEVEL_WORDS.get(word)   # the usual spellings (error, ERROR, Error) without lower()
    if level is None:
        w = word.lower()
        level = _LEVEL_WORDS.get(w)
        if level is None and w.startswith("trace"):
            return "DEBUG"
    return level


# A body with no level of its own (kernel, systemd, keepalived, HAProxy's server events) gets
# one from what it says. The words are about failures in general, no daemon's. A set of words
# and a few phrases (substring tests, C speed) cost a fifth of one case-blind regex.
_ERROR_WORDS = frozenset((
    "error", "errors", "fail", "failed", "failing", "failure", "fatal", "panic", "segfault", "crash",
    "crashed", "refused", "denied", "abort", "aborted", "aborting", "killed", "unreachable", "timeout",
    "corrupt", "corrupted", "corruption", "oops", "bug", "lost", "emergency", "cannot", "unable"))
_ERROR_PHRASES = ("out of memory", "timed out", "is down", "no server available", "call trace", "oom-kill",
                  "blocked for more than", "fault state", "dumped core", "kill process", "can't")
_WARNING_WORDS = frozenset(("warn", "warning", "degraded", "retry", "retrying", "deprecated", "restarting",
                            "unexpected", "unexpectedly"))
_WARNING_PHRASES = ("backup state", "disabled state", "not ready", "terminating on signal")
_words = re.compile(r"[a-z]+").findall


def level_by_content(text: str) -> str:
    """ERROR for a failure, WARNING for trouble, else INFO (for bodies without a level)."""
    low = text.lower()
    words = _words(low)
    if not _ERROR_WORDS.isdisjoint(words):
        return "ERROR"
    for phrase in _ERROR_PHRASES:
        if phrase in low:
            return "ERROR"
    if not _WARNING_WORDS.isdisjoint(words):
        return "WARNING"
    for phrase in _WARNING_PHRASES:
        if phrase in low:
            return "WARNING"
    return "INFO"


def http_level(status: str) -> str:
    """An HTTP status as a level: 5xx ERROR, 4xx WARNING, anything else INFO."""
    c = status[:1]
    return "ERROR" if c == "5" else "WARNING" if c == "4" else "INFO"


# -- times --------------------------------------------------------------------------

_minutes: dict[tuple, float] = {}


def minute_epoch(y: int, mo: int, d: int, h: int, mi: int) -> float:
    """Epoch seconds (UTC) of a minute, cached; ValueError when it is no date."""
    key = (y, mo, d, h, mi)
    base = _minutes.get(key)
    if base is None:
        if not (1970 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
                and 0 <= h < 24 and 0 <= mi < 60):
            raise ValueError(f"bad time {key}")
        base = float(calendar.timegm((y, mo, d, h, mi, 0)))
        if len(_minutes) >= 65536:
            _minutes.clear()
        _minutes[key] = base
    return base


_iso_minutes: dict[str, float] = {}
_zones: dict[str, int] = {"Z": 0, "UTC": 0, "GMT": 0, "": 0, "+0000": 0, "+00:00": 0}


def iso_epoch(date: str, hhmm: str, seconds: str, zone: str | None = None) -> float:
    """'2026-12-05', '02:11', '12.359', '+0000' (or '+00:00', 'Z', None = UTC) -> epoch seconds."""
    key = date + hhmm
    base = _iso_minutes.get(key)
    if base is None:
        if len(date) != 10 or len(hhmm) != 5 or date[4] != "-" or hhmm[2] != ":":
            raise ValueError(f"bad time {date} {hhmm}")
        base = minute_epoch(int(date[:4]), int(date[5:7]), int(date[8:10]), int(hhmm[:2]), int(hhmm[3:]))
        if len(_iso_minutes) >= 65536:
            _iso_minutes.clear()
        _iso_minutes[key] = base
    ts = base + float(seconds)
    if zone:
        offset = _zones.get(zone)
        ts -= zone_offset(zone) if offset is None else offset
    return ts


def zone_offset(zone: str) -> int:
    """'+0100' / '-05:30' / 'Z' -> seconds east of UTC (cached)."""
    offset = _zones.get(zone)
    if offset is None:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
        if len(_zones) < 1024:
            _zones[zone] = offset
    return offset


_month_minutes: dict[str, float] = {}


def month_epoch(year: str, month: str, day: str, hhmm: str, seconds: str, zone: str | None = None) -> float:
    """('2026', 'Dec', '5', '02:11', '12.3', '+0000') -> epoch seconds; ValueError if not a date."""
    key = year + month + day + hhmm
    base = _month_minutes.get(key)
    if base is None:
        mo = MONTHS.get(month)
        if mo is None:
            raise ValueError(f"bad month {month!r}")
        base = minute_epoch(int(year), mo, int(day), int(hhmm[:2]), int(hhmm[3:5]))
        if len(_month_minutes) >= 65536:
            _month_minutes.clear()
        _month_minutes[key] = base
    ts = base + float(seconds)
    if zone:
        ts -= zone_offset(zone)
    return ts


# -- ids -------------------------------------------------------------------------------

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_REQ = re.compile(r"\breq-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_DOMAIN = re.compile(r"\binstance-[0-9a-f]{8}\b")
# Neutron names a port's devices after the first 11 characters of its UUID
_PORT = re.compile(r"\b(?:tap|qvo|qvb|qbr|qr-|qg-|ha-)([0-9a-f]{8}-[0-9a-f]{2})")


def add_ids(event: LogEvent, text: str, instance_uuids: bool = False) -> LogEvent:
    """Fill the request id, port id, libvirt domain name (and, where the family's UUIDs are
    instance UUIDs, the instance id) that `text` names, where the event lacks them."""
    if event.request_id is None and "req-" in text:
        m = _REQ.search(text)
        if m:
            event.request_id = m.group()
    if event.instance_name is None and "instance-" in text:
        m = _DOMAIN.search(text)
        if m:
            event.instance_name = m.group()
    if event.port_id is None and ("tap" in text or "qv" in text or "qbr" in text or "qr-" in text
                                  or "qg-" in text or "ha-" in text):
        m = _PORT.search(text)
        if m:
            event.port_id = m.group(1)
    if instance_uuids and event.instance_id is None:
        m = _UUID.search(text)
        if m:
            event.instance_id = m.group()
    return event


def event(message: str, raw: str, timestamp: float | None, service: str | None, level: str | None,
          logger: str | None, pid: int | None, source: str | None) -> LogEvent:
    """A LogEvent of an infrastructure line (host comes from the shipper's key or syslog)."""
    return LogEvent(message, raw, timestamp, service, None, level, logger, pid, None, None, None, None, source)
