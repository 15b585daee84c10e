"""engine/shapes: syslog headers, each pipeline's decoder, nesting, and the stream state (pure logic)."""
from datetime import datetime, timezone

import orjson
import pytest

from engine.parsing import parse_lines
from engine.shapes import Pending, ShapeReader, Shaped, shape_of_object, split_syslog
from engine.shapes.decode import unescape_newlines
from engine.shapes.record import kubernetes_container, oslo_time, program_service

LINE = ("2026-12-05 02:07:47.359 26323 ERROR nova.compute.manager [req-3c1b6a0e-1111-2222-3333-444455556666 "
        "6f8d a1b2 - - -] [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] Instance failed to spawn")
T0 = datetime(2026, 12, 5, 2, 7, 47, 359000, tzinfo=timezone.utc).timestamp()


def utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def parsed(shaped: Shaped):
    return next(iter(parse_lines(shaped.text.split("\n"))))


# -- syslog headers ------------------------------------------------------------------------------
def test_rfc3164_with_pri_gives_time_host_program_pid_and_severity():
    ts, host, program, pid, level, body = split_syslog("<131>Dec  5 02:13:12 compute-1 nova-compute[123]: boom",
                                                       utc(2026, 12, 5, 2, 13, 13))
    assert (ts, host, program, pid, level, body) == (utc(2026, 12, 5, 2, 13, 12), "compute-1", "nova-compute", 123,
                                                     "ERROR", "boom")


@pytest.mark.parametrize("stamp,arrival,year", [
    ("Dec 31 23:59:58", utc(2027, 1, 1, 0, 0, 3), 2026),    # sent before midnight, read after: its own year
    ("Jan  1 00:00:01", utc(2026, 12, 31, 23, 59, 59), 2027),  # a sender's clock a little ahead
    ("Jun 15 12:00:00", utc(2026, 6, 15, 12, 0, 1), 2026),
    ("Feb 29 10:00:00", utc(2028, 3, 1, 0, 0, 0), 2028),    # a leap day exists only in some years
])
def test_rfc3164_year_is_the_one_nearest_the_arrival(stamp, arrival, year):
    ts = split_syslog(f"<14>{stamp} h prog: x", arrival)[0]
    assert datetime.fromtimestamp(ts, timezone.utc).year == year


def test_rfc5424_structured_data_and_nil_fields():
    text = '<165>1 2026-12-05T02:13:12.385Z ctl1 nova-api 42 ID47 [ex@1 a="x\\]y" b="]"][b@2 c="d"] \ufeffhello world'
    assert split_syslog(text) == (utc(2026, 12, 5, 2, 13, 12) + 0.385, "ctl1", "nova-api", 42, "INFO", "hello world")
    assert split_syslog("<14>1 - - - - - - msg") == (None, None, None, None, "INFO", "msg")


def test_iso_prefixed_rsyslog_and_syslog_ng_lines():
    assert split_syslog("2026-12-05T02:13:12.385984+01:00 compute-1 openstack: " + LINE) == (
        utc(2026, 12, 5, 1, 13, 12) + 0.385984, "compute-1", "openstack", None, None, LINE)
    # syslog-ng without a program: the body must be an oslo.log record
    assert split_syslog("2026-12-05T02:13:47+00:00 compute-1 " + LINE)[5] == LINE


@pytest.mark.parametrize("text", [
    "2026-12-05T02:13:12.385Z|00001|vlog|INFO|opened log file",              # Open vSwitch
    "2026-12-05T02:13:12.123456Z 0 [Note] WSREP: Synchronized with group",   # MariaDB
    "2026-12-05 02:13:12.123+0000: 1234: info : libvirt version: 8.0.0",     # libvirt (space, not T)
    "Dec 5 is a date in a message",
    "<not a pri> text",
])
def test_other_daemons_lines_are_not_syslog(text):
    assert split_syslog(text) is None


def test_unescape_newlines_keeps_a_repr_newline():
    assert unescape_newlines("a#012b") == "a\nb"
    assert unescape_newlines("head\\n  File \"x.py\", line 1") == "head\n  File \"x.py\", line 1"
    kept = "Stdout: u'qemu-img version 2.10\\n' didn't\\nnext"
    assert unescape_newlines(kept) == "Stdout: u'qemu-img version 2.10\\n' didn't\nnext"


