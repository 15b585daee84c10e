"""One analyzer, two scopes: a stream incident is ranked as `rca analyze` ranks the same events.

Generated runs are cut into the worker's windows; each window is analysed as the
window stage does (scope="window"), its incident windows go to the correlator
with their evidence records, and the correlator ranks with the model's run-level
analysis (engine.rca.model.rank_incident). The incident's ranking must equal
``analyze`` (scope="run") over the anomalous events of its windows, computed here
from the original LogEvents (so the records' round trip through JSON is checked too).
"""
from __future__ import annotations

import random

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from consumers.incidents import Correlator
from engine.chains import RequestChains
from engine.rca.evidence import MAX_INCIDENT_EVENTS, pack, select, unpack, window_evidence
from engine.rca.model import analyze, rank_incident, stream_windows
from schemas.log_event import format_timestamp

from conftest import FAULTS, make_run


def _result(n: int, events, report) -> dict:
    """The parts of an rca_result the correlator reads, as the window stage fills them."""
    times = [e.timestamp for e in events]
    out = {
        "window_id": f"w-{n:024x}", "session_key": f"key-{n}", "window_start": format_timestamp(min(times)),
        "window_end": format_timestamp(max(times)), "is_incident": report.is_incident,
        "anomaly_score": report.anomaly_score, "root_causes": [rc.to_dict() for rc in report.root_causes],
        "services": sorted({e.service for e in events if e.service}),
        "hosts": sorted({e.host or "devstack" for e in events}),
        "request_ids": sorted({e.request_id for e in events if e.request_id}),
        "instance_ids": sorted({e.instance_id for e in events if e.instance_id}),
        "first_error": None, "model_version": "1", "analyzer": "bundle",
    }
    if report.is_incident:
        out["evidence_events"] = window_evidence(report.anomalous_events)
    return out


def _stream(events, model):
    """(incident messages by id, incident id -> the anomalous LogEvents of its windows)."""
    corr = Correlator(analyst=lambda packed: [rc.to_dict() for rc in rank_incident(packed, model)])
    windows = sorted(stream_windows(events), key=lambda w: min(e.timestamp for e in w[0]))
    final, anomalous = {}, {}
    for n, (items, _sigs) in enumerate(windows):
        report = analyze(items, model, scope="window")
        result = _result(n, items, report)
        for msg in corr.observe(result):
            final[msg["incident_id"]] = msg
        iid = corr.incident_of(result["window_id"])
        if iid is not None and report.is_incident:
            anomalous.setdefault(iid, []).extend(report.anomalous_events)
    return final, anomalous


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), fault=st.sampled_from(FAULTS), stop_at=st.floats(0.25, 0.8),
       healthy_error=st.booleans())
def test_an_incident_ranks_as_analyze_ranks_its_events(fitted, seed, fault, stop_at, healthy_error):
    events = make_run(random.Random(seed), fault=fault, stop_at=stop_at, healthy_error=healthy_error)
    incidents, anomalous = _stream(events, fitted)
    for iid, msg in incidents.items():
        batch = analyze(anomalous[iid], fitted, scope="run", force_rank=True).candidates
        assert [(rc["module"], rc["score"]) for rc in msg["root_causes"]] == \
               [(rc.module, round(rc.score, 4)) for rc in batch]


def test_a_generated_fault_is_one_incident_with_its_module_first(fitted):
    hits = 0
    for seed, fault in enumerate(FAULTS):
        incidents, _ = _stream(make_run(random.Random(100 + seed), fault=fault, stop_at=0.5), fitted)
        assert len(incidents) == 1
        hits += next(iter(incidents.values()))["root_causes"][0]["module"] == fault
    assert hits >= len(FAULTS) - 1


def test_records_survive_the_json_round_trip():
    events = make_run(random.Random(3), fault="nova.compute.api")
    for e in events:
        back = unpack(pack(e))
        assert (back.message, back.raw, back.level, back.logger, back.service, back.request_id,
                back.instance_id, back.exception_type, [f.file for f in back.frames]) == \
               (e.message, e.raw, e.level, e.logger, e.service, e.request_id, e.instance_id,
                e.exception_type, [f.file for f in e.frames])
        assert abs(back.timestamp - e.timestamp) < 1e-3


def test_selection_is_bounded_and_keeps_every_signature_first():
    rng = random.Random(5)
    records = [pack(e) for _ in range(40) for e in make_run(rng, fault="cinder.db.sqlalchemy.api")
               if e.level in ("ERROR", "WARNING")]
    records += [dict(records[0], timestamp=records[0]["timestamp"]) for _ in range(3 * MAX_INCIDENT_EVENTS)]
    kept = select(records, MAX_INCIDENT_EVENTS)
    assert len(kept) <= MAX_INCIDENT_EVENTS
    assert {(r["level"], r["logger"], r["message"]) for r in kept} == \
           {(r["level"], r["logger"], r["message"]) for r in records}
    assert [r.get("timestamp") for r in kept] == sorted(r.get("timestamp") for r in kept)


