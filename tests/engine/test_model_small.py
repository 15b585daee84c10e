"""The model parts on small generated data: LSTM, parameter model, bundle, scoring."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine.params import ParamModel
from engine.scoring import BundleScorer
from engine.sequence import SequenceConfig, SequenceModel
from engine.training import TrainingData, train
from schemas.log_event import Frame, LogEvent
from tests.engine.generated import nova_run

def healthy_run(seed: int, n: int = 40) -> list[LogEvent]:
    return nova_run(seed, n)


@pytest.fixture(scope="module")
def bundle():
    runs = [healthy_run(s) for s in range(3)]
    return train(TrainingData(runs=runs, names=["a", "b", "c"], labels=[False] * 3, root_causes=[None] * 3,
                              lines=sum(len(r) for r in runs)), epochs=2)


def test_numpy_inference_matches_keras(bundle):
    seq: SequenceModel = bundle.sequence_model
    ids = [str(i) for i in range(1, 6)] * 4
    x, _ = seq.windows(seq.encode(ids))
    keras_logits = np.asarray(seq.keras_model(x))
    assert np.allclose(keras_logits, seq.logits(x), atol=1e-4)


def test_lstm_flags_an_unexpected_order_more_than_the_learned_one():
    flow = ["A", "B", "C", "D", "E"]
    seq = SequenceModel(SequenceConfig(top_g=1, epochs=8, units=16, embedding=8)).fit([flow] * 300)
    learned = seq.score_sessions([flow])[0].mean()
    shuffled = seq.score_sessions([["A", "D", "B", "E", "C"]])[0].mean()
    unseen = seq.score_sessions([["A", "B", "Z", "D", "E"]])[0]
    assert learned == 0.0 and shuffled >= 0.6 and bool(unseen[2])


def test_parameter_model_catches_a_slow_spawn():
    pm = ParamModel().fit(("T", [f"{v:.2f}"]) for v in np.random.default_rng(0).uniform(8, 12, 200))
    assert not pm.is_deviation("T", ["10.5"])
    assert pm.is_deviation("T", ["240.0"])
    assert not pm.is_deviation("unknown-template", ["240.0"])


def test_bundle_pickles_with_identical_scores(bundle):
    again = pickle.loads(pickle.dumps(bundle))
    run = healthy_run(9, n=5)
    a, sa = BundleScorer(bundle).analyze(run)
    b, sb = BundleScorer(again).analyze(run)
    assert sa.sequence_ratio == sb.sequence_ratio and a.anomaly_score == b.anomaly_score


def test_fast_mode_skips_the_lstm(bundle):
    _, sig = BundleScorer(bundle).analyze(healthy_run(5, n=3), fast_mode=True)
    assert sig.sequence_ratio is None


def test_window_explanations_are_grounded_in_evidence(bundle):
    scorer = BundleScorer(bundle, "7")
    scorer.self_check()
    run = healthy_run(11, n=3)
    inst = run[0].instance_id
    crash = LogEvent(message="Instance failed to spawn", timestamp=run[-1].timestamp + 1, service="nova-compute",
                     level="ERROR", logger="nova.compute.manager", instance_id=inst,
                     raw=f"2023-11-14 00:00:09.000 1 ERROR nova.compute.manager [instance: {inst}] "
                         "Instance failed to spawn\nTraceback (most recent call last):\n"
                         "  File \"/opt/stack/nova/nova/virt/libvirt/driver.py\", line 3100, in spawn\n"
                         "libvirt.libvirtError: internal error: qemu unexpectedly closed the monitor",
                     exception_type="libvirt.libvirtError", exception_text="internal error",
                     frames=[Frame("/opt/stack/nova/nova/virt/libvirt/driver.py", 3100, "spawn")], line_count=4)
    report, _ = scorer.analyze(run + [crash], issue="instance failed to spawn")
    assert report.root_causes
    top = report.root_causes[0].to_dict()
    raw_lines = {line for e in run + [crash] for line in e.raw.split("\n")}
    assert all(line in raw_lines for line in top["evidence"])
    assert top["subsystem"] == "nova" and top["recommendation"]


def test_cached_deviations_equal_the_forward_pass(bundle):
    """deviations() scores each distinct (history, next) pair once and caches it: same answers."""
    seq: SequenceModel = bundle.sequence_model
    seq.__dict__.pop("_flags", None)      # other tests of this module filled it
    rng = np.random.default_rng(3)
    n_classes = seq.weights["w_out"].shape[1]
    base = rng.integers(0, n_classes, size=(40, seq.config.history + 1))
    rows = base[rng.integers(0, len(base), size=500)]          # many repeats, as in a log stream
    histories, nexts = rows[:, :-1], rows[:, -1]
    expected = seq._deviations(histories, nexts)
    assert (seq.deviations(histories, nexts) == expected).all()
    assert (seq.deviations(histories, nexts) == expected).all()  # now from the cache
    assert len(seq.__dict__["_flags"]) == len(np.unique(rows, axis=0))
