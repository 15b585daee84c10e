"""Line grammars of the infrastructure an OpenStack cloud runs on.

``parse_infra(text, program=None, path=None, arrival=None)`` turns one line of libvirtd, a
qemu instance log, Open vSwitch/OVN, RabbitMQ, MariaDB/Galera, HAProxy, keepalived, Apache
(error and access log), nginx, uWSGI, the kernel or systemd into a ``LogEvent`` with what the
line has: time (with its zone, as UTC epoch seconds), level (the format's words mapped to
oslo's), pid, component (``logger``: libvirt function, OVS module, Erlang process, Apache
module, HAProxy backend...), ``service`` (the daemon), and the ids it names (instance UUID
or libvirt domain name, Neutron port from a tap/qvo/qbr device, request id, the peer of a
connection). None when no grammar fits: the caller keeps its own rules for the line.

Why here and not in engine.parsing: oslo.log's header is cut inline for speed; these
formats are tried only for lines without one (``engine.parsing`` calls ``parse_infra`` as
its fallback, so every caller gets them). One module per family, each pure.

Which grammar: the program tag (from syslog or the journal) when given, else the line's own
stamp, whose shape tells the families apart with a few character tests before any regex;
the file path (``/var/log/libvirt/qemu/instance-0000001a.log``, ``/var/log/openvswitch/
ovsdb-server.log``...) names the daemon and the domain. A syslog line (RFC 3164/5424 or
ISO-prefixed) is split by ``engine.shapes.syslog.split_syslog`` where that exists, and its body
parsed by program. Bodies that carry no level (kernel, systemd, keepalived, HAProxy) get one
from what they say, or the syslog priority where that is more severe.
"""
from __future__ import annotations

from schemas.log_event import LogEvent

from engine.grammars import apache, haproxy, keepalived, kernel, libvirt, mariadb, nginx, ovs, rabbitmq, uwsgi
from engine.grammars._common import MONTHS, add_ids, event, level_by_content

__all__ = ["parse_infra", "parser_for", "service_of_program", "continues_record"]

_SEVERITY = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "AUDIT": 2, "WARNING": 3, "ERROR": 4, "CRITICAL": 5}
_CONTENT_LEVELS = frozenset(("kernel", "systemd", "keepalived", "haproxy", "uwsgi", "generic"))


def service_of_program(program: str) -> tuple[str, str]:
    """(family, service) of a syslog/journal program tag (``Keepalived_vrrp[12]`` -> keepalived)."""
    p = program.split("[", 1)[0].rsplit("/", 1)[-1].strip().lower()
    if p == "kernel" or p == "kern":
        return "kernel", "kernel"
    if p.startswith("systemd"):
        return "systemd", "systemd"
    if p.startswith("keepalived"):
        return "keepalived", "keepalived"
    if p.startswith("haproxy"):
        return "haproxy", "haproxy"
    if p in ("libvirtd", "virtqemud", "virtproxyd", "virtnetworkd"):
        return "libvirtd", p
    if p.startswith("qemu"):
        return "qemu", "qemu"
    if p.startswith(("ovs-", "ovsdb-", "ovn-")):
        return "ovs", p
    if p.startswith("rabbitmq") or p in ("beam", "beam.smp", "rabbit"):
        return "rabbitmq", "rabbitmq"
    if p in ("mysqld", "mariadbd", "mariadb", "mysql", "mysqld_safe", "galera"):
        return "mariadb", "mariadb"
    if p in ("apache2", "httpd", "apache"):
        return "apache", "apache2"
    if p == "nginx":
        return "nginx", "nginx"
    if p.startswith("uwsgi"):
        return "uwsgi", "uwsgi"
    return "generic", p or "syslog"


_path_hints: dict[str, tuple[str | None, str | None, str | None]] = {}


def _path_hint(path: str) -> tuple[str | None, str | None, str | None]:
    """(family, service, libvirt domain) a log file's path names; cached."""
    hint = _path_hints.get(path)
    if hint is not None:
        return hint
    p = path.replace("\\", "/").lower()
    base = p.rsplit("/", 1)[-1]
    stem = base.split(".log", 1)[0]
    family = service = domain = None
    if "/libvirt/qemu/" in p or "/qemu/" in p and stem.startswith("instance-"):
        family, service, domain = "qemu", "qemu", path.replace("\\", "/").rsplit("/", 1)[-1].split(".log", 1)[0]
    elif stem.startswith(("ovs-vswitchd", "ovsdb-server", "ovn-")):
        family, service = "ovs", stem
    elif "libvirtd" in base or "virtqemud" in base:
        family, service = "libvirtd", stem
    elif "rabbit" in p:
        family, service = "rabbitmq", "rabbitmq"
    elif "/mysql/" in p or "mariadb" in p or "mysqld" in p or "galera" in p:
        family, service = "mariadb", "mariadb"
    elif "apache2" in p or "httpd" in p:
        family, service = "apache", "apache2"
    elif "nginx" in p:
        family, service = "nginx", "nginx"
    elif "uwsgi" in p:
        family, service = "uwsgi", "uwsgi"
    elif "haproxy" in p:
        family, service = "haproxy", "haproxy"
    elif "keepalived" in p:
        family, service = "keepalived", "keepalived"
    if len(_path_hints) >= 4096:
        _path_hints.clear()
    hint = _path_hints[path] = (family, service, domain)
    return hint


def parse_infra(text: str, program: str | None = None, path: str | None = None,
                arrival: float | None = None) -> LogEvent | None:
    """The event of one infrastructure line, or None when no grammar fits (see module doc)."""
    if not text:
        return None
    family = service = domain = None
    if path:
        family, service, domain = _path_hint(path)
    if program:
        family, service = service_of_program(program)
        return _by_program(text, family, service, domain, path)
    ev = _self_describing(text, family, service, domain, path)
    if ev is None and _may_be_syslog(text):
        ev = _syslog(text, path, arrival)
    return ev


