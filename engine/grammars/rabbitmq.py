"""RabbitMQ logs: 3.8 (``2026-12-05 02:11:12.359 [error] <0.123.0> msg``), 3.9+
(``2026-12-05 02:11:12.359123+00:00 [error] <0.123.0> msg``) and 3.7's report headers
(``=ERROR REPORT==== 5-Dec-2026::02:11:12 ===``, message on the following lines).

Crash reports and many errors go on over the next lines. 3.8 writes them without a header: the
record grouper joins them to the open record. 3.9+ repeats the header on every line (the same
time to the microsecond, level and process): ``continues`` tells the grouper such a line
belongs to the record before it. The Erlang process is the logger; the client end of an
AMQP connection (``(10.0.0.5:45678 -> 10.0.0.1:5672)``) is the peer.
"""
from __future__ import annotations

import re

from engine.grammars._common import MONTHS, add_ids, event, iso_epoch, level_of, minute_epoch

_LINE = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d):(\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)? \[(\w+)\] "
                   r"(?:(<[\d.]+>) ?)?(.*)", re.DOTALL)
_REPORT = re.compile(r"=(\w+) REPORT==== (\d{1,2})-(\w{3})-(\d{4})::(\d\d):(\d\d):(\d\d(?:\.\d+)?) ===\s*(.*)",
                     re.DOTALL)
_PEER = re.compile(r"\((\[?[\w.:]+\]?:\d+) -> ")
_REPORT_LEVELS = {"ERROR": "ERROR", "CRASH": "ERROR", "SUPERVISOR": "ERROR", "WARNING": "WARNING",
                  "INFO": "INFO", "PROGRESS": "DEBUG"}


def parse(text: str, service: str | None, source: str | None):
    if text[:1] == "=":
        return _report(text, service, source)
    m = _LINE.match(text)
    if m is None:
        return None
    date, hhmm, sec, zone, word, proc, message = m.groups()
    level = level_of(word)
    if level is None:
        return None
    try:
        ts = iso_epoch(date, hhmm, sec, zone)
    except ValueError:
        return None
    ev = event(message, text, ts, service or "rabbitmq", level, proc or "rabbit", None, source)
    if "->" in message:
        p = _PEER.search(message)
        if p:
            ev.peer = p.group(1)
    return add_ids(ev, message)


def _report(text: str, service: str | None, source: str | None):
    m = _REPORT.match(text)
    if m is None:
        return None
    kind, day, mon, year, hh, mi, sec, message = m.groups()
    mo = MONTHS.get(mon)
    if mo is None:
        return None
    try:
        ts = minute_epoch(int(year), mo, int(day), int(hh), int(mi)) + float(sec)
    except ValueError:
        return None
    level = _REPORT_LEVELS.get(kind, "INFO")
    return event(message or f"{kind} REPORT", text, ts, service or "rabbitmq", level, "rabbit", None, source)


def continues(prev, ev) -> bool:
    """Whether `ev` is the next line of RabbitMQ 3.9+'s record `prev` (its header repeated)."""
    return (ev.timestamp == prev.timestamp and ev.logger == prev.logger and ev.level == prev.level
            and ev.service == prev.service and ev.logger[:1] == "<")
