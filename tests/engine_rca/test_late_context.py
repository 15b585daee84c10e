"""A fault's first error in a quiet window that closes *after* the incident window it led up to
(engine/rca/evidence.py ``RecentAnomalies.late_context``, consumers/incidents.py
``Correlator.observe``): the incident is ranked over it too, as batch analysis ranks the run."""
from __future__ import annotations

from conftest import _event, _frames

from consumers.incidents import Correlator
from engine.rca.evidence import RecentAnomalies, pack, window_evidence
from engine.rca.model import analyze, rank_incident
from schemas.log_event import format_timestamp

T0 = 1_530_000_000.0
FAULT = "cinder.db.sqlalchemy.api"


def _cinder_error(t: float):
    """The fault, where it happened: cinder-volume's traceback through the faulty module."""
    return _event(t, "cinder-volume", "cinder.volume.manager", "ERROR",
                  "Unexpected failure for volume 1111: TypeError: bad call", "req-cinder", None,
                  _frames(["cinder.volume.manager", FAULT]), "TypeError")


def _nova_symptom(t: float):
    """The symptom, seconds later, in another session: nova-compute gives up on the volume."""
    return _event(t, "nova-compute", "nova.compute.manager", "ERROR",
                  "Failed to attach volume at /dev/vdb: ClientException: The server has either erred",
                  "req-nova", "2222", _frames(["nova.compute.manager", "nova.virt.libvirt.driver"]),
                  "ClientException")


def test_a_quiet_window_gives_only_its_records_in_a_recent_incident_windows_span():
    recent = RecentAnomalies()
    assert recent.late_context([_cinder_error(T0)], gap=60) == []      # no incident window yet
    recent.incident_window(T0 + 100, T0 + 110)
    early, inside, before_gap, after = (_cinder_error(T0 + 45), _cinder_error(T0 + 105),
                                        _cinder_error(T0 + 30), _cinder_error(T0 + 200))
    late = recent.late_context([before_gap, early, inside, after], gap=60)
    assert [d["timestamp"] for d in late] == [pack(early)["timestamp"], pack(inside)["timestamp"]]


def _result(n: int, events, is_incident: bool, evidence: list[dict], root_causes=()) -> dict:
    times = [e.timestamp for e in events]
    return {
        "window_id": f"w-{n:024x}", "session_key": f"key-{n}", "window_start": format_timestamp(min(times)),
        "window_end": format_timestamp(max(times)), "is_incident": is_incident, "anomaly_score": 0.9,
        "root_causes": list(root_causes), "services": sorted({e.service for e in events}),
        "hosts": ["devstack"], "request_ids": sorted({e.request_id for e in events if e.request_id}),
        "instance_ids": sorted({e.instance_id for e in events if e.instance_id}), "first_error": None,
        "model_version": "1", "analyzer": "bundle", "evidence_events": evidence,
    }


def test_the_incident_is_ranked_again_over_the_lead_up_that_closed_after_it(fitted):
    cause, symptom = _cinder_error(T0), _nova_symptom(T0 + 3)
    corr = Correlator(analyst=lambda packed: [rc.to_dict() for rc in rank_incident(packed, fitted)])
    report = analyze([symptom], fitted, scope="window", force_rank=True)
    first = corr.observe(_result(1, [symptom], True, window_evidence([symptom]),
                                 [rc.to_dict() for rc in report.candidates]))
    assert first and first[0]["state"] == "open"
    assert all(rc["subsystem"] != "cinder" for rc in first[0]["root_causes"])

    # cinder's quiet window closes later: the window stage hands its record over as late context
    recent = RecentAnomalies()
    recent.incident_window(symptom.timestamp, symptom.timestamp)
    late = recent.late_context([cause], gap=60)
    assert late
    updated = corr.observe(_result(2, [cause], False, late))
    assert updated and updated[0]["state"] == "updated"
    assert updated[0]["incident_id"] == first[0]["incident_id"]
    batch = analyze([cause, symptom], fitted, scope="run", force_rank=True).candidates
    assert [rc["module"] for rc in updated[0]["root_causes"]] == [rc.module for rc in batch]
    assert updated[0]["root_causes"][0]["module"] == FAULT

    # the same result again (a redelivery) changes nothing
    assert corr.observe(_result(2, [cause], False, late)) == []
    # a quiet record far from any incident joins none
    far = _cinder_error(T0 + 5000)
    assert corr.observe(_result(3, [far], False, [pack(far)])) == []
