"""Parser tests on real oslo.log lines (short excerpts of the Loghub sample
and of the fault-injection dev set) and on broken input."""
from __future__ import annotations

import calendar
import csv
import random

import pytest

from engine.parsing import (
    RecordGrouper, parse_line, parse_lines, service_from_logger, service_from_source,
)
from schemas.log_event import Frame, LogEvent
from tests.conftest import LOGHUB_DIR

REQ = "req-79dfaeaf-fd66-417a-bbad-dc43b31d2085"
USER = "d1b7c7f50a534e92ac779cb3076c3edf"
PROJECT = "4aaecf94ab9e4ce29d9bf1882d227421"
DOMAIN = "82594e31081744c19a9d56dcf18c4853"


def epoch(text: str) -> float:
    date, time = text.split(" ")
    whole, _, frac = time.partition(".")
    y, mo, d = map(int, date.split("-"))
    h, mi, s = map(int, whole.split(":"))
    return calendar.timegm((y, mo, d, h, mi, s)) + float("0." + (frac or "0"))


# -- single lines -------------------------------------------------------------------

def test_loghub_line_with_file_name_field():
    line = (
        "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO "
        "nova.osapi_compute.wsgi.server [req-38101a0b-2096-447d-96ea-a692162415ae "
        "113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 "
        '"GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.2477829'
    )
    e = parse_line(line)
    assert e.parse_error is None
    assert e.timestamp == pytest.approx(epoch("2017-05-16 00:00:00.008"))
    assert (e.pid, e.level, e.logger) == (25746, "INFO", "nova.osapi_compute.wsgi.server")
    assert e.request_id == "req-38101a0b-2096-447d-96ea-a692162415ae"
    assert e.user_id == "113d3a99c3da401fbd62cc2caa5b96d2"
    assert e.project_id == "54fadb412c4e40cdbaed9335e4c35a9e"
    assert e.service == "nova-api"
    assert e.source == "nova-api.log.1.2017-05-16_13:53:08"
    assert e.message.startswith('10.11.10.1 "GET /v2/') and e.message.endswith("time: 0.2477829")
    assert e.raw == line and e.instance_id is None and e.host is None and e.line_count == 1


def test_instance_prefix_is_taken_out_of_the_message():
    line = (
        "nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 INFO nova.compute.manager "
        "[req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -] "
        "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)"
    )
    e = parse_line(line)
    assert e.instance_id == "b9000564-fe1a-409b-b8cc-1e88b294cd1d"
    assert e.message == "VM Started (Lifecycle Event)"
    assert e.request_id == "req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab"
    assert e.user_id is None and e.project_id is None
    assert e.service == "nova-compute"


