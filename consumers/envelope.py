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
keys) is not split: ``None``, so the whole value goes on as one record and
becomes one dead letter with its original bytes: with a ``schema_version`` it
fails the log event schema; without one, when it looks like an envelope
(``is_envelope_like``: a ``records`` list and no key the envelope schema
lacks), the decoder rejects it with the envelope schema's error
(``envelope_error``), since every JSON message carries ``schema_version``. A
logged request body that merely has a ``records`` key beside others (a DNS
record set) stays a raw line. Nothing is dropped silently.

Cost: a one-record JSON event (no ``"records"`` key, no line break inside) is
recognised by two substring scans and never parsed here; only envelopes and
multi-line values are parsed (orjson).
"""
from __future__ import annotations

import orjson

import schemas

_RECORDS_KEY = b'"records"'
_WHITESPACE = b" \t\r\n"
_ENVELOPE_KEYS = frozenset(schemas.schema("log_batch")["properties"])   # schema_version, records


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


def is_envelope_like(obj: dict) -> bool:
    """A JSON object that can only be meant as a batch envelope: a ``records`` key, and no key
    beside it that the envelope schema does not have."""
    return "records" in obj and _ENVELOPE_KEYS.issuperset(obj)


def envelope_error(obj: dict) -> str:
    """Why `obj` is not a batch envelope (the schema's first error)."""
    try:
        schemas.validate("log_batch", obj)
    except schemas.SchemaError as exc:
        return str(exc)
    return "log_batch: not an envelope"


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
