"""Decoding messages: good events, raw lines, continuations, keys, and every rejection reason."""
import random
import time

import orjson
import pytest

import schemas
from config.settings import WorkerSettings
from consumers.ingest import Joined, CONTINUATION, Decoder, Rejected, decode_value
from schemas.log_event import LogEvent

RAW = ("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
       "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 "
       "54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 \"GET /v2/x/servers/detail HTTP/1.1\" status: 200")
SPAWN = ("2017-05-16 00:00:05.100 2931 ERROR nova.compute.manager [req-aa 11 22 - - -] "
         "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] Instance failed to spawn")
LOCK = "2017-05-16 00:00:06.000 2931 DEBUG oslo_concurrency.lockutils [-] Lock \"x\" released"
KEY = b"compute-1:/var/log/nova/nova-compute.log"


def decoder(**kw) -> Decoder:
    return Decoder(WorkerSettings(max_message_bytes=kw.pop("max_message_bytes", 10_000), **kw))


def event(ts: str = "2017-05-16T00:00:00.008Z", **fields) -> bytes:
    return orjson.dumps({"schema_version": 1, "timestamp": ts, "message": "m", **fields})


def test_json_event_is_decoded():
    msg = schemas.examples("log_event")[0]
    ev = decoder().decode(orjson.dumps(msg), None)
    assert isinstance(ev, LogEvent) and ev.service == "nova-api" and ev.timestamp is not None


def test_raw_line_is_parsed():
    ev = decoder().decode(RAW.encode(), None)
    assert isinstance(ev, LogEvent)
    assert ev.level == "INFO" and ev.request_id == "req-38101a0b-2096-447d-96ea-a692162415ae"


@pytest.mark.parametrize("value,reason", [
    (orjson.dumps({"schema_version": 1, "message": "no timestamp"}), "schema_violation"),
    (orjson.dumps({"schema_version": 1, "timestamp": "yesterday", "message": "x"}), "schema_violation"),
    (orjson.dumps({"message": "x", "timestamp": "2017-05-16T00:00:00Z"}), "schema_violation"),
    (event("2017-02-30T00:00:00Z"), "schema_violation"),
    (b"\xff\xfe\x00bad", "not_utf8"),
    (b"x" * 101, "oversize"),
    (b"   ", "empty"),
    ("\u2003\u3000".encode(), "empty"),
    (None, "empty"),
    (b"2017-05-16 00:00:00.008 1 INFO a [-] nul\x00here", "not_utf8"),
])
def test_malformed_values_are_rejected_with_reason(value, reason):
    out = decoder(max_message_bytes=100).decode(value, None)
    assert isinstance(out, Rejected) and out.reason == reason and out.error


@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0000-01-01T00:00:00Z",
                                "0001-01-01T00:00:00+01:00", "1999-12-31T23:59:59Z", "1970-01-01T00:00:00Z"])
def test_timestamps_out_of_the_sane_range_are_rejected(ts):
    out = decoder().decode(event(ts), b"h")
    assert isinstance(out, Rejected) and out.reason == "timestamp_out_of_range", out


def test_future_bound_follows_the_wall_clock_and_settings():
    now = 2_000_000_000.0
    d = Decoder(WorkerSettings(max_future_seconds=3600), clock=lambda: now)
    assert isinstance(d.decode(event("2033-05-18T03:33:19Z"), None), LogEvent)    # now - 1 s
    assert isinstance(d.decode(event("2033-05-18T04:33:19Z"), None), LogEvent)    # now + 59:59
    assert d.decode(event("2033-05-18T04:34:21Z"), None).reason == "timestamp_out_of_range"
    late = Decoder(WorkerSettings(min_event_time="2017-05-16T00:00:01Z"))
    assert late.decode(RAW.encode(), None).reason == "timestamp_out_of_range"
    assert isinstance(late.decode(event("2017-05-16T00:00:02Z"), None), LogEvent)