DEVSTACK_LINES = [
    ("nova/nova-api.log.bzip2.out", "nova-api",
     f"2018-06-28 16:09:47.011 31854 DEBUG nova.api.openstack.wsgi [{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] "
     "Calling method '<bound method Versions.index>' _process_stack "
     "/usr/lib/python2.7/site-packages/nova/api/openstack/wsgi.py:609"),
    ("nova/nova-compute.log.bzip2.out", "nova-compute",
     "2018-09-30 08:52:29.607 4007 INFO nova.compute.manager [req-3ffea7a2-1699-44f0-8c45-dad56723873d - - - - -] "
     "Updating bandwidth usage cache"),
    ("nova/nova-scheduler.log.bzip2.out", "nova-scheduler",
     "2018-09-30 08:50:37.869 4010 INFO nova.scheduler.host_manager [req-d10f17de-cd57-4e3e-931f-0fa5dea53cf1 "
     "- - - - -] Successfully synced instances from host 'localhost.localdomain'."),
    ("nova/nova-conductor.log.bzip2.out", "nova-conductor",
     f"2018-06-28 16:12:26.292 31753 DEBUG oslo_db.sqlalchemy.engines [{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] "
     "MySQL server mode set to STRICT_TRANS_TABLES _check_effective_sql_mode "
     "/usr/lib/python2.7/site-packages/oslo_db/sqlalchemy/engines.py:290"),
    ("nova/nova-placement-api.log.bzip2.out", "nova-placement-api",
     "2018-06-28 16:08:56.892 601 INFO nova.api.openstack.placement.requestlog [req-178166a2-5f60-477f-95f0-"
     "054dce018d51 3ec588bb3df34732984ee22f40b56f44 0ca3103c90a24980adf86a98ed1a7af3 - default default] "
     '10.0.20.46 "GET /placement/resource_providers/ee55194e-219e-4882-aaf9-44e42a328d38/aggregates" '
     "status: 200 len: 18 microversion: 1.1"),
    ("neutron/server.log.bzip2.out", "neutron-server",
     '2018-09-30 08:50:26.563 4465 INFO neutron.wsgi [-] 10.0.20.25 "GET / HTTP/1.1" status: 200  len: 252 '
     "time: 0.0084739"),
    ("neutron/openvswitch-agent.log.bzip2.out", "neutron-openvswitch-agent",
     "2018-09-30 08:51:24.080 4139 INFO neutron.agent.securitygroups_rpc [req-790cf752-1064-4793-843a-"
     "ac4d291608bd 8e6ba61a5acf49bda8981f8057536bcf cd9c135fd83b4c959541564661ff511a - - -] "
     "Security group rule updated ['7c70a749-a8fa-4afa-85b5-3be4dd4dd814']"),
    ("neutron/dhcp-agent.log.bzip2.out", "neutron-dhcp-agent",
     "2018-09-30 09:01:13.837 3995 INFO neutron.agent.dhcp.agent [-] Synchronizing state"),
    ("neutron/l3-agent.log.bzip2.out", "neutron-l3-agent",
     "2018-09-30 08:55:02.462 3788 INFO neutron.agent.linux.interface [-] Device qg-e976359c-45 already exists"),
    ("neutron/metadata-agent.log.bzip2.out", "neutron-metadata-agent",
     '2018-09-30 08:54:45.346 4081 INFO eventlet.wsgi.server [-] 11.125.1.12,<local> "GET /2009-04-04/meta-'
     'data/instance-id HTTP/1.1" status: 200  len: 146 time: 3.5173490'),
    ("neutron/metering-agent.log.bzip2.out", "neutron-metering-agent",
     "2018-09-30 08:49:48.514 4005 DEBUG neutron.services.metering.agents.metering_agent [-] Get router traffic "
     "counters _get_traffic_counters /usr/lib/python2.7/site-packages/neutron/services/metering/agents/"
     "metering_agent.py:215"),
    ("cinder/api.log.bzip2.out", "cinder-api",
     "2018-09-30 08:55:30.616 4182 INFO cinder.api.v2.volumes [req-c06c3be5-b204-4bd8-8af8-c4d2c6573d43 "
     "8e6ba61a5acf49bda8981f8057536bcf cd9c135fd83b4c959541564661ff511a - ef04ec6843094acf9a2222cc107761d5 "
     "ef04ec6843094acf9a2222cc107761d5] Create volume of 1 GB"),
    ("cinder/volume.log.bzip2.out", "cinder-volume",
     "2018-09-30 08:59:21.411 4362 INFO cinder.volume.manager [req-a9476bfe-5fb6-44e7-b29e-981f11c7d2da "
     "c6076d0e968d46daaf0fc5019a0f8a15 bd8a53962fd64ffeab7f2932b0e688c5 - default default] "
     "Terminate volume connection completed successfully."),
    ("cinder/scheduler.log.bzip2.out", "cinder-scheduler",
     "2018-09-28 16:48:59.738 28416 WARNING oslo.service.loopingcall [req-b2b6c963-d080-46d2-b930-eac6915d76bc "
     "- - - - -] Function 'cinder.service.Service.report_state' run outlasted interval by 4.30 sec"),
    ("cinder/backup.log.bzip2.out", "cinder-backup",
     "2018-06-28 16:08:42.338 31702 DEBUG oslo_service.periodic_task [req-3ef771cf-1f71-469c-95fc-67edf1919a59 "
     "- - - - -] Running periodic task BackupManager._report_driver_status run_periodic_tasks "
     "/usr/lib/python2.7/site-packages/oslo_service/periodic_task.py:215"),
    ("glance/api.log.bzip2.out", "glance-api",
     "2018-09-30 08:53:42.004 4085 WARNING keystonemiddleware.auth_token [-] A valid token was submitted as a "
     "service token, but it was not a valid service token."),
    ("glance/registry.log.bzip2.out", "glance-registry",
     "2018-06-28 16:09:24.404 31693 DEBUG eventlet.wsgi.server [-] (31693) accepted ('10.0.20.46', 39232) "
     "server /usr/lib/python2.7/site-packages/eventlet/wsgi.py:883"),
    ("heat/heat-engine.log.bzip2.out", "heat-engine",
     "2018-06-28 16:08:54.457 31934 DEBUG heat.engine.service [req-a43ab9fb-b310-4fcb-a9c8-8d0f9414ebf1 - - - - -] "
     "Service 042610e5-8a73-4d2a-8143-6647506409e3 is updated service_manage_report "
     "/usr/lib/python2.7/site-packages/heat/engine/service.py:2423"),
    ("heat/heat-api.log.bzip2.out", "heat-api",
     "2018-06-28 16:08:54.457 31934 INFO heat.api [-] Starting Heat REST API on 0.0.0.0:8004"),
    ("heat/heat-api-cfn.log.bzip2.out", "heat-api-cfn",
     "2018-06-28 16:08:54.457 31934 INFO heat.api.cfn [-] Starting Heat API on 0.0.0.0:8000"),
    ("keystone/keystone.log", "keystone",
     "2018-06-28 16:08:54.457 31934 INFO keystone.common.wsgi [req-a43ab9fb-b310-4fcb-a9c8-8d0f9414ebf1 - - - - -] "
     "GET http://10.0.20.46/identity/v3/auth/tokens"),
]


