"""Encoders: a raw oslo.log record as each pipeline would ship it (../shared/formats.md).

Why: the worker must give the same answer whatever pipeline carried the logs. `rca eval --stream
--shape NAME` re-encodes every run of a labelled data set with these and replays it, and a
property test checks that any record, encoded in any shape, decodes to the events its raw lines
give. Each encoder writes what its pipeline writes, field names and splitting included: per
record (a shipper with multiline settings, or a formatter that writes one object per record) or
per line (journald's stdout transport, Fluent Bit and CRI files, TripleO's rsyslog, RFC 3164).

Input: a `RawRecord` (the record's text as the log file has it, the host and file it came from,
its time). Output: messages ``(key, value, arrival)``: the Kafka key the pipeline sets (None
for most), the value, and when it would reach the broker (an RFC 3164 record takes its year
from it).
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass

import orjson

from engine.parsing import parse_line, parse_lines, service_from_source
from engine.shapes.decode import SHAPES

__all__ = ["RawRecord", "encode", "ENCODED_SHAPES", "ARRIVAL_DELAY"]

ARRIVAL_DELAY = 0.25   # seconds from a record's time to the broker (what an RFC 3164 year is read against)
_PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "AUDIT": 5, "INFO": 6, "DEBUG": 7, "TRACE": 7}
_FACILITY_LOCAL0 = 16
_DEVSTACK_SHORT = {"nova-api": "n-api", "nova-compute": "n-cpu", "nova-scheduler": "n-sch",
                   "nova-conductor": "n-cond", "neutron-server": "q-svc", "cinder-api": "c-api",
                   "cinder-volume": "c-vol", "cinder-scheduler": "c-sch", "glance-api": "g-api",
                   "heat-engine": "h-eng", "heat-api": "h-api", "keystone": "key"}
_COLOURS = {"DEBUG": "\x1b[00;32m", "INFO": "\x1b[00;36m", "WARNING": "\x1b[01;33m", "ERROR": "\x1b[01;31m",
            "CRITICAL": "\x1b[01;31m", "TRACE": "\x1b[00;32m", "AUDIT": "\x1b[00;36m"}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Message = tuple[bytes | None, bytes, float]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as a log file holds it: a line, or a traceback's lines (``\\n`` between)."""

    text: str
    host: str
    path: str
    time: float   # the record's time (a headerless record: its predecessor's)


@dataclass(slots=True)
class _Parts:
    """A record cut as oslo.log wrote it (None for a line without an oslo.log header)."""

    stamp: str
    pid: int
    level: str
    logger: str
    context: str | None      # the bracket's text after the logger, None when the line has none
    rest: str                # after the bracket: '[instance: X] message' as written
    message: str             # the parser's message (instance cut off)
    instance: str | None
    request_id: str | None
    user_id: str | None
    project_id: str | None
    more: list[str]          # the record's further lines as written
    bodies: list[str]        # the further lines with an oslo.log header: their text after it


def _header(line: str) -> tuple[str, str, str, str, str | None, str] | None:
    """(stamp, pid, level, logger, context, rest) of an oslo.log line (the parser's cut)."""
    p = line.split(" ", 5)
    if len(p) < 5 or len(p[0]) != 10 or p[0][4:5] != "-" or not p[2].isdecimal():
        return None
    rest = p[5] if len(p) > 5 else ""
    ctx = None
    if rest.startswith(("[req-", "[-]")) or (rest.startswith("[") and " req-" in rest[:48]):
        end = rest.find("]")
        if end > 0:
            ctx = rest[1:end]
            rest = rest[end + 2:] if rest.startswith(" ", end + 1) else rest[end + 1:]
    return f"{p[0]} {p[1]}", p[2], p[3], p[4], ctx, rest


def _parts(record: RawRecord) -> _Parts | None:
    lines = record.text.split("\n")
    first = parse_line(lines[0])
    head = _header(lines[0]) if first.parse_error is None else None
    if head is None:
        return None
    more = lines[1:]
    bodies = []
    for line in more:
        ev = parse_line(line)
        bodies.append(ev.message if ev.parse_error is None else None)
    return _Parts(head[0], int(head[1]), head[2], head[3], head[4], head[5], first.message, first.instance_id,
                  first.request_id, first.user_id, first.project_id, more, bodies)


