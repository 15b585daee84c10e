"""One decoder per shape: a pipeline's record -> `Shaped` (the record's text + what its wrapper knew).

Field lists are those of ../shared/formats.md (section numbers below), each checked there
against the tool's source. Every decoder is small on purpose: it renames fields, rebuilds an
oslo.log header where the pipeline split it into fields, and hands nested text back for another
look (an oslo.log line inside a syslog message inside Fluent Bit's ``log``).

`ShapeReader` holds the little state two shapes need, bounded: DevStack's stdout lines of one
traceback (their journald times differ by microseconds, the record's lines must share one time
to join, as oslo.log's raw lines do) and CRI ``P`` pieces waiting for their ``F`` line.
"""
from __future__ import annotations

import orjson

from engine.shapes.record import (Pending, Shaped, context_text, normal_level, oslo_record, oslo_time, strip_ansi,
                                  with_req)
from engine.shapes.syslog import MONTHS, iso_time, split_syslog

__all__ = ["ShapeReader", "SHAPES", "shape_of_object", "LOG_MARKERS"]

# every shape name the worker reports (metrics label, rca_result "shapes", `rca eval --shape`)
SHAPES = ("raw", "log_event", "oslo_json", "oslo_fluent", "journald", "journald_stdout", "kolla_fluentd",
          "fluentbit_docker", "cri", "vector", "filebeat", "tripleo_rsyslog", "rsyslog", "syslog_ng",
          "rfc3164", "rfc5424")
# top-level keys that make a JSON object a log record of some pipeline (not a logged body):
# one we do not know is a dead letter (unknown_shape), never a raw line
LOG_MARKERS = frozenset({"message", "msg", "MESSAGE", "log", "short_message", "Payload", "@timestamp",
                         "__REALTIME_TIMESTAMP", "levelname", "log_level"})
_MAX_STREAMS = 4096
_SNAP_SECONDS = 2.0
_PRIORITY_LEVELS = ("CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")
_DEVSTACK_LEVELS = frozenset(("TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL"))


def _str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return str(value)


def _id(value) -> str | None:
    """An id field: '-', 'None' and '' mean none (oslo.context writes them for unknown values)."""
    value = _str(value)
    return None if value in (None, "-", "None") else value


