"""The worker serves the production bundle and follows promotions without a restart.

A bundle trained on generated data is registered (it becomes production, the
first version); a worker started against that registry publishes results
naming version 1. A second bundle is registered as challenger and promoted
with `rca models promote`; results of later windows name version 2, and the
worker process is the same one throughout.
"""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from config.settings import KafkaSettings, PROJECT_ROOT, get_settings
from engine.training import TrainingData, train
from producers.publish import publish
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_worker_e2e import generated_events

pytestmark = pytest.mark.integration


def _bundle(seed: int):
    runs = [generated_events(seed=seed, n_instances=40), generated_events(seed=seed + 1, n_instances=40)]
    return train(TrainingData(runs=runs, names=["a", "b"], labels=[False, False], root_causes=[None, None],
                              lines=sum(len(r) for r in runs)), epochs=1)


def _shift(events, seconds: float):
    for e in events:
        e.timestamp += seconds
    return events


def _use_registry(stack, monkeypatch, model_name: str) -> None:
    """Point this process at the stack and a registered model of the test's own."""
    env = {**stack, "RCA_MLFLOW_REGISTERED_MODEL_NAME": model_name, "RCA_MLFLOW_EXPERIMENT_NAME": "rca_tests"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


def _serving_worker(start_worker, model_name: str):
    """A worker that serves `model_name`, polls the registry every second and closes idle windows fast."""
    return start_worker(RCA_MLFLOW_REGISTERED_MODEL_NAME=model_name, RCA_WORKER_MODEL_POLL_SECONDS="1",
                        RCA_WORKER_ALLOWED_LATENESS_SECONDS="1e10", RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")


def test_worker_serves_production_and_hot_reloads_on_promote(stack, topics, start_worker, monkeypatch):
    from tracking.api import track_training

    model_name = f"test-serving-{uuid.uuid4().hex[:8]}"
    _use_registry(stack, monkeypatch, model_name)
    first = track_training(_bundle(1), enabled=True)
    assert first.version == 1 and "production" in first.aliases

    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    worker = _serving_worker(start_worker, model_name)
    batch1 = generated_events(seed=5, n_instances=4)
    publish(batch1, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
    got = drain_until(bootstrap, topics.results, lambda m: sum(x["value"]["event_count"] for x in m) >= len(batch1),
                      timeout=120, on_poll=lambda: _alive(worker))
    assert {m["value"]["model_version"] for m in got} == {"1"}
    assert {m["value"]["analyzer"] for m in got} == {"bundle"}

    second = track_training(_bundle(7), enabled=True)
    assert second.version == 2 and "production" not in second.aliases
    promote = subprocess.run([sys.executable, "-m", "cli.main", "models", "promote", "--version", "2",
                              "--stage", "Production"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=120)  # inherits the environment set above
    assert promote.returncode == 0, promote.stderr

    def new_version_served(msgs) -> bool:
        return any(m["value"]["model_version"] == "2" for m in msgs)

    # keep publishing fresh windows until one is scored by the promoted model
    later = 0
    seen: list = []
    for _ in range(30):
        later += 1
        publish(_shift(generated_events(seed=100 + later, n_instances=2), 86_400.0 * later),
                KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
        seen = drain_until(bootstrap, topics.results, new_version_served, timeout=6, on_poll=lambda: _alive(worker))
        if new_version_served(seen):
            break
    assert new_version_served(seen), worker.log_text()[-3000:]
    assert worker.proc.poll() is None  # same process: no restart


def _alive(worker) -> None:
    assert worker.proc.poll() is None, worker.log_text()[-3000:]


def test_tampered_promotion_is_refused_and_the_old_model_keeps_serving(stack, topics, start_worker, monkeypatch,
                                                                         s3):
    from tracking.api import track_training
    from tracking.registry import Registry

    model_name = f"test-tamper-{uuid.uuid4().hex[:8]}"
    _use_registry(stack, monkeypatch, model_name)
    assert track_training(_bundle(3), enabled=True).version == 1
    second = track_training(_bundle(4), enabled=True)
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    worker = _serving_worker(start_worker, model_name)
    batch = generated_events(seed=8, n_instances=2)
    publish(batch, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
    got = drain_until(bootstrap, topics.results, lambda m: len(m) > 0, timeout=120, on_poll=lambda: _alive(worker))
    assert {m["value"]["model_version"] for m in got} == {"1"}

    # someone with write access to the bucket changes one byte of version 2's pickle, then moves the
    # alias with the registry's own API (`rca models promote` would verify and refuse)
    bucket, _, folder = second.model_url[len("s3://"):].partition("/")
    key = f"{folder.rstrip('/')}/model.pkl"
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with pytest.raises(Exception, match="sha256"):
        Registry().promote(2)
    Registry().promote(2, verify=False)

    events = drain_until(bootstrap, topics.control_events,
                         lambda ms: any(m["value"]["event"] == "model_load_failed" for m in ms), timeout=60,
                         on_poll=lambda: _alive(worker))
    failed = [m["value"] for m in events if m["value"]["event"] == "model_load_failed"]
    assert failed and failed[0]["model_version"] == "1" and "sha256" in failed[0]["reason"].lower()
    later = _shift(generated_events(seed=9, n_instances=2), 86_400.0)
    publish(later, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
    more = drain_until(bootstrap, topics.results, lambda m: len(m) > len(got), timeout=60, on_poll=lambda: _alive(worker))
    assert {m["value"]["model_version"] for m in more} == {"1"}
