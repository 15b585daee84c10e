"""What a shape decoder gives: the innermost text and the metadata its wrapper carried.

Why one type: every pipeline of ../shared/formats.md wraps the same thing, an oslo.log record
(or another daemon's line), in different field names. A decoder only renames: it returns the
record as oslo.log text (rebuilt with oslo's own header layout when the pipeline split the
header into fields, as kolla's fluentd and oslo's JSON formatter do) plus what the wrapper knew
(time, host, file, program, level, ids). The worker then parses the text with the one oslo.log
parser (engine/parsing.py), so a record gives the same event fields whatever carried it, and the
metadata fills what the text lacks.
"""
from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass

from engine.parsing import LEVELS, service_from_source

__all__ = ["Shaped", "Pending", "oslo_time", "oslo_record", "context_text", "program_service", "strip_ansi",
           "with_req", "LEVEL_ALIASES", "kubernetes_container", "normal_level"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LEVEL_SET = frozenset(LEVELS)
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "CRIT": "CRITICAL", "ERR": "ERROR", "EMERG": "CRITICAL",
                 "ALERT": "CRITICAL", "NOTICE": "INFO", "INFORMATIONAL": "INFO", "EMERGENCY": "CRITICAL"}
# programs and tags that name no service (rsyslog's 'openstack:' tag, an interpreter)
_GENERIC_PROGRAMS = frozenset({"openstack", "python", "python2", "python3", "python2.7", "python3.6", "python3.8",
                               "python3.9", "python3.10", "python3.11", "python3.12", "stdout", "stderr", "-",
                               "uwsgi", "sh", "bash", "kolla_start"})


@dataclass(slots=True)
class Shaped:
    """One record out of its wrapper.

    ``text``: the record as text (one or more lines); an oslo.log record keeps (or gets back)
    its header, so the parser reads it as a raw line. ``header_pid``: False when the pid in a
    rebuilt header is a stand-in (the wrapper carried none). ``stream``: what names the writing
    stream beside host and file (a container, a unit): lines of one stream join into records.
    ``snap``: the text is one line of a record the pipeline split per line, whose header time
    is the wrapper's own (journald's receipt time), which may differ by microseconds between
    the lines of one traceback.
    """

    shape: str
    text: str
    time: float | None = None
    host: str | None = None
    path: str | None = None
    program: str | None = None
    level: str | None = None
    logger: str | None = None
    pid: int | None = None
    request_id: str | None = None
    global_request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    instance_id: str | None = None
    stream: str | None = None
    header_pid: bool = True

    def service(self) -> str | None:
        """The service the wrapper names: its file first, then its program."""
        if self.path:
            svc = service_from_source(self.path)
            if svc:
                return svc
        return program_service(self.program)

    def fill(self, outer: "Shaped") -> "Shaped":
        """Fill what this (inner) record lacks from the wrapper around it; keeps the outer shape name."""
        for name in ("time", "host", "path", "program", "level", "logger", "pid", "request_id",
                     "global_request_id", "user_id", "project_id", "instance_id", "stream"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(outer, name))
        self.shape = outer.shape
        return self


@dataclass(frozen=True, slots=True)
class Pending:
    """A piece of a record that the next message of its stream completes (a CRI ``P`` line)."""

    shape: str


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


def program_service(program: str | None) -> str | None:
    """Service of a program name, tag, unit or container: ``nova-compute``, ``n-cpu`` ->
    ``nova-compute``, ``devstack@n-cpu.service`` -> ``nova-compute``,
    ``openstack.nova.compute`` (TripleO's tag) -> ``nova-compute``; None for generic ones."""
    if not program:
        return None
    p = program.strip()
    if p.startswith("devstack@"):
        p = p[len("devstack@"):]
    if p.endswith(".service"):
        p = p[:-len(".service")]
    if p.startswith("openstack."):
        p = p[len("openstack."):].replace(".", "-")
    if not p or p.lower() in _GENERIC_PROGRAMS:
        return None
    return service_from_source(p) or p


def kubernetes_container(path: str | None) -> str | None:
    """The container a Kubernetes node's log file belongs to:
    ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log`` or
    ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log``; None for other paths."""
    if not path or "/log/" not in path:
        return None
    parts = path.replace("\\", "/").split("/")
    if "containers" in parts[:-1] and parts[-1].endswith(".log") and parts[-1].count("_") >= 2:
        rest = parts[-1][:-4].split("_", 2)[2]
        return rest.rsplit("-", 1)[0] or None
    if "pods" in parts[:-2] and parts[-1].endswith(".log"):
        return parts[-2] or None
    return None


def with_req(request_id: str | None) -> str | None:
    """A request id with oslo.context's ``req-`` prefix (kolla's fluentd strips it)."""
    if not request_id or request_id in ("-", "None"):
        return None
    return request_id if request_id.startswith("req-") else "req-" + request_id


_second_cache: dict[int, str] = {}


def oslo_time(ts: float) -> str:
    """Epoch seconds -> oslo.log's header time, UTC, milliseconds cut as logging cuts them:
    ``2026-12-05 02:07:47.359``."""
    us = int(round(ts * 1_000_000))
    sec, us = divmod(us, 1_000_000)
    head = _second_cache.get(sec)
    if head is None:
        if len(_second_cache) >= 4096:
            _second_cache.clear()
        head = _second_cache[sec] = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(sec))
    return f"{head}.{us // 1000:03d}"


def context_text(request_id: str | None, user: str | None = None, project: str | None = None,
                 global_request_id: str | None = None, rest: str = "- - -") -> str:
    """oslo.context's logging context as the default format writes it: ``req-X user project - - -``
    (the global request id first when there is one), ``-`` without a request."""
    request_id = with_req(request_id)
    if request_id is None:
        return "-"
    head = f"{global_request_id} {request_id}" if global_request_id and global_request_id != request_id \
        else request_id
    return f"{head} {user or '-'} {project or '-'} {rest}"


def normal_level(level) -> str | None:
    if level is None:
        return None
    level = str(level).upper()
    if level in _LEVEL_SET:
        return level
    return LEVEL_ALIASES.get(level)


def oslo_record(ts: float | None, pid: int | None, level: str, logger: str, context: str | None,
                message: str, traceback_lines=(), instance: str | None = None,
                stamp: str | None = None) -> str:
    """A record rebuilt in oslo.log's default layout (``logging_context_format_string`` and
    ``logging_exception_prefix``): the header line, the message's further lines as they are, and
    each traceback line under the exception prefix, as oslo's ContextFormatter writes them."""
    stamp = stamp or (oslo_time(ts) if ts is not None else "1970-01-01 00:00:00.000")
    inst = f"[instance: {instance}] " if instance else ""
    head = f"{stamp} {pid if pid is not None else 0} {level} {logger}"
    ctx = f" [{context}]" if context is not None else ""
    text = f"{head}{ctx} {inst}{message}"
    if traceback_lines:
        prefix = f"\n{stamp} {pid if pid is not None else 0} ERROR {logger} {inst}"
        text += "".join(prefix + line for line in traceback_lines)
    return text
