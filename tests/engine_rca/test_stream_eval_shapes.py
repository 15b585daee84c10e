"""`rca eval --stream --shape`: the dev set's runs re-encoded in every pipeline's shape give the
raw lines' figures (skipped when ../shared is absent).

One bundle, fitted on training runs of the dev set, serves held-out runs replayed in every
shape (engine/shapes/encode.py): the worker must reach the same detection and ranking whatever
carried the records. The command itself is checked on a small subset, cross-validated.
"""
from __future__ import annotations

import json

from cli.main import main
from tests.engine_rca.test_stream_eval import _subset


def _metrics(figures: dict) -> dict[str, float]:
    out = {f"detection_{k}": figures["detection"][k] for k in ("precision", "recall", "f1")}
    out.update({k: v for k, v in figures["rca"].items() if isinstance(v, float)})
    out["incidents_per_failed_run"] = figures["incidents_per_failed_run"]
    return out


def test_every_shape_gives_the_raw_lines_figures(devset):
    from consumers.stream_eval import evaluate_stream_shapes, fold_bundle
    from engine.rca.dataset import list_runs, load_run
    from engine.rca.eval import folds_by_test
    from engine.shapes.encode import ENCODED_SHAPES

    root, labels = devset
    refs = list_runs(root, labels)
    train, test = folds_by_test(refs, 6, seed=0)[0]
    events = {r.run_id: load_run(r.path) for r in train}
    bundle = fold_bundle(train, events)
    failed = [r for r in test if r.failure and r.round == "round_1"][:2]
    normal = [r for r in test if not r.failure][:1]
    out = evaluate_stream_shapes(root, labels, ENCODED_SHAPES, bundle=bundle, version="test", refs=failed + normal)
    raw = _metrics(out["raw"]["stream"])
    assert out["raw"]["stream"]["incidents"] > 0   # something to rank
    for shape in ENCODED_SHAPES:
        got = _metrics(out[shape]["stream"])
        worst = max(abs(got[k] - raw[k]) for k in raw)
        assert worst <= 0.01, (shape, got, raw)


def test_rca_eval_stream_shape_names_its_shape(devset, tmp_path, capsys):
    root, labels = devset
    data = _subset(root, tmp_path / "subset")
    code = main(["--log-level", "ERROR", "eval", "--dataset", str(data), "--labels", str(labels),
                 "--folds", "2", "--stream", "--shape", "kolla_fluentd", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["stream_shape"] == "kolla_fluentd"
    assert out["stream_cross_validated"]["incidents"] == out["cross_validated"]["incidents"] > 0
    assert main(["eval", "--dataset", str(data), "--labels", str(labels), "--shape", "nope", "--stream"]) != 0
