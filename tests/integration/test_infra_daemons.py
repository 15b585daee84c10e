"""Real logs of the infrastructure daemons, through the real broker and the worker.

Each daemon (scripts/install-test-daemons.sh installs them; a missing one skips with a reason)
runs briefly as our own process, on loopback, with its own data folder under a temporary
directory, and is made to fail the way it fails in a cloud:

- MariaDB: a client logs in with a wrong password (``[Warning] Access denied``);
- RabbitMQ: an AMQP client (kombu, what oslo.messaging uses) killed mid-connection
  (``[warning] ... client unexpectedly closed TCP connection``);
- HAProxy: its only backend server is down (health check, then a request answered 503);
- Apache + mod_wsgi: a WSGI application that raises (the traceback in the error log, a 500 in
  the access log);
- Open vSwitch: a bridge whose OpenFlow controller refuses connections;
- libvirt: ``virsh -c test:///default`` asked for a domain that does not exist;
- keepalived: a VRRP instance on an interface it cannot use.

Its log file's lines are then published one per message, keyed ``host:path`` as a tailing
shipper sends them, read back from the broker and decoded by the worker's own decoder
(consumers.ingest.Decoder): every line must come out with its time and level (continuation
lines take those of their record), the failure's lines as WARNING or worse. Then one worker
reads every daemon's lines and must window every record (its results count them) with the
daemons named as services and the failures counted among the levels.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = [pytest.mark.integration]

HOST = "infra-1"
PROBLEM = ("WARNING", "ERROR", "CRITICAL")


@dataclass
class DaemonLog:
    """What one daemon wrote while it failed, and how to tell the failure's lines."""

    service: str                       # the service its events must name
    path: str                          # where the file lives on a real host (the Kafka key's path)
    lines: list[str]
    failure: Callable[[str], bool]     # the lines that tell of the provoked failure
    peer: bool = False                 # the failure's lines that name the client (127.0.0.1) have it as peer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)   # polling the port for readiness
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)   # polling the daemon's own output for the line it writes


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20, group: bool = False) -> None:
    """Stop a daemon we started; `group`: it was started in a session of its own, and what is left
    of its process group after `timeout` (children it waits on) is killed with it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(10)


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None and not Path(p).exists()]
    if missing:
        raise _Absent(f"{', '.join(missing)} not installed (scripts/install-test-daemons.sh)")


class _Absent(Exception):
    """The daemon is not installed here: its test skips with this reason."""


def _read(path: Path) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]


# -- the daemons ------------------------------------------------------------------------

def run_mariadb(tmp: Path) -> DaemonLog:
    _need("mariadb-install-db", "mariadbd", "mariadb")
    data, sock, log = tmp / "data", tmp / "mysqld.sock", tmp / "error.log"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    proc = subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
                             "--bind-address=127.0.0.1", f"--log-error={log}", f"--pid-file={tmp / 'pid'}",
                             "--user=root", "--skip-name-resolve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, 60, "mariadbd")
        bad = subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", "-unova", "-pwrong",
                              "-e", "select 1"], capture_output=True, text=True, timeout=30)
        assert bad.returncode != 0 and "Access denied" in bad.stderr
        _wait_for(lambda: "Access denied" in log.read_text(errors="replace"), 10, "no 'Access denied' logged")
    finally:
        _stop(proc)
    return DaemonLog("mariadb", "/var/log/mysql/error.log", _read(log), lambda line: "Access denied" in line,
                     peer=True)


def run_rabbitmq(tmp: Path) -> DaemonLog:
    server = "/usr/lib/rabbitmq/bin/rabbitmq-server"   # the package's script, without its switch to the rabbitmq user
    ctl = "/usr/lib/rabbitmq/bin/rabbitmqctl"
    _need(server, ctl, "epmd")
    if importlib.util.find_spec("kombu") is None:   # the client runs in a process of its own below
        raise _Absent("kombu (an AMQP client) is not installed")
    port, epmd_port = _free_port(), _free_port()
    node = f"rabbit-test-{uuid.uuid4().hex[:6]}@localhost"
    for d in ("home", "mnesia", "log"):
        (tmp / d).mkdir()
    (tmp / "enabled_plugins").write_text("[].\n")
    env = {**os.environ, "HOME": str(tmp / "home"), "RABBITMQ_NODENAME": node,
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(port),
           "RABBITMQ_DIST_PORT": str(_free_port()), "ERL_EPMD_PORT": str(epmd_port),
           "RABBITMQ_MNESIA_BASE": str(tmp / "mnesia"), "RABBITMQ_LOG_BASE": str(tmp / "log"),
           "RABBITMQ_CONFIG_FILE": str(tmp / "rabbitmq"), "RABBITMQ_ADVANCED_CONFIG_FILE": str(tmp / "advanced.config"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp / "enabled_plugins"), "RABBITMQ_PID_FILE": str(tmp / "pid")}
    proc = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp / "log" / f"{node}.log"
    try:
        _wait_port(port, proc, 90, "rabbitmq-server")
        # an AMQP client killed mid-connection (SIGKILL: no close frame, as a crashed service)
        client = subprocess.Popen([sys.executable, "-c",
                                   "import kombu, os, signal, sys\n"
                                   f"c = kombu.Connection('amqp://guest:guest@127.0.0.1:{port}//')\n"
                                   "c.connect(); print('connected', flush=True)\n"
                                   "os.kill(os.getpid(), signal.SIGKILL)\n"],
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "connected"
        client.wait(30)
        _wait_for(lambda: "unexpectedly closed TCP connection" in log.read_text(errors="replace"), 15,
                  "no closed connection logged")
    finally:
        subprocess.run([ctl, "-n", node, "stop"], env=env, capture_output=True, timeout=60)
        _stop(proc, timeout=30)
        subprocess.run(["epmd", "-port", str(epmd_port), "-kill"], capture_output=True, timeout=10)
    return DaemonLog("rabbitmq", f"/var/log/rabbitmq/{node}.log", _read(log),
                     lambda line: "closing AMQP connection" in line or "unexpectedly closed" in line, peer=True)


def run_haproxy(tmp: Path) -> DaemonLog:
    _need("haproxy", "curl")
    front, back = _free_port(), _free_port()   # nothing listens on `back`: the backend is down
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(f"""global
    log stdout format rfc3164 local0 info
    log-send-hostname {HOST}
