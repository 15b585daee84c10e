"""What the real-shipper tests share (tests/integration/test_shippers_*.py).

One scenario, logged by a real oslo.log logger (PyPI) with a real oslo.context
RequestContext: a nova-compute request that boots, warns, fails with a real
exception raised in a module loaded from `.../nova/virt/libvirt/driver.py` (so
its traceback names nova code, as a real one would) and cleans up, plus a healthy
request. Each test sends those records through one shipper, then checks:

- every record is one event with the right time, level, service, host and
  request id, the traceback's frames kept (the worker's own decoder,
  consumers.ingest.Decoder, on the messages the shipper put on the broker);
- the worker, fed the shipper's messages, opens an incident naming the module
  the same records give as raw oslo.log lines (the worker's code replayed
  offline: consumers.stream_eval).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import time
import traceback
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

oslo_log = pytest.importorskip("oslo_log.log", reason="oslo.log is a test extra: pip install -e .[test]")
formatters = pytest.importorskip("oslo_log.formatters", reason="oslo.log is a test extra: pip install -e .[test]")
context = pytest.importorskip("oslo_context.context", reason="oslo.context is a test extra: pip install -e .[test]")
cfg = pytest.importorskip("oslo_config.cfg", reason="oslo.config comes with oslo.log (test extra)")

HOST = "compute-1"             # the host the shippers are told they run on
SERVICE = "nova-compute"
LOGGER = "nova.compute.manager"
LOG_PATH = "/var/log/nova/nova-compute.log"   # where the file would be on a compute node
FAULT_MODULE = "nova.virt.libvirt.driver"
# oslo.log's record start, for a shipper's multiline setting: the header and a context that opens
# with a request id or is empty ("[req-", "[None req-", "[-]"). formats.md's regex, which ends at
# the "[", also matches every traceback line of a record logged with an instance ("... ERROR
# nova.compute.manager [instance: ...] Traceback ..."): rsyslog then sent such a record as one
# message per line (15 messages for this scenario's 6 records).
START_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} [0-9]+ [A-Z]+ [^ ]+ \[(req-|None |-\])"
INSTANCE = "8b3c2a9e-1d7e-4b8e-9a65-3a7f5f0e6c11"

DRIVER_SOURCE = '''
def spawn(instance, port_id):
    _plug_vifs(instance, port_id)


def _plug_vifs(instance, port_id):
    raise RuntimeError("Binding failed for port %s, please check neutron logs for more information" % port_id)
'''


@dataclass
class Record:
    """One record as logged, and what its event must say."""

    timestamp: float          # to the millisecond, as oslo.log's text prints it
    level: str
    request_id: str | None
    message: str
    frames: list[tuple[str, int, str]] = field(default_factory=list)   # (file, line, function)


class Collect(logging.Handler):
    """Keeps each formatted record (what a shipper reading oslo.log's output gets, one per record)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.out: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        formatted = self.format(record)
        # FluentFormatter gives a dict (fluent-logger's handler sends it as a map): JSON on Kafka
        self.out.append(formatted if isinstance(formatted, str) else json.dumps(formatted, default=str))


def oslo_conf():
    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], project="nova")
    return conf


def text_formatter(conf) -> logging.Formatter:
    """oslo.log's ContextFormatter with its default format strings, in UTC."""
    fmt = formatters.ContextFormatter(config=conf, project="nova", version="27.0.0", datefmt=conf.log_date_format)
    fmt.converter = time.gmtime
    return fmt


