"""`rca simulate`'s infrastructure faults: the daemons' own formats and files, the services'
symptoms, and labels naming the cause's kind, component and host."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from producers.sim_dataset import make_dataset
from producers.simulate import FAULTS, INFRA_FAULTS, Simulation, parse_faults, simulate, simulated_events

# one regular expression per file: the format the real daemon writes
FORMATS = {
    "rabbitmq": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00 \[(error|warning|info)\] <0\.\d+\.0> \S"),
    "mysql": re.compile(r"\d{4}-\d\d-\d\d [ \d]\d:\d\d:\d\d \d+ \[(Note|Warning|ERROR)\] \S"),
    "openvswitch": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\|\d{5}\|[a-z_]+\|(ERR|WARN|INFO|DBG)\|"),
    "libvirtd.log": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: \d+: (error|warning|info) : "),
    "qemu": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: \S"),
    "syslog": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 [\w-]+ [\w-]+(\[\d+\])?: \S"),
}
# a galera view message continues on lines of its own (a tab or a brace first), as MariaDB writes it
CONTINUATION = re.compile(r"^(\t|\}|$)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("infra")
    return out, simulate(out, hosts=3, minutes=36, seed=11, faults=list(INFRA_FAULTS))


def _kind(path: Path) -> str:
    name = path.as_posix()
    for key in ("rabbitmq", "mysql", "openvswitch", "libvirtd.log", "qemu", "syslog"):
        if key in name:
            return key
    raise AssertionError(f"unexpected infrastructure file {name}")


def test_infra_files_are_the_daemons_real_paths_per_host(run):
    out, result = run
    files = sorted(p.relative_to(out / "infra").as_posix() for p in (out / "infra").rglob("*") if p.is_file())
    assert "controller/var/log/rabbitmq/rabbit@controller.log" in files
    assert "controller/var/log/mysql/error.log" in files
    assert "controller/var/log/syslog" in files
    assert any(re.fullmatch(r"compute-\d/var/log/openvswitch/ovs-vswitchd\.log", f) for f in files)
    assert any(re.fullmatch(r"compute-\d/var/log/libvirt/libvirtd\.log", f) for f in files)
    assert any(re.fullmatch(r"compute-\d/var/log/libvirt/qemu/instance-[0-9a-f]{8}\.log", f) for f in files)
    assert any(re.fullmatch(r"compute-\d/var/log/syslog", f) for f in files)
    # the summary keys each file host:path, as a tailing shipper keys its lines
    assert all(re.fullmatch(r"[\w-]+:/var/log/\S+", k) for k in result.infra_line_counts)
    total = sum(len(p.read_text().splitlines()) for p in (out / "infra").rglob("*") if p.is_file())
    assert total == sum(result.infra_line_counts.values())


def test_every_infra_line_follows_its_daemons_format(run):
    out, _ = run
    for path in (out / "infra").rglob("*"):
        if not path.is_file():
            continue
        fmt = FORMATS[_kind(path)]
        for line in path.read_text().splitlines():
            assert fmt.match(line) or (_kind(path) == "mysql" and CONTINUATION.match(line)), (path, line)


def _text(out: Path, rel: str) -> str:
    return "\n".join(p.read_text() for p in (out / "infra").glob(rel))


def test_each_fault_logs_its_signature_lines(run):
    out, _ = run
    rabbit = _text(out, "controller/var/log/rabbitmq/*.log")
    assert re.search(r"\[error\] <0\.\d+\.0> Mnesia\(rabbit@controller\): \*\* ERROR \*\* mnesia_event got "
                     r"\{inconsistent_database, running_partitioned_network, rabbit@controller-2\}", rabbit)
    assert "closing AMQP connection" in rabbit and "-> 10.0.0.10:5672" in rabbit
    mysql = _text(out, "controller/var/log/mysql/error.log")
    assert "[Warning] WSREP:" in mysql and "non-Primary" in mysql and "Received NON-PRIMARY." in mysql
    ovs = _text(out, "compute-*/var/log/openvswitch/ovs-vswitchd.log")
    assert re.search(r"\|rconn\|WARN\|br-int<->tcp:127\.0\.0\.1:6633: connection failed \(Connection refused\)", ovs)
    syslog = _text(out, "*/var/log/syslog")
    assert re.search(r"compute-\d systemd\[1\]: libvirtd\.service: Main process exited, code=killed, "
                     r"status=9/KILL", syslog)
    assert re.search(r"compute-\d kernel: \[ *\d+\.\d{6}\] Out of memory: Killed process \d+ \(qemu-system-x86\)",
                     syslog)
    assert re.search(r"controller haproxy\[\d+\]: Server nova_api/controller is DOWN, reason: Layer4 connection "
                     r"problem", syslog)
    assert re.search(r"nova_api/<NOSRV> \S+ 503 ", syslog)
    # each OVS line's sequence number grows with its time, as one daemon writes them
    for path in (out / "infra").glob("compute-*/var/log/openvswitch/ovs-vswitchd.log"):
        seqs = [int(line.split("|")[1]) for line in path.read_text().splitlines()]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_services_log_the_symptoms_they_really_log(run):
    out, _ = run
    def log(svc_path: str) -> str:
        return (out / svc_path).read_text()
    conductor, compute, server = log("nova/nova-conductor.log"), log("nova/nova-compute.log"), \
        log("neutron/neutron-server.log")
    api = log("nova/nova-api.log")
    assert "AMQP server on controller:5672 is unreachable" in conductor
    assert "oslo_messaging.exceptions.MessagingTimeout" in api + log("cinder/cinder-api.log")
    assert "oslo_db.exception.DBConnectionError" in conductor
    assert "RuntimeError: Switch connection timeout" in log("neutron/neutron-openvswitch-agent.log")
    assert "nova.exception.VirtualInterfaceCreateException" in compute
    assert "libvirt.libvirtError: Cannot recv data: Connection reset by peer" in compute
    assert "Instance shutdown by itself" in compute
    assert "novaclient.exceptions.ClientException: Unknown Error (HTTP 503)" in server


def test_labels_say_kind_component_and_host(run):
    out, result = run
    by_name = {f.name: f for f in result.faults}
    assert set(by_name) == set(INFRA_FAULTS)
    expected = {"rabbitmq_partition": "rabbitmq", "galera_non_primary": "mariadb/galera",
                "ovs_controller_lost": "ovs-vswitchd", "libvirtd_killed": "libvirtd",
                "qemu_oom_kill": "kernel/oom", "haproxy_backend_down": "haproxy:nova_api"}
    for name, component in expected.items():
        f = by_name[name]
        assert f.kind == "infrastructure" and f.component == component, f
        assert f.time <= f.end_time and f.symptoms, f
        assert f.time <= min(s["time"] for s in f.symptoms), f   # the daemon's line comes first
    for name in ("rabbitmq_partition", "galera_non_primary", "haproxy_backend_down"):
        assert by_name[name].host == "controller"
    for name in ("ovs_controller_lost", "libvirtd_killed", "qemu_oom_kill"):
        assert re.fullmatch(r"compute-\d", by_name[name].host)
    truth = json.loads((out / "ground_truth.json").read_text())
    assert {f["kind"] for f in truth["faults"]} == {"infrastructure"}
    assert truth["infra_logs"] and all(v["path"].startswith("/var/log/") for v in truth["infra_logs"].values())


def test_service_faults_keep_kind_module_and_counts_never_draw_infra():
    result = simulate(None, hosts=2, minutes=8, seed=4, faults=len(FAULTS))
    assert {f.name for f in result.faults} == set(FAULTS)
    assert all(f.kind == "module" and f.component == f.module for f in result.faults)
    # only the daemons' routine noise: RabbitMQ's side of connection blips, MariaDB's aborted connections
    assert set(result.infra_line_counts) <= {"controller:/var/log/rabbitmq/rabbit@controller.log",
                                              "controller:/var/log/mysql/error.log"}


def test_healthy_runs_log_the_infrastructures_routine_noise_without_changing_service_logs(tmp_path):
    result = simulate(tmp_path, hosts=3, minutes=40, seed=0, faults=0)
    rabbit = (tmp_path / "infra/controller/var/log/rabbitmq/rabbit@controller.log").read_text()
    assert "missed heartbeats from client, timeout: 60s" in rabbit
    compute = "".join((tmp_path / p).read_text() for p in ("nova/nova-conductor.log", "nova/nova-compute.log",
                                                          "neutron/neutron-server.log", "cinder/cinder-volume.log"))
    assert "AMQP server on controller:5672 is unreachable: timed out" in compute + \
        (tmp_path / "neutron/neutron-openvswitch-agent.log").read_text() + \
        (tmp_path / "neutron/neutron-dhcp-agent.log").read_text() + (tmp_path / "nova/nova-scheduler.log").read_text() \
        + (tmp_path / "cinder/cinder-scheduler.log").read_text()
    assert "Aborted connection" in (tmp_path / "infra/controller/var/log/mysql/error.log").read_text()
    assert result.faults == []


def test_same_seed_same_infra_bytes(tmp_path):
    a = simulate(tmp_path / "a", hosts=2, minutes=6, seed=3, faults=["libvirtd_killed"])
    b = simulate(tmp_path / "b", hosts=2, minutes=6, seed=3, faults=["libvirtd_killed"])
    files = lambda root: {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert files(tmp_path / "a") == files(tmp_path / "b") and a.infra_line_counts


def test_simulated_events_carry_the_infra_records_with_their_host(tmp_path):
    sim = Simulation(hosts=2, minutes=5, seed=2, faults=["qemu_oom_kill"])
    events = list(simulated_events(sim, tmp_path))
    infra = [e for e in events if e.source and e.source.startswith("/var/log/")]
    assert infra and all(e.host for e in infra)
    assert any("Out of memory: Killed process" in e.raw for e in infra)
    assert (tmp_path / "infra").is_dir()


def test_parse_faults_infra_and_dataset_components(tmp_path):
    assert parse_faults("infra") == list(INFRA_FAULTS)
    labels = make_dataset(tmp_path, tests=2, hosts=2, minutes=4, seed=0,
                          faults=["libvirtd_killed", "galera_non_primary"])
    rows = labels.read_text().splitlines()[1:]
    assert sorted(r.split("\t")[3] for r in rows) == ["libvirtd", "mariadb/galera"]
    with pytest.raises(ValueError):
        make_dataset(tmp_path / "x", tests=1, faults=["nope"])