def _service(record: RawRecord) -> str:
    return service_from_source(record.path) or "openstack"


def _global_id(ctx: str | None) -> str | None:
    if not ctx:
        return None
    t = ctx.split(" ", 2)
    return t[0] if len(t) > 1 and t[0].startswith("req-") and t[1].startswith("req-") else None


def _rfc3339(ts: float, digits: int = 6, zone: str = "+00:00") -> str:
    us = int(round(ts * 1_000_000))
    sec, us = divmod(us, 1_000_000)
    head = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec))
    frac = f".{us:06d}"[:digits + 1] if digits else ""
    return f"{head}{frac}{zone}"


def _nano(ts: float) -> str:
    """RFC3339Nano as Fluent Bit and containerd write it (UTC, nine digits)."""
    return _rfc3339(ts, 6, "") + "000Z"


def _json(obj) -> bytes:
    return orjson.dumps(obj)


def _message_and_traceback(parts: _Parts) -> tuple[str, list[str]]:
    """oslo.log's record back apart: the message (its own further lines included) and the
    traceback lines (the lines oslo.log wrote under its exception prefix)."""
    message = [parts.message]
    traceback: list[str] = []
    for line, body in zip(parts.more, parts.bodies):
        if body is None and not traceback:
            message.append(line)
        else:
            traceback.append(body if body is not None else line)
    return "\n".join(message), traceback


def _context_dict(parts: _Parts) -> dict:
    return {"request_id": parts.request_id, "global_request_id": _global_id(parts.context),
            "user": parts.user_id, "project_id": parts.project_id, "user_name": None, "project_name": None,
            "user_identity": f"{parts.user_id or '-'} {parts.project_id or '-'} - - -", "is_admin": False,
            "read_only": False, "show_deleted": False, "auth_token": None, "resource_uuid": None, "roles": []}


# -- the encoders -------------------------------------------------------------------------------
def _oslo_json(r: RawRecord) -> list[Message]:
    """oslo.log ``use_json = True``: one JSONFormatter object per record, in the service's file
    (shipped keyed host:path, as raw lines are)."""
    parts = _parts(r)
    key = f"{r.host}:{r.path}".encode()
    if parts is None:
        return [(key, r.text.encode(), r.time + ARRIVAL_DELAY)]
    message, traceback = _message_and_traceback(parts)
    obj = {"message": message, "asctime": parts.stamp.replace(".", ","), "name": parts.logger, "msg": message,
           "args": [], "levelname": parts.level, "levelno": 10, "pathname": "/opt/stack/x.py", "filename": "x.py",
           "module": "x", "lineno": 1, "funcname": "f", "created": r.time, "msecs": 0.0,
           "relative_created": 0.0, "thread": 1, "thread_name": "MainThread", "process_name": "MainProcess",
           "process": parts.pid, "traceback": traceback or None, "hostname": r.host,
           "error_summary": "", "context": _context_dict(parts),
           "extra": {"project": parts.project_id, "version": "unknown", "instance_uuid": parts.instance}}
    return [(key, _json(obj), r.time + ARRIVAL_DELAY)]


def _oslo_fluent(r: RawRecord) -> list[Message]:
    """oslo.log's FluentFormatter: no pid; the command line names the service's script."""
    parts = _parts(r)
    if parts is None:
        return [(f"{r.host}:{r.path}".encode(), r.text.encode(), r.time + ARRIVAL_DELAY)]
    message, traceback = _message_and_traceback(parts)
    svc = _service(r)
    obj = {"message": message, "time": parts.stamp.replace(".", ","), "name": parts.logger, "level": parts.level,
           "filename": "x.py", "lineno": 1, "module": "x", "funcname": "f", "process_name": "MainProcess",
           "cmdline": f"/usr/bin/python3 /usr/local/bin/{svc} --config-file /etc/{svc}.conf",
           "hostname": r.host, "traceback": traceback or None, "error_summary": "", "context": _context_dict(parts),
           "extra": {"project": parts.project_id, "version": "unknown", "instance_uuid": parts.instance}}
    return [(None, _json(obj), r.time + ARRIVAL_DELAY)]


