"""Decoding messages: good events, raw lines, and every dead-letter reason."""
import base64

import orjson
import pytest

import schemas
from consumers.ingest import Rejected, dead_letter, decode_value
from schemas.log_event import LogEvent

RAW = ("2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
       "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 "
       "54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 \"GET /v2/x/servers/detail HTTP/1.1\" status: 200")


def test_json_event_is_decoded():
    msg = schemas.examples("log_event")[0]
    ev = decode_value(orjson.dumps(msg), 10_000)
    assert isinstance(ev, LogEvent) and ev.service == "nova-api" and ev.timestamp is not None


def test_raw_line_is_parsed():
    ev = decode_value(RAW.encode(), 10_000)
    assert isinstance(ev, LogEvent)
    assert ev.level == "INFO" and ev.request_id == "req-38101a0b-2096-447d-96ea-a692162415ae"


@pytest.mark.parametrize("value,reason", [
    (b"{not json", "bad_json"),
    (orjson.dumps({"schema_version": 1, "message": "no timestamp"}), "schema_violation"),
    (orjson.dumps({"schema_version": 1, "timestamp": "yesterday", "message": "x"}), "schema_violation"),
    (b"\xff\xfe\x00bad", "not_utf8"),
    (b"x" * 101, "oversize"),
    (b"   ", "empty"),
    (None, "empty"),
])
def test_malformed_values_are_rejected_with_reason(value, reason):
    out = decode_value(value, 100)
    assert isinstance(out, Rejected) and out.reason == reason and out.error


def test_dead_letter_keeps_original_bytes_and_validates():
    letter = dead_letter(Rejected("bad_json", "boom"), "openstack.logs", 2, 17, b"k", b"\xff{")
    schemas.validate("dead_letter", letter)
    assert base64.b64decode(letter["value_b64"]) == b"\xff{" and letter["source_offset"] == 17
