"""Log shapes: recognise how a pipeline shipped a record and unwrap it to oslo.log text + metadata.

Clouds ship OpenStack's logs in many shapes (../shared/formats.md: oslo.log JSON, journald,
kolla's fluentd, Fluent Bit and CRI, Vector, Filebeat, TripleO's rsyslog JSON, rsyslog and
syslog-ng text, RFC 3164/5424). The worker must read them all with no configuration and give
each record the event fields its raw line would give. This package is pure (no Kafka):

- `decode.ShapeReader`: detection by cheap checks (a key or two, the first characters), one
  small decoder per shape, nested shapes unwrapped to the innermost record (an oslo.log line in
  a syslog message in Fluent Bit's ``log``); returns a `record.Shaped` (text + metadata) that
  consumers/ingest.py parses with engine.parsing, as it parses a raw line.
- `syslog.split_syslog`: the syslog header splitter (RFC 3164 with its year from the arrival
  time, RFC 5424, ISO-8601 prefixed), also used by the infrastructure grammars.
- `encode.encode`: a raw record as each pipeline would ship it (`rca eval --stream --shape`,
  the property test tests/unit/test_shapes_property.py).

A raw oslo.log line (text starting with a date and a space) never comes here: the worker
checks that first, so the common case pays nothing for the others.
"""
from engine.shapes.decode import LOG_MARKERS, SHAPES, ShapeReader, shape_of_object
from engine.shapes.record import Pending, Shaped
from engine.shapes.syslog import split_syslog

__all__ = ["ShapeReader", "Shaped", "Pending", "SHAPES", "LOG_MARKERS", "shape_of_object", "split_syslog"]
