import pickle

from conftest import FAULTS, make_run

from engine.rca import RCAModel, analyze
from engine.rca.modules import subsystem_of


def test_detects_failures_and_ignores_healthy_errors(fitted, rng):
    for fault in FAULTS:
        report = analyze(make_run(rng, fault=fault), fitted)
        assert report.is_incident, fault
        assert report.incidents and report.root_causes
    for healthy_error in (False, True):
        report = analyze(make_run(rng, healthy_error=healthy_error), fitted)
        assert not report.is_incident
        assert report.incidents == [] and report.root_causes == []


def test_root_cause_is_the_faulty_module_with_evidence(fitted, rng):
    for fault in FAULTS:
        report = analyze(make_run(rng, fault=fault), fitted)
        top = report.root_causes[0]
        assert top.module == fault
        assert top.subsystem == subsystem_of(fault)
        assert top.package == ".".join(fault.split(".")[:2])
        assert top.evidence and any("Traceback" in line or "File" in line or "ERROR" in line
                                    for line in top.evidence)
        assert top.instance_ids and top.request_ids
        assert top.first_seen is not None and top.recommendation
        assert [rc.rank for rc in report.root_causes] == list(range(1, len(report.root_causes) + 1))
        d = top.to_dict()
        assert d["first_seen"].endswith("Z") and set(d) >= {"rank", "subsystem", "service", "module",
                                                             "category", "score", "evidence"}


def test_origin_ranks_above_the_symptom_in_another_service(fitted, rng):
    report = analyze(make_run(rng, fault="neutron.db.ipam_backend_mixin"), fitted)
    modules = [rc.module for rc in report.root_causes]
    assert modules[0] == "neutron.db.ipam_backend_mixin"
    assert "nova.virt.libvirt.driver" not in modules[:1]


def test_issue_text_steers_and_forces_a_ranking(fitted, rng):
    run = make_run(rng, healthy_error=True)
    quiet = analyze(run, fitted)
    assert not quiet.is_incident and quiet.root_causes == []
    asked = analyze(run, fitted, issue="Compute node resources are not updated")
    assert asked.root_causes, "an operator's issue gets a ranking even without a detection"
    assert asked.root_causes[0].subsystem == "nova"


def test_window_scope_and_timeline(fitted, rng):
    run = make_run(rng, fault="cinder.db.sqlalchemy.api")
    window = run[-5:]
    report = analyze(window, fitted, scope="window")
    assert 0.0 <= report.anomaly_score <= 1.0
    assert report.timeline and report.timeline[-1].level in ("ERROR", "WARNING")
    assert report.to_dict()["timeline"][0]["time"].endswith("Z")


def test_model_pickles_and_predicts_the_same(fitted, rng):
    run = make_run(rng, fault="nova.objects.request_spec")
    clone = pickle.loads(pickle.dumps(fitted))
    a, b = analyze(run, fitted), analyze(run, clone)
    assert a.anomaly_score == b.anomaly_score
    assert [rc.module for rc in a.root_causes] == [rc.module for rc in b.root_causes]


def test_fit_without_labels_uses_novelty(synth, rng):
    runs, labels, _ = synth
    normal = [r for r, y in zip(runs, labels) if not y]
    model = RCAModel().fit(normal)
    assert not model.ranker.learned
    assert analyze(make_run(rng, fault="nova.compute.api", stop_at=0.3), model).is_incident
    assert not analyze(make_run(rng), model).is_incident


def test_empty_input(fitted):
    report = analyze([], fitted)
    assert not report.is_incident and report.root_causes == [] and report.event_count == 0


def test_window_threshold_is_calibrated_on_training_runs_and_only_raised():
    from engine.rca.detector import WINDOW_THRESHOLD_BOUNDS, calibrate_threshold

    lo, hi = WINDOW_THRESHOLD_BOUNDS
    # separable runs: the cut lies half-way between the highest fault-free run and the lowest failed one
    assert calibrate_threshold([0.1, 0.7, 0.8, 0.9], [False, False, True, True]) == 0.75
    # a lower cut would do as well: never below the logistic's own 0.5
    assert calibrate_threshold([0.1, 0.2, 0.8], [False, False, True]) == lo
    # fault-free runs above every failed run: the best F1 keeps the failed runs flagged
    assert calibrate_threshold([0.6, 0.97, 0.99], [True, False, False]) == lo
    assert calibrate_threshold([0.99, 0.999], [False, True]) == hi
    assert calibrate_threshold([], []) == lo and calibrate_threshold([0.9], [True]) == lo


def test_fitted_model_has_a_calibrated_window_threshold(fitted):
    from engine.rca.detector import WINDOW_THRESHOLD_BOUNDS

    lo, hi = WINDOW_THRESHOLD_BOUNDS
    assert lo <= fitted.detector.scorers["window"].threshold <= hi
    assert fitted.metadata["window_threshold"] == round(fitted.detector.scorers["window"].threshold, 4)
