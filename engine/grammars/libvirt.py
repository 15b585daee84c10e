"""libvirtd's log and qemu's per-instance logs (/var/log/libvirt/qemu/instance-0000001a.log).

libvirtd: ``2026-12-05 02:11:12.359+0000: 1234: error : virNetSocketReadWire:1791 : End of file
while reading data`` (time with its zone, thread id, level word, function:line, message).
qemu's instance log mixes libvirt's own lines (``2026-12-05 02:11:12.359+0000: starting up
libvirt version: ...``, ``... shutting down, reason=crashed``) with qemu's
(``2026-12-05T02:11:12.359012Z qemu-system-x86_64: terminating on signal 15 from pid 1234``); they
carry no level, so it comes from what they say. Domain UUIDs are Nova's instance UUIDs.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, iso_epoch, level_by_content, level_of

_LIBVIRTD = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d):(\d\d(?:\.\d+)?)([+-]\d\d:?\d\d|Z): (\d+): (\w+) : "
                       r"(?:([A-Za-z_]\w*):\d+ : )?(.*)", re.DOTALL)
_QEMU_LIBVIRT = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d):(\d\d(?:\.\d+)?)([+-]\d\d:?\d\d|Z): (.*)", re.DOTALL)
_QEMU = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):(\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d) ([\w.-]+): (.*)", re.DOTALL)


def parse_libvirtd(text: str, service: str | None, source: str | None):
    m = _LIBVIRTD.match(text)
    if m is None:
        return None
    date, hhmm, sec, zone, pid, word, function, message = m.groups()
    level = level_of(word)
    if level is None:
        return None
    try:
        ts = iso_epoch(date, hhmm, sec, zone)
    except ValueError:
        return None
    ev = event(message, text, ts, service or "libvirtd", level, function or "libvirtd", int(pid), source)
    return add_ids(ev, message, instance_uuids=True)


def parse_qemu(text: str, service: str | None, source: str | None, domain: str | None = None):
    """A line of a qemu instance log (either kind of stamp); level by content."""
    m = _QEMU.match(text)
    if m is not None:
        date, hhmm, sec, zone, logger, message = m.groups()
    else:
        m = _QEMU_LIBVIRT.match(text)
        if m is None:
            return None
        date, hhmm, sec, zone, message = m.groups()
        logger = "libvirt"
    try:
        ts = iso_epoch(date, hhmm, sec, zone)
    except ValueError:
        return None
    level = level_by_content(message)   # reason=crashed is an ERROR, a signal a WARNING
    ev = event(message, text, ts, service or "qemu", level, logger, None, source)
    if domain is not None:
        ev.instance_name = domain
    return add_ids(ev, message, instance_uuids=True)


_BODY = re.compile(r"(\d+): (\w+) : (?:([A-Za-z_]\w*):\d+ : )?(.*)", re.DOTALL)


def parse_libvirtd_body(text: str, service: str | None, source: str | None):
    """libvirtd's line without its stamp, as the journal or syslog carries it."""
    m = _BODY.match(text)
    if m is None:
        return None
    pid, word, function, message = m.groups()
    level = level_of(word)
    if level is None:
        return None
    ev = event(message, text, None, service or "libvirtd", level, function or "libvirtd", int(pid), source)
    return add_ids(ev, message, instance_uuids=True)