@pytest.mark.parametrize("source,service,line", DEVSTACK_LINES, ids=[s for _, s, _ in DEVSTACK_LINES])
def test_every_service_of_the_dev_set(source, service, line):
    path = f"devset/Nova/Test_236/logs/round_1/{source}"
    e = parse_line(line, source=path)
    assert e.parse_error is None
    assert e.service == service
    assert e.source == path
    assert e.level in ("DEBUG", "INFO", "WARNING")
    assert e.logger and e.pid and e.timestamp
    assert e.message and not e.message.startswith("[")
    assert e.raw == line
    # the grouper gives the same event for a lone line
    (grouped,) = list(parse_lines([line + "\n"], source=path))
    assert grouped == e


def test_context_variants():
    base = "2018-06-28 16:09:47.011 31854 INFO nova.api.openstack.wsgi "
    e = parse_line(base + f"[{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] hello")
    assert (e.request_id, e.user_id, e.project_id, e.message) == (REQ, USER, PROJECT, "hello")
    e = parse_line(base + "[-] hello")
    assert (e.request_id, e.user_id, e.project_id, e.message) == (None, None, None, "hello")
    e = parse_line(base + f"[None {REQ} admin demo] hello")  # newer oslo.log: global request id first
    assert (e.request_id, e.user_id, e.project_id) == (REQ, "admin", "demo")
    e = parse_line(base + f"[req-11111111-2222-3333-4444-555555555555 {REQ} {USER} {PROJECT} - - -] hi")
    assert (e.request_id, e.user_id, e.project_id, e.message) == (REQ, USER, PROJECT, "hi")
    e = parse_line(base + "[instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a] no context")
    assert e.request_id is None and e.instance_id == "8b5ecea0-620a-4290-864e-1c322ead3e3a"
    assert e.message == "no context"
    e = parse_line(base + "['a', 'list'] is not a context")
    assert e.request_id is None and e.message == "['a', 'list'] is not a context"


def test_service_from_source():
    assert service_from_source("nova/nova-compute.log.bzip2.out") == "nova-compute"
    assert service_from_source("/x/logs/round_1/neutron/server.log.bzip2.out") == "neutron-server"
    assert service_from_source("neutron/openvswitch-agent.log") == "neutron-openvswitch-agent"
    assert service_from_source("cinder/api.log.bzip2.out") == "cinder-api"
    assert service_from_source("glance/registry.log.bzip2.out") == "glance-registry"
    assert service_from_source("heat/heat-engine.log.bzip2.out") == "heat-engine"
    assert service_from_source("nova-api.log.1.2017-05-16_13:53:08") == "nova-api"
    assert service_from_source("/var/log/keystone/keystone.log") == "keystone"
    assert service_from_source("logs/screen-n-cpu.txt") == "nova-compute"
    assert service_from_source("q-svc.log") == "neutron-server"
    assert service_from_source(None) is None and service_from_source("") is None