def test_unparsable_year_does_not_raise():
    out = decoder().decode(event("+10000-01-01T00:00:00Z"), None)
    assert isinstance(out, Rejected) and out.reason == "schema_violation"
    raw = decoder().decode(RAW.replace("2017-05-16", "9999-12-31").encode(), None)
    assert isinstance(raw, Rejected) and raw.reason == "timestamp_out_of_range"
    assert isinstance(decoder().decode(RAW.replace("2017-05-16", "+10000-12-31").encode(), None), LogEvent)


@pytest.mark.parametrize("line", [
    "{'flavor': {'id': 1, 'name': 'm1.tiny'}, 'image': None}",      # pprint dump
    '{"server": {"name": "vm-1", "flavorRef": "1"}}',               # a logged request body
    '[{"port_id": "x"}]',                                            # a JSON list
    "{not json",
    '{"message": "cut off',
    "[req-1] not a log",
    "  File \"/opt/stack/nova/nova/compute/manager.py\", line 2192, in _build_resources",
    "Traceback (most recent call last):",
    "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply",
])
def test_raw_lines_are_events_never_dead_letters(line):
    d = decoder()
    for key in (None, b"h", KEY):
        ev = d.decode(line.encode() + b"\n", key)
        assert isinstance(ev, LogEvent), ev
        assert ev.message == line and ev.timestamp is None and ev.parse_error


def test_orphan_continuation_joins_the_last_record_of_its_key():
    d = decoder()
    first = d.decode(SPAWN.encode(), KEY)
    assert first.instance_id and first.host == "compute-1" and first.service == "nova-compute"
    d.decode(RAW.encode(), b"other-host")           # another key in between changes nothing
    lines = ("{'status': 'ERROR', 'fault': {'code': 500}}", '{"port": {"id": "p"}}',
             "    raise exception.PortBindingFailed(port_id=port_id)")
    for line in lines:
        joined = d.decode(line.encode(), KEY)
        assert isinstance(joined, Joined) and joined.event is first
        alone = joined.alone()                      # the line as its own event, if the record's window closed
        assert alone.parse_error == CONTINUATION and alone.message == line   # indentation kept
        for f in ("timestamp", "service", "host", "level", "logger", "pid", "request_id", "instance_id"):
            assert getattr(alone, f) == getattr(first, f), f
    assert first.raw.split("\n")[1:] == list(lines) and first.line_count == 4
    orphan = d.decode(b"{'status': 'ERROR'}", b"compute-2:/var/log/neutron/server.log")
    assert orphan.timestamp is None and orphan.host == "compute-2" and orphan.service == "neutron-server"
    assert d.decode(b"  dangling", None).timestamp is None   # no key: nothing to join


TRACEBACK = """2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [req-9 admin admin] [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] Instance failed to spawn
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] Traceback (most recent call last):
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11]   File "/opt/stack/nova/nova/compute/manager.py", line 2192, in _build_resources
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11]     yield resources
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11]   File "/opt/stack/nova/nova/virt/libvirt/driver.py", line 3120, in spawn
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11]     raise exception.PortBindingFailed(port_id=port_id)
2019-08-01 10:00:00.123 1234 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] PortBindingFailed: Binding failed for port p
2019-08-01 10:00:01.000 1234 INFO nova.compute.manager [req-9 admin admin] Terminating instance"""


def test_a_traceback_sent_one_line_per_message_is_one_record_as_in_a_file():
    """What kcat or a shipper without multiline settings sends: each line of a traceback alone,
    every one with the record's header. They join the record, which ends with the same frames
    and exception as the file parser gives."""
    from engine.parsing import parse_lines

    d = decoder()
    outs = [d.decode(line.encode(), KEY) for line in TRACEBACK.splitlines()]
    assert [type(o).__name__ for o in outs] == ["LogEvent"] + ["Joined"] * 6 + ["LogEvent"]
    record, expected = outs[0], list(parse_lines(TRACEBACK.splitlines(), "/var/log/nova/nova-compute.log"))[0]
    assert all(o.event is record for o in outs[1:7])
    assert (record.frames, record.exception_type, record.exception_text, record.line_count, record.raw) == \
        (expected.frames, expected.exception_type, expected.exception_text, expected.line_count, expected.raw)
    assert outs[-1].message == "Terminating instance"
    # a line of another record's header never joins: the next record starts
    assert isinstance(d.decode(TRACEBACK.splitlines()[1].encode(), KEY), LogEvent)


