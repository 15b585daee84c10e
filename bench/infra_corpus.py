"""A corpus of infrastructure log lines for ``rca bench parse --infra``.

Why generated: the figure must not depend on a file a fresh clone lacks, and every family
(libvirtd, qemu, OVS, OVN, RabbitMQ 3.8 and 3.9+, MariaDB/Galera, Apache error and access
logs, nginx, uWSGI) should weigh in. The lines follow the formats engine.grammars reads
(and tests/integration/test_infra_daemons.py checks against the real daemons), with values
drawn from a seeded generator, each family written to the path its daemon logs to, so the
benchmark also exercises the path hints. RabbitMQ's crash reports carry continuation lines.
"""
from __future__ import annotations

import random
from pathlib import Path

__all__ = ["write_corpus", "FAMILIES"]


def _uuid(r: random.Random) -> str:
    h = "%032x" % r.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ip(r: random.Random) -> str:
    return f"10.0.{r.randint(0, 9)}.{r.randint(2, 250)}"


def _libvirtd(r, ts):
    t = ts("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0000"
    dom = "instance-%08x" % r.randint(1, 400)
    return r.choice([
        f"{t}: {r.randint(1000, 9999)}: error : virNetSocketReadWire:1791 : End of file while reading data: "
        "Input/output error",
        f"{t}: {r.randint(1000, 9999)}: error : qemuMonitorIO:620 : internal error: End of file from qemu monitor",
        f"{t}: {r.randint(1000, 9999)}: warning : qemuDomainObjTaint:6072 : Domain id={r.randint(1, 99)} "
        f"name='{dom}' uuid={_uuid(r)} is tainted: high-privileges",
        f"{t}: {r.randint(1000, 9999)}: info : virObjectUnref:344 : OBJECT_UNREF: obj=0x{r.getrandbits(40):x}",
    ])


def _qemu(r, ts):
    return r.choice([
        ts("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0",
        ts("%Y-%m-%dT%H:%M:%S.%fZ") + f" qemu-system-x86_64: terminating on signal 15 from pid {r.randint(100, 9999)}"
        " (/usr/sbin/libvirtd)",
        ts("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0000: shutting down, reason=" + r.choice(["shutdown", "crashed",
                                                                                     "destroyed"]),
    ])


def _ovs(r, ts):
    t = ts("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    n = "%05d" % r.randint(1, 99999)
    port = "%08x-%02x" % (r.getrandbits(32), r.getrandbits(8))
    return r.choice([
        f"{t}|{n}|rconn|WARN|br-int<->tcp:127.0.0.1:6633: connection failed (Connection refused)",
        f"{t}|{n}|bridge|INFO|bridge br-int: added interface qvo{port} on port {r.randint(1, 90)}",
        f"{t}|{n}|reconnect|ERR|tcp:{_ip(r)}:6642: no response to inactivity probe after 5 seconds, disconnecting",
        f"{t}|{n}|timeval|WARN|Unreasonably long {r.randint(1000, 9000)}ms poll interval (0ms user, 0ms system)",
    ])


def _rabbit(r, ts):
    if r.random() < 0.5:
        t = ts("%Y-%m-%d %H:%M:%S.%f")[:-3]
    else:
        t = ts("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
    p = f"<0.{r.randint(100, 9999)}.0>"
    lines = r.choice([
        [f"{t} [info] {p} accepting AMQP connection {p} ({_ip(r)}:{r.randint(30000, 60000)} -> 10.0.0.1:5672)"],
        [f"{t} [error] {p} closing AMQP connection {p} ({_ip(r)}:{r.randint(30000, 60000)} -> 10.0.0.1:5672, "
         "vhost: '/', user: 'nova'):", "missed heartbeats from client, timeout: 60s"],
        [f"{t} [warning] {p} client unexpectedly closed TCP connection"],
        [f"{t} [error] {p} CRASH REPORT Process {p} with 0 neighbours exited with reason: killed",
         "  crasher:", "    initial call: rabbit_reader:init/3", f"    pid: {p}"],
    ])
    return "\n".join(lines)


def _mariadb(r, ts):
    t = ts("%Y-%m-%d %H:%M:%S").replace(" 0", "  ", 1) if r.random() < 0.3 else ts("%Y-%m-%d %H:%M:%S")
    return r.choice([
        f"{t} {r.randint(0, 900)} [Warning] Access denied for user 'nova'@'{_ip(r)}' (using password: YES)",
        f"{t} 0 [ERROR] WSREP: failed to open gcomm backend connection: 110: failed to reach primary view: 110",
        f"{t} {r.randint(1, 900)} [Warning] Aborted connection {r.randint(1, 9999)} to db: 'nova' user: 'nova' "
        f"host: '{_ip(r)}' (Got an error reading communication packets)",
        f"{t} 0 [Note] WSREP: Member {r.randint(0, 2)}.0 (ctl{r.randint(1, 3)}) synced with group.",
    ])


def _apache_error(r, ts):
    t = ts("%a %b %d %H:%M:%S.%f %Y")
    return (f"[{t}] [wsgi:error] [pid {r.randint(100, 9999)}:tid {r.randint(1000, 99999)}] "
            f"[remote {_ip(r)}:{r.randint(30000, 60000)}] " + r.choice([
                "Traceback (most recent call last):",
                "mod_wsgi (pid=123): Exception occurred processing WSGI script '/usr/bin/keystone-wsgi-public'.",
                f"  File \"/usr/lib/python3/dist-packages/keystone/server/flask/application.py\", line "
                f"{r.randint(10, 400)}, in __call__"]))


def _access(r, ts):
    t = ts("%d/%b/%Y:%H:%M:%S") + " +0000"
    status = r.choice(["200", "200", "201", "204", "401", "404", "500", "503"])
    path = r.choice(["/v3/auth/tokens", f"/v2.1/servers/{_uuid(r)}", "/placement/allocation_candidates"])
    return f'{_ip(r)} - - [{t}] "GET {path} HTTP/1.1" {status} {r.randint(0, 9999)} "-" "python-requests/2.28"'


def _nginx(r, ts):
    t = ts("%Y/%m/%d %H:%M:%S")
    return (f"{t} [error] {r.randint(100, 999)}#{r.randint(100, 999)}: *{r.randint(1, 9999)} connect() failed "
            f"(111: Connection refused) while connecting to upstream, client: {_ip(r)}, server: _, "
            f'request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:{r.randint(8000, 9000)}/"')


def _uwsgi(r, ts):
    t = ts("%a %b %d %H:%M:%S %Y")
    return (f"[pid: {r.randint(100, 9999)}|app: 0|req: {r.randint(1, 99)}/{r.randint(100, 999)}] {_ip(r)} () "
            f"{{{r.randint(30, 60)} vars in {r.randint(400, 900)} bytes}} [{t}] GET /compute/v2.1/servers => "
            f"generated {r.randint(10, 9999)} bytes in {r.randint(1, 900)} msecs (HTTP/1.1 "
            f"{r.choice(['200', '200', '404', '500'])}) 6 headers in 250 bytes (1 switches on core 0)")


# family -> (path its daemon writes, line maker)
FAMILIES = {
    "libvirtd": ("var/log/libvirt/libvirtd.log", _libvirtd),
    "qemu": ("var/log/libvirt/qemu/instance-0000001a.log", _qemu),
    "ovs-vswitchd": ("var/log/openvswitch/ovs-vswitchd.log", _ovs),
    "rabbitmq": ("var/log/rabbitmq/rabbit@controller.log", _rabbit),
    "mariadb": ("var/log/mysql/error.log", _mariadb),
    "apache-error": ("var/log/apache2/keystone.log", _apache_error),
    "apache-access": ("var/log/apache2/keystone_access.log", _access),
    "nginx": ("var/log/nginx/error.log", _nginx),
    "uwsgi": ("var/log/uwsgi/nova-api.log", _uwsgi),
}


def write_corpus(folder: str | Path, lines_per_family: int = 2000, seed: int = 1) -> list[str]:
    """Write one file per family under `folder`; return their paths."""
    import datetime as dt

    r = random.Random(seed)
    paths = []
    for name, (rel, make) in FAMILIES.items():
        now = dt.datetime(2026, 12, 5, 2, 0, 0)
        out = []
        n = 0
        while n < lines_per_family:
            now += dt.timedelta(milliseconds=r.randint(1, 900))
            record = make(r, now.strftime)
            out.append(record)
            n += record.count("\n") + 1
        path = Path(folder) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths
