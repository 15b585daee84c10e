"""Many records in one openstack.logs message (pure logic, no Kafka).

Two forms are accepted beside the usual one record per message:

- the batch envelope of ``schemas/log_batch.schema.json``:
  ``{"schema_version": 1, "records": [<log event object or raw line string>, ...]}``;
- NDJSON: several JSON log event objects, one per line.

``split_records(value)`` says which: ``None`` when the value is not an envelope
(decode it as one record, as before), else the records, each as bytes to be
decoded exactly like a one-record message (``consumers.ingest.decode_value``),
so each record is validated on its own and a bad one is one dead letter.

An object with a ``records`` key that breaks the envelope schema (no or wrong
``schema_version``, records not a non-empty list of objects and strings, extra
keys) is not split: ``None``, so the whole value goes on as one record, fails
the log event schema and becomes one dead letter with its original bytes.
Nothing is dropped silently.

Cost: a one-record JSON event (no ``"records"`` key, no line break inside) is
recognised by two substring scans and never parsed here; only envelopes and
multi-line values are parsed (orjson).
"""
from __future__ import annotations

import orjson

import schemas

_RECORDS_KEY = b'"records"'
_WHITESPACE = b" \t\r\n"


def split_records(value: bytes | None) -> list[bytes] | None:
    """The records of a batch envelope or NDJSON value, or None if `value` is one record."""
    if not value:
        return None
    head = value.lstrip(_WHITESPACE)[:1]
    if head != b"{":
        return None   # a raw line (or a JSON array, a scalar): one record
    if _RECORDS_KEY in value:
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            return _ndjson(value)
        if type(obj) is dict and "records" in obj:
            return _envelope(obj)
        return None   # one log event that merely mentions "records"
    if b"\n" in value.rstrip(_WHITESPACE):
        return _ndjson(value)
    return None


def _envelope(obj: dict) -> list[bytes] | None:
    if not schemas.is_valid("log_batch", obj):
        return None
    dumps = orjson.dumps
    return [r.encode("utf-8") if type(r) is str else dumps(r) for r in obj["records"]]


def _ndjson(value: bytes) -> list[bytes] | None:
    """Non-empty lines of `value` when it holds two or more; None for one JSON document
    spread over several lines (a pretty-printed event) or a single line."""
    lines = [line for line in value.split(b"\n") if line.strip(_WHITESPACE)]
    if len(lines) < 2:
        return None
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return [line.rstrip(b"\r") for line in lines]
    return None   # the whole value is one JSON document (e.g. indented): one record