def test_continuation_joins_a_json_record_and_the_lru_is_bounded():
    d = decoder(continuation_keys=2)
    for k in (b"a", b"b"):
        d.decode(event(host=k.decode(), instance_id="i-" + k.decode()), k)
    d.decode(event(), b"a")                          # 'a' used: 'b' is now the oldest
    d.decode(event(), b"c")                          # evicts 'b'
    assert d.decode(b"  tail", b"a").timestamp is not None
    assert d.decode(b"  tail", b"b").timestamp is None
    assert len(d._last) == 2


def test_key_fills_host_and_service_when_missing():
    d = decoder()
    ev = d.decode(LOCK.encode(), KEY)
    assert (ev.host, ev.service, ev.source) == ("compute-1", "nova-compute", "/var/log/nova/nova-compute.log")
    assert d.decode(LOCK.encode(), None).service is None
    ev = d.decode(event(), b"net-3:/var/log/neutron/openvswitch-agent.log")
    assert (ev.host, ev.service) == ("net-3", "neutron-openvswitch-agent")
    ev = d.decode(event(host="h0", service="nova-api"), KEY)
    assert (ev.host, ev.service) == ("h0", "nova-api")  # the event's own fields win
    ev = d.decode(RAW.encode(), b"ctl-1")             # host only; the logger names the service
    assert (ev.host, ev.service) == ("ctl-1", "nova-api")


def test_a_grouped_multiline_record_is_one_event_with_frames():
    lines = [SPAWN, SPAWN.replace("[req-aa 11 22 - - -] ", "") .replace("Instance failed to spawn",
             "Traceback (most recent call last):"),
             '  File "/opt/stack/nova/nova/compute/manager.py", line 2192, in _build_resources',
             "    yield resources",
             "PortBindingFailed: Binding failed for port 1f0e"]
    ev = decoder().decode("\n".join(lines).encode(), KEY)
    assert isinstance(ev, LogEvent) and ev.parse_error is None and ev.line_count == 5
    assert ev.frames and ev.frames[0].line == 2192 and ev.host == "compute-1"
    dump = decoder().decode(b"{'a': 1,\n 'b': 2}", None)
    assert isinstance(dump, LogEvent) and dump.message == "{'a': 1,\n 'b': 2}"


def test_decode_value_is_kept_for_topic_readers():
    assert isinstance(decode_value(RAW.encode(), 10_000), LogEvent)
    assert decode_value(b"x" * 11, 10).reason == "oversize"


def test_no_value_raises():
    rnd = random.Random(7)
    d = decoder()
    pieces = [b"{", b"}", b"[", b"\"", b"\n", b"  ", b"\xff", b"\x00", b"2017-05-16 ", b"00:00:00.008 ",
              b"1 ", b"INFO ", b"a.b ", b"[-] ", b"\"timestamp\": ", b"\"message\": ", b"9999", b"+1", b":"]
    for _ in range(3000):
        value = b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(12)))
        key = rnd.choice([None, b"", b":", b"h:", b":/x.log", KEY, b"\xff:\xfe"])
        assert isinstance(d.decode(value, key), (LogEvent, Rejected))


def test_decoding_stays_fast():
    d = decoder()
    values = [RAW.encode(), SPAWN.encode(), orjson.dumps(schemas.examples("log_event")[0])] * 2000
    started = time.perf_counter()
    for v in values:
        d.decode(v, KEY)
    per_s = len(values) / (time.perf_counter() - started)
    assert per_s > 20_000, per_s   # loose: a shared 2-core host; the point is no per-message blow-up