def _journal_common(r: RawRecord, micros: int, pid: int | None, transport: str) -> dict:
    svc = _service(r)
    unit = f"devstack@{_DEVSTACK_SHORT.get(svc, svc)}.service"
    return {"__CURSOR": f"s=0;i={micros:x}", "__REALTIME_TIMESTAMP": str(micros),
            "__MONOTONIC_TIMESTAMP": str(micros % 10**10), "_BOOT_ID": "0" * 32, "_HOSTNAME": r.host,
            "_TRANSPORT": transport, "_SYSTEMD_UNIT": unit, "SYSLOG_IDENTIFIER": svc, "_COMM": svc[:15],
            "_PID": str(pid) if pid is not None else "1", "_UID": "1000", "SYSLOG_FACILITY": "3"}


def _journald(r: RawRecord) -> list[Message]:
    """oslo.log ``use_journal = True`` read back with ``journalctl -o json``: the formatter's
    whole text in MESSAGE, the logger, level and request in fields of their own."""
    parts = _parts(r)
    micros = int(round(r.time * 1e6))
    obj = _journal_common(r, micros, parts.pid if parts else None, "journal")
    obj["MESSAGE"] = r.text
    if parts is not None:
        obj.update({"PRIORITY": str(_PRIORITY.get(parts.level, 6)), "LOGGER_NAME": parts.logger,
                    "LOGGER_LEVEL": parts.level, "CODE_FILE": "/opt/stack/x.py", "CODE_LINE": "1",
                    "CODE_FUNC": "f", "THREAD_NAME": "MainThread", "PROCESS_NAME": "MainProcess"})
        if parts.request_id:
            obj["REQUEST_ID"] = parts.request_id
        if parts.project_id:
            obj["PROJECT_ID"] = parts.project_id
        if parts.user_id:
            obj["USER_ID"] = parts.user_id
    return [(None, _json(obj), r.time + ARRIVAL_DELAY)]


def _journald_stdout(r: RawRecord) -> list[Message]:
    """DevStack's default: the service writes to stdout with DevStack's format strings (colour
    codes, no time, no pid) and journald stores one entry per line: MESSAGE an array of bytes,
    the time only in __REALTIME_TIMESTAMP (each line a microsecond after the one before)."""
    out = []
    micros = int(round(r.time * 1e6))
    pid = None
    for i, line in enumerate(r.text.split("\n")):
        head = _header(line) if parse_line(line).parse_error is None else None
        if head is not None:
            pid = int(head[1])
            stamp, _pid, level, logger, ctx, rest = head
            colour = _COLOURS.get(level, "")
            bracket = f"[\x1b[01;36m{ctx}{colour}] " if ctx is not None else ""
            text = f"{colour}{level} {logger} {bracket}{rest}\x1b[00m"
        else:
            text = line
        obj = _journal_common(r, micros + i, pid, "stdout")
        obj["PRIORITY"] = "6"
        obj["MESSAGE"] = list(text.encode()) if "\x1b" in text else text
        out.append((None, _json(obj), r.time + ARRIVAL_DELAY))
    return out


def _kolla_fluentd(r: RawRecord) -> list[Message]:
    """kolla-ansible's fluentd: the header parsed into fields by its regex, ``req-`` cut off the
    request id, the rest of the first line and every further line (traceback lines with their
    prefix) in Payload; Hostname, Logger ``openstack.<dir>`` and programname added."""
    parts = _parts(r)
    directory = r.path.replace("\\", "/").rsplit("/", 2)
    program = directory[-1].split(".log", 1)[0]
    logger = f"openstack.{directory[-2] if len(directory) > 1 else 'openstack'}"
    if parts is None:
        obj = {"Payload": r.text, "Hostname": r.host, "Logger": logger, "programname": program}
        return [(None, _json(obj), r.time + ARRIVAL_DELAY)]
    ctx = (parts.context or "").split(" ")
    global_id = _global_id(parts.context)
    if global_id or (ctx and ctx[0] == "None"):
        ctx = ctx[1:]
    fields = (ctx + ["-"] * 6)[:6] if ctx and ctx[0].startswith("req-") else None
    obj = {"Timestamp": parts.stamp, "Pid": str(parts.pid), "log_level": parts.level,
           "python_module": parts.logger}
    if fields is not None:
        obj.update({"request_id": fields[0][len("req-"):], "user_id": fields[1], "tenant_id": fields[2],
                    "domain_id": fields[3], "user_domain": fields[4], "project_domain": fields[5]})
        if global_id:
            obj["global_request_id"] = global_id
    obj["Payload"] = " " + "\n".join([parts.rest, *parts.more])
    obj.update({"Hostname": r.host, "Logger": logger, "programname": program})
    return [(None, _json(obj), r.time + ARRIVAL_DELAY)]


