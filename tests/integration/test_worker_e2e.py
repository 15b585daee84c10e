"""openstack.logs -> worker -> rca.results on the real broker.

Loghub OpenStack logs and a generated multi-service input are published with
malformed messages mixed in; we then expect exactly one result per window the
input defines (ids computed independently from the parsed input), every good
event counted in some result, and every malformed message in the DLQ with its
reason.
"""
from __future__ import annotations

import random
import uuid

import orjson
import pytest

import schemas
from consumers.windowing import window_id
from engine.sessions import session_key, window_start
from producers.publish import events_from_paths, publish
from config.settings import KafkaSettings
from schemas.log_event import LogEvent, parse_timestamp
from tests.integration.kafka_helpers import drain_until

pytestmark = pytest.mark.integration

WINDOW = 60.0
# Broken JSON is a raw line (a shipper's pprint dump or logged body), not a dead letter: it
# becomes an event of its own, with the host its key names.
RAW_BROKEN_JSON = (b"bad-json", b"{\"schema_version\": 1, \"message\": ")
MALFORMED = [
    (b"schema", orjson.dumps({"schema_version": 1, "message": "no timestamp"}), "schema_violation"),
    (b"version", orjson.dumps({"schema_version": 7, "timestamp": "2017-05-16T00:00:00Z", "message": "x"}),
     "schema_violation"),
    (b"binary", b"\xff\xfe\xfd not utf-8 \x80", "not_utf8"),
    (b"huge", b"2017-05-16 00:00:00.000 1 INFO nova.x [-] " + b"y" * 30_000, "oversize"),
    (b"empty", b"  \n", "empty"),
]


def generated_events(seed: int = 7, n_instances: int = 6) -> list[LogEvent]:
    """A small cloud: instances whose requests cross nova-api, conductor, compute and neutron."""
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    out = []
    for i in range(n_instances):
        inst = str(uuid.UUID(int=rng.getrandbits(128)))
        req = f"req-{uuid.UUID(int=rng.getrandbits(128))}"
        t = t0 + i * 45.0
        for service, logger, level, msg in [
            ("nova-api", "nova.api.openstack.compute.servers", "INFO", "Create server request accepted"),
            ("nova-conductor", "nova.conductor.manager", "DEBUG", "Scheduling instance build"),
            ("nova-compute", "nova.compute.manager", "INFO", f"Took {rng.uniform(5, 30):.2f} seconds to spawn the instance"),
            ("neutron-server", "neutron.plugins.ml2.managers", "DEBUG", f"Bound port {rng.getrandbits(32):x}"),
            ("nova-compute", "nova.compute.manager", "ERROR" if i == 3 else "INFO",
             "Instance failed to spawn" if i == 3 else "Instance spawned successfully"),
        ]:
            t += rng.uniform(0.5, 20.0)
            out.append(LogEvent(message=msg, raw=msg, timestamp=t, service=service, level=level, logger=logger,
                                request_id=req, instance_id=inst if service == "nova-compute" else None))
    return out


def expected_windows(events: list[LogEvent]) -> dict[tuple[str, float], int]:
    """Events per (session key, window start); the worker splits these per input partition."""
    counts: dict[tuple[str, float], int] = {}
    for ev in events:
        key = session_key(ev.instance_id, ev.request_id, ev.service, ev.host)
        slot = (key, window_start(key, ev.timestamp, WINDOW))   # the worker's windows (its default)
        counts[slot] = counts.get(slot, 0) + 1
    return counts


def test_results_per_window_and_dead_letters(stack, topics, start_worker, loghub_log):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    good = list(events_from_paths([str(loghub_log)])) + generated_events()
    assert len(good) >= 2000
    expected = expected_windows(good)

    report = publish(good, KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False,
                     extra_values=[(k, v) for k, v, _ in MALFORMED] + [RAW_BROKEN_JSON])
    assert report.failed == 0 and report.delivered == len(good) + len(MALFORMED) + 1

    # Lateness larger than the input's span: windows close only when the stream goes quiet
    # (10 s, well above any pause of a loaded CI machine), so the set of windows is exactly
    # what the input defines whatever the partition order.
    worker = start_worker(RCA_WORKER_ALLOWED_LATENESS_SECONDS="1e10", RCA_WORKER_IDLE_TIMEOUT_SECONDS="10",
                          RCA_WORKER_MAX_MESSAGE_BYTES="20000")

    def check_alive():
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    results = drain_until(bootstrap, topics.results,
                          lambda msgs: sum(m["value"]["event_count"] for m in msgs) >= len(good) + 1,
                          timeout=180, on_poll=check_alive)
    letters = drain_until(bootstrap, topics.dlq, lambda msgs: len(msgs) >= len(MALFORMED), timeout=60)

    ids = [m["value"]["window_id"] for m in results]
    assert len(ids) == len(set(ids)), "one result per window"
    counts: dict[tuple[str, float], int] = {}
    for m in results:
        r = m["value"]
        schemas.validate("rca_result", r)
        assert m["key"].decode() == r["window_id"]
        start = parse_timestamp(r["window_start"])
        assert r["window_id"] == window_id(r["session_key"], start, r["source_partition"])
        counts[(r["session_key"], start)] = counts.get((r["session_key"], start), 0) + r["event_count"]
    assert counts.pop(("unknown@bad-json", next(s for k, s in counts if k == "unknown@bad-json"))) == 1
    assert counts == expected
    assert sum(m["value"]["event_count"] for m in results) == len(good) + 1

    assert sorted(m["value"]["reason"] for m in letters) == sorted(r for _, _, r in MALFORMED)
    for m in letters:
        schemas.validate("dead_letter", m["value"])
    assert {m["key"] for m in letters} == {k for k, _, _ in MALFORMED}
    assert any(r["value"]["is_incident"] is False for r in results)