# -- JSON shapes -------------------------------------------------------------------------------
def oslo_json(**over) -> dict:
    obj = {"message": "Instance failed to spawn", "asctime": "2026-12-05 02:07:47", "name": "nova.compute.manager",
           "levelname": "ERROR", "levelno": 40, "process": 26323, "hostname": "compute-1", "created": T0,
           "traceback": ["Traceback (most recent call last):",
                         '  File "/opt/stack/nova/nova/compute/manager.py", line 2133, in _build_resources',
                         "    yield resources", "RuntimeError: Build of instance aborted"],
           "error_summary": "RuntimeError: Build of instance aborted",
           "context": {"request_id": "req-3c1b", "global_request_id": "req-9f8e", "user": "6f8d",
                       "project_id": "a1b2"},
           "extra": {"instance": {"uuid": "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11"}, "project": "a1b2",
                     "version": "unknown"}}
    obj.update(over)
    return obj


def test_oslo_json_record_is_rebuilt_as_the_oslo_line_it_formats():
    shaped = ShapeReader().object(oslo_json())
    assert shaped.shape == "oslo_json" and shaped.host == "compute-1" and shaped.global_request_id == "req-9f8e"
    ev = parsed(shaped)
    assert (ev.timestamp, ev.level, ev.logger, ev.pid, ev.request_id, ev.user_id, ev.project_id, ev.instance_id) == (
        pytest.approx(T0), "ERROR", "nova.compute.manager", 26323, "req-3c1b", "6f8d", "a1b2",
        "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11")
    assert ev.message == "Instance failed to spawn"
    assert [f.function for f in ev.frames] == ["_build_resources"] and ev.exception_type == "RuntimeError"
    # the traceback as one string (as ../shared/formats.md shows it) reads the same
    again = parsed(ShapeReader().object(oslo_json(traceback="\n".join(oslo_json()["traceback"]))))
    assert again.frames == ev.frames


def test_oslo_fluent_formatter_names_the_service_by_its_script():
    obj = {"message": "m", "time": "2026-12-05 02:07:47,359", "name": "nova.compute.manager", "level": "WARNING",
           "filename": "manager.py", "lineno": 1, "module": "manager", "funcname": "f", "process_name": "MainProcess",
           "cmdline": "/usr/bin/python3 /usr/local/bin/nova-compute --config-file /etc/nova/nova.conf",
           "hostname": "compute-1", "traceback": None, "error_summary": "", "context": {}, "extra": {}}
    shaped = ShapeReader().object(obj)
    assert shaped.shape == "oslo_fluent" and shaped.service() == "nova-compute" and shaped.header_pid is False
    assert parsed(shaped).timestamp == pytest.approx(T0) and parsed(shaped).level == "WARNING"


def test_journald_journal_handler_fields():
    obj = {"__REALTIME_TIMESTAMP": "1796436672359000", "_HOSTNAME": "ctl1", "_TRANSPORT": "journal",
           "_SYSTEMD_UNIT": "devstack@n-cpu.service", "SYSLOG_IDENTIFIER": "nova-compute", "PRIORITY": "3",
           "LOGGER_NAME": "nova.compute.manager", "LOGGER_LEVEL": "ERROR", "REQUEST_ID": "req-3c1b", "_PID": "27760",
           "MESSAGE": LINE + "\n2026-12-05 02:07:47.359 26323 ERROR nova.compute.manager Traceback (most recent call last):"}
    shaped = ShapeReader().object(obj)
    assert shaped.shape == "journald" and shaped.host == "ctl1" and shaped.service() == "nova-compute"
    assert shaped.text == obj["MESSAGE"] and shaped.time == pytest.approx(1796436672.359)


