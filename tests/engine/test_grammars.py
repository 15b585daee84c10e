"""Infrastructure line grammars (engine.grammars) and their hook in engine.parsing.

The lines are in the formats the daemons write (checked against the real daemons in
tests/integration/test_infra_daemons.py); values are made up.
"""
from __future__ import annotations

import calendar

import pytest

from engine.grammars import parse_infra, service_of_program
from engine.parsing import parse_line, parse_lines
from schemas.log_event import LogEvent

T = calendar.timegm((2026, 12, 5, 2, 11, 12))   # 2026-12-05 02:11:12 UTC
UUID = "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11"


def one(text: str, **kw) -> LogEvent:
    ev = parse_infra(text, **kw)
    assert ev is not None, text
    assert ev.parse_error is None and ev.raw == text
    return ev


# -- libvirt and qemu --------------------------------------------------------------------

def test_libvirtd_line():
    ev = one("2026-12-05 02:11:12.359+0000: 1234: error : virNetSocketReadWire:1791 : "
             "End of file while reading data: Input/output error")
    assert ev.timestamp == pytest.approx(T + 0.359)
    assert (ev.service, ev.level, ev.logger, ev.pid) == ("libvirtd", "ERROR", "virNetSocketReadWire", 1234)
    assert ev.message == "End of file while reading data: Input/output error"


def test_libvirtd_zone_and_ids():
    ev = one(f"2026-12-05 03:11:12.000+0100: 77: warning : qemuDomainObjTaint:6072 : Domain id=3 "
             f"name='instance-0000001a' uuid={UUID} is tainted: high-privileges")
    assert ev.timestamp == pytest.approx(T)                       # +0100 is an hour ahead of UTC
    assert (ev.level, ev.instance_name, ev.instance_id) == ("WARNING", "instance-0000001a", UUID)
    info = one("2026-12-05 02:11:12.359+0000: 1234: info : libvirt version: 9.0.0, package: 9.0.0-4")
    assert (info.level, info.logger) == ("INFO", "libvirtd")      # no function:line on this one


def test_qemu_instance_log_takes_domain_from_its_path():
    path = "/var/log/libvirt/qemu/instance-0000001a.log"
    up = one("2026-12-05 02:11:12.359+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0", path=path)
    assert (up.service, up.level, up.instance_name) == ("qemu", "INFO", "instance-0000001a")
    sig = one("2026-12-05T02:11:12.359012Z qemu-system-x86_64: terminating on signal 15 from pid 1234 "
              "(/usr/sbin/libvirtd)", path=path)
    assert sig.timestamp == pytest.approx(T + 0.359012) and sig.logger == "qemu-system-x86_64"
    assert sig.level == "WARNING"
    crash = one("2026-12-05 02:11:12.359+0000: shutting down, reason=crashed", path=path)
    assert crash.level == "ERROR"
    # a line without a stamp is the tail of the record before it, as today
    assert parse_infra("char device redirected to /dev/pts/1 (label charserial0)", path=path) is None


# -- Open vSwitch / OVN -----------------------------------------------------------------

def test_ovs_line():
    ev = one("2026-12-05T02:11:12.359Z|00042|rconn|WARN|br-int<->tcp:127.0.0.1:6633: connection failed "
             "(Connection refused)", path="/var/log/openvswitch/ovs-vswitchd.log")
    assert ev.timestamp == pytest.approx(T + 0.359)
    assert (ev.service, ev.level, ev.logger, ev.peer) == ("ovs-vswitchd", "WARNING", "rconn", "127.0.0.1:6633")
    assert ev.message.startswith("br-int<->tcp:")
    db = one("2026-12-05T02:11:12.000Z|00003|ovsdb_server|EMER|cannot open database", path="/x/ovsdb-server.log")
    assert (db.service, db.level) == ("ovsdb-server", "CRITICAL")
    port = one("2026-12-05T02:11:12.000Z|00101|bridge(handler3)|INFO|bridge br-int: added interface "
               "qvo3f2a1b4c-5d on port 7")
    assert (port.logger, port.port_id, port.level) == ("bridge", "3f2a1b4c-5d", "INFO")
    ovn = one("2026-12-05T02:11:12.000Z|00009|reconnect|ERR|ssl:10.0.0.2:6642: no response to inactivity probe",
              path="/var/log/ovn/ovn-controller.log")
    assert (ovn.service, ovn.level, ovn.peer) == ("ovn-controller", "ERROR", "10.0.0.2:6642")


# -- RabbitMQ -------------------------------------------------------------------------------

