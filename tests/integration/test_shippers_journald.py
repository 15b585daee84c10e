"""journald JSON made by systemd's own tools, one entry per Kafka message.

A real oslo.log logger logs the scenario of tests/integration/shippers.py through
oslo.log's own journal handler (`use_journal = True`: `oslo_log.handlers.OSJournalHandler`,
its fields computed by its own code; only its last step, `systemd.journal.send`, which
needs a running journald, is replaced by writing the same fields in the journal export
format, with the fields journald adds itself: time, host, pid, unit, transport).
`systemd-journal-remote` turns the export into a journal file and `journalctl --file F
-o json --all` prints it, one JSON object per entry, as a journald-to-Kafka shipper reads it;
each line is produced as one message. Checks as every shipper test (shippers.py).
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import uuid

import pytest

from tests.integration import shippers

JOURNAL_REMOTE = shippers.which("systemd-journal-remote")
JOURNALCTL = shippers.which("journalctl")

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(JOURNAL_REMOTE is None,
                                 reason="systemd-journal-remote is not installed (scripts/install-test-shippers.sh)"),
              pytest.mark.skipif(JOURNALCTL is None, reason="journalctl is not installed (systemd)")]

handlers = pytest.importorskip("oslo_log.handlers")
BOOT_ID = uuid.uuid4().hex
UNIT = "devstack@n-cpu.service"


def export_field(name: str, value) -> bytes:
    """One field in the journal export format (systemd.io JOURNAL_EXPORT_FORMATS): `NAME=value`,
    or, for a value with a newline or other control bytes, the name, its length (64-bit little
    endian) and the bytes."""
    data = value if isinstance(value, bytes) else str(value).encode()
    if any(b < 0x20 for b in data):   # a newline, or a control byte (an ANSI colour code)
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


class ExportJournal:
    """Stands in for `systemd.journal` (what OSJournalHandler calls): each `send` becomes an
    export-format entry with the fields journald itself would add."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.created: float | None = None   # the record being emitted (set by the handler below)

    def send(self, message: str, **fields) -> None:
        trusted = {"__REALTIME_TIMESTAMP": int(self.created * 1_000_000), "__MONOTONIC_TIMESTAMP": len(self.entries) + 1,
                   "_BOOT_ID": BOOT_ID, "_HOSTNAME": shippers.HOST, "_PID": os.getpid(), "_UID": 0,
                   "_COMM": "nova-compute", "_TRANSPORT": "journal", "_SYSTEMD_UNIT": UNIT}
        body = {"MESSAGE": message, **fields}
        self.entries.append(b"".join(export_field(k, v) for k, v in {**trusted, **body}.items()) + b"\n")


class JournalHandler(handlers.OSJournalHandler):
    """oslo.log's handler, telling the stand-in which record it is sending (for its time)."""

    def __init__(self, journal: ExportJournal) -> None:
        super().__init__()
        self.binary_name = shippers.SERVICE   # SYSLOG_IDENTIFIER: the service's script name
        self.journal = journal

    def emit(self, record) -> None:
        self.journal.created = record.created
        super().emit(record)


def journal_json(entries: list[bytes], tmp_path) -> list[bytes]:
    """Export-format entries -> a journal file (systemd-journal-remote) -> `journalctl -o json --all`
    lines. Without `--all`, journalctl prints a field of 4096 bytes or more as a placeholder: the
    dev run's one ERROR record (its traceback) lost its text, and the run its incident."""
    export = tmp_path / "entries.export"
    export.write_bytes(b"".join(entries))
    out = tmp_path / "entries.journal"
    subprocess.run([JOURNAL_REMOTE, "-o", str(out), str(export)], check=True, timeout=60, capture_output=True)
    return subprocess.run([JOURNALCTL, "--file", str(out), "-o", "json", "--all", "--no-pager"], check=True, timeout=60,
                          capture_output=True).stdout.splitlines()


PRIORITIES = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "AUDIT": 5, "INFO": 6, "DEBUG": 7, "TRACE": 7}


def dev_run_entries(run: shippers.DevRun) -> list[bytes]:
    """A dev-set run as a journal with `use_journal = True` holds it: one entry per record,
    MESSAGE its whole text, the fields OSJournalHandler sets that the text gives, and
    journald's own (time, host, pid, unit); in time order over all files."""
    from engine.parsing import parse_lines

    rows = []
    for n, (path, service) in enumerate(run.files):
        last = 0.0
        with open(path, encoding="utf-8", errors="replace") as fh:
            for i, event in enumerate(parse_lines(line.rstrip("\r\n") for line in fh)):
                last = event.timestamp if event.timestamp is not None else last
                if event.raw.strip():
                    rows.append((last, n, i, service, event))
    entries = []
    for seq, (ts, _, _, service, event) in enumerate(sorted(rows, key=lambda r: r[:3])):
        fields = {"__REALTIME_TIMESTAMP": int(ts * 1_000_000), "__MONOTONIC_TIMESTAMP": seq + 1, "_BOOT_ID": BOOT_ID,
                  "_HOSTNAME": shippers.HOST, "_PID": event.pid or 1, "_TRANSPORT": "journal",
                  "_SYSTEMD_UNIT": f"devstack@{service}.service", "MESSAGE": event.raw, "SYSLOG_IDENTIFIER": service,
                  "PRIORITY": PRIORITIES.get(event.level or "", 6)}
        if event.logger:
            fields.update(LOGGER_NAME=event.logger, LOGGER_LEVEL=event.level or "INFO")
        if event.request_id:
            fields["REQUEST_ID"] = event.request_id
        entries.append(b"".join(export_field(k, v) for k, v in fields.items()) + b"\n")
    return entries


