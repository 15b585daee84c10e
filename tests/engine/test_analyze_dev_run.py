"""`rca analyze` on a real dev-set run: a report whose root causes follow the result schema
and whose evidence lines are lines of the input (skipped when ../shared is absent)."""
from __future__ import annotations

import json

import schemas
from cli.main import main
from engine.rca.dataset import list_runs, load_run, service_log_files
from engine.training import TrainingData, train
from tracking.bundle_io import save_dir


def test_analyze_a_failed_run_with_a_model_trained_on_other_tests(devset, tmp_path, capsys, monkeypatch):
    root, labels = devset
    refs = list_runs(root, labels)
    failed = [r for r in refs if r.failure and r.round == "round_1"]
    target = failed[0]
    train_refs = [r for r in refs if r.test_id != target.test_id][:16]
    runs = [load_run(r.path) for r in train_refs]
    bundle = train(TrainingData(runs=runs, names=[r.run_id for r in train_refs],
                                labels=[r.failure for r in train_refs],
                                root_causes=[r.root_module for r in train_refs],
                                lines=sum(len(r) for r in runs)), epochs=1)
    save_dir(tmp_path / "model", bundle, None)
    code = main(["--log-level", "ERROR", "analyze", "--disable-mlflow", "--json", "--model", str(tmp_path / "model"),
                 "--issue", "the server failed", "--logs", str(target.path)])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["root_causes"], "an operator's --issue always gets a ranking"
    result_schema = schemas.schema("rca_result")["definitions"]["root_cause"]
    import fastjsonschema

    check = fastjsonschema.compile(result_schema)
    text = "\n".join(p.read_text(errors="replace") for p in service_log_files(target.path))
    for rc in report["root_causes"]:
        check(rc)
        assert all(line in text for line in rc["evidence"]), "evidence lines come from the input"
    assert report["timeline"] and report["event_count"] > 100