def test_rabbitmq_both_generations():
    old = one("2026-12-05 02:11:12.359 [error] <0.1234.0> closing AMQP connection <0.1234.0> "
              "(10.0.0.5:45678 -> 10.0.0.1:5672, vhost: '/', user: 'nova'):")
    assert (old.timestamp, old.service, old.level) == (pytest.approx(T + 0.359), "rabbitmq", "ERROR")
    assert (old.logger, old.peer) == ("<0.1234.0>", "10.0.0.5:45678")
    new = one("2026-12-05 03:11:12.359123+01:00 [warning] <0.987.0> client unexpectedly closed TCP connection")
    assert new.timestamp == pytest.approx(T + 0.359123) and new.level == "WARNING"
    for word, level in (("info", "INFO"), ("debug", "DEBUG"), ("critical", "CRITICAL"), ("notice", "INFO")):
        assert one(f"2026-12-05 02:11:12.359 [{word}] <0.1.0> x").level == level
    report = one("=ERROR REPORT==== 5-Dec-2026::02:11:12 ===")
    assert (report.timestamp, report.level) == (T, "ERROR")


def test_rabbitmq_continuation_lines_join_their_record():
    lines = ["2026-12-05 02:11:12.359 [error] <0.300.0> CRASH REPORT Process <0.300.0> with 0 neighbours exited",
             "  crasher:", "    initial call: rabbit_reader:init/3", "    pid: <0.300.0>",
             "2026-12-05 02:11:13.000 [info] <0.301.0> accepting AMQP connection"]
    events = list(parse_lines(lines, source="/var/log/rabbitmq/rabbit@ctl.log"))
    assert [e.level for e in events] == ["ERROR", "INFO"]
    assert events[0].line_count == 4 and events[0].raw == "\n".join(lines[:4])
    assert events[1].timestamp == pytest.approx(T + 1)


# -- MariaDB / Galera -----------------------------------------------------------------------

def test_mariadb_formats():
    ev = one("2026-12-05  2:11:12 0 [ERROR] WSREP: failed to open gcomm backend connection: 110")
    assert (ev.timestamp, ev.service, ev.level, ev.logger) == (T, "mariadb", "ERROR", "WSREP")
    denied = one("2026-12-05 12:11:12 31 [Warning] Access denied for user 'nova'@'10.0.0.5' (using password: YES)")
    assert (denied.level, denied.peer, denied.logger) == ("WARNING", "10.0.0.5", "mysqld")
    old = one("261205  2:11:12 [Note] Aborted connection 12 to db: 'nova' user: 'nova' host: '10.0.0.7' (Got an error)")
    assert (old.timestamp, old.level, old.peer) == (T, "INFO", "10.0.0.7")
    mysql8 = one("2026-12-05T02:11:12.359123Z 0 [ERROR] [MY-010119] [Server] Aborting")
    assert (mysql8.timestamp, mysql8.level, mysql8.message) == (pytest.approx(T + 0.359123), "ERROR", "Aborting")


# -- web servers ----------------------------------------------------------------------------

def test_apache_error_log():
    ev = one("[Sat Dec 05 02:11:12.359123 2026] [wsgi:error] [pid 123:tid 456] [remote 10.0.0.1:5678] "
             "req-0a1b2c3d-0000-4000-8000-000000000001 Traceback (most recent call last):")
    assert ev.timestamp == pytest.approx(T + 0.359123)
    assert (ev.service, ev.level, ev.logger, ev.pid, ev.peer) == ("apache2", "ERROR", "wsgi", 123, "10.0.0.1:5678")
    assert ev.request_id == "req-0a1b2c3d-0000-4000-8000-000000000001"
    for word, level in (("emerg", "CRITICAL"), ("crit", "CRITICAL"), ("warn", "WARNING"),
                        ("notice", "INFO"), ("trace3", "DEBUG")):
        assert one(f"[Sat Dec 05 02:11:12.000000 2026] [core:{word}] [pid 9] AH00001: x").level == level
    old = one("[Sat Dec 05 02:11:12 2026] [error] [client 10.0.0.9] File does not exist: /var/www/x")
    assert (old.timestamp, old.logger, old.peer) == (T, "core", "10.0.0.9")


@pytest.mark.parametrize("status, level", [("500", "ERROR"), ("503", "ERROR"), ("404", "WARNING"), ("200", "INFO")])
def test_access_log_status_is_the_level(status, level):
    ev = one(f'10.0.0.1 - - [05/Dec/2026:03:11:12 +0100] "GET /v3/auth/tokens HTTP/1.1" {status} 123 "-" "ua"',
             path="/var/log/apache2/keystone_access.log")
    assert (ev.timestamp, ev.level, ev.service, ev.peer) == (T, level, "apache2", "10.0.0.1")
    vhost = one(f'ctl:80 10.0.0.2 - - [05/Dec/2026:02:11:12 +0000] "POST /x HTTP/1.1" {status} 5 "-" "-"',
                path="/var/log/nginx/access.log")
    assert (vhost.level, vhost.service, vhost.peer) == (level, "nginx", "10.0.0.2")