def parser_for(path: str | None):
    """``parse_infra`` for the lines of one file (no program tag): the path's hints are worked out
    once (the record grouper of a file calls this for each of its lines without an oslo header)."""
    family = service = domain = None
    if path:
        family, service, domain = _path_hint(path)

    def parse(text: str) -> LogEvent | None:
        if not text:
            return None
        ev = _self_describing(text, family, service, domain, path)
        if ev is None and _may_be_syslog(text):
            ev = _syslog(text, path, None)
        return ev

    return parse


def _self_describing(text: str, family, service, domain, source) -> LogEvent | None:
    """A line whose own stamp tells its family (files a tailing shipper reads)."""
    c = text[0]
    n = len(text)
    if "0" <= c <= "9":
        if n > 20 and text[4] == "-":
            sep = text[10]
            if sep == " ":
                if family == "qemu":
                    return libvirt.parse_qemu(text, service, source, domain)
                if family == "rabbitmq":   # the path names the family: its grammar first
                    ev = rabbitmq.parse(text, service, source)
                    if ev is not None:
                        return ev
                elif family == "mariadb":
                    ev = mariadb.parse(text, service, source)
                    if ev is not None:
                        return ev
                return (libvirt.parse_libvirtd(text, service, source)
                        or rabbitmq.parse(text, service, source)
                        or mariadb.parse(text, service, source)
                        or libvirt.parse_qemu(text, service, source, domain))
            if sep == "T":
                if "|" in text[19:34]:
                    return ovs.parse(text, service, source)
                if family == "qemu":
                    return libvirt.parse_qemu(text, service, source, domain)
                return mariadb.parse(text, service, source) or libvirt.parse_qemu(text, service, source, domain)
            return None
        if n > 20 and text[4] == "/":
            return nginx.parse(text, service, source)
        if n > 16 and text[6] == " " and text[:6].isdecimal():
            return mariadb.parse(text, service, source)
        if '] "' in text:
            return apache.parse_access_log(text, _web_service(family, service), source)
        return None
    if c == "[":
        if text[1:5] == "pid:":
            return uwsgi.parse(text, service, source)
        if text[1:4] in _DAYS:
            return apache.parse_error_log(text, service if family != "nginx" else None, source)
        return None
    if c == "=":
        return rabbitmq.parse(text, service, source)
    if c == "o" and text[:4] == "ovs|":
        return ovs.parse(text, service, source)
    if family == "keepalived" and text[:3] in _DAYS:   # keepalived -l / --log-file stamps lines itself
        return keepalived.parse_stamped(text, service, source)
    if '] "' in text and c not in " \t":
        return apache.parse_access_log(text, _web_service(family, service), source)
    return None


_DAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))


def _web_service(family, service):
    return service if family in ("apache", "nginx") else None


def _by_program(text: str, family: str, service: str, domain, source) -> LogEvent:
    """A body whose program is known: its family's grammar, else a content-levelled event."""
    ev = None
    if family == "kernel":
        return kernel.parse_kernel(text, service, source)
    if family == "systemd":
        return kernel.parse_systemd(text, service, source)
    if family == "haproxy":
        return haproxy.parse(text, service, source)
    if family == "keepalived":
        return keepalived.parse_stamped(text, service, source) or keepalived.parse(text, service, source)
    if family == "uwsgi":
        return uwsgi.parse(text, service, source, named=True)
    if family == "libvirtd":
        ev = libvirt.parse_libvirtd(text, service, source) or libvirt.parse_libvirtd_body(text, service, source)
    elif family == "qemu":
        ev = libvirt.parse_qemu(text, service, source, domain)
    elif family in ("ovs", "rabbitmq", "mariadb", "apache", "nginx"):
        ev = _self_describing(text, family, service, domain, source)
    if ev is None:
        ev = add_ids(event(text, text, None, service, level_by_content(text), service, None, source), text)
    return ev


def continues_record(prev: LogEvent, ev: LogEvent) -> bool:
    """Whether the infrastructure line `ev` continues the record `prev` rather than starting one
    (a format that repeats its header on each line of a multi-line record: RabbitMQ 3.9+)."""
    return ev.timestamp == prev.timestamp and prev.logger is not None and ev.logger is not None \
        and rabbitmq.continues(prev, ev)


def _may_be_syslog(text: str) -> bool:
    c = text[0]
    return c == "<" or text[:3] in MONTHS or ("0" <= c <= "9" and text[4:5] == "-")


def _syslog(text: str, path: str | None, arrival: float | None) -> LogEvent | None:
    """A syslog line (header split by engine.shapes where present), its body parsed by program."""
    try:
        from engine.shapes.syslog import split_syslog
    except ImportError:
        return None
    try:
        split = split_syslog(text, arrival)
    except (ValueError, TypeError):
        return None
    if not split:
        return None
    ts, host, program, pid, priority_level, body = split
    if not program:
        return None
    family, service = service_of_program(program)
    ev = _by_program(body, family, service, None, path)
    ev.raw = text
    if ev.timestamp is None:
        ev.timestamp = ts
    if ev.host is None:
        ev.host = host
    if ev.pid is None and pid is not None:
        ev.pid = int(pid)
    if priority_level and family in _CONTENT_LEVELS and _SEVERITY.get(priority_level, 0) > _SEVERITY.get(ev.level, 0):
        ev.level = priority_level   # the more severe of the priority and what the body says (a 503 at info)
    return ev
