"""HAProxy's syslog bodies (the program tag says ``haproxy``; the syslog header is split
before a body gets here).

- HTTP log: ``10.0.0.1:5678 [05/Dec/2026:02:11:12.359] nova_api nova_api/ctl1 0/0/-1/-1/3 503
  217 - - SC-- 1/1/0/0/3 0/0 "GET /v2.1 HTTP/1.1"``: the status gives the level (5xx ERROR, 4xx
  WARNING), the backend is the logger, the client the peer.
- TCP log: ``... galera galera/db1 1/-1/3 0 SC 1/1/0/0/3 0/0``: a session ended by an error
  (termination state not ``--``) is an ERROR when the server side failed (``S``), else a WARNING.
- Server events: ``Server nova_api/ctl1 is DOWN, reason: Layer4 connection problem, ...``
  (ERROR), ``backend nova_api has no server available!`` (CRITICAL), ``Server ... is UP``
  (INFO), health checks that fail (WARNING); the backend is the logger.
"""
from __future__ import annotations

import re

from engine.grammars._common import add_ids, event, http_level, level_by_content, month_epoch

_LOG = re.compile(r"(\S+):(\d+) \[(\d\d)/(\w{3})/(\d{4}):(\d\d:\d\d):(\d\d(?:\.\d+)?)\] (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)",
                  re.DOTALL)
_SERVER = re.compile(r"(?:Server|server|Health check for server|Health check for backup server) ([\w.-]+)/[\w.-]+ "
                     r"(?:is |failed|succeeded)(\w*)")
_BACKEND = re.compile(r"(?:backend|proxy|Proxy|frontend|Backend|Frontend) '?([\w.-]+)'? ")


def parse(text: str, service: str | None, source: str | None):
    m = _LOG.match(text)
    if m is not None:
        return _traffic(m, text, service, source)
    if m is None and text[:1].isdigit() and " [" in text[:60]:
        return None   # a cut traffic line: no guessing
    s = _SERVER.search(text)
    if s is not None:
        backend, state = s.groups()
        if state == "DOWN":
            level = "ERROR"
        elif state in ("UP",) or "succeeded" in text:
            level = "INFO"
        elif "failed" in text or state in ("MAINT", "DRAIN"):
            level = "WARNING"
        else:
            level = level_by_content(text)
        logger = backend
    else:
        b = _BACKEND.search(text)
        logger = b.group(1) if b else "haproxy"
        level = "CRITICAL" if "has no server available" in text else level_by_content(text)
    return add_ids(event(text, text, None, service or "haproxy", level, logger, None, source), text)


def _traffic(m, text: str, service: str | None, source: str | None):
    client, _port, day, mon, year, hhmm, sec, frontend, target, timers, f5, f6, rest = m.groups()
    try:
        ts = month_epoch(year, mon, day, hhmm, sec)
    except ValueError:
        return None
    backend = target.split("/", 1)[0]
    if timers.count("/") >= 4 and f5.isdecimal():   # HTTP: status then bytes
        level = http_level(f5)
    else:                                            # TCP: bytes then termination state
        state = f6
        level = "INFO" if state[:1] in ("-", "") else "ERROR" if state[:1] == "S" else "WARNING"
    message = text[m.start(8):]
    ev = event(message, text, ts, service or "haproxy", level, backend if backend != "<NOSRV>" else frontend,
               None, source)
    ev.peer = f"{client}:{_port}"
    return add_ids(ev, rest)
