"""rsyslog (Debian's rsyslog + rsyslog-kafka) tailing an oslo.log file into Kafka with omkafka.

A real oslo.log logger writes the scenario of tests/integration/shippers.py to a
file; rsyslogd, in its own process with its own work folder, tails it with imfile
and oslo.log's record start as `startmsg.regex` (a traceback stays one message) and
sends each record with omkafka's default template (`RSYSLOG_FileFormat`: ISO time,
host, tag, the record with its newlines escaped), the configuration of
docs/operations.md "Pipelines". Checks as every shipper test (shippers.py).
"""
from __future__ import annotations

import os

import pytest

from tests.integration import shippers

RSYSLOGD = shippers.which("rsyslogd")
OMKAFKA = [p for p in ("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so", "/usr/lib/aarch64-linux-gnu/rsyslog/omkafka.so",
                       "/usr/lib/rsyslog/omkafka.so") if os.path.exists(p)]

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd is not installed (scripts/install-test-shippers.sh)"),
              pytest.mark.skipif(not OMKAFKA, reason="rsyslog's omkafka is not installed (apt-get install rsyslog-kafka)")]

CONFIG = """
global(workDirectory="{work}" localHostname="{host}")
module(load="imfile")
module(load="omkafka")
input(type="imfile" File="{log}" Tag="{service}:" addMetadata="on" readTimeout="2"
      startmsg.regex="{regex}" ruleset="to-kafka")
ruleset(name="to-kafka") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" key="{service}" partitions.auto="on")
}}
"""


@pytest.fixture
def rsyslog_shipped(stack, topics, tmp_path):
    """The scenario logged to a file that rsyslogd ships to this test's logs topic:
    (messages on the topic, records, the records as raw text)."""
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    log_file = tmp_path / "log" / "nova" / "nova-compute.log"
    log_file.parent.mkdir(parents=True)
    conf = shippers.oslo_conf()
    as_file = shippers.logging.FileHandler(log_file)
    as_file.setFormatter(shippers.text_formatter(conf))
    as_text = shippers.Collect(shippers.text_formatter(conf))
    records = shippers.log_scenario(tmp_path, [as_file, as_text])
    as_file.close()

    work = tmp_path / "rsyslog"
    work.mkdir()
    config = work / "rsyslog.conf"
    config.write_text(CONFIG.format(work=work, host=shippers.HOST, log=log_file, service=shippers.SERVICE,
                                    regex=shippers.START_REGEX.replace("\\", "\\\\"), bootstrap=bootstrap,
                                    topic=topics.logs))
    daemon = shippers.Daemon([RSYSLOGD, "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid")],
                             work / "rsyslogd.out")
    try:
        messages = shippers.read_raw(bootstrap, topics.logs, len(records), timeout=30, alive=daemon.alive)
    finally:
        daemon.stop()
    assert len(messages) == len(records), f"rsyslog sent {len(messages)} messages: {daemon.log_path.read_text()[-2000:]}"
    return messages, records, as_text.out


def test_rsyslog_omkafka_records_are_events(rsyslog_shipped):
    messages, records, _ = rsyslog_shipped
    assert all(b" compute-1 nova-compute: " in value for _, value in messages), messages[0]
    shippers.check_events(messages, records, host=shippers.HOST)


def test_rsyslog_omkafka_fault_names_the_raw_lines_module(rsyslog_shipped, stack, start_worker, topics):
    _, _, text = rsyslog_shipped
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    assert shippers.worker_module(start_worker, bootstrap, topics) == shippers.raw_reference_module(text) \
        == shippers.FAULT_MODULE
