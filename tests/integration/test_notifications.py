"""OpenStack notifications on the real broker, published by oslo.messaging's own Kafka driver.

oslo.messaging (PyPI) with `transport_url = kafka://...` and the `messagingv2` driver
publishes an error notification the way nova does: a real oslo.context RequestContext,
and a versioned fault payload built from a real exception (raised in a module named
`nova.virt.libvirt.driver`, loaded from a file of that path, so its traceback and
`inspect` give what nova's ExceptionPayload takes). The same request is logged by
nova-api on the logs topic. A worker with RCA_WORKER_NOTIFICATION_TOPICS set must make
the notification an event of nova-compute on compute1 with that request and instance,
whose module is a root cause, in the same incident as the request's log lines; a
message on the notification topic that is no notification is a dead letter with its
reason.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
import time
import traceback
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import KafkaSettings
from producers.publish import publish
from schemas.log_event import Frame, LogEvent
from tests.integration.kafka_helpers import drain_until

oslo_messaging = pytest.importorskip("oslo_messaging", reason="oslo.messaging is a test extra: pip install -e .[test]")
context = pytest.importorskip("oslo_context.context", reason="oslo.context is a test extra: pip install -e .[test]")
cfg = pytest.importorskip("oslo_config.cfg")

pytestmark = pytest.mark.integration

DRIVER_SOURCE = '''
def spawn(port_id):
    plug_vifs(port_id)


def plug_vifs(port_id):
    raise RuntimeError("Binding failed for port %s, please check neutron logs" % port_id)
'''


def nova_fault(tmp_path) -> tuple[dict, str]:
    """A real exception from a real file `.../nova/virt/libvirt/driver.py`, as nova's
    ExceptionPayload.from_exc_and_traceback fills the fault (inspect.trace()[-1])."""
    path = tmp_path / "opt" / "stack" / "nova" / "nova" / "virt" / "libvirt" / "driver.py"
    path.parent.mkdir(parents=True)
    path.write_text(DRIVER_SOURCE)
    spec = importlib.util.spec_from_file_location("nova.virt.libvirt.driver", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # so inspect.getmodule finds it, as in nova
    try:
        spec.loader.exec_module(module)
        try:
            module.spawn("p-1")
        except RuntimeError as exc:
            frame = inspect.trace()[-1]
            fault = {"exception": type(exc).__name__, "exception_message": str(exc),
                     "function_name": frame[3], "module_name": inspect.getmodule(frame[0]).__name__,
                     "traceback": traceback.format_exc()}
    finally:
        del sys.modules[spec.name]
    return fault, str(path)


def test_error_notification_through_oslo_messaging_kafka_driver(stack, topics, start_worker, tmp_path):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    prefix = f"{topics.logs}.notifications"     # oslo.messaging writes <topic>.<priority>
    error_topic = f"{prefix}.error"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(error_topic, 1, 1)]).values():
        fut.result(30)

    ctx = context.RequestContext(user_id="6f8d0c", project_id="a1b2c3", global_request_id=f"req-{uuid.uuid4()}",
                                 overwrite=False)   # not this process's current context (other tests log)
    instance = str(uuid.uuid4())
    fault, driver_path = nova_fault(tmp_path)
    payload = {"nova_object.name": "InstanceCreatePayload", "nova_object.namespace": "nova",
               "nova_object.version": "1.12",
               "nova_object.data": {"uuid": instance, "host": "compute1", "state": "building",
                                    "fault": {"nova_object.name": "ExceptionPayload", "nova_object.namespace": "nova",
                                              "nova_object.version": "1.3", "nova_object.data": fault}}}
    conf = cfg.ConfigOpts()
    conf([], project="openstack-rca-test")
    transport = oslo_messaging.get_notification_transport(conf, url=f"kafka://{bootstrap}")
    notifier = oslo_messaging.Notifier(transport, publisher_id="nova-compute:compute1", driver="messagingv2",
                                       topics=[prefix])
    notifier.error(ctx, "instance.create.error", payload)
    transport.cleanup()
    # the same request's failure as nova-api logged it, on the logs topic
    api = LogEvent(message="Build of instance aborted", raw="Build of instance aborted", timestamp=time.time() - 2,
                   service="nova-api", host="ctl-1", level="ERROR", logger="nova.api.openstack.wsgi",
                   request_id=ctx.request_id, exception_type="BuildAbortException",
                   frames=[Frame("/opt/stack/nova/nova/api/openstack/wsgi.py", 800, "__call__")],
                   source="/var/log/nova/nova-api.log")
    assert publish([api], KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False).failed == 0
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(error_topic, b'{"message": "not a notification", "host": "x"}', key=b"odd")
    assert producer.flush(30) == 0

    worker = start_worker(RCA_WORKER_NOTIFICATION_TOPICS=error_topic, RCA_WORKER_IDLE_TIMEOUT_SECONDS="2",
                          RCA_WORKER_ALLOWED_LATENESS_SECONDS="5")

    def alive() -> None:
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    def on_host(ms, host):
        return [m["value"] for m in ms if host in (m["value"].get("hosts") or ())]

    results = drain_until(bootstrap, topics.results, lambda ms: on_host(ms, "compute1") and on_host(ms, "ctl-1"),
                          timeout=120, on_poll=alive)
    assert on_host(results, "compute1"), worker.log_text()[-3000:]
    window, api_window = on_host(results, "compute1")[0], on_host(results, "ctl-1")[0]
    assert window["services"] == ["nova-compute"] and window["hosts"] == ["compute1"]
    assert window["session_key"] == instance
    assert ctx.request_id in window["request_ids"] and instance in window["instance_ids"]
    assert window["levels"].get("ERROR") == 1
    assert window["first_error"]["service"] == "nova-compute"
    assert window["first_error"]["logger"] == "nova.virt.libvirt.driver"
    assert window["is_incident"], window
    modules = [rc["module"] for rc in window["root_causes"]]
    assert "nova.virt.libvirt.driver" in modules, f"the fault's module is evidence: {modules}"
    assert api_window["is_incident"] and api_window["incident_id"] == window["incident_id"], \
        f"the notification joins the incident of its request's log lines: {api_window}"
    incidents = drain_until(bootstrap, topics.incidents, lambda ms: bool(ms), timeout=60, on_poll=alive)
    assert ctx.request_id in incidents[-1]["value"]["request_ids"]

    letters = drain_until(bootstrap, topics.dlq, lambda ms: bool(ms), timeout=60, on_poll=alive)
    assert [(m["value"]["reason"], m["value"]["source_topic"]) for m in letters] == [("unknown_shape", error_topic)]
    assert driver_path.endswith("nova/virt/libvirt/driver.py")