def _kube(r: RawRecord) -> dict:
    svc = _service(r)
    return {"pod_name": f"{svc}-7d9f8b6c5-x2x4z", "namespace_name": "openstack", "pod_id": "0" * 8,
            "labels": {"application": svc.split("-")[0], "component": svc.split("-", 1)[-1]},
            "annotations": {}, "host": r.host, "container_name": svc, "docker_id": "0" * 12,
            "container_hash": "sha256:0", "container_image": f"docker.io/openstackhelm/{svc}:latest"}


def _fluentbit_docker(r: RawRecord) -> list[Message]:
    """Fluent Bit tailing docker's JSON files (openstack-helm): one object per line (a
    traceback is split), the line with its newline in ``log``, Kubernetes metadata added."""
    kube = _kube(r)
    return [(None, _json({"log": line + "\n", "stream": "stdout", "time": _nano(r.time + i * 1e-6),
                          "kubernetes": kube}), r.time + ARRIVAL_DELAY)
            for i, line in enumerate(r.text.split("\n"))]


def _cri(r: RawRecord, max_line: int = 16384) -> list[Message]:
    """containerd's CRI files read as text: '<RFC3339Nano> stdout F <line>', a line longer than
    the runtime's buffer cut into 'P' pieces and a final 'F'."""
    kube = _kube(r)
    key = (f"{r.host}:/var/log/containers/{kube['pod_name']}_{kube['namespace_name']}_"
           f"{kube['container_name']}-{kube['docker_id']}.log").encode()   # a shipper keying by host:file
    out = []
    for i, line in enumerate(r.text.split("\n")):
        stamp = _nano(r.time + i * 1e-6)
        pieces = [line[k:k + max_line] for k in range(0, len(line), max_line)] or [""]
        for j, piece in enumerate(pieces):
            tag = "F" if j == len(pieces) - 1 else "P"
            out.append((key, f"{stamp} stdout {tag} {piece}".encode(), r.time + ARRIVAL_DELAY))
    return out


def _vector(r: RawRecord) -> list[Message]:
    """Vector's file source (multiline settings), JSON codec: the record, its file and host."""
    obj = {"file": r.path, "host": r.host, "message": r.text, "source_type": "file",
           "timestamp": _rfc3339(r.time + ARRIVAL_DELAY, 6, "Z")}
    return [(None, _json(obj), r.time + ARRIVAL_DELAY)]


def _filebeat(r: RawRecord) -> list[Message]:
    """Filebeat (multiline settings) to Kafka, ECS fields."""
    obj = {"@timestamp": _rfc3339(r.time + ARRIVAL_DELAY, 3, "Z"), "message": r.text,
           "log": {"file": {"path": r.path}, "offset": 0}, "host": {"name": r.host},
           "agent": {"type": "filebeat", "version": "8.13.0"}, "input": {"type": "filestream"},
           "ecs": {"version": "8.0.0"}}
    return [(None, _json(obj), r.time + ARRIVAL_DELAY)]


def _tripleo_rsyslog(r: RawRecord) -> list[Message]:
    """TripleO's rsyslog JSON template: its start regex matches every line with an oslo.log
    header, traceback lines included, so a traceback arrives split; headerless lines stay with
    the line before them."""
    svc = _service(r)
    tag = "openstack." + svc.replace("-", ".", 1)
    messages: list[str] = []
    for line in r.text.split("\n"):
        if messages and parse_line(line).parse_error is not None:
            messages[-1] += "\n" + line
        else:
            messages.append(line)
    return [(None, _json({"@timestamp": _rfc3339(r.time, 6, "+00:00"), "host": r.host, "severity": "info",
                          "facility": "local0", "tag": tag, "source": r.host, "message": m, "file": r.path,
                          "cloud": "overcloud", "region": "regionOne"}), r.time + ARRIVAL_DELAY)
            for m in messages]


