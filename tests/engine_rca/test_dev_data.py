"""RCA on the real fault-injection dev set (skipped when ../shared is absent).

In-sample: the shipped model is fitted on all dev runs and scored on them;
it must reach the issue's targets and beat the ERROR-line baseline. The
honest, cross-validated figures come from ``engine.rca.eval.cross_validate``
(see the report in engine/rca/README or the commit message).
"""
# the `devset` fixture (extracted once per session) lives in tests/conftest.py


def test_rca_on_dev_set_meets_targets_and_beats_baseline(devset):
    from engine.rca.dataset import list_runs, load_run
    from engine.rca.eval import baseline_analyze, fit_model, score_predictions, _item, is_evaluated
    from engine.rca.model import analyze

    root, labels = devset
    refs = list_runs(root, labels)
    assert len({r.test_id for r in refs}) == 47
    events = {r.run_id: load_run(r.path) for r in refs}
    model = fit_model(refs, events)
    evaluated = [r for r in refs if is_evaluated(r)]
    ours = score_predictions([_item(r, analyze(events[r.run_id], model, force_rank=True)) for r in evaluated])
    base = score_predictions([_item(r, baseline_analyze(events[r.run_id])) for r in evaluated])
    assert ours["incidents"] == 23
    assert ours["detection"]["f1"] >= 0.90
    assert ours["detection"]["precision"] > base["detection"]["precision"]
    assert ours["rca"]["subsystem_top1"] >= 0.95
    assert ours["rca"]["package_top3"] >= 0.80
    assert ours["rca"]["module_top3"] >= 0.60
    assert ours["rca"]["module_top3"] > base["rca"]["module_top3"]
