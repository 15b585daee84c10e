"""Open vSwitch and OVN logs (ovs-vswitchd, ovsdb-server, ovn-controller, ovn-northd).

File format: ``2026-12-05T02:11:12.359Z|00042|rconn|WARN|br-int<->tcp:127.0.0.1:6633: connection
failed (Connection refused)`` (UTC time, sequence number, module with an optional ``(thread)``,
level EMER/ERR/WARN/INFO/DBG, message). Via syslog the body is ``ovs|00042|rconn|WARN|...``.
The module is the logger; a ``tcp:``/``ssl:`` remote in the message is the peer.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, iso_epoch

LEVELS = {"EMER": "CRITICAL", "ERR": "ERROR", "WARN": "WARNING", "INFO": "INFO", "DBG": "DEBUG"}
_TCP = re.compile(r"\b(?:tcp|ssl):(\[?[\d.a-fA-F:]+\]?:\d+)")


def parse(text: str, service: str | None, source: str | None):
    parts = text.split("|", 4)
    if len(parts) != 5:
        return None
    stamp, seq, module, word, message = parts
    level = LEVELS.get(word)
    if level is None or not seq.isdecimal():
        return None
    if stamp == "ovs":   # syslog body: the header carries the time
        ts = None
    else:
        if len(stamp) < 20 or stamp[10] != "T":
            return None
        try:
            ts = iso_epoch(stamp[:10], stamp[11:16], stamp[17:].rstrip("Z") or "0", "Z")
        except ValueError:
            return None
    cut = module.find("(")
    if cut > 0:
        module = module[:cut]
    ev = event(message, text, ts, service or "ovs-vswitchd", level, module, None, source)
    if ":" in message:
        m = _TCP.search(message)
        if m:
            ev.peer = m.group(1)
    return add_ids(ev, message)
