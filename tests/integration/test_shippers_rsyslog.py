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
global(workDirectory="{work}" localHostname="{host}" maxMessageSize="1m")
module(load="imfile")
module(load="omkafka")
template(name="program" type="string" string="%programname%")
{inputs}
ruleset(name="to-kafka") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" dynaKey="on" key="program" partitions.auto="on")
}}
"""
INPUT = """input(type="imfile" File="{log}" Tag="{service}:" addMetadata="on" readTimeout="2"
      startmsg.regex="{regex}" ruleset="to-kafka")"""


def rsyslog(files: list[tuple], bootstrap: str, topic: str, work) -> shippers.Daemon:
    """rsyslogd in its own process, tailing `files` ((path, service) pairs) into `topic`."""
    work.mkdir()
    inputs = "\n".join(INPUT.format(log=path, service=service, regex=shippers.START_REGEX.replace("\\", "\\\\"))
                       for path, service in files)
    config = work / "rsyslog.conf"
    config.write_text(CONFIG.format(work=work, host=shippers.HOST, inputs=inputs, bootstrap=bootstrap, topic=topic))
    return shippers.Daemon([RSYSLOGD, "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid")], work / "rsyslogd.out")


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
    daemon = rsyslog([(log_file, shippers.SERVICE)], bootstrap, topics.logs, tmp_path / "rsyslog")
    return shippers.ship(daemon, bootstrap, topics.logs, len(records)), records, as_text.out


def test_rsyslog_omkafka_records_are_events(rsyslog_shipped):
    messages, records, _ = rsyslog_shipped
    assert all(b" compute-1 nova-compute: " in value and key == b"nova-compute" for key, value in messages), messages[0]
    shippers.check_events(messages, records, host=shippers.HOST)


def test_rsyslog_omkafka_fault_names_the_raw_lines_module(rsyslog_shipped, stack, start_worker, topics):
    _, records, text = rsyslog_shipped
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    assert shippers.worker_modules(start_worker, bootstrap, topics, len(records))[:1] == \
        shippers.raw_reference_modules(text)[:1] == [shippers.FAULT_MODULE]


def test_rsyslog_omkafka_dev_run_names_the_raw_lines_module(devset, stack, topics, start_worker, tmp_path):
    """A dev-set run's files tailed as they are: the same incident module as its raw lines."""
    run = shippers.dev_run(devset)
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    shippers.ship(rsyslog(run.files, bootstrap, topics.logs, tmp_path / "rsyslog"), bootstrap, topics.logs, run.records)
    assert shippers.worker_modules(start_worker, bootstrap, topics, run.records)[:1] == run.reference[:1]
