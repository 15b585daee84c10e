"""The logs of the infrastructure below the services, in each daemon's own format.

An OpenStack cloud runs on RabbitMQ, MariaDB/Galera, Open vSwitch, libvirt and
qemu, HAProxy and the kernel; when one of them fails, the services log only
symptoms. These records are written the way the real daemons write them (no
oslo.log header), to the files they write them to, so that parsing them is
the parser's job and not the simulator's:

- RabbitMQ 3.9+ ``/var/log/rabbitmq/rabbit@HOST.log``:
  ``2026-12-05 02:11:12.359123+00:00 [error] <0.123.0> text``;
- MariaDB ``/var/log/mysql/error.log``: ``2026-12-05  2:11:12 0 [Warning] WSREP: text``
  (hour padded with a space, the thread id, the level word);
- Open vSwitch ``/var/log/openvswitch/ovs-vswitchd.log``:
  ``2026-12-05T02:11:12.359Z|00042|rconn|WARN|text`` (a per-daemon sequence number);
- libvirtd ``/var/log/libvirt/libvirtd.log``:
  ``2026-12-05 02:11:12.359+0000: 1234: error : virNetSocketReadWire:1806 : text``;
- a qemu instance log ``/var/log/libvirt/qemu/instance-0000000a.log``:
  ``2026-12-05 02:11:12.901+0000: shutting down, reason=crashed``;
- syslog ``/var/log/syslog`` (rsyslog's default file format on Debian 12 and Ubuntu
  24.04: RFC 3339 time, host, program tag, no priority) for the kernel, systemd and HAProxy:
  ``2026-12-05T02:11:12.359123+00:00 compute-2 kernel: [123456.789012] text``.

A record goes on the timeline with the file's absolute path as its "service"
(service names never start with ``/``) and its host, so the writer keys it
``host:path`` as a tailing shipper does, and writes it to ``<out>/infra/<host><path>``.
"""
from __future__ import annotations

import random

from producers.simulator.core import Timeline

RABBIT_PORT = 5672
MYSQL_PORT = 3306
OF_CONTROLLER = "tcp:127.0.0.1:6633"   # the OVS agent's native OpenFlow controller (os-ken)


def is_infra(service: str) -> bool:
    """Whether a timeline record's "service" is an infrastructure log file (an absolute path)."""
    return service.startswith("/")


def rabbit_path(host: str) -> str:
    return f"/var/log/rabbitmq/rabbit@{host}.log"


MYSQL_PATH = "/var/log/mysql/error.log"
OVS_PATH = "/var/log/openvswitch/ovs-vswitchd.log"
LIBVIRTD_PATH = "/var/log/libvirt/libvirtd.log"
SYSLOG_PATH = "/var/log/syslog"


def qemu_path(domain: str) -> str:
    return f"/var/log/libvirt/qemu/{domain}.log"


class InfraLog:
    """Writes infrastructure records on the simulation's timeline (one per world)."""

    def __init__(self, timeline: Timeline, rng: random.Random):
        self.timeline = timeline
        self.rng = rng
        self._ovs_seq: dict[str, int] = {}
        self._uptime: dict[str, float] = {}   # host -> kernel seconds since boot at simulation start

    def _push(self, ms: int, path: str, host: str, text: str) -> int:
        self.timeline.push(ms, path, host, text)
        return ms

    def _micro(self, ms: int) -> int:
        return (ms % 1000) * 1000 + self.rng.randint(0, 999)

    def rabbit(self, ms: int, host: str, level: str, erlang_pid: str, text: str) -> int:
        """RabbitMQ 3.9+: ``2026-12-05 02:11:12.359123+00:00 [error] <0.123.0> text`` (level in lower case)."""
        d = self.timeline.datetime(ms)
        stamp = f"{d:%Y-%m-%d %H:%M:%S}.{self._micro(ms):06d}+00:00"
        lines = text.split("\n")
        out = f"{stamp} [{level}] {erlang_pid} {lines[0]}"
        if len(lines) > 1:   # 3.9+ repeats the header on every line of a multi-line message
            out += "\n" + "\n".join(f"{stamp} [{level}] {erlang_pid} {x}" for x in lines[1:])
        return self._push(ms, rabbit_path(host), host, out)

    def mariadb(self, ms: int, host: str, level: str, text: str, thread: int = 0) -> int:
        """MariaDB: ``2026-12-05  2:11:12 0 [Warning] WSREP: text`` (``Note``, ``Warning``, ``ERROR``)."""
        d = self.timeline.datetime(ms)
        stamp = f"{d:%Y-%m-%d} {d.hour:2d}:{d:%M:%S}"
        return self._push(ms, MYSQL_PATH, host, f"{stamp} {thread} [{level}] {text}")

    def ovs(self, ms: int, host: str, module: str, level: str, text: str) -> int:
        """ovs-vswitchd: ``2026-12-05T02:11:12.359Z|00042|rconn|WARN|text`` (``ERR``, ``WARN``, ``INFO``, ``DBG``)."""
        seq = self._ovs_seq.get(host, self.rng.randint(30, 400)) + 1
        self._ovs_seq[host] = seq
        d = self.timeline.datetime(ms)
        stamp = f"{d:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"
        return self._push(ms, OVS_PATH, host, f"{stamp}|{seq:05d}|{module}|{level}|{text}")

    def libvirtd(self, ms: int, host: str, thread: int, level: str, where: str, text: str) -> int:
        """libvirtd: ``2026-12-05 02:11:12.359+0000: 1234: error : virNetSocketReadWire:1806 : text``;
        ``where`` is the function and line (``virNetSocketReadWire:1806``), empty for the start banner."""
        d = self.timeline.datetime(ms)
        stamp = f"{d:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d}+0000"
        body = f"{where} : {text}" if where else text
        return self._push(ms, LIBVIRTD_PATH, host, f"{stamp}: {thread}: {level} : {body}")

    def qemu(self, ms: int, host: str, domain: str, text: str) -> int:
        """A qemu instance log line written by libvirt: ``2026-12-05 02:11:12.901+0000: text``."""
        d = self.timeline.datetime(ms)
        return self._push(ms, qemu_path(domain), host, f"{d:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d}+0000: {text}")

    def syslog(self, ms: int, host: str, program: str, text: str, pid: int | None = None) -> int:
        """rsyslog's file format of Debian 12 and Ubuntu 24.04 (``RSYSLOG_FileFormat``, RFC 3339 time):
        ``2026-12-05T02:11:12.359123+00:00 compute-2 haproxy[2345]: text``. (The older traditional
        format, ``Dec  5 02:11:12 ...``, has no year and whole seconds only.)"""
        d = self.timeline.datetime(ms)
        tag = f"{program}[{pid}]" if pid is not None else program
        stamp = f"{d:%Y-%m-%dT%H:%M:%S}.{self._micro(ms):06d}+00:00"
        return self._push(ms, SYSLOG_PATH, host, f"{stamp} {host} {tag}: {text}")

    def kernel(self, ms: int, host: str, text: str) -> int:
        """A kernel message through syslog, with the kernel's own ``[seconds.micro]`` since boot."""
        boot = self._uptime.setdefault(host, self.rng.uniform(50_000.0, 900_000.0))
        up = boot + ms / 1000.0
        return self.syslog(ms, host, "kernel", f"[{up:12.6f}] {text}")


def infra_log(w) -> InfraLog:
    """The world's infrastructure writer (made on first use: healthy runs never need one)."""
    log = getattr(w, "_infra_log", None)
    if log is None:
        log = InfraLog(w.timeline, w.rng)
        w._infra_log = log
    return log
