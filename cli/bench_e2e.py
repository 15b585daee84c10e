"""`rca bench e2e`: throughput and latency of the whole path on a real broker.

It publishes N generated events to fresh topics, runs one `rca worker`
process on them, and measures:
- events/s: N / (time of the last result - time of the first publish);
- latency of each event: broker time of the result that contains it minus the
  broker time of the event itself (includes waiting for its window to close);
- the raw rate of a bare confluent-kafka consumer reading the same N events
  from the same broker, and the ratio worker / raw.
Figures only, no asserts.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import PROJECT_ROOT, Settings
from consumers.windowing import window_id
from engine.sessions import session_key
from producers.publish import publish
from schemas.log_event import LogEvent

TEMPLATES = [
    ("nova-api", "nova.osapi_compute.wsgi.server", "INFO", '10.0.0.{i} "GET /v2/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.{i}'),
    ("nova-compute", "nova.compute.manager", "INFO", "Took {i}.5 seconds to spawn the instance on the hypervisor."),
    ("nova-compute", "nova.virt.libvirt.imagecache", "INFO", "image {i} at (/var/lib/nova/instances/_base/{i}): checking"),
    ("neutron-server", "neutron.wsgi", "INFO", '10.0.0.{i} "GET /v2.0/ports?device_id={i} HTTP/1.1" status: 200'),
]


def generate(n: int, keys: int = 200, events_per_second: float = 200.0) -> list[LogEvent]:
    """N events over N/events_per_second seconds of event time, spread over `keys` sessions."""
    t0 = 1_750_000_000.0
    out = []
    for i in range(n):
        service, logger, level, text = TEMPLATES[i % len(TEMPLATES)]
        out.append(LogEvent(message=text.format(i=i % 997), raw=text, timestamp=t0 + i / events_per_second,
                            service=service, logger=logger, level=level,
                            instance_id=str(uuid.UUID(int=i % keys + 1))))
    return out


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))] if values else float("nan")


def run(n: int, window: float = 10.0, lateness: float = 2.0, idle: float = 2.0, timeout: float = 600.0) -> dict:
    settings = Settings()
    bootstrap = settings.kafka.bootstrap_servers
    tag = uuid.uuid4().hex[:8]
    logs_t, results_t, dlq_t = f"bench-{tag}.logs", f"bench-{tag}.results", f"bench-{tag}.dlq"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(logs_t, 6, 1), NewTopic(results_t, 6, 1), NewTopic(dlq_t, 1, 1)]).values():
        fut.result(30)
    group = f"rca-bench-{tag}"
    env = {**os.environ, "RCA_TOPIC_LOGS": logs_t, "RCA_TOPIC_RESULTS": results_t, "RCA_TOPIC_DLQ": dlq_t,
           "RCA_WORKER_APP_ID": group, "RCA_WORKER_WINDOW_SECONDS": str(window),
           "RCA_WORKER_ALLOWED_LATENESS_SECONDS": str(lateness), "RCA_WORKER_IDLE_TIMEOUT_SECONDS": str(idle),
           "RCA_LOG_LEVEL": "WARNING"}
    events = generate(n)
    worker = subprocess.Popen([sys.executable, "-m", "cli.main", "--log-level", "WARNING", "worker"],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_group(admin, group, worker, timeout=120)
        t_start = time.time()
        publish(events, settings.kafka, logs_t, progress=False)
        results = _collect(bootstrap, results_t, n, worker, timeout)
    finally:
        worker.terminate()
        worker.wait(30)
    published = _read_published(bootstrap, logs_t, n, window)
    last_result = max(results.values()) if results else float("nan")
    lat = [results[wid] - ts for wid, ts in published if wid in results]
    raw = _raw_consume_rate(bootstrap, logs_t, n)
    worker_rate = n / max(last_result - t_start, 1e-9)
    return {"events": n, "windows": len(results),
            "worker_events_per_s": round(worker_rate, 1),
            "latency_p50_ms": round(_percentile(lat, 0.50) * 1000, 1),
            "latency_p99_ms": round(_percentile(lat, 0.99) * 1000, 1),
            "raw_consumer_events_per_s": round(raw, 1), "worker_to_raw_ratio": round(worker_rate / raw, 4),
            "window_s": window, "lateness_s": lateness, "idle_timeout_s": idle}


def _wait_for_group(admin: AdminClient, group: str, worker: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("worker exited during start-up")
        desc = admin.describe_consumer_groups([group])[group]
        try:
            g = desc.result(5)
            if str(g.state).endswith("STABLE") and g.members and any(m.assignment.topic_partitions for m in g.members):
                return
        except Exception:  # noqa: BLE001 - group not created yet
            pass
        time.sleep(0.2)  # polling a readiness condition
    raise RuntimeError("worker did not join its consumer group in time")


def _consumer(bootstrap: str, topic: str, group_prefix: str) -> Consumer:
    """A consumer of `topic` from its start, in a fresh group named after `group_prefix`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group_prefix}-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    return c


def _collect(bootstrap: str, topic: str, n: int, worker: subprocess.Popen, timeout: float) -> dict[str, float]:
    import schemas

    c = _consumer(bootstrap, topic, "bench-reader")
    out: dict[str, float] = {}
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < n and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error():
                if worker.poll() is not None:
                    raise RuntimeError("worker died during the benchmark")
                continue
            value = schemas.decode(msg.value())
            out[value["window_id"]] = msg.timestamp()[1] / 1000.0
            seen += value["event_count"]
    finally:
        c.close()
    return out


def _read_published(bootstrap: str, topic: str, n: int, window: float) -> list[tuple[str, float]]:
    """(window id, broker timestamp) of every published event, decoded from the topic itself."""
    import schemas
    from schemas.log_event import parse_timestamp

    c = _consumer(bootstrap, topic, "bench-ts")
    out: list[tuple[str, float]] = []
    try:
        while len(out) < n:
            for msg in c.consume(10_000, 2.0):
                if msg.error():
                    continue
                v = schemas.decode(msg.value())
                ts = parse_timestamp(v["timestamp"])
                wid = window_id(session_key(v.get("instance_id"), v.get("request_id"), v.get("service"), v.get("host")),
                                math.floor(ts / window) * window)
                out.append((wid, msg.timestamp()[1] / 1000.0))
    finally:
        c.close()
    return out


def _raw_consume_rate(bootstrap: str, topic: str, n: int) -> float:
    c = _consumer(bootstrap, topic, "bench-raw")
    got = 0
    start = None
    try:
        while got < n:
            for msg in c.consume(10_000, 2.0):
                if msg.error():
                    continue
                if start is None:
                    start = time.perf_counter()
                got += 1
    finally:
        c.close()
    return n / max(time.perf_counter() - (start or time.perf_counter()), 1e-9)