defaults
    log global
    mode http
    option httplog
    timeout connect 200ms
    timeout client 2s
    timeout server 2s
frontend nova_api
    bind 127.0.0.1:{front}
    default_backend nova_api
backend nova_api
    option httpchk GET /
    server ctl1 127.0.0.1:{back} check inter 200 fall 1 rise 1
""")
    out = tmp / "haproxy.log"   # stdout in RFC 3164, as a syslog receiver gets it
    with open(out, "wb") as fh:
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=fh, stderr=subprocess.DEVNULL)
        try:
            _wait_port(front, proc, 15, "haproxy")
            _wait_for(lambda: "no server available" in out.read_text(errors="replace"), 10, "backend not down")
            code = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                   f"http://127.0.0.1:{front}/v2.1/servers"], capture_output=True, text=True).stdout
            assert code == "503"
            _wait_for(lambda: " 503 " in out.read_text(errors="replace"), 10, "no 503 logged")
        finally:
            _stop(proc)
    return DaemonLog("haproxy", "/var/log/haproxy.log", _read(out),
                     lambda line: "is DOWN" in line or "no server available" in line or " 503 " in line)


WSGI_APP = '''
def application(environ, start_response):
    if environ.get("PATH_INFO") == "/healthcheck":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    raise RuntimeError("keystone could not reach its database")
'''


def run_apache(tmp: Path) -> tuple[DaemonLog, DaemonLog]:
    _need("apache2", "curl")
    modules = Path("/usr/lib/apache2/modules")
    if not (modules / "mod_wsgi.so").exists():
        raise _Absent("libapache2-mod-wsgi-py3 not installed (scripts/install-test-daemons.sh)")
    port = _free_port()
    (tmp / "run").mkdir()
    (tmp / "app.wsgi").write_text(WSGI_APP)
    tmp.chmod(0o755)            # the WSGI application is read by the www-data workers
    (tmp / "app.wsgi").chmod(0o644)
    cfg = tmp / "httpd.conf"
    cfg.write_text(f"""ServerRoot /etc/apache2
