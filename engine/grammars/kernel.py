"""Kernel and systemd bodies (from syslog or the journal; the program tag says which).

The kernel's messages carry no level in their text (the syslog priority, when there is one, is
the caller's): it comes from what they say. The OOM killer
(``Out of memory: Killed process 1234 (qemu-system-x86)``, ``... invoked oom-killer``),
segfaults, oopses, BUGs, hung tasks and I/O errors are ERRORs. A dmesg stamp
(``[12345.678901] ``) is dropped from the message. The subsystem prefix (``EXT4-fs``,
``br-int``, a device) is the logger. Bridge ports named after Neutron ports give a port id.
systemd: ``nova-compute.service: Main process exited, code=killed, status=9/KILL`` and
``Failed to start ...`` are ERRORs; the unit is the logger.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, level_by_content

_DMESG = re.compile(r"\[\s*\d+\.\d+\] ")
_SUBSYSTEM = re.compile(r"([\w.-]{2,32})(?:\[\d+\])?(?: \([^)]*\))?: ")
_KERNEL_ERRORS = re.compile(
    r"Out of memory|Killed process|oom-kill|oom_reaper|invoked oom-killer|segfault at|general protection|"
    r"BUG:|Oops|Kernel panic|Call Trace|blocked for more than|I/O error|hung_task|soft lockup|"
    r"hard LOCKUP|MCE|Hardware Error|EXT4-fs error|XFS .*error|nf_conntrack: table full|dropping packet")
_UNIT = re.compile(r"([\w@.:-]+\.(?:service|socket|timer|mount|scope|slice|target)): ")
_SYSTEMD_ERRORS = re.compile(r"Failed|failed|code=killed|code=dumped|status=\d+/(?!SUCCESS)|"
                             r"start request repeated too quickly|Watchdog timeout")


def parse_kernel(text: str, service: str | None, source: str | None):
    message = text
    if message[:1] == "[":
        m = _DMESG.match(message)
        if m:
            message = message[m.end():]
    level = "ERROR" if _KERNEL_ERRORS.search(message) else level_by_content(message)
    sub = _SUBSYSTEM.match(message)
    ev = event(message, text, None, service or "kernel", level, sub.group(1) if sub else "kernel", None, source)
    return add_ids(ev, message)


def parse_systemd(text: str, service: str | None, source: str | None):
    unit = _UNIT.match(text)
    if _SYSTEMD_ERRORS.search(text):
        level = "ERROR"
    elif "Scheduled restart job" in text:
        level = "WARNING"
    else:
        level = level_by_content(text)
    ev = event(text, text, None, service or "systemd", level, unit.group(1) if unit else "systemd", None, source)
    return add_ids(ev, text)
