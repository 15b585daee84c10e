"""`rca eval --stream` on a small subset of the dev set (skipped when ../shared is absent).

The subset (a few tests of each subsystem, both rounds) is linked into a folder
of its own, so the command runs as a user types it, cross-validated in 2 folds.
"""
from __future__ import annotations

import json

from cli.main import main

PER_SUBSYSTEM = 3   # tests per subsystem: 9 tests, 18 runs, about a minute on 2 cores


def _subset(root, tmp_path):
    from engine.rca.dataset import list_runs

    refs = list_runs(root)
    picked: dict[str, list[str]] = {}
    for ref in refs:
        tests = picked.setdefault(ref.subsystem, [])
        if ref.test not in tests and len(tests) < PER_SUBSYSTEM:
            tests.append(ref.test)
    base = next(p for p in (root, root / "devset") if any(p.glob("*/Test_*")))
    for sub, tests in picked.items():
        (tmp_path / sub).mkdir(parents=True)
        for test in tests:
            (tmp_path / sub / test).symlink_to(base / sub / test, target_is_directory=True)
    return tmp_path


def test_rca_eval_stream_json_has_batch_shape_and_sane_figures(devset, tmp_path, capsys):
    root, labels = devset
    data = _subset(root, tmp_path / "subset")
    code = main(["--log-level", "ERROR", "eval", "--dataset", str(data), "--labels", str(labels),
                 "--folds", "2", "--stream", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    batch, stream = out["cross_validated"], out["stream_cross_validated"]
    assert set(batch) <= set(stream)
    for key in ("precision", "recall", "f1", "tp", "fp", "fn", "tn"):
        assert key in stream["detection"]
    assert set(stream["rca"]) == set(batch["rca"])
    assert stream["incidents"] == batch["incidents"] > 0
    assert len(stream["runs"]) == len(batch["runs"]) == out["runs"]
    assert 0.0 <= stream["fault_free_runs_with_incident"] <= 1.0
    assert stream["incidents_per_failed_run"] >= 0.0
    assert len(stream["stall_gates"]) == 2 and all(0.0 <= g <= 0.25 for g in stream["stall_gates"])
    for value in (*stream["rca"].values(), stream["detection"]["f1"]):
        assert 0.0 <= value <= 1.0
    # sane, not tuned: the stream finds most failed runs and stays quiet on most fault-free ones
    assert stream["detection"]["recall"] >= 0.5
    assert stream["fault_free_runs_with_incident"] <= 0.5
    assert stream["incidents_per_failed_run"] <= 3.0


def test_rca_eval_stream_prints_batch_and_stream_side_by_side(devset, tmp_path, capsys):
    root, labels = devset
    data = _subset(root, tmp_path / "subset")
    code = main(["--log-level", "ERROR", "eval", "--dataset", str(data), "--labels", str(labels),
                 "--folds", "2", "--stream"])
    text = capsys.readouterr().out
    assert code == 0
    assert "batch vs stream" in text and "incidents per failed run" in text
    assert "fault-free runs with an incident" in text
    row = next(line for line in text.splitlines() if line.startswith("module top-3"))
    assert len(row.split()) == 4          # name, batch, stream


def test_evaluate_stream_with_a_served_bundle_gives_stream_figures(devset):
    """The held-out path (`rca eval --stream --model REF`): one bundle serves every run."""
    from consumers.stream_eval import evaluate_stream, fold_bundle
    from engine.rca.dataset import list_runs, load_run
    from engine.rca.eval import folds_by_test

    root, labels = devset
    refs = list_runs(root, labels)
    train, test = folds_by_test(refs, 8, seed=0)[0]
    train = [r for r in train if r.subsystem == "Nova"][:12]
    events = {r.run_id: load_run(r.path) for r in train}
    out = evaluate_stream(root, labels, bundle=fold_bundle(train, events), version="test", refs=test[:6])
    stream = out["stream"]
    assert set(out) == {"stream"}
    assert {"detection", "rca", "rca_end_to_end", "incidents_per_failed_run",
            "fault_free_runs_with_incident"} <= set(stream)
    assert all("incidents" in row for row in stream["runs"])
