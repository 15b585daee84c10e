"""Batch envelopes and NDJSON on openstack.logs: split into records decoded like one-record messages."""
import orjson
import pytest

import schemas
from consumers.envelope import split_records
from consumers.ingest import Rejected, decode_value
from schemas.log_event import LogEvent

RAW = ("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
       "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 "
       "54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 \"GET /v2/x/servers/detail HTTP/1.1\" status: 200")
EVENT = {"schema_version": 1, "timestamp": "2019-08-01T10:00:00.123", "service": "nova-compute", "host": "cmp-1",
         "level": "INFO", "logger": "nova.compute.manager", "message": "Took 1.5 seconds to spawn the instance."}


def decoded(records: list[bytes]) -> list:
    return [decode_value(r, 1_000_000) for r in records]


def test_one_record_messages_are_not_envelopes():
    assert split_records(orjson.dumps(EVENT)) is None
    assert split_records(orjson.dumps(EVENT) + b"\n") is None        # a trailing newline is still one record
    assert split_records(RAW.encode()) is None
    assert split_records(b"") is None and split_records(None) is None
    assert split_records(b"{not json") is None                        # one record, decoded as usual
    assert split_records(b"[1, 2]") is None


def test_envelope_records_decode_like_one_record_messages():
    value = orjson.dumps({"schema_version": 1, "records": [EVENT, RAW, {**EVENT, "message": "second"}]})
    records = split_records(value)
    assert records is not None and len(records) == 3
    assert records[1] == RAW.encode()
    assert records[0] == orjson.dumps(EVENT)
    events = decoded(records)
    assert all(isinstance(e, LogEvent) for e in events)
    assert [e.message for e in events] == [EVENT["message"], events[1].message, "second"]
    assert events[1].request_id == "req-38101a0b-2096-447d-96ea-a692162415ae"
    assert events[0] == decode_value(orjson.dumps(EVENT), 1_000_000)


def test_bad_record_in_a_valid_envelope_is_its_own_dead_letter():
    bad = {"schema_version": 1, "message": "no timestamp"}
    records = split_records(orjson.dumps({"schema_version": 1, "records": [EVENT, bad, ""]}))
    out = decoded(records)
    assert isinstance(out[0], LogEvent)
    assert isinstance(out[1], Rejected) and out[1].reason == "schema_violation"
    assert isinstance(out[2], Rejected) and out[2].reason == "empty"


@pytest.mark.parametrize("example", schemas.examples("log_batch", "invalid"))
def test_broken_envelope_is_one_record_that_is_dead_lettered(example):
    value = orjson.dumps(example)
    assert split_records(value) is None
    out = decode_value(value, 1_000_000)
    # a JSON object that claims a schema and follows none, or an envelope without its schema_version
    # (every JSON message carries one): a dead letter, never a raw line
    assert isinstance(out, Rejected) and out.reason == "schema_violation"


def test_an_envelope_without_schema_version_is_a_dead_letter_that_says_so():
    value = orjson.dumps({"records": [EVENT, RAW]})
    assert split_records(value) is None
    out = decode_value(value, 1_000_000)
    assert isinstance(out, Rejected) and out.reason == "schema_violation"
    assert "log_batch" in out.error and "schema_version" in out.error


def test_a_logged_body_with_a_records_key_among_others_stays_a_raw_line():
    body = orjson.dumps({"name": "www.example.org.", "type": "A", "records": ["10.0.0.1"]})
    out = decode_value(body, 1_000_000)
    assert isinstance(out, LogEvent) and out.message == body.decode()


@pytest.mark.parametrize("example", schemas.examples("log_batch", "valid"))
def test_shipped_examples_split(example):
    records = split_records(orjson.dumps(example))
    assert records is not None and len(records) == len(example["records"])
    assert all(isinstance(e, LogEvent) for e in decoded(records))


def test_ndjson_lines_are_records():
    lines = [orjson.dumps({**EVENT, "message": f"event {i}"}) for i in range(3)]
    for sep in (b"\n", b"\r\n"):
        value = sep.join(lines) + sep + b"\n"
        records = split_records(value)
        assert records == lines
        assert [e.message for e in decoded(records)] == ["event 0", "event 1", "event 2"]


def test_ndjson_bad_line_is_one_dead_letter():
    value = orjson.dumps(EVENT) + b'\n{"schema_version": 1}\n' + orjson.dumps(EVENT)
    out = decoded(split_records(value))
    assert [type(o) for o in out] == [LogEvent, Rejected, LogEvent] and out[1].reason == "schema_violation"


def test_pretty_printed_event_is_one_record():
    value = orjson.dumps(EVENT, option=orjson.OPT_INDENT_2)
    assert b"\n" in value
    assert split_records(value) is None
    assert isinstance(decode_value(value, 1_000_000), LogEvent)


def test_event_mentioning_records_is_one_record():
    one = {**EVENT, "message": "records", "logger": "records"}
    assert split_records(orjson.dumps(one)) is None
    assert split_records(orjson.dumps({**one, "records": 3})) is None   # not an envelope: dead-lettered as one


def test_envelope_with_non_ascii_raw_lines():
    line = RAW + " caf\u00e9 \u2603"
    records = split_records(orjson.dumps({"schema_version": 1, "records": [line]}))
    assert records == [line.encode("utf-8")]
    assert isinstance(decode_value(records[0], 1_000_000), LogEvent)