def test_one_fault_seen_by_two_services_through_a_request_chain_is_one_incident_origin_first(fitted):
    """neutron-server fails a port update (its own request, no instance id); nova-compute, whose
    request called it ("used request id"), gives up waiting for the port 400 s later (past the
    correlator's time link), in a session of its own: only the request chain joins them."""
    from conftest import _event, _frames

    rng = random.Random(11)
    events = make_run(rng, stop_at=0.4)
    events = events[: len(events) // 2]
    t = max(e.timestamp for e in events)
    inst = events[-1].instance_id
    nova_req, neutron_req = "req-" + "1" * 8 + "-1111-1111-1111-" + "1" * 12, "req-" + "2" * 8 + "-2222-2222-2222-" + "2" * 12
    fault = "neutron.db.ipam_backend_mixin"
    events += [
        _event(t + 1, "nova-compute", "nova.network.neutronv2.api", "DEBUG",
               f"PUT call to network for http://controller:9696/v2.0/ports used request id {neutron_req}",
               nova_req, inst),
        _event(t + 1.2, "neutron-server", "neutron.plugins.ml2.plugin", "ERROR",
               "Unexpected failure updating port: TypeError: bad call", neutron_req, None,
               _frames(["neutron.plugins.ml2.plugin", fault]), "TypeError"),
        _event(t + 400, "nova-compute", "nova.compute.manager", "ERROR",
               "Instance failed to spawn: VirtualInterfaceCreateException", nova_req, inst,
               _frames(["nova.compute.manager", "nova.virt.libvirt.driver"]), "VirtualInterfaceCreateException"),
    ]
    for e in events:   # a controller and a compute node
        e.host = "controller" if e.service.startswith(("neutron", "nova-api", "cinder")) else "compute-1"
    chains = RequestChains()
    for e in events:
        chains.observe(e)
    corr = Correlator(analyst=lambda packed: [rc.to_dict() for rc in rank_incident(packed, fitted)])
    windows = sorted(stream_windows(events), key=lambda w: min(e.timestamp for e in w[0]))
    final, incident_windows = {}, 0
    for n, (items, _sigs) in enumerate(windows):
        report = analyze(items, fitted, scope="window")
        result = _result(n, items, report)
        if report.is_incident:   # as Pipeline.results does
            result["request_ids"] = sorted(chains.expand(result["request_ids"]))
        incident_windows += report.is_incident
        for msg in corr.observe(result):
            final[msg["incident_id"]] = msg
    assert incident_windows >= 2          # two sessions (neutron's request, nova's instance) flagged
    assert len(final) == 1
    incident = next(iter(final.values()))
    assert incident["root_causes"][0]["subsystem"] == "neutron"
    assert {"neutron-server", "nova-compute"} <= set(incident["services"])


def test_a_restart_keeps_an_open_incidents_evidence(fitted):
    """The worker stores the correlator without records under one table key and each incident's
    records under a key of its own (consumers/app.py); a new owner restores both and ranks the
    incident over the same records, and over them plus the next window's when one joins."""
    events = make_run(random.Random(21), fault="neutron.db.ipam_backend_mixin", stop_at=0.5)
    for e in events[-2:]:      # nova's symptoms two minutes after neutron's error: another window
        e.timestamp += 120
    analyst = lambda packed: [rc.to_dict() for rc in rank_incident(packed, fitted)]   # noqa: E731
    windows = sorted(stream_windows(events), key=lambda w: min(e.timestamp for e in w[0]))
    results = [_result(n, items, analyze(items, fitted, scope="window")) for n, (items, _) in enumerate(windows)]
    incident_results = [r for r in results if r["is_incident"]]
    assert len(incident_results) >= 2
    first, rest = incident_results[:1], incident_results[1:]

    table: dict = {}
    def save(corr):   # as consumers/app.py does
        for iid, records in corr.evidence_changes().items():
            if records is None:
                table.pop("evidence:" + iid, None)
            else:
                table["evidence:" + iid] = records
        table["correlator"] = corr.to_state(evidence=False)

    live = Correlator(analyst=analyst)
    for r in first:
        live.observe(r)
    save(live)
    [iid] = live.incidents
    assert table["evidence:" + iid] and "evidence_events" not in table["correlator"]["incidents"][iid]

    restored = Correlator.from_state(table["correlator"], analyst=analyst, evidence=lambda i: table.get("evidence:" + i))
    assert restored.incidents[iid]["evidence_events"] == live.incidents[iid]["evidence_events"]
    assert [m["root_causes"] for m in restored.open_incidents()] == [m["root_causes"] for m in live.open_incidents()]
    uninterrupted = Correlator(analyst=analyst)
    for r in first + rest:
        uninterrupted.observe(r)
    for r in rest:
        restored.observe(r)
    assert restored.incidents[iid]["evidence_events"] == uninterrupted.incidents[iid]["evidence_events"]
    assert [c["module"] for c in restored.open_incidents()[0]["root_causes"]] == \
           [c["module"] for c in uninterrupted.open_incidents()[0]["root_causes"]]


def test_the_incident_gap_is_how_long_a_normal_request_lasts(synth):
    from engine.rca.model import INCIDENT_GAP_BOUNDS, learn_incident_gap

    runs, labels, _ = synth
    normal = [r for r, lab in zip(runs, labels) if lab is False]
    from conftest import _event

    # one request of each run comes back 200 s later: more than 1% of the requests last 200 s
    longer = [list(run) + [_event(run[0].timestamp + 200.0, "nova-compute", "nova.compute.manager", "INFO",
                                  "done", run[0].request_id)] for run in normal]
    assert learn_incident_gap(normal) == INCIDENT_GAP_BOUNDS[0]        # seconds-long requests: the floor
    assert 190.0 <= learn_incident_gap(longer) <= 210.0
    assert learn_incident_gap([[]]) is None
