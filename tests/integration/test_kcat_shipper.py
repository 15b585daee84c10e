"""The worker fed by a client we did not write, as a shipper without multiline settings feeds it.

kcat (librdkafka's command-line client) publishes raw oslo.log lines one per
message, keyed `host:path`, with poison among them: an event dated 9999, a
2 MB line, bytes that are not UTF-8, a schema-breaking event. The worker is
killed with SIGKILL mid-stream and started again. Then:
- every record is in exactly one window id (ids published twice stand for the
  same events), a traceback sent line by line is one event with its frames;
- every poison message is a dead letter with its reason; the 2 MB original is
  kept whole in S3 (claim check) and its sha256 matches;
- the consumer group's lag reaches 0.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import uuid

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from tests.integration.kafka_helpers import drain_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt-get install kcat)")]

T0 = "2019-08-01 10:{m:02d}:{s:02d}.{ms:03d}"
FILES = [("ctl-1", "/var/log/nova/nova-api.log", "nova.osapi_compute.wsgi.server"),
         ("cmp-1", "/var/log/nova/nova-compute.log", "nova.compute.manager"),
         ("net-1", "/var/log/neutron/server.log", "neutron.wsgi")]


def stamp(i: int) -> str:
    return T0.format(m=(i // 60) % 60, s=i % 60, ms=i % 1000)


def raw_lines(n: int) -> tuple[list[tuple[bytes, bytes]], int]:
    """(key, line) messages and how many records they hold: n ordinary lines over three files,
    a traceback of 6 lines on the compute log (one record) and a pprint dump (joins a record)."""
    out = []
    for i in range(n):
        host, path, logger = FILES[i % 3]
        req = f"req-{uuid.UUID(int=i // 5)}"
        out.append((f"{host}:{path}".encode(),
                    f"{stamp(i // 3)} {1000 + i % 3} INFO {logger} [{req} admin admin] request {i} done".encode()))
    tb_at = stamp(n // 6)
    ctx = "[instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11]"
    tb = [f"{tb_at} 2931 ERROR nova.compute.manager [req-fail admin admin] {ctx} Instance failed to spawn",
          f"{tb_at} 2931 ERROR nova.compute.manager {ctx} Traceback (most recent call last):",
          f'{tb_at} 2931 ERROR nova.compute.manager {ctx}   File "/opt/stack/nova/nova/compute/manager.py", line 2192, in _build_resources',
          f"{tb_at} 2931 ERROR nova.compute.manager {ctx}     yield resources",
          f'{tb_at} 2931 ERROR nova.compute.manager {ctx}   File "/opt/stack/nova/nova/virt/libvirt/driver.py", line 3120, in spawn',
          f"{tb_at} 2931 ERROR nova.compute.manager {ctx} PortBindingFailed: Binding failed for port p"]
    key = f"{FILES[1][0]}:{FILES[1][1]}".encode()
    at = len(out) // 2
    out[at:at] = [(key, line.encode()) for line in tb] + [(key, b"{'status': 'ERROR', 'fault': {'code': 500}}")]
    return out, n + 1


POISON = [
    (b"p:9999", orjson.dumps({"schema_version": 1, "timestamp": "9999-12-31T23:59:59Z", "message": "x"}),
     "timestamp_out_of_range"),
    (b"p:huge", b"2019-08-01 10:00:00.000 1 INFO nova.x [-] " + b"y" * 2_000_000, "oversize"),
    (b"p:bin", b"\xff\xfe\xfd not utf-8 \x80", "not_utf8"),
    (b"p:schema", orjson.dumps({"schema_version": 7, "timestamp": "2019-08-01T10:00:00Z", "message": "x"}),
     "schema_violation"),
]


def kcat_produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], tmp_path) -> None:
    """kcat -P: one message per line of a file, key and value split at a tab."""
    path = tmp_path / f"kcat-{uuid.uuid4().hex[:6]}.txt"
    path.write_bytes(b"".join(k + b"\t" + v + b"\n" for k, v in messages))
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-z", "snappy",
                    "-X", "message.max.bytes=4000000", "-l", str(path)], check=True, timeout=120)


def lag(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
        total = 0
        for tp in parts:
            _, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            total += high - max(tp.offset, 0)
        return total
    finally:
        c.close()


def test_kcat_raw_lines_with_poison_and_a_kill_9(stack, topics, start_worker, s3, tmp_path):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource("topic", topics.logs, incremental_configs=[
        ConfigEntry("max.message.bytes", "4000000", incremental_operation=AlterConfigOpType.SET)])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(30)
    messages, records = raw_lines(3000)
    half = len(messages) // 2
    kcat_produce(bootstrap, topics.logs, messages[:half] + [(k, v) for k, v, _ in POISON], tmp_path)
    opts = dict(RCA_WORKER_ALLOWED_LATENESS_SECONDS="5", RCA_WORKER_IDLE_TIMEOUT_SECONDS="2",
                RCA_WORKER_SESSION_TIMEOUT_SECONDS="6")
    first = start_worker(**opts)
    drain_until(bootstrap, topics.results, lambda ms: len(ms) >= 5, timeout=120,
                on_poll=lambda: _alive(first))
    kcat_produce(bootstrap, topics.logs, messages[half:], tmp_path)
    first.stop(kill=True)
    second = start_worker(**opts)

    def per_window(ms) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for m in ms:
            out.setdefault(m["value"]["window_id"], set()).add(m["value"]["event_count"])
        return out

    results = drain_until(bootstrap, topics.results,
                          lambda ms: sum(max(c) for c in per_window(ms).values()) >= records, timeout=240,
                          on_poll=lambda: _alive(second))
    copies = per_window(results)
    assert all(len(c) == 1 for c in copies.values()), "a window id always stands for the same events"
    assert sum(c.pop() for c in copies.values()) == records, "every record in exactly one window"
    flagged = [m["value"] for m in results if m["value"]["root_causes"]]
    assert any(rc["module"] == "nova.virt.libvirt.driver" for r in flagged for rc in r["root_causes"]), \
        "the traceback sent line by line kept its frames"

    letters = drain_until(bootstrap, topics.dlq, lambda ms: len({m["value"]["source_offset"] for m in ms}) >= 4,
                          timeout=60)
    reasons = {m["key"]: m["value"] for m in letters}
    assert {k: v["reason"] for k, v in reasons.items()} == {k: r for k, _, r in POISON}
    huge = reasons[b"p:huge"]["original"]
    stored = s3.get_object(Bucket=huge["bucket"], Key=huge["key"])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == huge["sha256"] == hashlib.sha256(POISON[1][1]).hexdigest()

    deadline = time.monotonic() + 60
    while (left := lag(bootstrap, second.group, topics.logs)) > 0:
        _alive(second)
        assert time.monotonic() < deadline, f"consumer lag stuck at {left}"
        time.sleep(0.5)   # polling the group's committed offsets, not a fixed wait


def _alive(worker) -> None:
    assert worker.proc.poll() is None, worker.log_text()[-3000:]