def _driver(tmp_path: Path):
    """A module `nova.virt.libvirt.driver` from a file of that path (not kept in sys.modules)."""
    path = tmp_path / "opt" / "stack" / "nova" / "nova" / "virt" / "libvirt" / "driver.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DRIVER_SOURCE)
    spec = importlib.util.spec_from_file_location(FAULT_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def log_scenario(tmp_path: Path, handlers: list[logging.Handler], t0: float | None = None) -> list[Record]:
    """Log the scenario through oslo.log to `handlers`; the records and what each must decode to.

    `t0` (epoch seconds) backdates the records (their `created`), so windows close by event
    time in a replay; by default they are logged now."""
    base = logging.getLogger(LOGGER)
    base.setLevel(logging.DEBUG)
    base.propagate = False
    for h in handlers:
        base.addHandler(h)
    log = oslo_log.getLogger(LOGGER)   # oslo's adapter: instance=, context= keywords
    driver = _driver(tmp_path)
    failing = context.RequestContext(user_id="6f8d0c1e", project_id="a1b2c3d4", overwrite=False,
                                     global_request_id=f"req-{uuid.uuid4()}")
    healthy = context.RequestContext(user_id="6f8d0c1e", project_id="a1b2c3d4", overwrite=False)
    instance = {"uuid": INSTANCE}
    records: list[Record] = []
    clock = [t0 if t0 is not None else float(int(time.time()))]

    def stamp(record: logging.LogRecord) -> bool:
        clock[0] += 0.25
        record.created = clock[0]
        record.msecs = (clock[0] - int(clock[0])) * 1000
        return True

    step = logging.Filter()
    step.filter = stamp
    base.addFilter(step)

    def expect(level: str, ctx, message: str, frames=()) -> None:
        records.append(Record(int(clock[0] * 1000) / 1000, level, ctx.request_id if ctx else None, message,
                              list(frames)))

    try:
        log.info("Starting instance...", context=failing, instance=instance)
        expect("INFO", failing, "Starting instance...")
        log.info("GET /v2.1/servers/detail status: 200 len: 1843", context=healthy)
        expect("INFO", healthy, "GET /v2.1/servers/detail status: 200 len: 1843")
        log.warning("Timeout waiting for vif plugging callback for instance", context=failing, instance=instance)
        expect("WARNING", failing, "Timeout waiting for vif plugging callback for instance")
        try:
            driver.spawn(instance, "4f2a9e1c-5b7d-4c8e-9f10-2a3b4c5d6e7f")
        except RuntimeError as exc:
            log.exception("Instance failed to spawn", context=failing, instance=instance)
            frames = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__)]
            expect("ERROR", failing, "Instance failed to spawn", frames)
        log.info("Deallocating network for instance", context=failing, instance=instance)
        expect("INFO", failing, "Deallocating network for instance")
        log.info("GET /v2.1/flavors status: 200 len: 612", context=healthy)
        expect("INFO", healthy, "GET /v2.1/flavors status: 200 len: 612")
    finally:
        base.removeFilter(step)
        for h in handlers:
            base.removeHandler(h)
    return records


# -- the broker -----------------------------------------------------------------
def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """As a shipper with a Kafka output does: one record per message."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in messages:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0, "undelivered messages"


def read_raw(bootstrap: str, topic: str, count: int, timeout: float = 60.0,
             alive: Callable[[], None] | None = None) -> list[tuple[bytes | None, bytes]]:
    """Messages of `topic` (key, value) from the start, until `count` are there or `timeout` passes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-raw-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if alive:
                alive()
            if msg is None or msg.error():
                continue
            out.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return out


def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every message of `topic` up to its end now (the high watermark of each partition): once the
    shipper has exited, nothing of it is still to come, so this also sees a message too many."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-all-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        pending = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append((msg.key(), msg.value()))
            if msg.offset() + 1 >= pending.get(msg.partition(), 0):
                pending.pop(msg.partition(), None)
        assert not pending, f"partitions not read to their end: {pending}"
        return out
    finally:
        consumer.close()


def ship(daemon: "Daemon", bootstrap: str, topic: str, count: int, timeout: float = 60.0):
    """What a shipper daemon sends: wait for `count` messages, stop it (it flushes on SIGTERM),
    then take everything it sent, so a record split over messages shows as messages too many."""
    try:
        read_raw(bootstrap, topic, count, timeout=timeout, alive=daemon.alive)
    finally:
        daemon.stop()
    messages = read_all(bootstrap, topic)
    assert len(messages) == count, \
        f"{len(messages)} messages for {count} records: {daemon.log_path.read_text(errors='replace')[-2000:]}"
    return messages


# -- the checks -------------------------------------------------------------------
def check_events(messages: list[tuple[bytes | None, bytes]], records: list[Record], host: str,
                 service: str = SERVICE, joined: bool = False) -> None:
    """Each message is one event with the record's time, level, service, host, request id, frames
    (`joined`: a message may also be a line that joins the record before it, as a shipper that
    sends a record line by line makes them)."""
    from config.settings import WorkerSettings
    from consumers.ingest import Decoder, Joined, Rejected

    decoder = Decoder(WorkerSettings())
    events = []
    for key, value in messages:
        out = decoder.decode(value, key)
        assert not isinstance(out, Rejected), f"rejected ({out.reason}: {out.error}): {value[:300]!r}"
        if isinstance(out, Joined) and joined:
            continue   # its record, an event already in `events`, now holds it
        assert not isinstance(out, Joined), f"a record split over messages: {value[:300]!r}"
        events.append(out)
    assert len(events) == len(records), f"{len(events)} events for {len(records)} records"
    events.sort(key=lambda e: e.timestamp or 0.0)
    for event, record in zip(events, records):
        where = f"{record.level} {record.message!r}: {event}"
        assert event.timestamp == pytest.approx(record.timestamp, abs=0.0015), where
        assert (event.level, event.service, event.host) == (record.level, service, host), where
        assert event.request_id == record.request_id, where
        assert record.message in event.message, where
        assert [(f.file, f.line, f.function) for f in event.frames] == record.frames, where


