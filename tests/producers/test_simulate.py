"""`rca simulate`: determinism, label consistency, request flow across services, parse-ability.

One simulation with every fault of the catalogue is generated once per module
and shared (a few seconds); the determinism tests use short runs.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from producers.simulate import FAULTS, SERVICES, Simulation, iter_lines, log_path, parse_faults, simulate

parsing = pytest.importorskip("engine.parsing", reason="engine.parsing (the oslo.log parser) is not there yet")

HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ ")
REQ = re.compile(r"\[(req-[0-9a-f-]{36}) ")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    result = simulate(out, hosts=3, minutes=24, seed=7, faults=list(FAULTS))
    events = {}
    for _sub, svc in SERVICES:
        path = log_path(out, svc)
        events[svc] = list(parsing.parse_lines(path.read_text(encoding="utf-8").splitlines(), source=str(path)))
    return out, result, events


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# -- determinism --------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path):
    a = simulate(tmp_path / "a", hosts=2, minutes=6, seed=3, faults=["libvirt_error", "db_outage"])
    b = simulate(tmp_path / "b", hosts=2, minutes=6, seed=3, faults=["libvirt_error", "db_outage"])
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa == fb
    assert a.line_counts == b.line_counts and a.total_lines > 1000
    assert "ground_truth.json" in fa and "nova/nova-compute.log" in fa and "neutron/neutron-server.log" in fa


def test_different_seed_gives_different_logs(tmp_path):
    simulate(tmp_path / "a", hosts=2, minutes=4, seed=1, faults=0)
    simulate(tmp_path / "b", hosts=2, minutes=4, seed=2, faults=0)
    assert _files(tmp_path / "a")["nova/nova-api.log"] != _files(tmp_path / "b")["nova/nova-api.log"]


def test_iter_lines_matches_the_files_and_is_time_ordered(tmp_path):
    simulate(tmp_path, hosts=2, minutes=3, seed=5, faults=["no_valid_host"])
    per_service = defaultdict(list)
    stamps = []
    for svc, line in iter_lines(hosts=2, minutes=3, seed=5, faults=["no_valid_host"]):
        per_service[svc].append(line)
        if HEADER.match(line):
            stamps.append(line[:23])
    for _sub, svc in SERVICES:
        assert log_path(tmp_path, svc).read_text(encoding="utf-8").splitlines() == per_service[svc]
    assert stamps == sorted(stamps)


# -- the ground truth matches the logs -------------------------------------------------------


def _module_of(path: str) -> str:
    for marker in ("/dist-packages/", "/site-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = re.sub(r"^/opt/stack/[^/]+/", "", path)
    mod = path[:-3].replace("/", ".")
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def _norm(module: str) -> str:
    return module.replace("oslo.messaging", "oslo_messaging")


def test_every_fault_is_labelled_with_its_evidence(run):
    out, result, events = run
    assert [f.name for f in result.faults] == list(FAULTS)
    for f in result.faults:
        assert f.service in events, f.name
        window = [e for e in events[f.service] if f.timestamp - 30 <= e.timestamp <= f.end_timestamp + 1]
        assert any(abs(e.timestamp - f.timestamp) < 0.0005 for e in window), f"{f.name}: no line at its time"
        ids = f.affected_ids
        assert ids, f.name
        assert any(any(i in e.raw for i in ids) for e in window), f"{f.name}: affected ids not in {f.service}"
        loggers = {_norm(e.logger) for e in window if e.logger}
        frames = {_module_of(fr.file) for e in window for fr in e.frames}
        assert f.module in loggers | frames, f"{f.name}: {f.module} neither logger nor frame in {f.service}"
        if f.category != "performance":  # slow is not an error: the numbers tell
            first = [e for e in window if abs(e.timestamp - f.timestamp) < 0.0005]
            assert any(e.level in ("INFO", "WARNING", "ERROR") for e in first), f.name
            seen = {f.service, *(s["service"] for s in f.symptoms)}
            assert any(e.level == "ERROR" and f.timestamp <= e.timestamp <= f.end_timestamp + 1
                       for svc in seen for e in events[svc]), f"{f.name}: no ERROR anywhere"
        assert f.subsystem == f.service.split("-")[0]
        for s in f.symptoms:
            assert any(abs(e.timestamp - s["timestamp"]) < 0.0005 for e in events[s["service"]]), (f.name, s)


def test_propagated_faults_show_up_as_symptoms_in_nova(run):
    _out, result, events = run
    by_name = {f.name: f for f in result.faults}
    for name in ("vif_plugging_timeout", "port_binding_failure", "image_download_failure", "volume_attach_failure"):
        f = by_name[name]
        nova = [s for s in f.symptoms if s["service"] == "nova-compute"]
        assert nova and all(s["timestamp"] > f.timestamp for s in nova), name
        spawn = [e for e in events["nova-compute"] if e.instance_id in f.instance_ids and e.frames]
        assert spawn, f"{name}: no traceback for the instance in nova-compute"
    vif = by_name["vif_plugging_timeout"]
    failed = [e for e in events["nova-compute"] if e.instance_id in vif.instance_ids
              and e.message.startswith("Instance failed to spawn")]
    assert failed and failed[0].exception_type == "nova.exception.VirtualInterfaceCreateException"
    assert failed[0].timestamp - vif.timestamp > 250  # nova waited for the event that never came


def test_slow_spawn_shows_in_the_spawn_time(run):
    _out, result, events = run
    f = next(f for f in result.faults if f.name == "slow_spawn")
    took = [e for e in events["nova-compute"] if e.instance_id in f.instance_ids and "seconds to spawn" in e.message]
    assert took and float(took[0].message.split()[1]) > 120
    affected = {i for g in result.faults for i in g.instance_ids}  # a stuck OVS agent delays builds too
    normal = [float(e.message.split()[1]) for e in events["nova-compute"]
              if "seconds to spawn" in e.message and e.instance_id not in affected]
    assert normal and max(normal) < 30


def test_ground_truth_files(run):
    out, result, _ = run
    data = json.loads((out / "ground_truth.json").read_text())
    assert data["seed"] == 7 and data["hosts"] == 3
    assert [f["name"] for f in data["faults"]] == list(FAULTS)
    first = data["faults"][0]
    for key in ("time", "subsystem", "service", "module", "category", "request_ids", "instance_ids", "symptoms"):
        assert key in first
    assert data["services"]["nova-compute"]["lines"] == result.line_counts["nova-compute"]
    tsv = (out / "ground_truth.tsv").read_text().splitlines()
    assert tsv[0].startswith("id\tname\tcategory") and len(tsv) == 1 + len(FAULTS)


# -- the workload flows across services ----------------------------------------------------------


def test_request_ids_flow_from_nova_api_to_conductor_and_compute(run):
    _out, _result, events = run
    api = {e.request_id for e in events["nova-api"] if e.request_id and "POST /v2.1/servers " in e.message}
    conductor = {e.request_id for e in events["nova-conductor"]}
    scheduler = {e.request_id for e in events["nova-scheduler"]}
    compute = {e.request_id for e in events["nova-compute"]}
    flowing = api & conductor & scheduler & compute
    assert len(flowing) >= 3
    # neutron and cinder log their own request ids, tied by instance and port ids
    ports = {e.request_id for e in events["neutron-server"] if "POST /v2.0/ports" in e.message}
    assert ports and not ports & api
    inst = next(e.instance_id for e in events["nova-compute"] if e.request_id in flowing and e.instance_id)
    assert any(inst in e.raw for e in events["neutron-openvswitch-agent"] + events["neutron-server"])


def test_every_line_parses_and_tracebacks_are_single_events(run):
    out, _result, events = run
    for svc, evs in events.items():
        assert evs, svc
        bad = [e for e in evs if e.parse_error]
        assert not bad, (svc, bad[:1])
        assert all(e.service == svc for e in evs), svc
    tracebacks = [e for evs in events.values() for e in evs if e.frames]
    assert len(tracebacks) >= 10
    for e in tracebacks:
        assert e.level in ("ERROR", "WARNING") and e.exception_type and e.line_count > 3
        assert e.raw.splitlines()[1].split(" ", 5)[-1].lstrip().split("] ")[-1].startswith("Traceback (")
    # no traceback line was left behind as an event of its own
    assert not any("Traceback (most recent call last)" in e.message for evs in events.values() for e in evs)
    raw = (out / "nova" / "nova-compute.log").read_text().splitlines()
    assert sum(1 for line in raw if HEADER.match(line)) > 0.9 * len(raw)


def test_healthy_runs_log_errors_and_warnings_too(tmp_path):
    result = simulate(tmp_path, hosts=3, minutes=30, seed=0, faults=0)
    assert result.faults == []
    assert json.loads((tmp_path / "ground_truth.json").read_text())["faults"] == []
    levels = defaultdict(int)
    for _sub, svc in SERVICES:
        for line in log_path(tmp_path, svc).read_text().splitlines():
            m = HEADER.match(line)
            if m:
                levels[m.group(1)] += 1
    assert levels["WARNING"] > 10 and levels["ERROR"] >= 1 and levels["DEBUG"] > levels["INFO"]


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,match", [
    ({"hosts": 0}, "hosts"), ({"hosts": -2}, "hosts"), ({"minutes": 0}, "minutes"), ({"rate": 0}, "rate"),
    ({"faults": ["libvirt_error", "no_such_fault"]}, "unknown fault 'no_such_fault'"), ({"faults": -1}, "faults"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Simulation(**kwargs)


def test_fault_count_picks_distinct_faults_and_out_dir_none_writes_nothing(tmp_path):
    result = simulate(None, hosts=2, minutes=8, seed=4, faults=4)
    assert len({f.name for f in result.faults}) == 4 and result.out_dir is None and result.total_lines > 0
    assert parse_faults("3") == 3 and parse_faults("db_outage, slow_spawn") == ["db_outage", "slow_spawn"]
    with pytest.raises(ValueError):
        parse_faults(" , ")


# -- events for Kafka and the command line ---------------------------------------------------------


def test_simulated_events_are_whole_records_with_host_and_valid_schema(tmp_path):
    import schemas
    from producers.simulate import simulated_events

    sim = Simulation(hosts=2, minutes=4, seed=9, faults=["port_binding_failure"])
    events = list(simulated_events(sim, tmp_path))
    assert sum(e.line_count for e in events) == sum(sim.line_counts.values())
    assert not [e for e in events if e.parse_error]
    assert {e.host for e in events if e.service == "nova-compute"} == {"compute-1", "compute-2"}
    assert any(e.frames and e.service == "neutron-server" for e in events)
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    for e in events[:200] + [e for e in events if e.frames]:
        schemas.validate("log_event", e.to_dict())
    # the files written meanwhile are the same as simulate()'s
    simulate(tmp_path / "again", hosts=2, minutes=4, seed=9, faults=["port_binding_failure"])
    assert log_path(tmp_path, "nova-compute").read_bytes() == log_path(tmp_path / "again", "nova-compute").read_bytes()


def _cli(argv):
    import argparse

    from cli.simulate_cmd import add_simulate

    parser = argparse.ArgumentParser(prog="rca")
    add_simulate(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_files_and_rejects_bad_arguments(tmp_path, capsys):
    assert _cli(["simulate", "--out", str(tmp_path), "--hosts", "2", "--minutes", "3", "--faults", "no_valid_host"]) == 0
    text = capsys.readouterr().out
    assert "no_valid_host" in text and "ground_truth.json" in text
    assert log_path(tmp_path, "nova-scheduler").exists()
    with pytest.raises(ValueError, match="unknown fault"):
        _cli(["simulate", "--out", str(tmp_path), "--faults", "nope"])
    with pytest.raises(ValueError, match="--out"):
        _cli(["simulate"])
    with pytest.raises(ValueError, match="hosts"):
        _cli(["simulate", "--out", str(tmp_path), "--hosts", "0"])


def test_cli_kafka_publishes_parsed_events(tmp_path, monkeypatch, capsys):
    import producers.publish
    from producers.publish import PublishReport

    seen = {}

    def fake_publish(events, cfg, topic, **kwargs):
        seen["topic"] = topic
        seen["events"] = list(events)
        return PublishReport(events=len(seen["events"]), delivered=len(seen["events"]), errors=[])

    monkeypatch.setattr(producers.publish, "publish", fake_publish)
    rc = _cli(["simulate", "--kafka", "--topic", "sim.logs", "--out", str(tmp_path), "--hosts", "1", "--minutes", "2",
               "--faults", "0", "--no-progress"])
    assert rc == 0 and seen["topic"] == "sim.logs" and len(seen["events"]) > 100
    assert (tmp_path / "ground_truth.json").exists()
    assert "published" in capsys.readouterr().out