def test_service_falls_back_to_the_logger():
    e = parse_line("2018-06-28 16:08:53.111 31547 DEBUG nova.compute.manager [-] Starting heal")
    assert e.service == "nova-compute" and e.source is None
    assert service_from_logger("cinder.volume.manager") == "cinder-volume"
    assert service_from_logger("neutron.agent.dhcp.agent") == "neutron"
    assert service_from_logger("oslo_messaging.rpc.server") is None


def test_line_endings_and_colours_are_cleaned():
    line = "2018-06-28 16:08:53.111 31547 \x1b[00;32mDEBUG nova.compute.manager\x1b[00m [-] Starting heal\r\n"
    e = parse_line(line)
    assert e.parse_error is None and e.level == "DEBUG" and e.message == "Starting heal"
    assert "\n" not in e.raw and "\x1b" not in e.raw


# -- broken input -------------------------------------------------------------------

BAD_LINES = {
    "empty": "",
    "blank": "   ",
    "binary": "\x00\x01\x02\xff\xfe\ufffd garbage \x07",
    "truncated header": "2018-06-28 16:08:53.111 31547",
    "truncated in logger": "2018-06-28 16:08:53.111 31547 ERROR",
    "unknown level": "2018-06-28 16:08:53.111 31547 LOUD nova.compute.manager [-] hi",
    "bad date": "2018-13-45 16:08:53.111 31547 INFO nova.compute.manager [-] hi",
    "bad time": "2018-06-28 26:08:53.111 31547 INFO nova.compute.manager [-] hi",
    "bad seconds": "2018-06-28 16:08:5x.111 31547 INFO nova.compute.manager [-] hi",
    "pid not a number": "2018-06-28 16:08:53.111 pid INFO nova.compute.manager [-] hi",
    "free text": "Traceback (most recent call last):",
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_bad_lines_become_events_with_a_reason(name):
    line = BAD_LINES[name]
    e = parse_line(line, source="nova/nova-api.log")
    assert isinstance(e, LogEvent)
    assert e.parse_error
    assert e.message == line and e.raw == line
    assert e.source == "nova/nova-api.log" and e.service == "nova-api"
    (grouped,) = list(parse_lines([line]))  # nothing open: its own event
    assert grouped.parse_error


def test_bytes_are_decoded():
    e = parse_line(b"2018-06-28 16:08:53.111 31547 INFO nova.compute.manager [-] caf\xc3\xa9\n")
    assert e.message == "caf\u00e9"


def test_no_line_is_lost_around_bad_lines():
    good = "2018-06-28 16:08:53.111 31547 INFO nova.compute.manager [-] one"
    lines = [good, "\x00\x01binary", good.replace("one", "two"), "2018-06-28 16:0", good.replace("one", "three")]
    events = list(parse_lines(lines))
    assert [e.parse_error is None for e in events] == [True, False, True, False, True]
    assert "\n".join(e.raw for e in events) == "\n".join(lines)


# -- multi-line records -------------------------------------------------------------

API_TRACEBACK = f"""\
2018-07-02 20:15:13.405 9397 DEBUG nova.compute.api [{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] Going to run 1 instances
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions [{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] Unexpected exception in API method: Exception
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions Traceback (most recent call last):
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions   File "/usr/lib/python2.7/site-packages/nova/api/openstack/extensions.py", line 336, in wrapped
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions     return f(*args, **kwargs)
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions   File "/usr/lib/python2.7/site-packages/nova/compute/api.py", line 1645, in create
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions     tags=tags)
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions   File "/usr/lib/python2.7/site-packages/nova/conductor/api.py", line 90, in schedule_and_build_instances
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions     raise Exception
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions Exception
2018-07-02 20:15:13.453 9397 ERROR nova.api.openstack.extensions 
2018-07-02 20:15:13.457 9397 INFO nova.api.openstack.wsgi [{REQ} {USER} {PROJECT} - {DOMAIN} {DOMAIN}] HTTP exception thrown: Unexpected API Error.
"""


def test_traceback_lines_sharing_a_header_are_one_event():
    events = list(parse_lines(API_TRACEBACK.splitlines(keepends=True), source="nova/nova-api.log.bzip2.out"))
    assert [e.level for e in events] == ["DEBUG", "ERROR", "INFO"]
    tb = events[1]
    assert tb.message == "Unexpected exception in API method: Exception"
    assert tb.request_id == REQ and tb.user_id == USER and tb.service == "nova-api"
    assert tb.line_count == 10
    assert tb.raw == "\n".join(API_TRACEBACK.splitlines()[1:11])
    assert tb.frames == [
        Frame("/usr/lib/python2.7/site-packages/nova/api/openstack/extensions.py", 336, "wrapped"),
        Frame("/usr/lib/python2.7/site-packages/nova/compute/api.py", 1645, "create"),
        Frame("/usr/lib/python2.7/site-packages/nova/conductor/api.py", 90, "schedule_and_build_instances"),
    ]
    assert tb.exception_type == "Exception" and tb.exception_text is None
    assert tb.to_dict()["frames"][2]["function"] == "schedule_and_build_instances"


COMPUTE_TRACEBACK = """\
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [req-fe74ac51-8425-4928-bf60-8ac4dafa1db3 a16abf742d3040fb946d9a55f8dda224 e19b3452e8004a5ea7a02011796745d3 - - -] [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a] Instance failed to spawn
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a] Traceback (most recent call last):
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a]   File "/usr/lib/python2.7/site-packages/nova/compute/manager.py", line 2200, in _build_resources
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a]     yield resources
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a]   File "/usr/lib/python2.7/site-packages/libvirt.py", line 1099, in createWithFlags
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a]     if ret == -1: raise libvirtError ('virDomainCreateWithFlags() failed', dom=self)
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a] libvirtError: operation failed: domain 'instance-00000004' already exists with uuid a9f403e8-2b10-43e7-a4f9-3cd09cd0242b
2018-09-14 12:38:31.993 846 ERROR nova.compute.manager [instance: 8b5ecea0-620a-4290-864e-1c322ead3e3a] 
"""


def test_traceback_with_instance_prefix():
    (e,) = list(parse_lines(COMPUTE_TRACEBACK.splitlines(), source="nova/nova-compute.log.bzip2.out"))
    assert e.instance_id == "8b5ecea0-620a-4290-864e-1c322ead3e3a"
    assert e.message == "Instance failed to spawn"
    assert e.request_id == "req-fe74ac51-8425-4928-bf60-8ac4dafa1db3"
    assert e.line_count == 8
    assert [f.function for f in e.frames] == ["_build_resources", "createWithFlags"]
    assert e.exception_type == "libvirtError"
    assert e.exception_text.startswith("operation failed: domain 'instance-00000004' already exists")


CINDER_WARNING_WITH_TRACEBACK = """\
2018-09-28 23:07:53.730 29147 WARNING cinder.volume.manager [req-240d81d8-9fbc-4273-bb3b-f97562ca1fbc d6caffc8e9bc409da33535a58d388757 1d7a49caf64642f2a9eda81f38073574 - b97320f9e788480c82ebc8eb6f1b32b2 b97320f9e788480c82ebc8eb6f1b32b2] Task 'cinder.volume.flows.manager.create_volume.CreateVolumeFromSpecTask;volume:create' (0d4c7a16) transitioned into state 'FAILURE' from state 'RUNNING'
5 predecessors (most recent first):
  Atom 'cinder.volume.flows.manager.create_volume.NotifyVolumeActionTask;volume:create, create.start' {'intention': 'EXECUTE'}
  |__Flow 'volume_create_manager': ImageCopyFailure: Failed to copy image to volume: qemu-img: Could not open 'None'
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager Traceback (most recent call last):
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager   File "/usr/lib/python2.7/site-packages/taskflow/engines/action_engine/executor.py", line 53, in _execute_task
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager     result = task.execute(**arguments)
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager   File "/usr/lib/python2.7/site-packages/cinder/volume/flows/manager/create_volume.py", line 1006, in execute
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager     **volume_spec)
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager ImageCopyFailure: Failed to copy image to volume: qemu-img: Could not open 'None': No such file or directory
2018-09-28 23:07:53.730 29147 ERROR cinder.volume.manager 
2018-09-28 23:07:53.780 29147 INFO cinder.volume.manager [req-240d81d8-9fbc-4273-bb3b-f97562ca1fbc - - - - -] Next record
"""


def test_warning_with_headerless_lines_and_error_traceback_is_one_event():
    events = list(parse_lines(CINDER_WARNING_WITH_TRACEBACK.splitlines(), source="cinder/volume.log.bzip2.out"))
    assert len(events) == 2
    e = events[0]
    assert e.level == "WARNING" and e.service == "cinder-volume"
    assert e.line_count == 11
    assert e.message.startswith("Task 'cinder.volume.flows.manager.create_volume.CreateVolumeFromSpecTask")
    assert [f.line for f in e.frames] == [53, 1006]
    assert e.exception_type == "ImageCopyFailure"
    assert e.exception_text == "Failed to copy image to volume: qemu-img: Could not open 'None': No such file or directory"
    assert events[1].message == "Next record"


def test_exception_text_over_several_lines_and_dotted_type():
    lines = [
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server [req-a40fe338-0065-4e7d-9402-6671406d7bfb - - - - -] Exception during message handling",
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server Traceback (most recent call last):",
        '2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server   File "/usr/lib/python2.7/site-packages/oslo_concurrency/processutils.py", line 424, in execute',
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server     cmd=sanitized_cmd)",
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server oslo_concurrency.processutils.ProcessExecutionError: Unexpected error while running command.",
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server Command: sudo cinder-rootwrap lvcreate",
        "2018-06-30 00:25:18.444 9291 ERROR oslo_messaging.rpc.server Exit code: 5",
    ]
    (e,) = list(parse_lines(lines))
    assert e.exception_type == "oslo_concurrency.processutils.ProcessExecutionError"
    assert e.exception_text == "Unexpected error while running command.\nCommand: sudo cinder-rootwrap lvcreate\nExit code: 5"
    assert e.frames == [Frame("/usr/lib/python2.7/site-packages/oslo_concurrency/processutils.py", 424, "execute")]