WORKER = {"RCA_WORKER_IDLE_TIMEOUT_SECONDS": "2",
          # shippers read files one after another, not in event-time order: no event is late
          "RCA_WORKER_ALLOWED_LATENESS_SECONDS": "1e10"}


def raw_reference_modules(text_records: list[str], key: str | None = None) -> list[str]:
    """The modules the worker's code names, best first, for the records as raw oslo.log text
    (one record per message, keyed host:path), replayed offline (consumers.stream_eval, the
    baseline analyzer, the worker settings of `worker_modules`)."""
    from config.settings import WorkerSettings
    from consumers.stream_eval import PARTITIONS, ranked_modules, stream_run

    k = (key or f"{HOST}:{LOG_PATH}").encode()
    messages = [(k, text.encode(), zlib.crc32(k) % PARTITIONS) for text in text_records]
    cfg = WorkerSettings(idle_timeout_seconds=2, allowed_lateness_seconds=1e10)
    return ranked_modules(stream_run(messages, None, cfg=cfg)[1])


def worker_modules(start_worker, bootstrap: str, topics, events: int) -> list[str]:
    """The modules a worker names, best incident first, once it has published a result for
    each of the `events` records on this test's logs topic and every incident has all its windows."""
    from consumers.stream_eval import ranked_modules
    from tests.integration.kafka_helpers import drain_until

    worker = start_worker(**WORKER)

    def alive() -> None:
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    def counted(ms) -> int:
        return sum(m["value"]["event_count"] for m in ms)

    results = drain_until(bootstrap, topics.results, lambda ms: counted(ms) >= events, timeout=180, on_poll=alive)
    assert counted(results) == events, \
        f"{counted(results)} events in results for {events} records: {[m['value'] for m in results]}"
    windows: dict[str, set[str]] = {}
    for m in results:
        if m["value"]["is_incident"]:
            windows.setdefault(m["value"]["incident_id"], set()).add(m["value"]["window_id"])
    assert windows, "no incident window"

    def latest(ms) -> dict[str, dict]:
        return {m["value"]["incident_id"]: m["value"] for m in ms}

    def complete(ms) -> bool:
        last = latest(ms)
        return all(iid in last and ids <= set(last[iid]["window_ids"]) for iid, ids in windows.items())

    incidents = drain_until(bootstrap, topics.incidents, complete, timeout=60, on_poll=alive)
    assert complete(incidents), "incidents without all their windows"
    return ranked_modules(list(latest(incidents).values()))


# -- a run of the fault-injection dev set --------------------------------------------
# A small failing run (1,403 records over 20 files, a Neutron fault) whose raw lines give one
# incident naming the labelled module first (neutron.plugins.ml2.managers), so a shipper that
# loses a record's traceback or time shows as another module, or none.
DEV_RUN = ("Neutron", "Test_78", "round_1")


@dataclass
class DevRun:
    files: list[tuple[Path, str]]   # (log file, its service), as a shipper's inputs name them
    records: int                    # records of all files (one message each, for a multiline shipper)
    reference: list[str]            # what the raw lines' incidents name, best first


def dev_run(devset) -> DevRun:
    """DEV_RUN of the dev set (tests/conftest.py `devset`: skips without ../shared)."""
    from config.settings import WorkerSettings
    from consumers.stream_eval import ranked_modules, run_messages, stream_run
    from engine.parsing import service_from_source
    from engine.rca.dataset import list_runs, service_log_files

    root, labels = devset
    run = next(r for r in list_runs(root, labels) if (r.subsystem, r.test, r.round) == DEV_RUN)
    messages = run_messages(run.path, host=HOST)
    cfg = WorkerSettings(idle_timeout_seconds=2, allowed_lateness_seconds=1e10)
    files = [(p, service_from_source("/".join(p.relative_to(run.path).parts))) for p in service_log_files(run.path)]
    return DevRun(files, len(messages), ranked_modules(stream_run(messages, None, cfg=cfg)[1]))


# -- daemons ------------------------------------------------------------------------
class Daemon:
    """A shipper in its own process, stopped (and waited for) at teardown."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def alive(self) -> None:
        assert self.proc.poll() is None, f"{self.proc.args[0]} exited: {self.log_path.read_text(errors='replace')[-3000:]}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def which(name: str, *extra: str) -> str | None:
    """A tool on PATH or in /sbin, /usr/sbin, or one of `extra` paths."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/lib/systemd:/lib/systemd")
    return found or next((p for p in extra if Path(p).is_file()), None)

