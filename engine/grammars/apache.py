"""Apache httpd: the error log (Keystone, Placement, Horizon under mod_wsgi log there) and
the access log in the common/combined formats (nginx writes the same access format).

Error log (2.4): ``[Sat Dec 05 02:11:12.359123 2026] [wsgi:error] [pid 123:tid 456]
[client 10.0.0.1:5678] message``; 2.2's ``[Sat Dec 05 02:11:12 2026] [error] [client 10.0.0.1]``
has no module. Local time without a zone is read as UTC. The module is the logger, the client
(``[client ..]`` or mod_wsgi's ``[remote ..]``) the peer, the level word maps to oslo's.
Access log: ``10.0.0.1 - - [05/Dec/2026:02:11:12 +0000] "GET /v3 HTTP/1.1" 500 123 "-" "ua"``
(an optional leading ``vhost:port``); a 5xx status is an ERROR, a 4xx a WARNING.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, http_level, level_of, month_epoch

_ERROR = re.compile(r"\[\w{3} (\w{3}) +(\d{1,2}) (\d\d:\d\d):(\d\d(?:\.\d+)?) (\d{4})\] "
                    r"\[(?:([\w.-]+):)?(\w+)\] (?:\[pid (\d+)(?::tid \d+)?\] )?"
                    r"(?:\[(?:client|remote) ([^\]]+)\] )?(.*)", re.DOTALL)
_ACCESS = re.compile(r"(?:(\S+) )?(\S+) \S+ \S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d:\d\d):(\d\d(?:\.\d+)?) "
                     r"([+-]\d{4})\] \"([^\"]*)\" (\d{3}) (.*)", re.DOTALL)


def parse_error_log(text: str, service: str | None, source: str | None):
    m = _ERROR.match(text)
    if m is None:
        return None
    mon, day, hhmm, sec, year, module, word, pid, client, message = m.groups()
    level = level_of(word)
    if level is None:
        return None
    try:
        ts = month_epoch(year, mon, day, hhmm, sec)
    except ValueError:
        return None
    ev = event(message, text, ts, service or "apache2", level, module or "core", int(pid) if pid else None,
               source)
    ev.peer = client
    return add_ids(ev, message)


def parse_access_log(text: str, service: str | None, source: str | None):
    m = _ACCESS.match(text)
    if m is None:
        return None
    vhost, client, day, mon, year, hhmm, sec, zone, request, status, rest = m.groups()
    try:
        ts = month_epoch(year, mon, day, hhmm, sec, zone)
    except ValueError:
        return None
    message = f'"{request}" {status} {rest}'
    ev = event(message, text, ts, service or "apache2", http_level(status), "access", None, source)
    ev.peer = client
    return add_ids(ev, request)
