"""A fault that logs no error: the ranking falls back to the run's novel INFO records
(engine/rca/ranker.py ``ranking_anomalies``); detection never does."""
from conftest import _event, make_run

from engine.rca import analyze
from engine.rca.ranker import find_anomalies, ranking_anomalies


def _quiet_failure(rng):
    """A healthy-looking run whose only trace of the fault is the API's novel 4xx answer (INFO)."""
    events = make_run(rng)
    t = events[-1].timestamp + 1.0
    events.append(_event(t, "nova-api", "nova.api.openstack.wsgi", "INFO",
                         "HTTP exception thrown: Keypair data is invalid: failed to generate fingerprint",
                         "req-1", None))
    return events


def test_novel_info_records_are_ranked_only_when_nothing_worse_is_in_sight(fitted, rng):
    quiet = _quiet_failure(rng)
    assert find_anomalies(quiet, fitted.profile) == []
    fallback = ranking_anomalies(quiet, fitted.profile)
    assert [a.event.logger for a in fallback] == ["nova.api.openstack.wsgi"]
    assert all(a.event.level == "INFO" for a in fallback)
    # the workload's routine INFO lines are in every normal run: never part of the fallback
    assert not any(a.event.message.startswith("POST /v2.1/servers") for a in fallback)

    # with an error in sight, the INFO record is left out: the ranking is what it was
    failed = make_run(rng, fault="nova.compute.api") + quiet[-1:]
    assert ranking_anomalies(failed, fitted.profile) == find_anomalies(failed, fitted.profile)
    assert all(a.event.level != "INFO" for a in ranking_anomalies(failed, fitted.profile))


def test_an_asked_for_ranking_names_the_service_of_a_quiet_failure_but_detection_is_unchanged(fitted, rng):
    quiet = _quiet_failure(rng)
    plain = analyze(quiet, fitted)
    assert not plain.is_incident and plain.candidates == []   # detection never uses the fallback
    forced = analyze(quiet, fitted, force_rank=True)
    assert not forced.is_incident
    assert forced.candidates and forced.candidates[0].subsystem == "nova"
    asked = analyze(quiet, fitted, issue="keypair create failed")
    assert asked.root_causes and asked.root_causes[0].subsystem == "nova"
    assert asked.incidents and asked.incidents[0]