def _int(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _get(obj, *path):
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _any_time(value) -> float | None:
    """A wrapper's time: epoch seconds (number), RFC 3339, or oslo's 'YYYY-MM-DD HH:MM:SS[,.]mmm'."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str) or len(value) < 19:
        return None
    text = value.strip()
    if text[10:11] == " ":
        text = text[:10] + "T" + text[11:]
    if text[19:20] == ",":
        text = text[:19] + "." + text[20:]
    return iso_time(text)


def _lines(value) -> list[str]:
    """oslo.log's JSON ``traceback``: a list of lines (its formatException) or one string."""
    if not value:
        return []
    if isinstance(value, str):
        return value.rstrip("\n").split("\n")
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(str(item).rstrip("\n").split("\n"))
        return out
    return []


def _instance(extra) -> str | None:
    if not isinstance(extra, dict):
        return None
    uuid = extra.get("instance_uuid")
    if isinstance(uuid, str) and uuid:
        return uuid
    inst = extra.get("instance")
    if isinstance(inst, dict):
        return _str(inst.get("uuid"))
    return inst if isinstance(inst, str) and inst else None


def _journal_text(value) -> str | None:
    """journalctl -o json prints a value with non-printable bytes as an array of byte numbers,
    and one of 4096 bytes or more as null (without --all)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        try:
            return bytes(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    return None


def _has_context(rest: str) -> bool:
    """The parser's test for oslo.context's bracket after the logger (engine/parsing._split)."""
    return rest.startswith(("[req-", "[-]")) or (rest.startswith("[") and " req-" in rest[:48])


def shape_of_object(obj: dict) -> str | None:
    """The shape name of a JSON object (cheap: a few key lookups), or None."""
    if "MESSAGE" in obj and ("__REALTIME_TIMESTAMP" in obj or "_HOSTNAME" in obj or "__CURSOR" in obj
                             or "PRIORITY" in obj or "SYSLOG_IDENTIFIER" in obj or "_TRANSPORT" in obj):
        return "journald"
    if "Payload" in obj and ("python_module" in obj or "programname" in obj or "log_level" in obj
                             or "Hostname" in obj):
        return "kolla_fluentd"
    log = obj.get("log")
    if log.__class__ is str and ("stream" in obj or "kubernetes" in obj or "time" in obj):
        return "fluentbit_docker"
    if "levelname" in obj and "message" in obj and ("name" in obj or "created" in obj):
        return "oslo_json"
    if "message" in obj and "level" in obj and "name" in obj and ("funcname" in obj or "cmdline" in obj
                                                                   or "process_name" in obj):
        return "oslo_fluent"
    if "message" in obj:
        if "@timestamp" in obj:
            host = obj.get("host")
            if "ecs" in obj or "agent" in obj or isinstance(host, dict) or isinstance(log, dict):
                return "filebeat"
            if "tag" in obj or "severity" in obj or "facility" in obj or "programname" in obj:
                return "tripleo_rsyslog"
        if "source_type" in obj or ("file" in obj and "host" in obj and "schema_version" not in obj):
            return "vector"
    return None


class ShapeReader:
    """Decodes objects and texts into `Shaped` records; holds DevStack's and CRI's stream state."""

    def __init__(self, max_streams: int = _MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self._devstack: dict[tuple, tuple[float, str, str]] = {}   # stream -> (time, stamp, logger) of its open record
        self._partial: dict[tuple, list[str]] = {}                 # stream -> CRI P pieces

    def forget(self) -> None:
        self._devstack.clear()
        self._partial.clear()

    # -- JSON objects -----------------------------------------------------------------------
    def object(self, obj: dict, arrival: float | None = None, stream_key=None) -> Shaped | Pending | None:
        """The record of a JSON object of a known shape; None when it is of none."""
        shape = shape_of_object(obj)
        if shape is None:
            return None
        return getattr(self, "_" + shape)(obj, arrival, stream_key)

    def _oslo_json(self, obj, arrival, stream_key) -> Shaped:
        """oslo.log JSONFormatter (formats.md 1): created, levelname, name, process, hostname,
        context{request_id, global_request_id, user, project_id}, extra{instance}, traceback."""
        ctx = obj.get("context") if isinstance(obj.get("context"), dict) else {}
        ts = _any_time(obj.get("created"))
        if ts is None:
            ts = _any_time(obj.get("asctime"))
        level = normal_level(obj.get("levelname")) or "INFO"
        return self._rebuilt("oslo_json", obj, ctx, ts, level, _int(obj.get("process")))

    def _oslo_fluent(self, obj, arrival, stream_key) -> Shaped:
        """oslo.log FluentFormatter (formats.md 1): time, level, name, hostname, cmdline (the
        service's command line: its script names the service), context, extra, traceback; no pid."""
        ctx = obj.get("context") if isinstance(obj.get("context"), dict) else {}
        level = normal_level(obj.get("level")) or "INFO"
        out = self._rebuilt("oslo_fluent", obj, ctx, _any_time(obj.get("time")), level, _int(obj.get("process")))
        out.program = _script(obj.get("cmdline")) or _str(obj.get("uwsgi_name"))
        return out

    def _rebuilt(self, shape: str, obj: dict, ctx: dict, ts, level: str, pid) -> Shaped:
        logger = _str(obj.get("name")) or "-"
        request_id = with_req(_str(ctx.get("request_id")))
        global_id = with_req(_str(ctx.get("global_request_id")))
        user = _id(ctx.get("user_id")) or _id(ctx.get("user"))
        project = _id(ctx.get("project_id")) or _id(ctx.get("project")) or _id(ctx.get("tenant"))
        instance = _instance(obj.get("extra")) or _str(obj.get("instance_uuid"))
        message = obj.get("message")
        message = message if isinstance(message, str) else ("" if message is None else str(message))
        text = oslo_record(ts, pid, level, logger.replace(" ", "_"), context_text(request_id, user, project, global_id),
                           message, _lines(obj.get("traceback")), instance)
        return Shaped(shape, text, ts, _str(obj.get("hostname")), None, None, level, logger, pid, request_id,
                      global_id, user, project, instance, header_pid=pid is not None)

    def _journald(self, obj, arrival, stream_key) -> Shaped | None:
        """journalctl -o json (formats.md 2): MESSAGE (a string, an array of bytes, or null),
        __REALTIME_TIMESTAMP (microseconds), _HOSTNAME, _PID, SYSLOG_IDENTIFIER, _SYSTEMD_UNIT,
        PRIORITY; oslo's journal handler adds LOGGER_NAME, LOGGER_LEVEL, REQUEST_ID, PROJECT_ID,
        USER_ID. DevStack's stdout transport writes 'LEVEL logger [ctx] msg' (no time, no pid)."""
        micros = obj.get("_SOURCE_REALTIME_TIMESTAMP") or obj.get("__REALTIME_TIMESTAMP")
        ts = _int(micros) / 1e6 if _int(micros) is not None else None
        pid = _int(obj.get("_PID")) or _int(obj.get("SYSLOG_PID"))
        host = _str(obj.get("_HOSTNAME"))
        unit = _str(obj.get("_SYSTEMD_UNIT"))
        program = _str(obj.get("SYSLOG_IDENTIFIER")) or unit or _str(obj.get("_COMM"))
        priority = _int(obj.get("PRIORITY"))
        level = normal_level(obj.get("LOGGER_LEVEL")) or (_PRIORITY_LEVELS[priority & 7] if priority is not None
                                                          else None)
        logger = _str(obj.get("LOGGER_NAME"))
        text = _journal_text(obj.get("MESSAGE"))
        if text is None:
            text = "(journal field MESSAGE not printed: 4096 bytes or more; use journalctl --all)"
        text = strip_ansi(text).rstrip("\n")
        meta = Shaped("journald", text, ts, host, None, program, level, logger, pid,
                      with_req(_str(obj.get("REQUEST_ID"))), None, _id(obj.get("USER_ID")),
                      _id(obj.get("PROJECT_ID")), None, unit)
        if _str(obj.get("_TRANSPORT")) == "stdout" or (logger is None and _devstack_head(text) is not None):
            meta.shape = "journald_stdout"
        inner = self.nested(text, ts, stream_key)
        if inner is not None:
            return inner.fill(meta) if isinstance(inner, Shaped) else inner
        if text[:1].isdigit() and len(text) > 10 and text[4] == "-" and text[10] == " ":
            return meta   # an oslo.log line with its own header
        head = _devstack_head(text)
        if head is not None and ts is not None:
            return self._devstack_line(meta, head, stream_key)
        if logger is not None and level is not None and ts is not None:
            # the journal handler with a format that has no header: rebuild it from the fields
            meta.text = oslo_record(ts, pid, level, logger, context_text(meta.request_id, meta.user_id,
                                                                         meta.project_id), text)
            meta.header_pid = pid is not None
        return meta

    def _devstack_line(self, meta: Shaped, head: tuple[str, str, str], stream_key) -> Shaped:
        """DevStack's 'LEVEL logger [ctx] msg' gets oslo's header back (journald's time, the pid).
        A line without a request context is a line of the exception prefix (a traceback's): it
        takes the time of its stream's open record, as oslo.log wrote it on every line."""
        level, logger, rest = head
        key = (stream_key, meta.host, meta.stream or meta.program, meta.pid)
        open_ = self._devstack.get(key)
        stamp = None
        if not _has_context(rest) and open_ is not None and open_[2] == logger \
                and abs(meta.time - open_[0]) <= _SNAP_SECONDS:
            stamp = open_[1]
        if stamp is None:
            stamp = oslo_time(meta.time)
            if len(self._devstack) >= self.max_streams:
                self._devstack.clear()
            self._devstack[key] = (meta.time, stamp, logger)
        meta.text = f"{stamp} {meta.pid if meta.pid is not None else 0} {level} {logger} {rest}"
        meta.header_pid = meta.pid is not None
        return meta

    def _kolla_fluentd(self, obj, arrival, stream_key) -> Shaped:
        """kolla-ansible's fluentd (formats.md 3): Timestamp, Pid, log_level, python_module,
        global_request_id, request_id (no 'req-'), user_id, tenant_id, domain_id, user_domain,
        project_domain, Payload (a leading space; traceback lines keep their prefix), Hostname,
        Logger ('openstack.<dir>'), programname (the file name without .log)."""
        payload = obj.get("Payload")
        payload = payload if isinstance(payload, str) else ("" if payload is None else str(payload))
        host = _str(obj.get("Hostname"))
        program = _str(obj.get("programname"))
        logger_dir = _str(obj.get("Logger")) or ""
        path = None
        if program and logger_dir.startswith("openstack."):
            path = f"{logger_dir[len('openstack.'):]}/{program}.log"
        level = normal_level(obj.get("log_level"))
        module = _str(obj.get("python_module"))
        stamp = _str(obj.get("Timestamp"))
        pid = _int(obj.get("Pid"))
        # the rebuilt header carries kolla's Timestamp as oslo.log wrote it: no need to read it here
        ts = None if stamp and len(stamp) >= 19 and stamp[4] == "-" and stamp[10] == " " else _any_time(stamp)
        request_id = with_req(_str(obj.get("request_id")))
        global_id = with_req(_str(obj.get("global_request_id")))
        user, project = _id(obj.get("user_id")), _id(obj.get("tenant_id"))
        if level is None or module is None or not stamp or (ts is None and stamp[4:5] != "-"):
            text = payload.strip("\n")   # a line kolla's regex did not split: the whole line is the payload
        else:
            rest = " ".join(_str(obj.get(k)) or "-" for k in ("domain_id", "user_domain", "project_domain"))
            ctx = context_text(request_id, user, project, global_id, rest)
            body = payload[1:] if payload.startswith(" ") else payload
            text = oslo_record(None, pid, level, module, ctx, body.rstrip("\n"), stamp=stamp.replace(",", "."))
        return Shaped("kolla_fluentd", text, ts, host, path, program, level, module, pid, request_id, global_id,
                      user, project, header_pid=pid is not None)

    def _fluentbit_docker(self, obj, arrival, stream_key) -> Shaped | Pending | None:
        """Fluent Bit tailing docker JSON files (formats.md 4): log (one line, its newline
        kept), stream, time, kubernetes{host, container_name, pod_name, namespace_name}."""
        kube = obj.get("kubernetes") if isinstance(obj.get("kubernetes"), dict) else {}
        text = obj["log"].rstrip("\n")
        ts = _any_time(obj.get("time")) or _any_time(obj.get("@timestamp"))
        container = _str(kube.get("container_name"))
        pod = _str(kube.get("pod_name"))
        meta = Shaped("fluentbit_docker", text, ts, _str(kube.get("host")), None, container,
                      stream=f"{_str(kube.get('namespace_name')) or ''}/{pod or ''}/{container or ''}"
                      f"/{_str(obj.get('stream')) or ''}")
        inner = self.nested(text, ts, (stream_key, meta.stream))
        if inner is not None:
            return inner.fill(meta) if isinstance(inner, Shaped) else inner
        return meta

    def _vector(self, obj, arrival, stream_key) -> Shaped | None:
        """Vector's file source, JSON codec (formats.md 5): message, file, host, timestamp (read time)."""
        return self._message_record("vector", obj, _str(obj.get("file")), _str(obj.get("host")),
                                    obj.get("timestamp"), None, None, stream_key)

    def _filebeat(self, obj, arrival, stream_key) -> Shaped | None:
        """Filebeat / Logstash ECS (formats.md 5): @timestamp, message, log.file.path, host.name."""
        host = obj.get("host")
        host = _str(host.get("name") or host.get("hostname")) if isinstance(host, dict) else _str(host)
        path = _str(_get(obj, "log", "file", "path")) or _str(obj.get("path"))
        level = normal_level(_get(obj, "log", "level")) if isinstance(obj.get("log"), dict) else None
        return self._message_record("filebeat", obj, path, host, obj.get("@timestamp"), None, level, stream_key)

    def _tripleo_rsyslog(self, obj, arrival, stream_key) -> Shaped | None:
        """TripleO's rsyslog JSON template (formats.md 5): @timestamp, host, severity, facility,
        tag ('openstack.nova.compute'), message, file; tracebacks arrive split per line."""
        severity = obj.get("severity")
        level = normal_level(severity) if isinstance(severity, str) else \
            (_PRIORITY_LEVELS[severity & 7] if isinstance(severity, int) else None)
        return self._message_record("tripleo_rsyslog", obj, _str(obj.get("file")), _str(obj.get("host")),
                                    obj.get("@timestamp"),
                                    _str(obj.get("tag")) or _str(obj.get("programname")), level, stream_key)

    def _message_record(self, shape, obj, path, host, stamp, program, level, stream_key) -> Shaped | Pending | None:
        message = obj.get("message")
        text = message if isinstance(message, str) else ("" if message is None else str(message))
        text = strip_ansi(text).rstrip("\n")
        # the shipper's time is when it read the line: an oslo.log record's own header says better
        ts = None if (text[10:11] == " " and text[4:5] == "-") else _any_time(stamp)
        meta = Shaped(shape, text, ts, host, path, program, level)
        inner = self.nested(text, ts, (stream_key, path))
        if inner is not None:
            return inner.fill(meta) if isinstance(inner, Shaped) else inner
        return meta

    # -- text -------------------------------------------------------------------------------
    def text(self, text: str, arrival: float | None = None, stream_key=None) -> Shaped | Pending | None:
        """The record of a text message with a syslog header or a CRI prefix; None: a raw line."""
        c = text[:1]
        if c == "<":
            return self._syslog(text, arrival, stream_key)
        if len(text) > 20 and text[4] == "-" and text[10] == "T":
            stamp, _, rest = text.partition(" ")
            if rest[:7] in ("stdout ", "stderr ") and rest[7:8] in ("F", "P") and rest[8:9] in (" ", ""):
                return self._cri(stamp, rest, stream_key)
            return self._syslog(text, arrival, stream_key)
        if len(text) > 15 and text[3] == " " and text[:3] in MONTHS:
            return self._syslog(text, arrival, stream_key)
        return None

    def _cri(self, stamp: str, rest: str, stream_key) -> Shaped | Pending | None:
        """A CRI log line (formats.md 4): '<RFC3339Nano> stdout|stderr F|P <line>'; P pieces join
        the next line of the same stream."""
        ts = iso_time(stamp)
        if ts is None:
            return None
        stream, tag, line = rest[:6], rest[7], rest[9:]
        key = (stream_key, stream)
        if tag == "P":
            parts = self._partial.get(key)
            if parts is None:
                if len(self._partial) >= self.max_streams:
                    self._partial.clear()
                parts = self._partial[key] = []
            if len(parts) < 1024:
                parts.append(line)
            return Pending("cri")
        parts = self._partial.pop(key, None)
        if parts:
            line = "".join(parts) + line
        meta = Shaped("cri", line, ts, stream=stream)
        inner = self.nested(line, ts, key)
        if inner is not None:
            return inner.fill(meta) if isinstance(inner, Shaped) else inner
        return meta

    def _syslog(self, text: str, arrival: float | None, stream_key) -> Shaped | Pending | None:
        """Syslog text (formats.md 6): rsyslog's RSYSLOG_FileFormat (newlines escaped as '\\n' or
        '#012'), syslog-ng's '$ISODATE $HOST $MSGHDR$MSG' (raw newlines), RFC 3164, RFC 5424."""
        split = split_syslog(text, arrival)
        if split is None:
            return None
        ts, host, program, pid, level, body = split
        if text[0] == "<":
            shape = "rfc5424" if text[text.find(">") + 1:][:2] == "1 " else "rfc3164"
        elif text[4] == "-":
            # rsyslog's date-rfc3339 has microseconds, syslog-ng's ISODATE whole seconds by default
            digits = 0
            if text[19:20] == ".":
                while text[20 + digits:21 + digits].isdigit():
                    digits += 1
            shape = "rsyslog" if (digits == 6 or "#012" in body) else "syslog_ng"
        else:
            shape = "rfc3164"
        body = unescape_newlines(body).rstrip("\n")
        meta = Shaped(shape, body, ts, host, None, program, None, None, pid)
        meta.stream = program
        inner = self.nested(body, ts, (stream_key, host, program))
        if inner is not None:
            out = inner.fill(meta) if isinstance(inner, Shaped) else inner
        else:
            out = meta
        if isinstance(out, Shaped) and out.level is None and level is not None and out is meta \
                and not (body[:1].isdigit() and body[4:5] == "-"):
            out.level = level   # the PRI's severity, for a body without its own level
        return out

    # -- nesting ----------------------------------------------------------------------------
    def nested(self, text: str, ts: float | None, stream_key) -> Shaped | Pending | None:
        """The record inside a wrapper's text, when the text is itself a shape (JSON of a known
        shape, syslog, CRI); None: the text is the record. The first line decides."""
        c = text[:1]
        if c == "{":
            if not text.endswith("}"):
                return None
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
            if obj.__class__ is not dict:
                return None
            return self.object(obj, ts, stream_key)
        if c == "<" or (len(text) > 20 and text[4] == "-" and text[10] == "T") or \
                (len(text) > 15 and text[3] == " " and text[:3] in MONTHS):
            return self.text(text, ts, stream_key)
        return None


_scripts: dict[str, str | None] = {}


def _script(cmdline) -> str | None:
    """The service's script in a command line: '/usr/bin/python3 /usr/local/bin/nova-compute
    --config-file ...' -> 'nova-compute' (cached: a process writes one command line)."""
    if not isinstance(cmdline, str):
        return None
    got = _scripts.get(cmdline, False)
    if got is False:
        if len(_scripts) >= 4096:
            _scripts.clear()
        got = _scripts[cmdline] = _script_of(cmdline)
    return got


def _script_of(cmdline: str) -> str | None:
    for token in cmdline.split():
        if token.startswith("-"):
            break
        base = token.rsplit("/", 1)[-1]
        if base and not base.startswith("python"):
            return base
    return None


def _devstack_head(text: str) -> tuple[str, str, str] | None:
    """(level, logger, rest) of DevStack's 'LEVEL logger rest' layout, or None."""
    level, sep, rest = text.partition(" ")
    if not sep or level not in _DEVSTACK_LEVELS:
        return None
    logger, sep, rest = rest.partition(" ")
    if not logger or not sep or not (logger[0].isalpha() or logger[0] == "_"):
        return None
    return level, logger, rest


def unescape_newlines(body: str) -> str:
    """rsyslog's escaped newlines back to newlines: '#012' always; the two characters '\\n' where
    they end a line, not inside a quoted string (oslo.log writes '\\n' in the repr of a
    command's output, and rsyslog does not escape a backslash, so that one must stay)."""
    if "#012" in body:
        body = body.replace("#012", "\n")
    if "\\n" not in body:
        return body
    out = []
    start = 0
    quote = None
    i, n = 0, len(body)
    # an oslo.log record's own next line (a traceback's) starts with its date: always a line break
    date = body[:11] if len(body) > 11 and body[4] == "-" and body[10] == " " else None
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            if body[i + 1] == "n" and (quote is None or (date is not None and body.startswith(date, i + 2))):
                out.append(body[start:i])
                out.append("\n")
                i += 2
                start = i
                quote = None
                continue
            i += 2
            continue
        if ch in "'\"":
            if quote is None:
                # an apostrophe inside a word ("didn't") opens no string; a repr prefix (u'...') does
                if not (ch == "'" and i > 0 and body[i - 1].isalnum() and i + 1 < n and body[i + 1].isalnum()
                        and not (body[i - 1] in "ubrUBR" and (i < 2 or not body[i - 2].isalnum()))):
                    quote = ch
            elif quote == ch:
                quote = None
        i += 1
    out.append(body[start:])
    return "".join(out)