def _rsyslog(r: RawRecord) -> list[Message]:
    """rsyslog imfile (a start regex per record) -> omkafka, RSYSLOG_FileFormat: its read time,
    host, tag, the record with its newlines escaped as the two characters '\\n'; key = the
    service (``key=`` in the action)."""
    svc = _service(r)
    text = f"{_rfc3339(r.time + 0.000123, 6)} {r.host} {svc}: {r.text.replace(chr(10), chr(92) + 'n')}"
    return [(svc.encode(), text.encode(), r.time + ARRIVAL_DELAY)]


def _syslog_ng(r: RawRecord) -> list[Message]:
    """syslog-ng (multi-line-mode regexp) -> Kafka: '$ISODATE $HOST $MSGHDR$MSG', raw newlines,
    key = ${PROGRAM}."""
    svc = _service(r)
    text = f"{_rfc3339(r.time, 0)} {r.host} {svc}: {r.text}"
    return [(svc.encode(), text.encode(), r.time + ARRIVAL_DELAY)]


def _rfc3164(r: RawRecord) -> list[Message]:
    """A classic forwarder (OpenStack-Ansible's old rsyslog client): one RFC 3164 message per
    line, '<PRI>Mmm dd hh:mm:ss host tag[pid]: line', no year."""
    svc = _service(r)
    parts = _parts(r)
    pri = _FACILITY_LOCAL0 * 8 + _PRIORITY.get(parts.level if parts else "INFO", 6)
    pid = parts.pid if parts else None
    g = _time.gmtime(int(r.time))
    stamp = f"{_MONTH_NAMES[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
    tag = f"{svc}[{pid}]:" if pid is not None else f"{svc}:"
    return [(None, f"<{pri}>{stamp} {r.host} {tag} {line}".encode(), r.time + ARRIVAL_DELAY)
            for line in r.text.split("\n")]


def _rfc5424(r: RawRecord) -> list[Message]:
    """RFC 5424 (rsyslog's RSYSLOG_SyslogProtocol23Format, multi-line record as its MSG)."""
    svc = _service(r)
    parts = _parts(r)
    pri = _FACILITY_LOCAL0 * 8 + _PRIORITY.get(parts.level if parts else "INFO", 6)
    pid = str(parts.pid) if parts else "-"
    text = f"<{pri}>1 {_rfc3339(r.time, 6)} {r.host} {svc} {pid} - - {r.text}"
    return [(None, text.encode(), r.time + ARRIVAL_DELAY)]


def _raw(r: RawRecord) -> list[Message]:
    return [(f"{r.host}:{r.path}".encode(), r.text.encode(), r.time + ARRIVAL_DELAY)]


def _log_event(r: RawRecord) -> list[Message]:
    """Our own schema, as `rca publish --format json` sends it."""
    event = next(iter(parse_lines(r.text.split("\n"), source=r.path)))
    event.host = r.host
    if event.timestamp is None:
        event.timestamp = r.time
    return [(f"{r.host}:{r.path}".encode(), _json(event.to_dict()), r.time + ARRIVAL_DELAY)]


_ENCODERS = {"raw": _raw, "log_event": _log_event, "oslo_json": _oslo_json, "oslo_fluent": _oslo_fluent,
             "journald": _journald, "journald_stdout": _journald_stdout, "kolla_fluentd": _kolla_fluentd,
             "fluentbit_docker": _fluentbit_docker, "cri": _cri, "vector": _vector, "filebeat": _filebeat,
             "tripleo_rsyslog": _tripleo_rsyslog, "rsyslog": _rsyslog, "syslog_ng": _syslog_ng,
             "rfc3164": _rfc3164, "rfc5424": _rfc5424}
ENCODED_SHAPES = tuple(s for s in SHAPES if s in _ENCODERS)
assert set(ENCODED_SHAPES) == set(_ENCODERS), "an encoder for every shape"


def encode(shape: str, record: RawRecord) -> list[Message]:
    """The messages a pipeline of `shape` sends for one raw record (ValueError: unknown shape)."""
    try:
        encoder = _ENCODERS[shape]
    except KeyError:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(ENCODED_SHAPES)}") from None
    return encoder(record)
