"""OpenStack notifications (engine/notifications.py): every field an error notification
carries lands on the event; what is no notification is rejected with its reason."""
from __future__ import annotations

import json

import pytest

import schemas
from engine.notifications import NotANotification, decode_notification, split_publisher
from engine.sessions import event_session_key

INSTANCE = "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11"
TRACE = ('Traceback (most recent call last):\n'
         '  File "/opt/stack/nova/nova/compute/manager.py", line 2192, in _build_and_run_instance\n'
         '    self.driver.spawn(context, instance, image_meta)\n'
         '  File "/opt/stack/nova/nova/virt/libvirt/driver.py", line 3120, in spawn\n'
         '    raise exception.PortBindingFailed(port_id=port)\n'
         'nova.exception.PortBindingFailed: Binding failed for port p-1, please check neutron logs\n')
CONTEXT = {"request_id": "req-3c1b6a0e-0000-4000-8000-000000000001",
           "global_request_id": "req-9f8e0000-0000-4000-8000-000000000002",
           "user": "6f8d", "project_id": "a1b2", "user_identity": "6f8d a1b2 - - -", "roles": ["member"]}


def versioned(priority="ERROR", **fault_fields) -> dict:
    fault = {"exception": "PortBindingFailed", "exception_message": "Binding failed for port p-1",
             "function_name": "spawn", "module_name": "nova.virt.libvirt.driver", "traceback": TRACE,
             **fault_fields}
    return {"message_id": "m-1", "publisher_id": "nova-compute:compute1", "event_type": "instance.create.error",
            "priority": priority, "timestamp": "2026-12-05 04:30:12.123456", "_context": CONTEXT,
            "payload": {"nova_object.name": "InstanceCreatePayload", "nova_object.namespace": "nova",
                        "nova_object.data": {"uuid": INSTANCE, "host": "compute1",
                                             "fault": {"nova_object.name": "ExceptionPayload",
                                                       "nova_object.data": fault}}}}


def on_kafka(message: dict) -> bytes:
    """As oslo.messaging's Kafka driver sends it: the message JSON inside the 2.0 envelope."""
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


def test_versioned_error_notification_is_an_event_of_its_service_host_and_request():
    ev = decode_notification(on_kafka(versioned()), "versioned_notifications.error")
    assert (ev.service, ev.host, ev.level) == ("nova-compute", "compute1", "ERROR")
    assert ev.request_id == CONTEXT["request_id"] and (ev.user_id, ev.project_id) == ("6f8d", "a1b2")
    assert ev.instance_id == INSTANCE and event_session_key(ev) == INSTANCE
    assert ev.timestamp == pytest.approx(1796445012.123456)
    assert ev.exception_type == "PortBindingFailed" and ev.exception_text == "Binding failed for port p-1"
    assert ev.logger == "nova.virt.libvirt.driver"
    assert [(f.file.rsplit("/", 1)[-1], f.line, f.function) for f in ev.frames] == [
        ("manager.py", 2192, "_build_and_run_instance"), ("driver.py", 3120, "spawn")]
    assert "instance.create.error" in ev.message and "PortBindingFailed" in ev.message
    assert ev.source == "versioned_notifications.error"
    if hasattr(ev, "global_request_id"):
        assert ev.global_request_id == CONTEXT["global_request_id"]
    schemas.validate("log_event", ev.to_dict())   # it travels on the logs topic in our schema


def test_fault_without_traceback_keeps_module_and_function_as_a_frame():
    ev = decode_notification(on_kafka(versioned(traceback=None)), "versioned_notifications.error")
    assert [(f.file, f.line, f.function) for f in ev.frames] == [("nova/virt/libvirt/driver.py", 0, "spawn")]
    schemas.validate("log_event", ev.to_dict())


def test_legacy_notification_flattened_context_and_topic_publisher():
    msg = {"message_id": "m-2", "publisher_id": "compute.cmp-7.example.org", "event_type": "compute.instance.create.error",
           "priority": "ERROR", "timestamp": "2026-12-05 04:30:12.5",
           "_context_request_id": "req-legacy", "_context_user_id": "u", "_context_project_id": "p",
           "payload": {"instance_id": INSTANCE, "exception": "Timeout", "message": "Timed out waiting for a reply",
                       "code": 500}}
    ev = decode_notification(json.dumps(msg).encode(), "notifications.error")
    assert (ev.service, ev.host, ev.level, ev.request_id) == ("nova-compute", "cmp-7.example.org", "ERROR", "req-legacy")
    assert (ev.user_id, ev.project_id, ev.instance_id) == ("u", "p", INSTANCE)
    assert (ev.exception_type, ev.exception_text) == ("Timeout", "Timed out waiting for a reply")
    assert ev.frames == []


@pytest.mark.parametrize("priority,topic,level", [("WARN", "notifications.warn", "WARNING"),
                                                  (None, "notifications.critical", "CRITICAL"),
                                                  ("sample", "notifications.sample", "INFO")])
def test_priority_is_the_level(priority, topic, level):
    assert decode_notification(on_kafka(versioned(priority=priority)), topic).level == level


@pytest.mark.parametrize("publisher,expected", [("nova-compute:compute1", ("nova-compute", "compute1")),
                                                ("neutron-server:net-1", ("neutron-server", "net-1")),
                                                ("network.net-1", ("neutron-server", "net-1")),
                                                ("cinder-volume", ("cinder-volume", None)), ("", (None, None))])
def test_publisher_id(publisher, expected):
    assert split_publisher(publisher) == expected


@pytest.mark.parametrize("value,reason", [(b"", "empty"), (b"\xff\xfe", "not_utf8"), (b"{nope", "bad_json"),
                                          (b'{"message": "hi", "host": "x"}', "unknown_shape"),
                                          (b'{"oslo.version": "2.0", "oslo.message": "[1]"}', "unknown_shape"),
                                          (b"[1, 2]", "unknown_shape")])
def test_what_is_no_notification_is_rejected_with_a_reason(value, reason):
    out = decode_notification(value, "notifications.error")
    assert isinstance(out, NotANotification) and out.reason == reason and out.error
