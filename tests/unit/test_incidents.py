"""Incident correlation on crafted RCA result sequences (consumers/incidents.py)."""
import hashlib

import orjson

import schemas
from consumers.incidents import Correlator, CorrelatorConfig, incident_id
from schemas.log_event import format_timestamp

T0 = 1_560_000_000.0
REQ = "req-9bc36dd9-91c5-4314-898a-47625eb93b09"
INST = "b9000564-fe1a-409b-b8cc-1e88b294cd1d"


def result(n, start, service, host, module, *, incident=True, request_ids=(), instance_ids=(), score=0.9,
           key=None, first_error_at=None, cause_score=0.8):
    """An rca_result of one 60 s window, as Pipeline.result builds it."""
    wid = "w-" + hashlib.sha256(f"{n}".encode()).hexdigest()[:24]
    sub = module.split(".")[0]
    causes = [{"rank": 1, "subsystem": sub, "service": service, "module": module, "category": "error",
               "score": cause_score, "first_seen": format_timestamp(first_error_at or start + 1),
               "evidence": [f"ERROR {module} failed ({n})"], "request_ids": list(request_ids),
               "instance_ids": list(instance_ids), "recommendation": f"look at {module}"}] if incident else []
    out = {
        "schema_version": 1, "window_id": wid, "session_key": key or (list(request_ids) or [f"{service}@{host}"])[0],
        "window_start": format_timestamp(start), "window_end": format_timestamp(start + 60),
        "closed_by": "watermark", "event_count": 10, "late_event_count": 0,
        "services": [service], "hosts": [host], "request_ids": list(request_ids), "instance_ids": list(instance_ids),
        "levels": {"ERROR": 1} if incident else {"INFO": 10}, "templates": [],
        "first_error": {"time": format_timestamp(first_error_at or start + 1), "service": service,
                        "logger": module, "message": "failed"} if incident else None,
        "is_incident": incident, "anomaly_score": score if incident else 0.05, "root_causes": causes,
        "incidents": [{"summary": "x"}] if incident else [], "model_version": "7", "analyzer": "bundle",
        "produced_at": format_timestamp(T0), "incident_id": None,
    }
    schemas.validate("rca_result", out)
    return out


def feed(correlator, results):
    messages = []
    for r in results:
        messages.extend(correlator.observe(r))
        messages.extend(correlator.expire())
    return messages


def latest(messages):
    out = {}
    for m in messages:
        out[m["incident_id"]] = m
    return out


def test_two_services_sharing_one_request_id_make_one_incident():
    c = Correlator()
    msgs = feed(c, [
        # the origin: neutron-server fails on host A for the request ...
        result(1, T0, "neutron-server", "controller", "neutron.plugins.ml2.managers", request_ids=[REQ],
               first_error_at=T0 + 1),
        # ... the symptom: nova-compute on another host, same request, later, another session key
        result(2, T0 + 60, "nova-compute", "compute-1", "nova.compute.manager", request_ids=[REQ],
               instance_ids=[INST], key=INST, first_error_at=T0 + 70, cause_score=0.6),
    ])
    incidents = latest(msgs)
    assert len(incidents) == 1
    inc = next(iter(incidents.values()))
    assert inc["state"] == "updated" and inc["revision"] == 2 and inc["window_count"] == 2
    assert set(inc["services"]) == {"neutron-server", "nova-compute"}
    assert set(inc["hosts"]) == {"controller", "compute-1"}
    assert REQ in inc["request_ids"] and INST in inc["instance_ids"]
    assert inc["root_causes"][0]["module"] == "neutron.plugins.ml2.managers"   # origin above symptom
    assert inc["origin"]["service"] == "neutron-server"
    assert inc["recommendation"] == "look at neutron.plugins.ml2.managers"
    assert inc["model_version"] == "7"
    assert msgs[0]["state"] == "open" and msgs[0]["incident_id"] == incident_id(msgs[0]["window_ids"][0])
    for m in msgs:
        schemas.validate("rca_incident", m)


def test_two_unrelated_faults_far_apart_make_two_incidents():
    c = Correlator()
    msgs = feed(c, [
        result(1, T0, "cinder-volume", "storage-1", "cinder.volume.drivers.lvm", request_ids=["req-a"]),
        result(2, T0 + 60, "cinder-volume", "storage-1", "cinder.volume.drivers.lvm", request_ids=["req-b"]),
        result(3, T0 + 3 * 3600, "nova-api", "controller", "nova.compute.api", request_ids=["req-c"]),
    ])
    incidents = latest(msgs)
    assert len(incidents) == 2
    first, second = sorted(incidents.values(), key=lambda m: m["first_seen"])
    assert first["state"] == "resolved" and first["window_count"] == 2      # quiet for hours: resolved
    assert second["state"] == "open" and second["root_causes"][0]["module"] == "nova.compute.api"


def test_concurrent_faults_on_different_hosts_without_shared_ids_stay_apart():
    c = Correlator()
    msgs = feed(c, [
        result(1, T0, "cinder-volume", "storage-1", "cinder.volume.drivers.lvm", request_ids=["req-a"]),
        result(2, T0 + 30, "neutron-l3-agent", "network-1", "neutron.agent.l3.router_info", request_ids=["req-b"]),
    ])
    assert len(latest(msgs)) == 2


