"""MariaDB/MySQL error log, Galera (WSREP) included.

``2026-12-05  2:11:12 0 [ERROR] WSREP: ...`` (MariaDB 10.x: hour padded with a space, thread id),
older ``201205  2:11:12 [ERROR] ...`` (yymmdd, no thread), and MySQL 5.7/8's
``2026-12-05T02:11:12.359123Z 0 [ERROR] [MY-010123] [Server] ...``. Local time without a zone
is read as UTC (as oslo.log lines are). The subsystem prefix (``WSREP:``, ``InnoDB:``) is the
logger; the client host of a refused login or an aborted connection is the peer.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, iso_epoch, level_of, minute_epoch

_LINE = re.compile(r"(\d{4}-\d\d-\d\d|\d{6}) ([ \d]\d):(\d\d):(\d\d) (?:(\d+) )?\[(\w+)\] (.*)", re.DOTALL)
_ISO = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):(\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d) (\d+) \[(\w+)\] "
                  r"(?:\[[^\]]*\] )*(.*)", re.DOTALL)
_minutes: dict[str, float] = {}   # 'date hh mi' as written -> epoch of that minute
_SUBSYSTEM = re.compile(r"([A-Z][A-Za-z_]{1,15}): ")
_PEER = re.compile(r"(?:@'|host: ')([\w.:-]+)'")


def parse(text: str, service: str | None, source: str | None):
    m = _LINE.match(text)
    if m is not None:
        date, hh, mi, sec, thread, word, message = m.groups()
        level = level_of(word)
        if level is None:
            return None
        key = date + hh + mi
        base = _minutes.get(key)
        if base is None:
            try:
                if len(date) == 6:
                    y, mo, d = 2000 + int(date[:2]), int(date[2:4]), int(date[4:])
                else:
                    y, mo, d = int(date[:4]), int(date[5:7]), int(date[8:])
                base = minute_epoch(y, mo, d, int(hh), int(mi))
            except ValueError:
                return None
            if len(_minutes) >= 65536:
                _minutes.clear()
            _minutes[key] = base
        ts = base + float(sec)
    else:
        m = _ISO.match(text)
        if m is None:
            return None
        date, hhmm, sec, zone, thread, word, message = m.groups()
        level = level_of(word)
        if level is None:
            return None
        try:
            ts = iso_epoch(date, hhmm, sec, zone)
        except ValueError:
            return None
    sub = _SUBSYSTEM.match(message)
    ev = event(message, text, ts, service or "mariadb", level, sub.group(1) if sub else "mysqld",
               int(thread) if thread else None, source)
    if "'" in message:
        p = _PEER.search(message)
        if p:
            ev.peer = p.group(1)
    return add_ids(ev, message)