def test_nginx_and_uwsgi():
    ev = one("2026/12/05 02:11:12 [error] 1234#1234: *9 connect() failed (111: Connection refused) while "
             'connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1"')
    assert (ev.timestamp, ev.service, ev.level, ev.pid, ev.peer) == (T, "nginx", "ERROR", 1234, "10.0.0.1")
    req = one("[pid: 1234|app: 0|req: 5/9] 10.0.0.1 () {40 vars in 567 bytes} [Sat Dec  5 02:11:12 2026] "
              "GET /identity/v3 => generated 123 bytes in 45 msecs (HTTP/1.1 500) 6 headers in 250 bytes "
              "(1 switches on core 0)")
    assert (req.timestamp, req.service, req.level, req.pid, req.peer) == (T, "uwsgi", "ERROR", 1234, "10.0.0.1")
    died = one("DAMN ! worker 1 (pid: 123) died, killed by signal 9 :( trying respawn ...", program="uwsgi")
    assert (died.level, died.timestamp) == ("ERROR", None)


# -- syslog bodies (program given) ---------------------------------------------------------------

@pytest.mark.parametrize("program, body, level, logger", [
    ("haproxy[77]", "Server nova_api/ctl1 is DOWN, reason: Layer4 connection problem, info: "
                    '"Connection refused", check duration: 0ms. 0 active and 0 backup servers left.', "ERROR", "nova_api"),
    ("haproxy", "backend nova_api has no server available!", "CRITICAL", "nova_api"),
    ("haproxy", "Server nova_api/ctl1 is UP, reason: Layer4 check passed", "INFO", "nova_api"),
    ("Keepalived_vrrp", "(VI_1) Entering FAULT STATE", "ERROR", "VI_1"),
    ("Keepalived_vrrp", "(VI_1) Entering BACKUP STATE", "WARNING", "VI_1"),
    ("Keepalived_vrrp", "(VI_1) Entering MASTER STATE", "INFO", "VI_1"),
    ("Keepalived_vrrp", "VRRP_Script(chk_haproxy) failed (exited with status 1)", "WARNING", "chk_haproxy"),
    ("kernel", "Out of memory: Killed process 1234 (qemu-system-x86) total-vm:8123456kB", "ERROR", "kernel"),
    ("kernel", "[12345.678901] qemu-system-x86[1234]: segfault at 0 ip 00007f sp 00007f error 4", "ERROR",
     "qemu-system-x86"),
    ("kernel", "nova-compute invoked oom-killer: gfp_mask=0x100cca, order=0", "ERROR", "kernel"),
    ("kernel", "EXT4-fs (sda1): mounted filesystem with ordered data mode", "INFO", "EXT4-fs"),
    ("systemd", "libvirtd.service: Main process exited, code=killed, status=9/KILL", "ERROR", "libvirtd.service"),
    ("systemd", "Failed to start OpenStack Compute.", "ERROR", "systemd"),
    ("systemd", "Started OpenStack Compute.", "INFO", "systemd"),
])
def test_syslog_bodies_by_program(program, body, level, logger):
    ev = one(body, program=program)
    assert (ev.level, ev.logger) == (level, logger)
    assert ev.service == service_of_program(program)[1]


def test_haproxy_traffic_lines():
    http = one('10.0.0.1:5678 [05/Dec/2026:02:11:12.359] nova_api nova_api/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- '
               '1/1/0/0/0 0/0 "GET /v2.1 HTTP/1.1"', program="haproxy")
    assert (http.timestamp, http.level, http.logger, http.peer) == (pytest.approx(T + 0.359), "ERROR", "nova_api",
                                                                    "10.0.0.1:5678")
    tcp = one("10.0.0.1:5678 [05/Dec/2026:02:11:12.359] galera galera/db1 1/-1/3 0 SC 1/1/0/0/3 0/0",
              program="haproxy")
    assert (tcp.level, tcp.logger) == ("ERROR", "galera")
    ok = one("10.0.0.1:5678 [05/Dec/2026:02:11:12.359] galera galera/db1 1/0/300 120 -- 1/1/0/0/0 0/0",
             program="haproxy")
    assert ok.level == "INFO"


