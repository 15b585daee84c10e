"""The learned ranker (engine/rca/ltr.py) and the code map (engine/rca/codemap.py)."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAULTS, make_run

from engine.rca import RCAModel, analyze
from engine.rca.codemap import CodeMap, build_code_map
from engine.rca.ranker import CANDIDATE_FEATURES, LOGISTIC_FEATURES, Ranker, find_anomalies

ROOT = Path(__file__).resolve().parents[2]


def test_code_map_of_a_real_package_finds_a_known_caller_and_callee():
    lightgbm = pytest.importorskip("lightgbm")
    cm = build_code_map([os.path.dirname(lightgbm.__file__)], packages={"lightgbm"})
    assert cm is not None and "lightgbm.engine" in cm.functions
    # lightgbm.engine.train builds a Booster (``from .basic import Booster``): engine -> basic
    assert "lightgbm.basic" in cm.callees("lightgbm.engine", "train")
    assert "lightgbm.engine" in cm.callers_of("lightgbm.basic")
    assert "lightgbm.basic" in cm.imports["lightgbm.engine"]
    start, end = cm.functions["lightgbm.engine"]["train"]
    assert 0 < start < end
    # a frame inside train fits this source, one far outside does not
    assert cm.frame_fit([("lightgbm.engine", "train", start + 1)]) == 1.0
    assert cm.frame_fit([("lightgbm.engine", "train", end + 10_000)]) == 0.0
    # it pickles without its derived index
    assert pickle.loads(pickle.dumps(cm)).callees("lightgbm.engine", "train") == cm.callees("lightgbm.engine", "train")


def test_code_map_from_a_source_tree_resolves_imports_classes_and_self_attributes(tmp_path):
    pkg = tmp_path / "nova"
    (pkg / "db").mkdir(parents=True)
    (pkg / "compute").mkdir()
    for d in (pkg, pkg / "db", pkg / "compute"):
        (d / "__init__.py").write_text("")
    (pkg / "db" / "api.py").write_text("def instance_get(ctx, uuid):\n    return None\n")
    (pkg / "compute" / "api.py").write_text(
        "from nova.db import api as db\n\nclass API(object):\n    def get(self, ctx, uuid):\n"
        "        return db.instance_get(ctx, uuid)\n")
    (pkg / "compute" / "manager.py").write_text(
        "from nova import compute\n\nclass Manager(object):\n    def __init__(self):\n"
        "        self.compute_api = compute.API()\n\n    def build(self, ctx, uuid):\n"
        "        return self.compute_api.get(ctx, uuid)\n")
    cm = build_code_map([tmp_path])
    assert cm.callees("nova.compute.api", "get") == ["nova.db.api"]
    assert cm.callees("nova.compute.manager", "build") == ["nova.compute.api"]
    # between a frame in manager.build and one in db.api: compute.api made the call
    assert cm.between("nova.compute.manager", "build", "nova.db.api") == ["nova.compute.api"]


def _incidents(synth, code_map=None):
    runs, labels, roots = synth
    model = RCAModel().fit(runs, labels, roots, code_map=code_map)
    incidents = [(find_anomalies(r, model.profile), root) for r, lab, root in zip(runs, labels, roots) if lab and root]
    return model, incidents


def test_learned_ranking_is_deterministic_for_a_seed(synth):
    model, incidents = _incidents(synth)
    a = Ranker().fit(incidents, seed=3, learn_to_rank=True)
    b = Ranker().fit(incidents, seed=3, learn_to_rank=True)
    assert a.ltr is not None and a.ltr.learned
    assert pickle.dumps(a.ltr) == pickle.dumps(b.ltr)
    assert len(a.ltr.features) == len(CANDIDATE_FEATURES)


def test_learned_ranking_does_not_depend_on_hash_order():
    """Two processes with different string hash seeds train the same ranker (the candidates'
    order, hence the training rows, never follow a set's order)."""
    script = (
        "import pickle, random, sys; sys.path[:0] = ['tests/engine_rca', '.']\n"
        "from conftest import FAULTS, make_run\n"
        "from engine.rca import RCAModel\n"
        "from engine.rca.codemap import CodeMap\n"
        "rng = random.Random(7); runs, labels, roots = [], [], []\n"
        "for i in range(10): runs.append(make_run(rng)); labels.append(False); roots.append(None)\n"
        "for f in FAULTS * 2: runs.append(make_run(rng, fault=f, stop_at=rng.uniform(0.3, 0.7))); labels.append(True); roots.append(f)\n"
        "m = RCAModel().fit(runs, labels, roots, code_map=CodeMap())\n"
        "sys.stdout.write(repr([[round(v, 9) for v in t.value] for t in m.ranker.ltr.trees]))\n")
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env.pop("RCA_CODE_SOURCE", None)
        proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and outs[0].startswith("[[")


CODE_FEATURES = ("code_callee", "code_calls", "code_between", "code_only")


def test_without_a_code_map_the_ranking_is_the_logistic_one_of_before(synth, rng):
    """No source: no code candidates, and the module ranking is the logistic model over the
    features it had before the learned ranking (LOGISTIC_FEATURES): today's ranking."""
    model, _ = _incidents(synth)
    assert model.ranker.code_map is None and model.metadata["code_map"] is None
    assert model.ranker.ltr is None and model.metadata["ranker"] == "logistic"
    weights = model.ranker.modules.weights(CANDIDATE_FEATURES)
    assert all(weights[f] == 0.0 for f in CANDIDATE_FEATURES if f not in LOGISTIC_FEATURES)
    idx = [CANDIDATE_FEATURES.index(f) for f in CODE_FEATURES]
    cands = model.ranker.rank(find_anomalies(make_run(rng, fault=FAULTS[0]), model.profile))
    assert cands and all(c.features[i] == 0.0 for c in cands for i in idx)
    assert cands[0].module == FAULTS[0]


def test_with_a_code_map_the_ranking_is_learned_and_code_candidates_join(synth, rng, tmp_path):
    """A code map whose faulty module's caller calls a module no record names: that module
    becomes a candidate with code features."""
    pkg = tmp_path / "nova" / "compute"
    pkg.mkdir(parents=True)
    (tmp_path / "nova" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "helper_x.py").write_text("def work():\n    return 1\n")
    # conftest's frames: the outer module's frame is func_0, the faulty one func_1
    (pkg / "api.py").write_text("from nova.compute import helper_x\n\ndef func_1():\n    return helper_x.work()\n")
    cm = build_code_map([tmp_path])
    model, _ = _incidents(synth, code_map=cm)
    assert model.ranker.ltr is not None and model.metadata["ranker"] == "lambdarank"
    assert model.metadata["code_map"]["modules"] == cm.size
    cands = model.ranker.rank(find_anomalies(make_run(rng, fault="nova.compute.api"), model.profile))
    by_name = {c.module: c for c in cands}
    assert "nova.compute.helper_x" in by_name
    f = dict(zip(CANDIDATE_FEATURES, by_name["nova.compute.helper_x"].features))
    assert f["code_callee"] == 1.0 and f["code_only"] == 1.0


def test_a_ranker_pickled_before_the_learned_ranking_still_ranks(synth, rng):
    """An older bundle's ranker has no ``ltr``/``code_map``/``feature_mask``: it ranks with its
    logistic model, as it did."""
    model, _ = _incidents(synth)
    old = pickle.loads(pickle.dumps(model.ranker))
    for name in ("ltr", "code_map", "feature_mask"):
        old.__dict__.pop(name, None)
    assert "ltr" not in old.__dict__
    anomalies = find_anomalies(make_run(rng, fault=FAULTS[2]), model.profile)
    cands = old.rank(anomalies)
    assert cands and cands[0].module == FAULTS[2]


def test_confidence_stays_a_probability_ranked_in_order(synth, rng):
    model, _ = _incidents(synth)
    causes = analyze(make_run(rng, fault=FAULTS[1]), model).root_causes
    conf = [rc.confidence for rc in causes]
    assert all(c is not None and 0.0 <= c <= 1.0 for c in conf)
    assert conf[0] == max(conf)


def test_ranking_cross_validation_scores_the_held_out_incidents(synth):
    """The cheap ranking-only CV (engine/rca/eval.py ``ranking_cross_validate``) on generated runs:
    every held-out failed round-1 run is scored, and the generated faults are found."""
    from engine.rca.eval import ranking_cross_validate
    from engine.rca.dataset import RunRef
    from engine.rca.features import signature

    runs, labels, roots = synth
    refs, problems, sigs = [], {}, {}
    for i, (run, lab, root) in enumerate(zip(runs, labels, roots)):
        ref = RunRef("Nova", f"Test_{i}", "round_1", Path("."), lab, root)
        refs.append(ref)
        sigs[ref.run_id] = {signature(e) for e in run}
        if lab and root:
            problems[ref.run_id] = [e for e in run if e.level in ("ERROR", "CRITICAL", "WARNING")]
    out = ranking_cross_validate(refs, problems, sigs, lambda inc: Ranker().fit(inc), folds=3)
    assert out["incidents"] == sum(1 for lab in labels if lab)
    assert out["subsystem_top1"] >= 0.9 and out["module_top3"] >= 0.9
