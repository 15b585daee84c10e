"""keepalived's syslog bodies (program ``Keepalived``, ``Keepalived_vrrp``,
``Keepalived_healthcheckers``): VRRP state changes and checks, without a level.

Level by what happened: ``(VI_1) Entering FAULT STATE`` is an ERROR, a move to BACKUP, a failed
or timed-out check script a WARNING, ``Entering MASTER STATE`` INFO. The VRRP instance
(``VI_1``) or script (``chk_haproxy``) is the logger. Run with ``-l``/``--log-file`` instead of
syslog, keepalived stamps each line itself: ``Sat Dec  5 04:37:32 2026: (VI_1) Unknown interface!``.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, level_by_content, month_epoch

_STAMPED = re.compile(r"\w{3} (\w{3}) +(\d{1,2}) (\d\d:\d\d):(\d\d) (\d{4}): (.*)", re.DOTALL)
_NAME = re.compile(r"(?:VRRP_Instance|VRRP_Script|VRRP_Group)?\(([\w.-]+)\)")


def parse(text: str, service: str | None, source: str | None):
    n = _NAME.search(text[:80])
    logger = n.group(1) if n else "keepalived"
    if "FAULT STATE" in text:
        level = "ERROR"
    elif "MASTER STATE" in text or "succeeded" in text:
        level = "INFO"
    elif "BACKUP STATE" in text:
        level = "WARNING"
    else:
        level = level_by_content(text)
        if level == "ERROR" and ("VRRP_Script" in text or "Script(" in text):
            level = "WARNING"   # a failed check is the cause of a state change, logged at warning
    return add_ids(event(text, text, None, service or "keepalived", level, logger, None, source), text)


def parse_stamped(text: str, service: str | None, source: str | None):
    """A line keepalived stamped itself (console or its own log file)."""
    m = _STAMPED.match(text)
    if m is None:
        return None
    mon, day, hhmm, sec, year, body = m.groups()
    try:
        ts = month_epoch(year, mon, day, hhmm, sec)
    except ValueError:
        return None
    ev = parse(body, service, source)
    ev.raw = text
    ev.timestamp = ts
    return ev
