"""Verdicts on the real stack (issue 27): signed like control commands when a secret is set, an
unsigned or forged one refused with a reason (test d) and never learned from; /metrics counts
them by kind; the CLI's one-line errors for unknown incidents and incomplete missed faults."""
from __future__ import annotations

import time
import uuid

import orjson
import pytest
from confluent_kafka import Producer

from config.settings import get_settings
from consumers.feedback import publish_verdict, read_verdicts
from schemas import control as signing
from schemas.log_event import format_timestamp
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_control_plane import SECRET, _cli, _control_env
from tests.integration.test_metrics import free_port, scrape, value

pytestmark = pytest.mark.integration


def _verdict(kind: str, **fields) -> dict:
    return {"schema_version": 1, "verdict_id": f"vrd-{uuid.uuid4().hex}", "verdict": kind, "by": "test",
            "at": format_timestamp(time.time()), **fields}


def _incident_id() -> str:
    return "inc-" + uuid.uuid4().hex[:24]


def test_d_unsigned_and_forged_verdicts_are_refused_with_a_reason_and_never_learned(stack, topics, start_worker,
                                                                                    monkeypatch):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    port = free_port()
    env = _control_env(stack, topics, f"test-verdicts-{uuid.uuid4().hex[:8]}", RCA_CONTROL_SECRET=SECRET,
                       RCA_WORKER_METRICS_PORT=str(port))
    worker = start_worker(**env)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    settings = get_settings()

    unsigned = _verdict("reject", incident_id=_incident_id())
    forged = signing.sign(_verdict("confirm", incident_id=_incident_id(), cause="nova.compute.manager"),
                          b"not-the-secret")
    p = Producer({"bootstrap.servers": bootstrap})
    for v in (unsigned, forged):
        p.produce(topics.feedback, key=v["incident_id"].encode(), value=orjson.dumps(v))
    assert p.flush(10) == 0
    valid = publish_verdict(settings, _verdict("reject", incident_id=_incident_id(), note="planned maintenance"))
    assert "signature" in valid

    refused_ids = {unsigned["verdict_id"], forged["verdict_id"]}
    msgs = drain_until(bootstrap, topics.control_events,
                       lambda ms: {m["value"].get("command_id") for m in ms} >= refused_ids, timeout=120,
                       on_poll=lambda: worker.proc.poll() is None or pytest.fail(worker.log_text()[-3000:]))
    events = {m["value"]["command_id"]: m["value"] for m in msgs if m["value"].get("command_id") in refused_ids}
    assert all(e["event"] == "rejected" and "verdict refused" in e["reason"] for e in events.values())
    assert "missing signature" in events[unsigned["verdict_id"]]["reason"]
    assert "invalid signature" in events[forged["verdict_id"]]["reason"]

    # what a retrain reads: only the signed verdict
    assert [v["verdict_id"] for v in read_verdicts(settings)] == [valid["verdict_id"]]

    deadline = time.monotonic() + 60
    while True:
        figures = scrape(f"http://127.0.0.1:{port}/metrics") or {}
        if value(figures, "rca_verdicts_total", kind="reject") == 1 and value(figures, "rca_verdicts_refused_total") == 2:
            break
        assert time.monotonic() < deadline, {k: v for k, v in figures.items() if "verdict" in k[0]}
        time.sleep(0.5)   # polling the worker's /metrics until it counted them


def test_verdict_commands_say_what_is_wrong_in_one_line(stack, topics):
    env = {**stack, **topics.env()}
    unknown = _cli(env, "incidents", "confirm", _incident_id(), "--cause", "nova.compute.manager")
    assert unknown.returncode == 1 and "unknown incident" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    missed = _cli(env, "incidents", "missed", "--from", "2h", "--to", "1h")
    assert missed.returncode == 1 and "--host or --service" in missed.stderr
    backwards = _cli(env, "incidents", "missed", "--from", "1h", "--to", "2h", "--host", "compute-3")
    assert backwards.returncode == 1 and "time range" in backwards.stderr
    cause = _cli(env, "incidents", "missed", "--from", "2h", "--to", "1h", "--host", "compute-3", "--cause", "bogus")
    assert cause.returncode == 1 and "unknown cause 'bogus'" in cause.stderr
