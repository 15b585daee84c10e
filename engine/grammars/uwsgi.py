"""uWSGI (OpenStack APIs run under it in devstack and many deployments).

Its request log line carries time, pid, client and the HTTP status: ``[pid: 1234|app: 0|req:
5/9] 10.0.0.1 () {40 vars in 567 bytes} [Sat Dec  5 02:11:12 2026] GET /identity/v3 =>
generated 123 bytes in 45 msecs (HTTP/1.1 500) 6 headers in 250 bytes (1 switches on core 0)``:
a 5xx is an ERROR, a 4xx a WARNING. uWSGI's own messages (``DAMN ! worker 1 (pid: 123) died``)
have no time: only with the program named (syslog/journal), level by content.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, http_level, level_by_content, month_epoch

_REQUEST = re.compile(r"\[pid: (\d+)\|app: [^|]*\|req: [^\]]*\] (\S+) \([^)]*\) \{[^}]*\} "
                      r"\[\w{3} (\w{3}) +(\d{1,2}) (\d\d:\d\d):(\d\d) (\d{4})\] (.*?\(HTTP/[\d.]+ (\d{3})\).*)",
                      re.DOTALL)


def parse(text: str, service: str | None, source: str | None, named: bool = False):
    m = _REQUEST.match(text)
    if m is None:
        if not named:
            return None
        return add_ids(event(text, text, None, service or "uwsgi", level_by_content(text), "uwsgi", None,
                             source), text)
    pid, client, mon, day, hhmm, sec, year, message, status = m.groups()
    try:
        ts = month_epoch(year, mon, day, hhmm, sec)
    except ValueError:
        return None
    ev = event(message, text, ts, service or "uwsgi", http_level(status), "uwsgi", int(pid), source)
    ev.peer = client
    return add_ids(ev, message)
