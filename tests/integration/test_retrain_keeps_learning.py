"""Retraining on the real stack never forgets (issue 27, test a): a production bundle trained on
labelled runs, a retrain by control message from a topic with no verdicts; the new production
detects and ranks as well on held-out runs, and the gate refuses a challenger trained from the
topic alone (what every retrain was before: it detects nothing)."""
from __future__ import annotations

import logging
import uuid

import pytest

from config.settings import KafkaSettings, get_settings
from engine.rca.eval import evaluate
from engine.training import load_inputs, train
from producers.control import build_command, send_command
from producers.publish import publish
from producers.sim_dataset import make_dataset
from tests.integration.test_control_plane import _control_env, _events_of

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


def _scores(bundle, test_dir, labels) -> tuple[float, float]:
    m = evaluate(test_dir, labels, model=bundle.rca_model, cv_folds=0, baseline=False)["model"]
    return m["detection"]["f1"], m["rca"]["module_top3"]


def _retrain(bootstrap, topics, worker, **params) -> dict:
    cmd = send_command(get_settings(), build_command("retrain", {"source": f"topic:{topics.logs}", "since": "1h",
                                                                 "epochs": 1, **params}))
    events = _events_of(bootstrap, topics.control_events, cmd["command_id"],
                        lambda v: v["event"] in ("failed", "finished", "rejected"), timeout=480,
                        on_poll=lambda: worker.proc.poll() is None or pytest.fail(worker.log_text()[-3000:]))
    assert events[-1]["event"] == "finished", (events, worker.log_text()[-3000:])
    return events[-1]


def test_a_retrain_by_message_forgets_nothing_and_the_gate_refuses_one_that_does(stack, topics, start_worker,
                                                                                 monkeypatch, tmp_path):
    from tracking.api import load_model, track_training

    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    env = _control_env(stack, topics, f"test-keep-{uuid.uuid4().hex[:8]}")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    train_labels = make_dataset(tmp_path / "train", tests=6, hosts=2, minutes=5, seed=3)
    test_labels = make_dataset(tmp_path / "test", tests=6, hosts=2, minutes=5, seed=4)
    data = load_inputs([str(tmp_path / "train")], str(train_labels))
    production = train(data, epochs=1)
    record = track_training(production, production_if_none=True)
    assert "production" in record.aliases
    before = _scores(production, tmp_path / "test", test_labels)
    assert before[0] > 0.5

    worker = start_worker(**env)
    logs = sorted((e for run in data.runs for e in run), key=lambda e: e.timestamp or 0.0)
    publish(logs, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)

    warm = _retrain(bootstrap, topics, worker)
    assert warm["promotion"]["warm_start"] is True and warm["promotion"]["promoted"] is True, warm
    assert warm["promotion"]["verdicts"] == {"confirm": 0, "reject": 0, "missed": 0}
    served = load_model("production")
    assert served.version == record.version + 1
    after = _scores(served.bundle, tmp_path / "test", test_labels)
    assert after[0] >= before[0] and after[1] >= before[1], (before, after)

    forgetful = _retrain(bootstrap, topics, worker, fresh=True)
    assert forgetful["promotion"]["promoted"] is False, forgetful
    assert "kept incidents detected 0.0000" in forgetful["promotion"]["reason"]
    assert load_model("production").version == served.version
    refused = _scores(load_model(int(forgetful["model_version"])).bundle, tmp_path / "test", test_labels)
    log.warning("held-out detection F1 / module top-3: production %.3f/%.3f, retrained %.3f/%.3f, "
                "trained from the topic alone (refused) %.3f/%.3f", *before, *after, *refused)
    assert refused[0] < before[0]