def test_journald_devstack_stdout_bytes_with_colours_get_the_header_back_and_join():
    reader = ShapeReader()

    def entry(micros: int, text: str) -> dict:
        return {"__REALTIME_TIMESTAMP": str(micros), "_HOSTNAME": "ctl1", "_TRANSPORT": "stdout", "_PID": "27760",
                "_SYSTEMD_UNIT": "devstack@n-cpu.service", "SYSLOG_IDENTIFIER": "nova-compute",
                "MESSAGE": list(text.encode())}
    first = reader.object(entry(1796436672359000, "\x1b[01;31mERROR nova.compute.manager [\x1b[01;36mNone req-1 "
                                                  "admin admin\x1b[01;31m] \x1b[01;35m\x1b[01;31mboom\x1b[00m"))
    tb = reader.object(entry(1796436672359871, "\x1b[01;31mERROR nova.compute.manager \x1b[01;35m\x1b[00m"
                                               "Traceback (most recent call last):"))
    assert first.shape == tb.shape == "journald_stdout" and first.service() == "nova-compute"
    assert first.text == "2026-12-05 02:11:12.359 27760 ERROR nova.compute.manager [None req-1 admin admin] boom"
    # the traceback's line was stored 871 us later, in the next millisecond: it takes its record's time
    assert tb.text.startswith("2026-12-05 02:11:12.359 27760 ERROR nova.compute.manager Traceback")
    events = list(parse_lines([first.text, tb.text]))
    assert len(events) == 1 and events[0].line_count == 2 and events[0].request_id == "req-1"


def test_kolla_fluentd_record_gets_its_req_prefix_and_service_back():
    obj = {"Timestamp": "2026-12-05 02:09:04.491", "Pid": "26611", "log_level": "ERROR",
           "python_module": "nova.compute.manager", "request_id": "3c1b6a0e", "user_id": "6f8d", "tenant_id": "a1b2",
           "domain_id": "-", "user_domain": "-", "project_domain": "-",
           "Payload": " [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] Instance failed to spawn: RuntimeError: x\n"
                      "2026-12-05 02:09:04.491 26611 ERROR nova.compute.manager Traceback (most recent call last):\n"
                      '2026-12-05 02:09:04.491 26611 ERROR nova.compute.manager   File "/n/manager.py", line 2, in f\n'
                      "2026-12-05 02:09:04.491 26611 ERROR nova.compute.manager RuntimeError: x",
           "Hostname": "ctl1", "Logger": "openstack.neutron", "programname": "server"}
    shaped = ShapeReader().object(obj)
    assert shaped.shape == "kolla_fluentd" and shaped.service() == "neutron-server" and shaped.host == "ctl1"
    ev = parsed(shaped)
    assert ev.request_id == "req-3c1b6a0e" and ev.user_id == "6f8d" and ev.pid == 26611
    assert ev.instance_id == "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11" and ev.message.startswith("Instance failed")
    assert [f.function for f in ev.frames] == ["f"] and ev.exception_type == "RuntimeError"


def test_fluent_bit_docker_record_and_nested_syslog_inside_it():
    kube = {"host": "node-3", "container_name": "nova-compute", "pod_name": "nova-compute-abc",
            "namespace_name": "openstack"}
    shaped = ShapeReader().object({"log": LINE + "\n", "stream": "stdout", "time": "2026-12-05T02:07:47.36Z",
                                   "kubernetes": kube})
    assert (shaped.shape, shaped.text, shaped.host, shaped.service()) == ("fluentbit_docker", LINE, "node-3",
                                                                           "nova-compute")
    nested = ShapeReader().object({"log": "2026-12-05T02:13:47+00:00 ctl9 neutron-server: " + LINE + "\n",
                                   "stream": "stdout", "kubernetes": kube})
    # the innermost record's own metadata (the syslog header's host and program) wins
    assert (nested.shape, nested.text, nested.host, nested.program) == ("fluentbit_docker", LINE, "ctl9",
                                                                         "neutron-server")


def test_cri_partial_lines_join_their_final_piece():
    reader = ShapeReader()
    assert reader.text("2026-12-05T02:07:47.360000000Z stdout P " + LINE[:40], None, b"k") == Pending("cri")
    shaped = reader.text("2026-12-05T02:07:47.360000000Z stdout F " + LINE[40:], None, b"k")
    assert shaped.shape == "cri" and shaped.text == LINE
    assert reader.text("2026-12-05T02:07:47.360000000Z stdout F ", None, b"k").text == ""


