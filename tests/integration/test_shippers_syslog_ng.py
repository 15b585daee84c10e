"""syslog-ng (Debian's syslog-ng-core + syslog-ng-mod-rdkafka) tailing an oslo.log file into Kafka.

A real oslo.log logger writes the scenario of tests/integration/shippers.py to a
file; syslog-ng, in its own process (`-F`, its own persist file, pid file and control
socket), reads it with oslo.log's record start as the multi-line prefix and sends each
record with `kafka-c()`'s default message (`$ISODATE $HOST $MSGHDR$MSG`, newlines
raw), the configuration of docs/operations.md "Pipelines". Checks as every shipper
test (shippers.py). syslog-ng is run from PATH, or from where
scripts/install-test-shippers.sh unpacks it (Debian's rsyslog and syslog-ng conflict).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration import shippers

UNPACKED = Path(os.environ.get("RCA_TEST_SHIPPERS_PREFIX", "/opt/openstack-rca-test")) / "syslog-ng"
SYSLOG_NG = shippers.which("syslog-ng", str(UNPACKED / "usr" / "sbin" / "syslog-ng"))
MODULES = (UNPACKED if SYSLOG_NG and SYSLOG_NG.startswith(str(UNPACKED)) else Path("/")) / "usr" / "lib" / "syslog-ng"
KAFKA_MODULE = next(MODULES.glob("*/libkafka.so"), None)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(SYSLOG_NG is None, reason="syslog-ng is not installed (scripts/install-test-shippers.sh)"),
              pytest.mark.skipif(KAFKA_MODULE is None,
                                 reason="syslog-ng's Kafka module is not installed (syslog-ng-mod-rdkafka)")]

CONFIG = """@version: 3.38
options {{ use-dns(no); stats-freq(0); log-msg-size(1048576); }};
{sources}
destination d_kafka {{
  kafka-c(bootstrap-servers("{bootstrap}") topic("{topic}") key("${{PROGRAM}}"));
}};
log {{ {source_refs} destination(d_kafka); }};
"""
SOURCE = """source s_{n} {{
  file("{log}" program-override("{service}") host-override("{host}") flags(no-parse)
       multi-line-mode(regexp) multi-line-prefix("{regex}") multi-line-timeout(2) log-msg-size(1048576));
}};"""


def syslog_ng(files: list[tuple], bootstrap: str, topic: str, work) -> shippers.Daemon:
    """syslog-ng in its own process, reading `files` ((path, service) pairs) into `topic`."""
    work.mkdir()
    regex = shippers.START_REGEX.replace("\\", "\\\\")
    sources = "\n".join(SOURCE.format(n=n, log=path, service=service, host=shippers.HOST, regex=regex)
                        for n, (path, service) in enumerate(files))
    config = work / "syslog-ng.conf"
    config.write_text(CONFIG.format(sources=sources, source_refs=" ".join(f"source(s_{n});" for n in range(len(files))),
                                    bootstrap=bootstrap, topic=topic))
    env = {**os.environ, "LD_LIBRARY_PATH": str(KAFKA_MODULE.parent.parent)}
    return shippers.Daemon([SYSLOG_NG, "-F", "-f", str(config), f"--module-path={KAFKA_MODULE.parent}",
                            f"--persist-file={work / 'syslog-ng.persist'}", f"--pidfile={work / 'syslog-ng.pid'}",
                            f"--control={work / 'syslog-ng.ctl'}", "--no-caps"], work / "syslog-ng.out", env=env)


@pytest.fixture
def syslog_ng_shipped(stack, topics, tmp_path):
    """The scenario logged to a file that syslog-ng ships to this test's logs topic:
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
    daemon = syslog_ng([(log_file, shippers.SERVICE)], bootstrap, topics.logs, tmp_path / "syslog-ng")
    return shippers.ship(daemon, bootstrap, topics.logs, len(records)), records, as_text.out


def test_syslog_ng_kafka_records_are_events(syslog_ng_shipped):
    messages, records, _ = syslog_ng_shipped
    assert all(b" compute-1 nova-compute: " in value and key == b"nova-compute" for key, value in messages), messages[0]
    shippers.check_events(messages, records, host=shippers.HOST)


def test_syslog_ng_kafka_fault_names_the_raw_lines_module(syslog_ng_shipped, stack, start_worker, topics):
    _, records, text = syslog_ng_shipped
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    assert shippers.worker_modules(start_worker, bootstrap, topics, len(records))[:1] == \
        shippers.raw_reference_modules(text)[:1] == [shippers.FAULT_MODULE]


def test_syslog_ng_kafka_dev_run_names_the_raw_lines_module(devset, stack, topics, start_worker, tmp_path):
    """A dev-set run's files read as they are: the same incident module as its raw lines."""
    run = shippers.dev_run(devset)
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    daemon = syslog_ng(run.files, bootstrap, topics.logs, tmp_path / "syslog-ng")
    shippers.ship(daemon, bootstrap, topics.logs, run.records)
    assert shippers.worker_modules(start_worker, bootstrap, topics, run.records)[:1] == run.reference[:1]
