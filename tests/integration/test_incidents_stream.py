"""Incidents on the real broker: windows of one fault become one incident, and it survives kill -9.

A request that fails in nova-compute with a traceback and is logged by
nova-api with its own traceback (same request id, another host and file, so
another partition) gives incident windows on two partitions: the correlator
must make them one incident on rca.incidents, and each incident window on
rca.results must name it. After `kill -9` of the worker, the open incident is
restored from the changelog-backed table: a later window of the same request
joins the same incident id.
"""
from __future__ import annotations

import uuid

import pytest

import schemas
from config.settings import KafkaSettings
from producers.publish import publish
from schemas.log_event import Frame, LogEvent
from tests.integration.kafka_helpers import drain_until

pytestmark = pytest.mark.integration


def failing_request(t0: float, request_id: str, instance_id: str) -> list[LogEvent]:
    frames = [Frame("/opt/stack/nova/nova/compute/manager.py", 2210, "_build_and_run_instance"),
              Frame("/opt/stack/nova/nova/virt/libvirt/driver.py", 3120, "spawn")]
    return [
        LogEvent(message="Create server request accepted", raw="Create server request accepted", timestamp=t0,
                 service="nova-api", host="ctl-1", level="INFO", logger="nova.api.openstack.compute.servers",
                 request_id=request_id, source="/var/log/nova/nova-api.log"),
        LogEvent(message="Instance failed to spawn", raw="Instance failed to spawn: libvirtError", timestamp=t0 + 3,
                 service="nova-compute", host="cmp-7", level="ERROR", logger="nova.compute.manager",
                 request_id=request_id, instance_id=instance_id, exception_type="libvirtError",
                 exception_text="internal error", frames=frames, source="/var/log/nova/nova-compute.log"),
        LogEvent(message="Build of instance aborted", raw="Build of instance aborted", timestamp=t0 + 5,
                 service="nova-api", host="ctl-1", level="ERROR", logger="nova.api.openstack.wsgi",
                 request_id=request_id, exception_type="BuildAbortException",
                 frames=[Frame("/opt/stack/nova/nova/api/openstack/wsgi.py", 800, "__call__")],
                 source="/var/log/nova/nova-api.log"),
    ]


def healthy(t0: float, n: int) -> list[LogEvent]:
    return [LogEvent(message=f"GET /v2/servers status: 200 time: 0.{i}", raw="GET", timestamp=t0 + i,
                     service="nova-api", host="ctl-2", level="INFO", logger="nova.osapi_compute.wsgi.server",
                     request_id=f"req-{uuid.UUID(int=i)}", source="/var/log/nova/nova-api.log") for i in range(n)]


def test_one_fault_one_incident_that_survives_a_kill_9(stack, topics, start_worker):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    t0 = 1_750_000_000.0
    req, inst = f"req-{uuid.uuid4()}", str(uuid.uuid4())
    opts = dict(RCA_WORKER_ALLOWED_LATENESS_SECONDS="5", RCA_WORKER_IDLE_TIMEOUT_SECONDS="2",
                RCA_WORKER_SESSION_TIMEOUT_SECONDS="6")
    assert publish(failing_request(t0, req, inst) + healthy(t0, 20), kafka, topics.logs, progress=False).failed == 0
    first = start_worker(**opts)

    def alive(w):
        def check() -> None:
            assert w.proc.poll() is None, w.log_text()[-3000:]
        return check

    incidents = drain_until(bootstrap, topics.incidents, lambda ms: len(ms) >= 1, timeout=120, on_poll=alive(first))
    results = drain_until(bootstrap, topics.results,
                          lambda ms: sum(m["value"]["event_count"] for m in ms) >= 23, timeout=60)
    for m in incidents:
        schemas.validate("rca_incident", m["value"])
        assert m["key"].decode() == m["value"]["incident_id"]
    iid = incidents[0]["value"]["incident_id"]
    assert {m["value"]["incident_id"] for m in incidents} == {iid}, "one fault, one incident"
    flagged = [m["value"] for m in results if m["value"]["is_incident"]]
    assert len({r["source_partition"] for r in flagged}) >= 1 and len(flagged) >= 2
    assert {r["incident_id"] for r in flagged} == {iid}, "every incident window names its incident"
    assert all(r.get("incident_id") is None for r in (m["value"] for m in results) if not r["is_incident"])
    assert req in incidents[-1]["value"]["request_ids"]

    first.stop(kill=True)
    second = start_worker(**opts)
    # the same request fails again a minute later: it joins the restored incident
    assert publish(failing_request(t0 + 70, req, inst), kafka, topics.logs, progress=False).failed == 0
    later = drain_until(bootstrap, topics.incidents,
                        lambda ms: any(len(m["value"]["window_ids"]) > len(incidents[-1]["value"]["window_ids"])
                                       for m in ms), timeout=120, on_poll=alive(second))
    grown = [m["value"] for m in later if len(m["value"]["window_ids"]) > len(incidents[-1]["value"]["window_ids"])]
    assert grown[-1]["incident_id"] == iid and grown[-1]["state"] == "updated"