def test_traceback_lines_that_repeat_the_context():
    ctx = f"[None {REQ} admin demo]"
    lines = [
        f"2021-03-01 10:00:00.100 77 ERROR nova.compute.manager {ctx} Error updating resources",
        f"2021-03-01 10:00:00.100 77 ERROR nova.compute.manager {ctx} Traceback (most recent call last):",
        f'2021-03-01 10:00:00.100 77 ERROR nova.compute.manager {ctx}   File "/opt/stack/nova/nova/compute/manager.py", line 1234, in _build',
        f"2021-03-01 10:00:00.100 77 ERROR nova.compute.manager {ctx}     self.driver.spawn()",
        f"2021-03-01 10:00:00.100 77 ERROR nova.compute.manager {ctx} oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply",
    ]
    (e,) = list(parse_lines(lines))
    assert e.frames == [Frame("/opt/stack/nova/nova/compute/manager.py", 1234, "_build")]
    assert e.exception_type == "oslo_messaging.exceptions.MessagingTimeout"
    assert e.exception_text == "Timed out waiting for a reply"
    assert e.request_id == REQ


def test_separate_records_in_the_same_millisecond_stay_separate():
    ctx = "[req-588cebc5-cbbf-4fbf-8ea8-03e9615853c2 - - - - -]"
    lines = [
        f'2018-06-28 16:23:27.124 31855 DEBUG oslo_concurrency.lockutils {ctx} Lock "x" acquired by "f" :: waited 0.000s',
        f'2018-06-28 16:23:27.124 31855 DEBUG oslo_concurrency.lockutils {ctx} Lock "x" released by "f" :: held 0.000s',
        "2018-06-28 16:23:27.124 31855 DEBUG oslo_concurrency.lockutils [-] Lock \"y\" acquired",
    ]
    events = list(parse_lines(lines))
    assert [e.line_count for e in events] == [1, 1, 1]
    assert [e.raw for e in events] == lines


