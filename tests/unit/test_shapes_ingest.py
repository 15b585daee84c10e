"""The worker reads every pipeline's shape: decoder, pipeline, dead letters, metrics (no Kafka)."""
from datetime import datetime, timezone

import orjson
import pytest
from prometheus_client import generate_latest

from config.settings import WorkerSettings
from consumers.ingest import Decoder, Joined, Rejected
from consumers.metrics import registry_for
from consumers.pipeline import Pipeline
from engine.shapes import Pending
from engine.shapes.encode import RawRecord, encode
from schemas.log_event import LogEvent

LINE = ("2026-12-05 02:07:47.359 26323 ERROR nova.compute.manager [req-3c1b 6f8d a1b2 - - -] "
        "[instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] Instance failed to spawn")
TRACEBACK = LINE + "".join(
    f"\n2026-12-05 02:07:47.359 26323 ERROR nova.compute.manager [instance: 8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11] {t}"
    for t in ("Traceback (most recent call last):",
              '  File "/opt/stack/nova/nova/compute/manager.py", line 2192, in _build_resources',
              "    yield resources",
              '  File "/opt/stack/nova/nova/virt/libvirt/driver.py", line 3120, in spawn',
              "    raise exception.PortBindingFailed(port_id=port_id)",
              "PortBindingFailed: Binding failed for port p"))
T0 = datetime(2026, 12, 5, 2, 7, 47, 359000, tzinfo=timezone.utc).timestamp()


def decoder() -> Decoder:
    return Decoder(WorkerSettings(max_message_bytes=100_000))


def events_of(messages, d=None) -> list[LogEvent]:
    d = d or decoder()
    out = []
    for key, value, arrival in messages:
        got = d.decode(value, key, arrival)
        assert not isinstance(got, Rejected), got
        if isinstance(got, LogEvent):
            out.append(got)
    return out


def test_unknown_json_log_record_is_its_own_dead_letter_with_its_keys():
    out = decoder().decode(orjson.dumps({"msg": "hello", "lvl": "info", "ts": 1}), None)
    assert isinstance(out, Rejected) and out.reason == "unknown_shape" and "lvl, msg, ts" in out.error
    # our own schema's keys only: still a violation of it, as before
    assert decoder().decode(orjson.dumps({"message": "x", "timestamp": "2017-05-16T00:00:00Z"}),
                            None).reason == "schema_violation"
    # a logged body (no log record field) is still a raw line
    assert isinstance(decoder().decode(b'{"server": {"name": "vm-1"}}', None), LogEvent)


def test_record_metadata_wins_over_the_kafka_key():
    rec = RawRecord(LINE, "compute-7", "nova/nova-compute.log", T0)
    key, value, _ = encode("vector", rec)[0]
    ev = decoder().decode(value, b"shipper-box:/var/log/other/thing.log")
    assert (ev.host, ev.service, ev.shape, ev.level, ev.request_id) == ("compute-7", "nova-compute", "vector",
                                                                        "ERROR", "req-3c1b")


@pytest.mark.parametrize("shape", ["journald_stdout", "fluentbit_docker", "cri", "tripleo_rsyslog", "rfc3164"])
def test_a_traceback_split_over_messages_becomes_one_record(shape):
    d = decoder()
    got = [d.decode(v, k, a) for k, v, a in encode(shape, RawRecord(TRACEBACK, "ctl1", "nova/nova-compute.log", T0))]
    assert isinstance(got[0], LogEvent) and all(isinstance(g, Joined) and g.event is got[0] for g in got[1:])
    ev = got[0]
    assert ev.line_count == 7 and [f.function for f in ev.frames] == ["_build_resources", "spawn"]
    assert ev.exception_type == "PortBindingFailed" and ev.timestamp == pytest.approx(T0)
    assert (ev.host, ev.service, ev.instance_id) == ("ctl1", "nova-compute", "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11")


def test_cri_partial_line_waits_for_its_end_through_the_pipeline():
    p = Pipeline(WorkerSettings())
    long = LINE + " " + "x" * 300
    pieces = encode_cri(long, 100)
    assert [v.split(b" ")[2] for _, v, _ in pieces] == [b"P", b"P", b"P", b"P", b"F"]
    for i, (key, value, _) in enumerate(pieces):
        out = p.handle(value, key, 0, i, None)
        assert not out.rejected
    assert p.counters.events == 1 and p.decoder.shape_counts == {"cri": 5}
    window = p.windows.close_all("shutdown")
    assert window[0].items[0].event.message.endswith("x" * 300)


def encode_cri(text, max_line):
    from engine.shapes.encode import _cri
    return _cri(RawRecord(text, "ctl1", "nova/nova-compute.log", T0), max_line)


def test_rfc3164_takes_its_year_from_the_broker_time():
    value = b"<131>Dec 31 23:59:58 ctl1 nova-compute[1]: " + LINE[24:].encode()
    p = Pipeline(WorkerSettings())
    arrival_ms = int(datetime(2026, 1, 1, 0, 0, 2, tzinfo=timezone.utc).timestamp() * 1000)
    p.handle(value, None, 0, 0, arrival_ms)
    ev = p.windows.close_all("shutdown")[0].items[0].event
    assert datetime.fromtimestamp(ev.timestamp, timezone.utc).year == 2025 and ev.shape == "rfc3164"


def test_results_say_which_shapes_fed_the_window_and_metrics_count_by_shape():
    p = Pipeline(WorkerSettings())
    rec = RawRecord(LINE, "ctl1", "nova/nova-compute.log", T0)
    offset = 0
    for shape in ("raw", "kolla_fluentd", "journald"):
        for key, value, _ in encode(shape, rec):
            p.handle(value, key, 0, offset, None)
            offset += 1
    p.handle(orjson.dumps({"msg": "x", "level": "info"}), None, 0, offset, None)
    results = p.results(p.windows.close_all("shutdown"))   # validated against rca_result (conftest)
    assert sorted(s for r in results for s in r["shapes"]) == ["journald", "kolla_fluentd", "raw"]
    text = generate_latest(registry_for(p, "app")).decode()
    for shape, n in (("raw", 1), ("kolla_fluentd", 1), ("journald", 1), ("unknown", 1)):
        assert f'rca_messages_by_shape_total{{shape="{shape}"}} {n}.0' in text
    assert p.counters.dead_letters["unknown_shape"] == 1


def test_raw_lines_decode_as_before():
    d = decoder()
    ev = d.decode(LINE.encode(), b"compute-1:/var/log/nova/nova-compute.log")
    assert ev.shape == "raw" and ev.host == "compute-1" and d.stream == b"compute-1:/var/log/nova/nova-compute.log"
    assert isinstance(d.decode(b"  dangling", None), LogEvent)
    assert decoder().decode(b"2026-12-05T02:13:12.385Z|00001|vlog|INFO|opened log file", None).shape == "raw"


def test_pending_is_not_an_event():
    d = decoder()
    assert isinstance(d.decode(b"2026-12-05T02:07:47.360000000Z stdout P partial", b"k"), Pending)