def test_two_faults_at_once_on_the_same_host_stay_apart_when_their_causes_differ():
    """A small cloud: every fault touches the same hosts. A window whose cause names another failure
    category in another subsystem is another incident; the same category (or module) joins."""
    def cat(r, category):
        r["root_causes"][0]["category"] = category
        return r

    c = Correlator()
    msgs = feed(c, [
        cat(result(1, T0, "nova-compute", "cmp-1", "nova.virt.libvirt.vif", request_ids=["req-a"]), "vif plugging"),
        cat(result(2, T0 + 60, "cinder-volume", "cmp-1", "cinder.volume.targets.lio", request_ids=["req-b"]),
            "volume attach"),
        cat(result(3, T0 + 120, "neutron-openvswitch-agent", "cmp-1", "neutron.agent.ovs", request_ids=["req-c"]),
            "vif plugging"),
    ])
    incidents = latest(msgs)
    assert len(incidents) == 2
    sizes = sorted(len(m["window_ids"]) for m in incidents.values())
    assert sizes == [1, 2]


def test_a_window_linking_two_open_incidents_merges_them():
    c = Correlator()
    feed(c, [
        result(1, T0, "nova-api", "controller", "nova.compute.api", request_ids=["req-a"]),
        result(2, T0 + 30, "cinder-volume", "storage-1", "cinder.volume.manager", request_ids=["req-b"]),
    ])
    assert len(c.open_incidents()) == 2
    msgs = feed(c, [result(3, T0 + 60, "nova-compute", "compute-1", "nova.volume.cinder",
                           request_ids=["req-a", "req-b"])])
    assert len(c.open_incidents()) == 1
    assert msgs[-1]["window_count"] == 3


def test_resolves_after_the_quiet_period_of_event_time():
    c = Correlator(CorrelatorConfig(quiet_seconds=300))
    assert feed(c, [result(1, T0, "nova-compute", "compute-1", "nova.compute.manager")])[0]["state"] == "open"
    # quiet windows (no incident) move event time on; nothing resolves before 300 s past the last window
    assert feed(c, [result(2, T0 + 200, "nova-compute", "compute-1", "x.y", incident=False)]) == []
    resolved = feed(c, [result(3, T0 + 400, "nova-compute", "compute-1", "x.y", incident=False)])
    assert [m["state"] for m in resolved] == ["resolved"]
    assert resolved[0]["resolved_at"] == format_timestamp(T0 + 460)
    assert c.open_incidents() == [] and c.expire(T0 + 10_000) == []


def test_non_incident_windows_and_redelivered_results_change_nothing():
    c = Correlator()
    r = result(1, T0, "nova-compute", "compute-1", "nova.compute.manager", request_ids=[REQ])
    assert feed(c, [result(9, T0, "nova-api", "controller", "x.y", incident=False)]) == []
    assert len(feed(c, [r])) == 1
    assert feed(c, [r]) == []            # at-least-once: the same window id again
    assert c.incident_of(r["window_id"]) == c.open_incidents()[0]["incident_id"]
    assert c.incident_of("w-" + "0" * 24) is None


def test_pending_until_confirmed():
    c = Correlator(CorrelatorConfig(min_windows=2, confirm_score=0.95))
    assert feed(c, [result(1, T0, "nova-compute", "compute-1", "nova.compute.manager", request_ids=[REQ],
                           score=0.7)]) == []
    msgs = feed(c, [result(2, T0 + 60, "nova-compute", "compute-1", "nova.compute.manager", request_ids=[REQ],
                           score=0.7)])
    assert [m["state"] for m in msgs] == ["open"] and msgs[0]["window_count"] == 2
    strong = Correlator(CorrelatorConfig(min_windows=2, confirm_score=0.95))
    assert len(feed(strong, [result(3, T0, "nova-api", "controller", "nova.compute.api", score=0.97)])) == 1


def test_state_round_trips_through_json():
    c = Correlator(CorrelatorConfig(quiet_seconds=300))
    feed(c, [
        result(1, T0, "neutron-server", "controller", "neutron.plugins.ml2.managers", request_ids=[REQ]),
        result(2, T0 + 60, "nova-compute", "compute-1", "nova.compute.manager", request_ids=[REQ], key=INST),
    ])
    state = orjson.loads(orjson.dumps(c.to_state()))      # what a Faust table stores
    again = Correlator.from_state(state)
    assert again.config == c.config and again.event_time == c.event_time
    assert [m["incident_id"] for m in again.open_incidents()] == [m["incident_id"] for m in c.open_incidents()]
    # both go on identically: the next window joins, then the incident resolves
    nxt = [result(3, T0 + 120, "nova-conductor", "controller", "nova.conductor.manager", request_ids=[REQ]),
           result(4, T0 + 1000, "nova-api", "controller", "x.y", incident=False)]
    a, b = feed(c, nxt), feed(again, nxt)
    strip = [{k: v for k, v in m.items() if k != "produced_at"} for m in a]
    assert strip == [{k: v for k, v in m.items() if k != "produced_at"} for m in b]
    assert [m["state"] for m in a] == ["updated", "resolved"]
    assert Correlator.from_state(None).incidents == {}


def test_state_stays_bounded_on_a_long_incident():
    c = Correlator(CorrelatorConfig(max_window_ids=5, max_causes=3))
    feed(c, [result(i, T0 + 30 * i, "nova-compute", "compute-1", f"nova.mod{i % 7}", request_ids=[REQ])
             for i in range(40)])
    (inc,) = c.open_incidents()
    assert inc["window_count"] == 40 and len(inc["window_ids"]) == 5 and len(inc["root_causes"]) == 3
    assert len(orjson.dumps(c.to_state())) < 50_000
    c.flush()
    assert c.window_incident == {} and c.incidents == {}