def test_headerless_lines_continue_a_multi_line_message():
    lines = [
        "2018-09-30 08:54:41.829 4081 DEBUG neutron.agent.metadata.agent [-] Request: GET /2009-04-04/meta-data/instance-id HTTP/1.0",
        "Accept: */*",
        "Connection: close",
        "",
        "2018-09-30 08:54:41.900 4081 DEBUG neutron.agent.metadata.agent [-] next",
    ]
    events = list(parse_lines(lines, source="neutron/metadata-agent.log.bzip2.out"))
    assert [e.line_count for e in events] == [4, 1]
    assert events[0].message == "Request: GET /2009-04-04/meta-data/instance-id HTTP/1.0"
    assert events[0].raw == "\n".join(lines[:4])
    assert events[0].frames == [] and events[0].exception_type is None


def test_grouper_feed_and_flush():
    g = RecordGrouper("nova/nova-api.log")
    lines = API_TRACEBACK.splitlines()
    done = []
    for line in lines:
        done.extend(g.feed(line))
    assert [e.level for e in done] == ["DEBUG", "ERROR"]  # the INFO record is still open
    (last,) = g.flush()
    assert last.level == "INFO" and g.flush() == []


def test_parse_lines_fast_path_equals_the_grouper():
    """parse_lines handles the usual line inline; the result must be exactly
    feed-every-line-then-flush, on every kind of line and in any order."""
    tricky = [
        *API_TRACEBACK.splitlines(), *COMPUTE_TRACEBACK.splitlines(),
        *CINDER_WARNING_WITH_TRACEBACK.splitlines(), *BAD_LINES.values(),
        "2018-06-28 16:08:53.111 31547 INFO nova.compute.manager [None req-1 u p - - -] global id first",
        "2018-06-28 16:08:53.111 31547 INFO nova.compute.manager [req-g req-1 u p - - -] two request ids",
        "2018-06-28 16:08:53.112 31547 INFO nova.compute.manager [-] [instance: abc] no context",
        "2018-06-28 16:08:53.112 31547 INFO nova.compute.manager [instance: abc] instance only",
        "2018-06-28 16:08:53.113 31547 INFO nova.compute.manager [req-1 - -] short context",
        "2018-06-28 16:08:53.113 31547 INFO nova.compute.manager [req-1 u p d ud pd no closing bracket",
        "2018-06-28 16:08:53.114 31547 INFO nova.compute.manager",
        "2018-06-28 16:08:53.114 31547 INFO nova.compute.manager ",
        "nova-api.log.1 2018-06-28 16:08:53.115 31547 INFO nova.api [req-1 u p - - -] with a field",
        " 2018-06-28 16:08:53.115 31547 INFO nova.api [-] leading space",
        "2018-06-28 16:08:53.116 \u0663 INFO nova.api [-] arabic-indic pid",
        "2018-06-28 16:08:53.116 31547 INFO nova.api [-] crlf\r\n",
        b"2018-06-28 16:08:53.117 31547 INFO nova.api [-] bytes",
    ]
    rng = random.Random(7)
    for order in range(20):
        lines = list(tricky)
        if order:
            rng.shuffle(lines)
        grouper = RecordGrouper("nova/nova-api.log")
        expected = [e for line in lines for e in grouper.feed(line)] + grouper.flush()
        got = list(parse_lines(lines, source="nova/nova-api.log"))
        assert [e.to_dict() for e in got] == [e.to_dict() for e in expected]


# -- real data ------------------------------------------------------------------------

def test_loghub_sample_matches_its_structured_fields():
    if not LOGHUB_DIR.is_dir():
        pytest.skip(f"shared data not found at {LOGHUB_DIR} (a fresh clone has no ../shared)")
    lines = (LOGHUB_DIR / "OpenStack_2k.log").read_text().splitlines()
    with open(LOGHUB_DIR / "OpenStack_2k.log_structured.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    events = list(parse_lines(lines))
    assert len(events) == len(rows) == 2000
    for e, row in zip(events, rows):
        assert e.parse_error is None
        assert e.pid == int(row["Pid"]) and e.level == row["Level"] and e.logger == row["Component"]
        assert e.timestamp == pytest.approx(epoch(f"{row['Date']} {row['Time']}"))
        addr = row["ADDR"].split(" ")
        assert e.request_id == (addr[0] if addr[0] != "-" else None)
        content = row["Content"]
        if e.instance_id:
            assert content.startswith(f"[instance: {e.instance_id}] ")
            content = content[len(f"[instance: {e.instance_id}] "):]
        assert e.message == content
        assert e.service in ("nova-api", "nova-compute", "nova-scheduler")