@pytest.mark.parametrize("obj,shape", [
    ({"message": LINE, "file": "/var/log/nova/nova-compute.log", "host": "c1", "source_type": "file",
      "timestamp": "2026-12-05T02:07:48Z"}, "vector"),
    ({"@timestamp": "2026-12-05T02:07:48.000Z", "message": LINE, "log": {"file": {"path": "/var/log/nova/nova-compute.log"}},
      "host": {"name": "c1"}, "agent": {"type": "filebeat"}, "ecs": {"version": "8.0.0"}}, "filebeat"),
    ({"@timestamp": "2026-12-05T02:07:48+00:00", "host": "c1", "severity": "info", "facility": "local0",
      "tag": "openstack.nova.compute", "message": LINE, "file": "/var/log/containers/nova/nova-compute.log"},
     "tripleo_rsyslog"),
])
def test_generic_shippers_json(obj, shape):
    shaped = ShapeReader().object(obj)
    assert shaped.shape == shape and shaped.text == LINE and shaped.host == "c1"
    assert shaped.service() == "nova-compute"


@pytest.mark.parametrize("obj", [
    {"server": {"name": "vm-1"}}, {"records": 3, "x": 1}, {"port": {"id": "p"}},
    {"message": "x", "timestamp": "2017-05-16T00:00:00Z"},   # claims our own schema
])
def test_logged_bodies_and_our_own_schema_are_no_pipeline_shape(obj):
    assert shape_of_object(obj) is None


def test_syslog_text_shapes_are_told_apart():
    reader = ShapeReader()
    rs = reader.text("2026-12-05T02:13:12.385984+00:00 compute-1 nova-compute: " + LINE + "\\n2026-12-05 tail")
    assert rs.shape == "rsyslog" and rs.text == LINE + "\n2026-12-05 tail" and rs.service() == "nova-compute"
    ng = reader.text("2026-12-05T02:13:47+00:00 compute-1 nova-compute: " + LINE + "\nsecond line")
    assert ng.shape == "syslog_ng" and ng.text == LINE + "\nsecond line"
    old = reader.text("<134>Dec  5 02:13:12 compute-1 nova-compute[26323]: " + LINE, utc(2026, 12, 5, 3, 0, 0))
    assert old.shape == "rfc3164" and old.text == LINE and old.pid == 26323
    new = reader.text("<134>1 2026-12-05T02:13:12Z compute-1 nova-api 7 - - hello")
    assert new.shape == "rfc5424" and new.level == "INFO" and new.text == "hello"
    assert reader.text(LINE) is None and reader.text("plain text") is None


def test_helpers():
    assert oslo_time(T0) == "2026-12-05 02:07:47.359"
    assert program_service("devstack@q-svc.service") == "neutron-server"
    assert program_service("openstack.nova.compute") == "nova-compute" and program_service("openstack") is None
    assert kubernetes_container("/var/log/containers/nova-compute-5b_openstack_nova-compute-0a1b.log") == "nova-compute"
    assert kubernetes_container("/var/log/nova/nova-compute.log") is None


def test_journald_message_too_long_for_journalctl_is_said():
    shaped = ShapeReader().object(orjson.loads(b'{"__REALTIME_TIMESTAMP": "1796436672359000", "MESSAGE": null,'
                                               b' "_HOSTNAME": "h", "SYSLOG_IDENTIFIER": "nova-api"}'))
    assert "4096" in shaped.text and shaped.time == pytest.approx(1796436672.359)


def test_journald_message_holding_oslo_json_is_unwrapped():
    """use_journal and use_json together: the journal's MESSAGE is oslo.log's JSON object."""
    obj = {"__REALTIME_TIMESTAMP": "1796436672359000", "_HOSTNAME": "ctl1", "_TRANSPORT": "journal",
           "SYSLOG_IDENTIFIER": "nova-compute", "PRIORITY": "3", "LOGGER_NAME": "nova.compute.manager",
           "MESSAGE": orjson.dumps(oslo_json()).decode()}
    shaped = ShapeReader().object(obj)
    assert shaped.shape == "journald" and shaped.host == "compute-1"   # the inner record's own host wins
    assert shaped.service() == "nova-compute" and shaped.global_request_id == "req-9f8e"
    ev = parsed(shaped)
    assert ev.timestamp == pytest.approx(T0) and ev.request_id == "req-3c1b" and len(ev.frames) == 1
