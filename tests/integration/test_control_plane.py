"""The control plane on the real stack: retrain by message, gate, hot reload; rejections; failures."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from confluent_kafka import Producer

import schemas
from config.settings import PROJECT_ROOT, KafkaSettings, get_settings
from producers.publish import publish
from engine.sessions import session_key, window_start
from schemas.log_event import parse_timestamp
from schemas import control as signing
from schemas.log_event import format_timestamp
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_worker_e2e import generated_events

pytestmark = pytest.mark.integration
SECRET = "integration-test-secret-0123456789"


def _control_env(stack, topics, model_name: str, **extra) -> dict[str, str]:
    return {**stack, **topics.env(), "RCA_MLFLOW_REGISTERED_MODEL_NAME": model_name,
            "RCA_MLFLOW_EXPERIMENT_NAME": "rca_tests", "RCA_MLFLOW_AUTO_LOG": "true",
            "RCA_CONTROL_ALLOWED_SOURCES": f"topic:{topics.logs}", "RCA_WORKER_MODEL_POLL_SECONDS": "1",
            "RCA_WORKER_ALLOWED_LATENESS_SECONDS": "1e10", "RCA_WORKER_IDLE_TIMEOUT_SECONDS": "2", **extra}


def _events_of(bootstrap, topic, command_id, until, timeout=240, on_poll=None):
    msgs = drain_until(bootstrap, topic, lambda ms: any(m["key"] == command_id.encode() and until(m["value"])
                                                        for m in ms), timeout=timeout, on_poll=on_poll)
    return [m["value"] for m in msgs if m["key"] == command_id.encode()]


def _cli(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "WARNING", *args], cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def test_retrain_message_to_promoted_model_served_by_two_workers(stack, topics, start_worker):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    model = f"test-loop-{uuid.uuid4().hex[:8]}"
    env = _control_env(stack, topics, model)
    workers = [start_worker(**env), start_worker(**env)]

    def alive():
        for w in workers:
            assert w.proc.poll() is None, w.log_text()[-3000:]

    history = generated_events(seed=21, n_instances=60)
    publish(history, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
    drain_until(bootstrap, topics.results, lambda ms: sum(m["value"]["event_count"] for m in ms) >= len(history),
                timeout=180, on_poll=alive)

    retrain = subprocess.Popen([sys.executable, "-m", "cli.main", "--log-level", "WARNING", "retrain",
                                "--source", f"topic:{topics.logs}", "--since", "1h", "--epochs", "1",
                                "--auto-promote", "--wait", "--timeout", "400"],
                               cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    # While the trainer runs in its own process, the workers keep scoring new windows.
    during = generated_events(seed=22, n_instances=3)
    for e in during:
        e.timestamp += 10 * 86_400
    publish(during, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False)
    out, err = retrain.communicate(timeout=500)
    assert retrain.returncode == 0, out + err + "".join(f"\n--- worker {i} ---\n{w.log_text()[-4000:]}"
                                                        for i, w in enumerate(workers))
    events = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events][0] == "accepted" and events[-1]["event"] == "finished"
    finished = events[-1]
    assert finished["model_version"] == "1" and finished["promotion"]["promoted"] is True
    assert finished["run_name"].startswith("rca-tests_")

    # windows published while the trainer ran were scored by the workers (by the model they
    # had then: none, so the baseline) — the event loop was not blocked by training
    during_keys = [session_key(e.instance_id, e.request_id, e.service, e.host) for e in during]
    during_slots = {(k, window_start(k, e.timestamp, 60)) for k, e in zip(during_keys, during)}

    def scored(ms):
        return [m["value"] for m in ms
                if (m["value"]["session_key"], parse_timestamp(m["value"]["window_start"])) in during_slots]

    results = drain_until(bootstrap, topics.results,
                          lambda ms: sum(r["event_count"] for r in scored(ms)) >= len(during), timeout=60)
    scored_during = scored(results)
    assert sum(r["event_count"] for r in scored_during) == len(during)
    assert all(r["model_version"] is None for r in scored_during)
    assert all(schemas.is_valid("rca_result", m["value"]) for m in results)

    # every worker switches to the promoted model without a restart
    deadline = time.monotonic() + 60
    while not all("serving model 1" in w.log_text() for w in workers):
        alive()
        assert time.monotonic() < deadline, [w.log_text()[-1500:] for w in workers]
        time.sleep(0.5)  # polling the workers' logs for a condition, not a fixed wait


def test_rejected_commands_start_no_training(stack, topics, start_worker):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    env = _control_env(stack, topics, f"test-reject-{uuid.uuid4().hex[:8]}", RCA_CONTROL_SECRET=SECRET)
    worker = start_worker(**env)
    base = {"schema_version": 1, "command": "retrain", "issued_at": format_timestamp(time.time()),
            "params": {"source": f"topic:{topics.logs}", "since": "1h"}}
    key = SECRET.encode()
    cases = {
        "cmd-unsigned-0001": dict(base, command_id="cmd-unsigned-0001"),
        "cmd-forged-00001": signing.sign(dict(base, command_id="cmd-forged-00001"), b"not-the-secret"),
        "cmd-source-00001": signing.sign(dict(base, command_id="cmd-source-00001",
                                              params={"source": "topic:someone-elses-topic", "since": "1h"}), key),
        "cmd-epochs-00001": signing.sign(dict(base, command_id="cmd-epochs-00001",
                                              params={"source": f"topic:{topics.logs}", "since": "1h",
                                                      "epochs": 150}), key),
        "cmd-schema-00001": {"schema_version": 1, "command_id": "cmd-schema-00001", "command": "retrain"},
    }
    p = Producer({"bootstrap.servers": bootstrap})
    for cid, cmd in cases.items():
        p.produce(topics.control, key=cid.encode(), value=orjson.dumps(cmd))
    p.flush(10)
    msgs = drain_until(bootstrap, topics.control_events,
                       lambda ms: len({m["key"] for m in ms} & {c.encode() for c in cases}) >= len(cases),
                       timeout=120,
                       on_poll=lambda: worker.proc.poll() is None or pytest.fail(worker.log_text()[-2000:]))
    # (a worker's own model events, e.g. a registry timeout under load, share the topic: look at ours)
    by_id = {m["value"]["command_id"]: m["value"] for m in msgs if m["value"]["command_id"] in cases}
    assert set(by_id) == set(cases)
    assert all(v["event"] == "rejected" and v["reason"] for v in by_id.values())
    assert "signature" in by_id["cmd-unsigned-0001"]["reason"]
    assert "signature" in by_id["cmd-forged-00001"]["reason"]
    assert "source not allowed" in by_id["cmd-source-00001"]["reason"]
    assert "epochs" in by_id["cmd-epochs-00001"]["reason"]
    assert "schema" in by_id["cmd-schema-00001"]["reason"]
    assert "retraining" not in worker.log_text()


def test_failing_training_reports_failed_and_leaves_production_alone(stack, topics, start_worker, monkeypatch):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    model = f"test-fail-{uuid.uuid4().hex[:8]}"
    env = _control_env(stack, topics, model)
    worker = start_worker(**env)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    from producers.control import build_command, send_command

    # the logs topic is empty: the job must fail (not enough data) and say so
    cmd = send_command(get_settings(), build_command("retrain", {"source": f"topic:{topics.logs}", "since": "1h"}))
    events = _events_of(bootstrap, topics.control_events, cmd["command_id"],
                        lambda v: v["event"] in ("failed", "finished"),
                        on_poll=lambda: worker.proc.poll() is None or pytest.fail(worker.log_text()[-2000:]))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "accepted" and "started" in kinds and kinds[-1] == "failed"
    assert "log events" in events[-1]["reason"]
    listing = _cli(env, "models", "list")
    assert "production" not in listing.stdout


def test_following_a_command_misses_no_event_written_between_send_and_read(stack, topics, monkeypatch):
    """`rca retrain --wait` marks where the events topic ends before it sends, so an `accepted`
    written before its reader starts is still read (it was lost when the start was looked up
    by time: no message yet meant "the end", resolved after the event was written)."""
    from producers.control import events_end, follow_events

    for k, v in {**stack, **topics.env()}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    settings = get_settings()
    start = events_end(settings)
    p = Producer({"bootstrap.servers": stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]})
    for event in ("accepted", "started", "finished"):  # all written before reading begins
        p.produce(topics.control_events, key=b"cmd-race-0001",
                  value=orjson.dumps({"command_id": "cmd-race-0001", "event": event}))
    assert p.flush(10) == 0
    seen = [e["event"] for e in follow_events(settings, "cmd-race-0001", start, timeout=30)]
    assert seen == ["accepted", "started", "finished"]


def test_replayed_signed_command_is_not_run_again_after_a_restart(stack, topics, start_worker):
    """A captured signed command sent again after the worker restarted is ignored: the control
    agent reads rca.control.events back at start (issue 10, item 4)."""
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    env = _control_env(stack, topics, f"test-replay-{uuid.uuid4().hex[:8]}", RCA_CONTROL_SECRET=SECRET)
    key = SECRET.encode()

    def command(cid):
        return signing.sign({"schema_version": 1, "command_id": cid, "command": "reload",
                             "issued_at": format_timestamp(time.time()), "params": {}}, key)

    def send(cmd):
        p = Producer({"bootstrap.servers": bootstrap})
        p.produce(topics.control, key=cmd["command_id"].encode(), value=orjson.dumps(cmd))
        assert p.flush(10) == 0

    def alive(w):
        return lambda: w.proc.poll() is None or pytest.fail(w.log_text()[-3000:])

    captured = command(f"cmd-replay-{uuid.uuid4().hex[:8]}")
    first = start_worker(**env)
    send(captured)
    _events_of(bootstrap, topics.control_events, captured["command_id"], lambda e: e["event"] == "accepted",
               timeout=120, on_poll=alive(first))
    first.stop()

    second = start_worker(**env)
    deadline = time.monotonic() + 120
    while "processed commands known" not in second.log_text():
        assert time.monotonic() < deadline, second.log_text()[-3000:]
        alive(second)()
        time.sleep(0.5)
    send(captured)                                   # the replay
    fresh = command(f"cmd-fresh-{uuid.uuid4().hex[:8]}")
    send(fresh)                                      # same partition, after the replay
    _events_of(bootstrap, topics.control_events, fresh["command_id"], lambda e: e["event"] == "accepted",
               timeout=120, on_poll=alive(second))
    msgs = drain_until(bootstrap, topics.control_events, lambda ms: False, timeout=3)
    replayed = [m["value"] for m in msgs if m["key"] == captured["command_id"].encode()]
    assert [e["event"] for e in replayed] == ["accepted"], replayed
    assert f"ignoring duplicate control command {captured['command_id']}" in second.log_text()