ServerName localhost
User www-data
Group www-data
PidFile {tmp}/run/httpd.pid
DefaultRuntimeDir {tmp}/run
Mutex file:{tmp}/run default
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule wsgi_module {modules}/mod_wsgi.so
Listen 127.0.0.1:{port}
ErrorLog {tmp}/keystone_error.log
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{{Referer}}i\\" \\"%{{User-agent}}i\\"" combined
CustomLog {tmp}/keystone_access.log combined
WSGIScriptAlias / {tmp}/app.wsgi
<Directory {tmp}>
  Require all granted
</Directory>
""")
    proc = subprocess.Popen(["apache2", "-f", str(cfg), "-DFOREGROUND"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_port(port, proc, 15, "apache2")
        for path, want in (("/healthcheck", "200"), ("/v3/auth/tokens", "500")):
            code = subprocess.run(["curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", url + path],
                                  capture_output=True, text=True).stdout
            assert code == want, (path, code)
        _wait_for(lambda: "RuntimeError" in (tmp / "keystone_error.log").read_text(errors="replace"), 10,
                  "no traceback logged")
    finally:
        _stop(proc, timeout=2, group=True)   # apache2 waits up to 10 s on its workers at SIGTERM
    error = DaemonLog("apache2", "/var/log/apache2/keystone_error.log", _read(tmp / "keystone_error.log"),
                      lambda line: "[wsgi:error]" in line, peer=True)
    access = DaemonLog("apache2", "/var/log/apache2/keystone_access.log", _read(tmp / "keystone_access.log"),
                       lambda line: '" 500 ' in line, peer=True)
    return error, access


def run_ovs(tmp: Path) -> DaemonLog:
    _need("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl")
    schema = Path("/usr/share/openvswitch/vswitch.ovsschema")
    if not schema.exists():
        raise _Absent(f"{schema} missing (openvswitch-switch not installed)")
    env = {**os.environ, "OVS_RUNDIR": str(tmp), "OVS_LOGDIR": str(tmp), "OVS_DBDIR": str(tmp)}
    db, sock = tmp / "conf.db", tmp / "db.sock"
    subprocess.run(["ovsdb-tool", "create", str(db), str(schema)], check=True, env=env, timeout=30, capture_output=True)
    common = ["--detach", "--no-chdir"]
    subprocess.run(["ovsdb-server", str(db), f"--remote=punix:{sock}", f"--pidfile={tmp}/ovsdb-server.pid",
                    f"--log-file={tmp}/ovsdb-server.log", f"--unixctl={tmp}/ovsdb-server.ctl", *common],
                   check=True, env=env, timeout=30, capture_output=True)
    vswitchd_log = tmp / "ovs-vswitchd.log"
    controller = _free_port()   # nothing listens: the controller refuses
    try:
        subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "init"], check=True, env=env, timeout=30, capture_output=True)
        subprocess.run(["ovs-vswitchd", f"unix:{sock}", f"--pidfile={tmp}/ovs-vswitchd.pid",
                        f"--log-file={vswitchd_log}", f"--unixctl={tmp}/ovs-vswitchd.ctl", *common],
                       check=True, env=env, timeout=30, capture_output=True)
        subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--timeout=20", "add-br", "br-int", "--", "set", "bridge",
                        "br-int", "datapath_type=netdev", "--", "set-controller", "br-int",
                        f"tcp:127.0.0.1:{controller}"], check=True, env=env, timeout=30, capture_output=True)
        _wait_for(lambda: "connection failed" in vswitchd_log.read_text(errors="replace"), 15,
                  "no failed controller connection logged")
    finally:
        for ctl in ("ovs-vswitchd.ctl", "ovsdb-server.ctl"):
            if (tmp / ctl).exists():
                subprocess.run(["ovs-appctl", "-t", str(tmp / ctl), "exit"], env=env, capture_output=True, timeout=30)
    return DaemonLog("ovs-vswitchd", "/var/log/openvswitch/ovs-vswitchd.log", _read(vswitchd_log),
                     lambda line: "connection failed" in line, peer=True)


def run_libvirt(tmp: Path) -> DaemonLog:
    _need("virsh")
    log = tmp / "libvirtd.log"
    env = {**os.environ, "LIBVIRT_LOG_OUTPUTS": f"3:file:{log}", "HOME": str(tmp)}
    run = subprocess.run(["virsh", "-c", "test:///default", "start", "instance-0000001a"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    return DaemonLog("libvirtd", "/var/log/libvirt/libvirtd.log", _read(log),
                     lambda line: "Domain not found" in line)


def run_keepalived(tmp: Path) -> DaemonLog:
    _need("keepalived")
    cfg = tmp / "keepalived.conf"
    cfg.write_text("""vrrp_instance VI_1 {
    state MASTER
    interface lo
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        127.0.0.99/32
    }
}
""")
    log = tmp / "keepalived.log"
    with open(log, "wb") as fh:   # -l: keepalived stamps the lines itself
        proc = subprocess.Popen(["keepalived", "-n", "-l", "-D", "-f", str(cfg), "-p", str(tmp / "k.pid"),
                                 "-r", str(tmp / "vrrp.pid"), "-c", str(tmp / "check.pid")],
                                stdout=fh, stderr=subprocess.STDOUT)
        try:
            proc.wait(20)   # it refuses the loopback interface and stops by itself
        finally:
            _stop(proc)
    return DaemonLog("keepalived", "/var/log/keepalived.log", _read(log),
                     lambda line: "cannot use a loopback" in line or "permanent error" in line)


RUNNERS: dict[str, Callable[[Path], DaemonLog | tuple[DaemonLog, ...]]] = {
    "mariadb": run_mariadb, "rabbitmq": run_rabbitmq, "haproxy": run_haproxy, "apache": run_apache,
    "ovs": run_ovs, "libvirt": run_libvirt, "keepalived": run_keepalived,
}
LOGS = ["mariadb", "rabbitmq", "haproxy", "apache-error", "apache-access", "ovs", "libvirt", "keepalived"]


@pytest.fixture(scope="module")
def daemon_logs() -> dict[str, DaemonLog | str | BaseException]:
    """Each daemon run once for the module: its log, why it is absent (a skip reason), or the error
    it ran into (a failure)."""
    out: dict[str, DaemonLog | str | BaseException] = {}
    root = Path(tempfile.mkdtemp(prefix="rca-daemons-"))
    root.chmod(0o755)
    try:
        for name, run in RUNNERS.items():
            tmp = root / name
            tmp.mkdir()
            t0 = time.monotonic()
            try:
                got = run(tmp)
            except _Absent as exc:
                got = str(exc)            # not installed: its tests skip
            except (OSError, RuntimeError, AssertionError, subprocess.SubprocessError) as exc:
                got = exc                 # installed but it did not do what it should: its tests fail
            if isinstance(got, tuple):
                out["apache-error"], out["apache-access"] = got
            elif name == "apache":
                out["apache-error"] = out["apache-access"] = got
            else:
                out[name] = got
            print(f"{name}: {time.monotonic() - t0:.1f} s")
        yield out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _log(daemon_logs, name: str) -> DaemonLog:
    got = daemon_logs[name]
    if isinstance(got, str):
        pytest.skip(got)
    if isinstance(got, BaseException):
        pytest.fail(f"{name} failed to run: {type(got).__name__}: {got}")
    assert got.lines, f"{name} wrote no log lines"
    assert any(got.failure(line) for line in got.lines), f"{name}: the failure is not in its log"
    return got


# -- the broker -------------------------------------------------------------------------

def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in messages:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0, "undelivered messages"


def _read_back(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[tuple[bytes, bytes]]:
    """The topic's first `count` messages (one key, so one partition: in the order a worker reads them)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-infra-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return out