@pytest.fixture
def journal_lines(tmp_path, monkeypatch):
    """(`journalctl -o json` lines of the scenario, records, the records as raw text)."""
    journal = ExportJournal()
    monkeypatch.setattr(handlers, "journal", journal)
    conf = shippers.oslo_conf()
    handler = JournalHandler(journal)
    handler.setFormatter(shippers.text_formatter(conf))
    as_text = shippers.Collect(shippers.text_formatter(conf))
    records = shippers.log_scenario(tmp_path, [handler, as_text])
    printed = journal_json(journal.entries, tmp_path)
    assert len(printed) == len(records), printed
    return printed, records, as_text.out


def test_journald_json_entries_are_events(journal_lines, stack, topics):
    printed, records, _ = journal_lines
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    shippers.produce(bootstrap, topics.logs, [(None, line) for line in printed])
    messages = shippers.read_all(bootstrap, topics.logs)
    assert all(b'"SYSLOG_IDENTIFIER":"nova-compute"' in value for _, value in messages)
    shippers.check_events(messages, records, host=shippers.HOST)


def test_journald_json_fault_names_the_raw_lines_module(journal_lines, stack, topics, start_worker):
    printed, records, text = journal_lines
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    shippers.produce(bootstrap, topics.logs, [(None, line) for line in printed])
    assert shippers.worker_modules(start_worker, bootstrap, topics, len(records))[:1] == \
        shippers.raw_reference_modules(text)[:1] == [shippers.FAULT_MODULE]


def test_journald_json_dev_run_names_the_raw_lines_module(devset, stack, topics, start_worker, tmp_path):
    """A dev-set run as journal entries: the same incident module as its raw lines."""
    run = shippers.dev_run(devset)
    printed = journal_json(dev_run_entries(run), tmp_path)
    assert len(printed) == run.records
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    shippers.produce(bootstrap, topics.logs, [(None, line) for line in printed])
    assert shippers.worker_modules(start_worker, bootstrap, topics, run.records)[:1] == run.reference[:1]


# DevStack's systemd format strings (devstack `functions`, setup_systemd_logging): colours, no
# time (journald has it), no pid; oslo.log's ColorHandler sets %(color)s by level.
E = "\x1b"
DEVSTACK_FORMATS = {
    "logging_context_format_string":
        f"%(color)s%(levelname)s %(name)s [{E}[01;36m%(global_request_id)s %(request_id)s "
        f"{E}[00;36m%(project_name)s %(user_name)s%(color)s] {E}[01;35m%(instance)s%(color)s%(message)s{E}[00m",
    "logging_default_format_string":
        f"%(color)s%(levelname)s %(name)s [{E}[00;36m-%(color)s] {E}[01;35m%(instance)s%(color)s%(message)s{E}[00m",
    "logging_debug_format_suffix": f"{E}[00;33m{{{{(pid=%(process)d) %(funcName)s %(pathname)s:%(lineno)d}}}}{E}[00m",
    "logging_exception_prefix": f"ERROR %(name)s {E}[01;35m%(instance)s{E}[00m",
}


class DevStackStdout(handlers.ColorHandler):
    """A service under DevStack: oslo.log's ColorHandler writing to stdout, which journald stores
    one entry per line (`_TRANSPORT=stdout`), stamped when it reads each line."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[bytes] = []

    def emit(self, record) -> None:
        for i, line in enumerate(self.format(record).split("\n")):
            fields = {"__REALTIME_TIMESTAMP": int(record.created * 1_000_000) + i,
                      "__MONOTONIC_TIMESTAMP": len(self.entries) + 1, "_BOOT_ID": BOOT_ID,
                      "_HOSTNAME": shippers.HOST, "_PID": os.getpid(), "_UID": 0, "_COMM": "nova-compute",
                      "_TRANSPORT": "stdout", "_SYSTEMD_UNIT": UNIT, "SYSLOG_IDENTIFIER": "nova-compute",
                      "PRIORITY": 6, "SYSLOG_FACILITY": 3, "_STREAM_ID": BOOT_ID, "MESSAGE": line}
            self.entries.append(b"".join(export_field(k, v) for k, v in fields.items()) + b"\n")


def test_journald_devstack_stdout_lines_join_into_records(stack, topics, tmp_path):
    """DevStack's default (`USE_JOURNAL=False`): one journal entry per line, colour codes, the
    time only in the entry; journalctl prints such a MESSAGE as an array of bytes. Each record
    is one event again, its traceback's lines joined."""
    conf = shippers.oslo_conf()
    for name, value in DEVSTACK_FORMATS.items():
        conf.set_override(name, value)
    stdout = DevStackStdout()
    stdout.setFormatter(shippers.text_formatter(conf))
    records = shippers.log_scenario(tmp_path, [stdout])
    printed = journal_json(stdout.entries, tmp_path)
    assert len(printed) > len(records) and any(b'"MESSAGE":[' in line for line in printed)
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    # keyed by the stream (host and unit), so a record's lines stay in order in one partition;
    # without a key they were spread over partitions and a traceback line joined another record
    keyed = []
    for line in printed:
        entry = json.loads(line)
        keyed.append((f"{entry['_HOSTNAME']}:{entry['_SYSTEMD_UNIT']}".encode(), line))
    shippers.produce(bootstrap, topics.logs, keyed)
    shippers.check_events(shippers.read_all(bootstrap, topics.logs), records, host=shippers.HOST, joined=True)
