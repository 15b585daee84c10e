"""A retrain starts from the production bundle and forgets nothing (engine/experience.py, tracking/gate.py).

Generated labelled runs (producers/sim_dataset.py): a production bundle trained on one set, scored on
another; a retrain on the same logs with no labels must score as production does, a bundle trained
on them from nothing (what a retrain did before) detects nothing, and the gate refuses it.
"""
from __future__ import annotations

import pytest

from engine.bundle import from_bytes, to_bytes
from engine.experience import MAX_LESSON_EVENTS, MAX_LESSON_WINDOWS, Experience, Lesson
from engine.rca.eval import evaluate
from engine.training import TrainingData, load_inputs, retrain, train
from producers.sim_dataset import make_dataset
from tracking.gate import decide


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    train_labels = make_dataset(root / "train", tests=8, hosts=2, minutes=5, seed=3)
    test_labels = make_dataset(root / "test", tests=8, hosts=2, minutes=5, seed=4)
    data = load_inputs([str(root / "train")], str(train_labels))
    production = train(data, epochs=1)
    events = sorted((e for run in data.runs for e in run), key=lambda e: e.timestamp or 0.0)
    return root / "test", test_labels, production, events


def _score(bundle, test_dir, labels):
    m = evaluate(test_dir, labels, model=bundle.rca_model, cv_folds=0, baseline=False)["model"]
    return m["detection"]["f1"], m["rca"]["module_top3"]


def test_a_bundle_keeps_what_it_learned_from_bounded(sets):
    _, _, production, _ = sets
    exp = from_bytes(to_bytes(production)).learned_from
    assert isinstance(exp, Experience)
    assert exp.summary()["failed"] == 8 and exp.summary()["lessons"] == 16
    assert all(len(le.windows) <= MAX_LESSON_WINDOWS and len(le.events) <= MAX_LESSON_EVENTS for le in exp.lessons)
    assert all(le.events for le in exp.lessons if le.failed) and not any(le.events for le in exp.lessons if not le.failed)
    assert production.metadata["learned_from"]["with_cause"] == 8


def test_a_retrain_without_verdicts_is_not_worse_and_from_nothing_is_refused(sets):
    test_dir, labels, production, events = sets
    warm = retrain(production, events, epochs=1)
    fresh = train(TrainingData(runs=[events], names=["topic"], labels=[False], root_causes=[None]), epochs=1)
    prod_f1, prod_top3 = _score(production, test_dir, labels)
    warm_f1, warm_top3 = _score(warm, test_dir, labels)
    fresh_f1, _ = _score(fresh, test_dir, labels)
    assert prod_f1 > 0.5
    assert warm_f1 >= prod_f1 and warm_top3 >= prod_top3
    assert fresh_f1 == 0.0            # what a retrain was before: nothing detected
    assert warm.learned_from.summary()["lessons"] == production.learned_from.summary()["lessons"]
    # the calibration replayed from the kept rows is the one fitted on whole runs
    assert warm.rca_model.detector.scorers["window"].threshold == pytest.approx(
        production.rca_model.detector.scorers["window"].threshold)

    assert decide(warm, production, [], 0.01, (0.1, 0.1)).promote
    refused = decide(fresh, production, [], 0.01, (0.0, 0.1))
    assert not refused.promote and "kept incidents detected 0.0000" in refused.reason


def test_a_rejected_false_alarm_stops_looking_novel_and_a_confirmed_cause_is_learned(sets):
    test_dir, labels, production, events = sets
    from engine.experience import verdict_lesson
    from engine.rca.model import analyze
    from tests.engine.generated import nova_run

    alarm = [e for e in nova_run(seed=5, n=30, trouble=True) if e.level in ("ERROR", "WARNING")]
    before = analyze(alarm, production.rca_model, scope="window")
    assert before.is_incident
    lesson = verdict_lesson("verdict:inc-x", "rejected", alarm, None)
    after = retrain(production, events, [lesson], epochs=1)
    assert not analyze(alarm, after.rca_model, scope="window").is_incident
    assert after.learned_from.summary()["by_origin"]["rejected"] == 1
    f1, _ = _score(after, test_dir, labels)
    assert f1 >= _score(production, test_dir, labels)[0] - 0.2


def test_the_gate_compares_on_held_back_verdicts(sets):
    test_dir, labels, production, events = sets
    from engine.experience import problem_records, verdict_lesson
    from engine.rca.dataset import list_runs, load_run
    from tracking.gate import verdict_score

    held = [verdict_lesson(f"verdict:{ref.run_id}", "confirmed", load_run(ref.path), ref.root_module)
            for ref in list_runs(test_dir, labels) if ref.failure and ref.round == "round_1"][:4]
    assert all(le.events for le in held) and len(held[0].events) == len(problem_records(load_run(
        next(r for r in list_runs(test_dir, labels) if r.failure and r.round == "round_1").path)))
    fresh = train(TrainingData(runs=[events], names=["topic"], labels=[False], root_causes=[None]), epochs=1)
    assert verdict_score(production, held) > verdict_score(fresh, held)
    refused = decide(fresh, production, held, 0.01, (0.1, 0.1))
    assert not refused.promote and "held-back verdicts" in refused.reason
    assert {"held_back_verdicts", "production_held_back_verdicts"} <= set(refused.metrics())