def _messages(log: DaemonLog) -> list[tuple[bytes, bytes]]:
    key = f"{HOST}:{log.path}".encode()
    return [(key, line.encode()) for line in log.lines]


# -- the tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", LOGS)
def test_every_line_of_a_real_daemon_gets_its_time_and_level(name, daemon_logs, stack, topics):
    from config.settings import WorkerSettings
    from consumers.ingest import Decoder, Joined, Rejected

    log = _log(daemon_logs, name)
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    _produce(bootstrap, topics.logs, _messages(log))
    back = _read_back(bootstrap, topics.logs, len(log.lines))
    assert [v for _, v in back] == [line.encode() for line in log.lines]
    decoder = Decoder(WorkerSettings())
    failures = 0
    for key, value in back:
        out = decoder.decode(value, key)
        assert not isinstance(out, Rejected), f"{out.reason}: {out.error}: {value[:200]!r}"
        event = out.event if isinstance(out, Joined) else out
        line = value.decode()
        where = f"{line[:160]!r} -> {event.level} {event.timestamp} {event.parse_error}"
        assert event.timestamp is not None and event.level is not None, where
        assert abs(event.timestamp - time.time()) < 3600, where   # its own time: written within the hour
        assert (event.host, event.service) == (HOST, log.service), where
        if log.failure(line):
            failures += 1
            assert event.level in PROBLEM, where
            if log.peer and "127.0.0.1" in line:   # a line that names the client has it as the peer
                assert (event.peer or "").startswith("127.0.0.1"), where
    assert failures


