"""nginx's error log: ``2026/12/05 02:11:12 [error] 1234#5678: *9 connect() failed (111:
Connection refused) while connecting to upstream, client: 10.0.0.1, server: _, ...``.

Local time without a zone (read as UTC), level word, pid#thread, the connection number; the
``client:`` is the peer. nginx's access log has Apache's format (engine.grammars.apache).
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, level_of, minute_epoch

_LINE = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] (\d+)#\d+: (?:\*\d+ )?(.*)", re.DOTALL)
_CLIENT = re.compile(r"\bclient: ([\w.:\[\]-]+?),")


def parse(text: str, service: str | None, source: str | None):
    m = _LINE.match(text)
    if m is None:
        return None
    y, mo, d, hh, mi, sec, word, pid, message = m.groups()
    level = level_of(word)
    if level is None:
        return None
    try:
        ts = minute_epoch(int(y), int(mo), int(d), int(hh), int(mi)) + float(sec)
    except ValueError:
        return None
    ev = event(message, text, ts, service or "nginx", level, "nginx", int(pid), source)
    if "client: " in message:
        c = _CLIENT.search(message)
        if c:
            ev.peer = c.group(1)
    return add_ids(ev, message)