def test_kernel_bridge_port_names_a_neutron_port():
    ev = one("brq1: port 2(tap3f2a1b4c-5d) entered disabled state", program="kernel")
    assert (ev.port_id, ev.level) == ("3f2a1b4c-5d", "WARNING")


# -- the hook: what is not a grammar's keeps today's rules ---------------------------------

@pytest.mark.parametrize("line", [
    "Traceback (most recent call last):", "  File \"/x.py\", line 3, in f", "{'status': 'ERROR'}",
    "    raise exception.PortBindingFailed(port_id=port_id)", "", "   ", "2017-05-16 00:00:00.008 25746 INFO",
    "hello world", "[not a date] x",
])
def test_other_lines_match_no_grammar(line):
    assert parse_infra(line) is None
    assert parse_line(line).parse_error


def test_parse_line_falls_back_to_the_grammars():
    ev = parse_line("2026-12-05T02:11:12.359Z|00042|rconn|WARN|x", "/var/log/openvswitch/ovs-vswitchd.log")
    assert ev.parse_error is None and ev.level == "WARNING" and ev.service == "ovs-vswitchd"
    assert parse_line("(VI_1) Entering FAULT STATE", program="Keepalived_vrrp").level == "ERROR"
    oslo = ("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [-] ok")
    assert parse_line(oslo, program="nova-api").logger == "nova.osapi_compute.wsgi.server"


def test_oslo_records_and_their_tails_are_unchanged_between_infra_lines():
    lines = [
        "2026-12-05 02:11:12.359+0000: 1234: error : qemuMonitorIO:620 : internal error: End of file",
        "2017-05-16 00:00:00.008 25746 ERROR nova.compute.manager [req-aa 11 22 - - -] Failed",
        "{'status': 'ERROR'}",                                       # the oslo record's tail
        "2026-12-05 02:11:13.000 [error] <0.1.0> lost",
        "  more of it",                                              # the RabbitMQ record's tail
        "2017-05-16 00:00:01.000 25746 INFO nova.compute.manager [req-bb 11 22 - - -] ok",
    ]
    events = list(parse_lines(lines))
    assert [(e.service, e.line_count) for e in events] == [
        ("libvirtd", 1), ("nova-compute", 2), ("rabbitmq", 2), ("nova-compute", 1)]
    assert all(e.parse_error is None for e in events)
    # no open record: a headerless line stands alone, as before
    alone = list(parse_lines(["  dangling", "2026-12-05T02:11:12.359Z|00001|vlog|INFO|opened"]))
    assert alone[0].parse_error == "no oslo.log header" and alone[1].logger == "vlog"


def test_malformed_stamps_are_not_guessed():
    for line in ("2026-13-05 02:11:12.359+0000: 1: error : f:1 : x",            # month 13
                 "2026-12-05T02:11:12.359Z|00042|rconn|LOUD|x",                  # no such level
                 "[Sat Foo 05 02:11:12.359123 2026] [core:error] [pid 1] x",     # no such month
                 "2026-12-05 02:11:12.359 [shouting] <0.1.0> x"):
        assert parse_infra(line) is None, line


def test_keepalived_stamping_its_own_lines():
    path = "/var/log/keepalived.log"
    ev = one("Sat Dec  5 02:11:12 2026: pid 32308 exited with permanent error CONFIG. Terminating", path=path)
    assert (ev.timestamp, ev.service, ev.level) == (T, "keepalived", "ERROR")
    cant = one("Sat Dec  5 02:11:12 2026: (VI_1) cannot use a loopback interface (lo) for vrrp - ignoring", path=path)
    assert (cant.level, cant.logger) == ("ERROR", "VI_1")
    assert parse_infra("Sat Dec  5 02:11:12 2026: x") is None   # no path naming the daemon: not guessed


def test_rabbitmq_39_repeats_its_header_on_each_line_of_a_record():
    head = "2026-12-05 02:11:12.919920+00:00 [error] <0.222.0>"
    lines = [f"{head} CRASH REPORT Process <0.222.0> with 0 neighbours exited", f"{head}   crasher:",
             f"{head}     initial call: application_master:init/4",
             "2026-12-05 02:11:12.929906+00:00 [notice] <0.44.0> Application rabbit exited"]
    events = list(parse_lines(lines, source="/var/log/rabbitmq/rabbit@ctl.log"))
    assert [(e.level, e.line_count) for e in events] == [("ERROR", 3), ("INFO", 1)]
    # lines of other formats sharing a time stay records of their own
    same = "2026-12-05 02:11:12.359+0000: 1234: info : libvirt version: 9.0.0"
    assert len(list(parse_lines([same, same.replace("version: 9.0.0", "hostname: vm")]))) == 2