def test_the_worker_windows_every_daemons_records(daemon_logs, stack, topics, start_worker):
    """One worker reads all the daemons' lines: every record is in a window, the daemons are the
    windows' services, and their failures count among the windows' levels."""
    from config.settings import WorkerSettings
    from consumers.ingest import Decoder, Joined, Rejected
    from tests.integration.kafka_helpers import drain_until

    logs = {n: g for n, g in daemon_logs.items() if isinstance(g, DaemonLog) and g.lines}
    if not logs:
        pytest.skip("no infrastructure daemon could run here: " + "; ".join(map(str, daemon_logs.values())))
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    messages = [m for log in logs.values() for m in _messages(log)]
    _produce(bootstrap, topics.logs, messages)
    # what the worker's decoder makes of them, in the order it reads them: records, and lines
    # that join one
    decoder = Decoder(WorkerSettings())
    records = 0
    problems: dict[str, int] = {}
    back = _read_back(bootstrap, topics.logs, len(messages))
    assert len(back) == len(messages)
    for key, value in back:
        out = decoder.decode(value, key)
        assert not isinstance(out, Rejected), out
        if not isinstance(out, Joined):
            records += 1
            if out.level in PROBLEM:
                problems[out.service] = problems.get(out.service, 0) + 1
    worker = start_worker(RCA_WORKER_IDLE_TIMEOUT_SECONDS="2", RCA_WORKER_ALLOWED_LATENESS_SECONDS="1e10")

    def alive() -> None:
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    def counted(ms) -> int:
        return sum(m["value"]["event_count"] for m in ms)

    results = drain_until(bootstrap, topics.results, lambda ms: counted(ms) >= records, timeout=180, on_poll=alive)
    assert counted(results) == records, f"{counted(results)} events in windows for {records} records"
    services = {s for m in results for s in m["value"]["services"]}
    assert {log.service for log in logs.values()} <= services
    levels: dict[str, int] = {}
    for m in results:
        for level, n in m["value"]["levels"].items():
            levels[level] = levels.get(level, 0) + n
    assert sum(levels.get(level, 0) for level in PROBLEM) >= sum(problems.values()) > 0, (levels, problems)
    assert {m["value"]["window_start"][:4] for m in results} == {time.strftime("%Y", time.gmtime())}, \
        "windows in the daemons' own time"
