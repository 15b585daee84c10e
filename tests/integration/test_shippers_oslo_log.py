"""oslo.log's own JSON and Fluent formatters, shipped one record per Kafka message.

A real oslo.log logger (PyPI) with a real RequestContext and a real exception formats
the scenario of tests/integration/shippers.py with `oslo_log.formatters.JSONFormatter`
(`use_json = True`) and `FluentFormatter`; confluent-kafka produces each record as one
message keyed `host:path`, as a file shipper with a JSON line codec does. Checks: one
event per record with its time, level, service, host, request id and frames; the
worker's incident names the module the same records name as raw text lines.
"""
from __future__ import annotations

import socket
import sys

import pytest

from tests.integration import shippers

pytestmark = pytest.mark.integration


NOVA_COMPUTE_ARGV = ["/usr/bin/nova-compute", "--config-file", "/etc/nova/nova.conf"]


@pytest.fixture
def oslo_records(tmp_path, monkeypatch):
    """(JSON records, Fluent records, text records, expectations) of one logging of the scenario."""
    conf = shippers.oslo_conf()
    as_json = shippers.Collect(shippers.formatters.JSONFormatter(datefmt=conf.log_date_format))
    # FluentFormatter records the process's command line (`cmdline`): nova-compute's, not pytest's;
    # no datefmt, as openstack-helm's logging.conf declares it (`time` keeps its milliseconds)
    monkeypatch.setattr(sys, "argv", NOVA_COMPUTE_ARGV)
    as_fluent = shippers.Collect(shippers.formatters.FluentFormatter())
    monkeypatch.undo()
    as_text = shippers.Collect(shippers.text_formatter(conf))
    records = shippers.log_scenario(tmp_path, [as_json, as_fluent, as_text])
    return as_json.out, as_fluent.out, as_text.out, records


@pytest.mark.parametrize("shape", ["json", "fluent"])
def test_oslo_log_formatters_through_kafka(shape, oslo_records, stack, topics, start_worker):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    as_json, as_fluent, as_text, records = oslo_records
    shaped = as_json if shape == "json" else as_fluent
    host = socket.gethostname()   # both formatters name the host they run on
    key = f"{host}:{shippers.LOG_PATH}".encode()
    shippers.produce(bootstrap, topics.logs, [(key, r.encode()) for r in shaped])

    messages = shippers.read_all(bootstrap, topics.logs)
    shippers.check_events(messages, records, host=host)
    assert shippers.worker_modules(start_worker, bootstrap, topics, len(records))[:1] == \
        shippers.raw_reference_modules(as_text, f"{host}:{shippers.LOG_PATH}")[:1] == [shippers.FAULT_MODULE]
