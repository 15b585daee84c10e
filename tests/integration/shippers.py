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
from confluent_kafka import Consumer, Producer

oslo_log = pytest.importorskip("oslo_log.log", reason="oslo.log is a test extra: pip install -e .[test]")
formatters = pytest.importorskip("oslo_log.formatters", reason="oslo.log is a test extra: pip install -e .[test]")
context = pytest.importorskip("oslo_context.context", reason="oslo.context is a test extra: pip install -e .[test]")
cfg = pytest.importorskip("oslo_config.cfg", reason="oslo.config comes with oslo.log (test extra)")
pytest.importorskip("engine.shapes", reason="the shape decoder (engine/shapes, issue 26 item 1) is not in this tree yet")

HOST = "compute-1"             # the host the shippers are told they run on
SERVICE = "nova-compute"
LOGGER = "nova.compute.manager"
LOG_PATH = "/var/log/nova/nova-compute.log"   # where the file would be on a compute node
FAULT_MODULE = "nova.virt.libvirt.driver"
# oslo.log's record start (formats.md, section 6): a traceback's lines do not match it
START_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} [0-9]+ [A-Z]+ [^ ]+ \["
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
    """Every message of `topic` (key, value), once `count` are there (or the timeout passes)."""
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


# -- the checks -------------------------------------------------------------------
def check_events(messages: list[tuple[bytes | None, bytes]], records: list[Record], host: str,
                 service: str = SERVICE) -> None:
    """Each message is one event with the record's time, level, service, host, request id, frames."""
    from config.settings import WorkerSettings
    from consumers.ingest import Decoder, Joined, Rejected

    decoder = Decoder(WorkerSettings())
    events = []
    for key, value in messages:
        out = decoder.decode(value, key)
        assert not isinstance(out, Rejected), f"rejected ({out.reason}: {out.error}): {value[:300]!r}"
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


def raw_reference_module(text_records: list[str], host: str = HOST) -> str:
    """The module the worker's code names first for the records as raw oslo.log text (one record
    per message, keyed host:path), replayed offline (consumers.stream_eval, baseline analyzer)."""
    from consumers.stream_eval import PARTITIONS, ranked_modules, stream_run

    key = f"{host}:{LOG_PATH}".encode()
    messages = [(key, text.encode(), zlib.crc32(key) % PARTITIONS) for text in text_records]
    _, incidents = stream_run(messages, None)
    modules = ranked_modules(incidents)
    assert modules, "the raw lines gave no incident"
    return modules[0]


def worker_module(start_worker, bootstrap: str, topics) -> str:
    """The first module named by the incident a worker opens from what is on the logs topic."""
    from tests.integration.kafka_helpers import drain_until

    worker = start_worker(RCA_WORKER_IDLE_TIMEOUT_SECONDS="2", RCA_WORKER_ALLOWED_LATENESS_SECONDS="5")

    def alive() -> None:
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    incidents = drain_until(bootstrap, topics.incidents, lambda ms: bool(ms), timeout=90, on_poll=alive)
    assert incidents, f"no incident: {worker.log_text()[-2000:]}"
    causes = incidents[-1]["value"]["root_causes"]
    assert causes, incidents[-1]["value"]
    return causes[0]["module"] or causes[0]["subsystem"]


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

