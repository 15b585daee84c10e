"""`rca bench chaos`: the worker under faults, as operators meet them; figures, no asserts.

One run, on a broker of its own (a private single-node Kafka on free ports with its data in a
temporary folder, from the same code as `rca stack up`: hard-killing it never touches the shared
stack's broker that other commands and tests use):

1. publishes a backlog of simulator messages (one record per message, raw lines and JSON
   events, keys ``host:path`` / ``host``), then, with ``live_events``, keeps publishing at
   ``live_rate`` messages/s while the faults go on, then one flush event per partition far
   ahead in event time (every window of the input closes by the watermark);
2. starts ``workers`` `rca worker` processes in one consumer group (the baseline analyzer:
   no served bundle, so every template is mined online, the hard case for template ids);
3. at random moments (seeded: points of progress, the share of input events reported so far;
   one fault at a time, each once results came after the one before) SIGKILLs a random
   worker and starts a new one in its place, as a supervisor would, and hard-kills the
   broker (SIGKILL, its whole process group), leaves it down ``broker_down`` seconds and
   brings it back on the same data. A worker that exits on its own (one started while the
   broker is down gives up bootstrapping) is counted and replaced too;
4. waits until the group's lag is 0 (every input offset committed) and the results stopped
   coming, and reads every result and dead letter from the start.

Figures: events published and expected (the worker's decoder joins raw continuation lines to
their record), dead letters, distinct window ids, ids published more than once, ids whose
copies differ (in event or late counts, or in templates), events lost (expected minus the
events of the distinct ids), late share, template texts named by several ids and ids naming
several texts, drain time (first worker start to lag 0), consumer lag over time, and what was
killed when. A window id published twice is expected after a crash (at-least-once); its copies
must be the same.
"""
from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import PROJECT_ROOT, StackSettings, TopicSettings
from devstack import kafka, process

log = logging.getLogger(__name__)

FLUSH_KEY = "bench-flush"   # session key (instance_id) of the flush events, left out of the figures
SAMPLE_SECONDS = 0.5        # how often the lag is read


@dataclass(frozen=True)
class ChaosConfig:
    """What one run does (the `rca bench chaos` flags)."""

    events: int = 30_000
    kills: int = 3
    broker_restarts: int = 1
    workers: int = 1
    seed: int = 1
    window: float = 60.0
    lateness: float = 30.0
    idle_timeout: float = 2.0
    session_timeout: float = 6.0     # how soon a killed worker's partitions move (the worker's floor)
    broker_down: float = 3.0         # seconds the broker stays down
    partitions: int = 6
    live_events: int = 0             # messages published while the faults go on, after the backlog
    live_rate: float = 2_000.0       # their rate (messages/s)
    timeout: float = 900.0           # give up waiting for lag 0 after this long
    log_dir: Path | None = None      # worker and broker logs (default: a temporary folder, kept)

    def check(self) -> None:
        """ValueError (one line) for values a run cannot use."""
        if self.events < 1:
            raise ValueError("--events must be at least 1")
        for name in ("kills", "broker_restarts", "live_events"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative")
        for name in ("workers", "partitions"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        if self.session_timeout < 6.0:
            raise ValueError("--session-timeout must be at least 6 s (the worker's floor)")
        if self.timeout <= 0 or self.window <= 0 or self.idle_timeout <= 0 or self.live_rate <= 0:
            raise ValueError("--timeout, --window, --idle-timeout and --live-rate must be positive")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all bound at once while chosen: two ports asked one after
    the other may come back the same, and Kafka then fails at once)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class PrivateBroker:
    """A single-node Kafka of this run only (devstack.kafka, on its own ports and state folder)."""

    def __init__(self, root: Path) -> None:
        kafka_port, controller_port = free_ports(2)
        self.cfg = StackSettings(state_dir=root, kafka_port=kafka_port, kafka_controller_port=controller_port)
        self.bootstrap = f"127.0.0.1:{self.cfg.kafka_port}"

    def up(self) -> float:
        """Start it (or bring it back on its data) and return once it answers; seconds it took."""
        started = time.monotonic()
        kafka.up(self.cfg, self.bootstrap)
        return time.monotonic() - started

    def pid(self) -> int | None:
        return process.running_pid(self.cfg.state_dir, kafka.NAME, kafka.MARKER)

    def kill(self) -> None:
        """SIGKILL the broker's process group (no clean shutdown) and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)   # polling for the process to be gone

    def down(self) -> None:
        kafka.down(self.cfg)


# -- reading what the workers write --------------------------------------------------------------
@dataclass
class Copy:
    """One published copy of a window's result (the fields the figures compare)."""

    window_id: str
    key: str
    events: int
    late: int
    templates: tuple
    closed_by: str = ""
    produced_at: str = ""
    offset: int = -1          # where the copy lies in the results topic (partition/offset)
    partition: int = -1


class Reader(threading.Thread):
    """Reads the results and dead-letter topics from their start until stopped (librdkafka
    reconnects across the broker's restart by itself)."""

    def __init__(self, bootstrap: str, results: str, dlq: str) -> None:
        super().__init__(daemon=True)
        self.results, self.dlq = results, dlq
        self.copies: list[Copy] = []
        self.letters: list[dict] = []
        self.last_message = time.monotonic()
        self.stop_flag = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-reader-{uuid.uuid4().hex[:8]}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 0})
        self.consumer.subscribe([results, dlq])

    def run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                for msg in self.consumer.consume(1000, 0.2):
                    if msg.error():
                        continue
                    self.last_message = time.monotonic()
                    value = orjson.loads(msg.value())
                    if msg.topic() == self.dlq:
                        self.letters.append({"reason": value.get("reason"), "error": value.get("error", "")[:200]})
                        continue
                    templates = tuple((t["template_id"], t["template"], t["count"]) for t in value.get("templates", []))
                    self.copies.append(Copy(value["window_id"], value["session_key"], value["event_count"],
                                            value.get("late_event_count", 0), templates,
                                            value.get("closed_by", ""), value.get("produced_at", ""),
                                            msg.offset(), msg.partition()))
        finally:
            self.consumer.close()

    def reported(self) -> int:
        """Input events in the distinct windows seen so far (the larger count of a window's copies)."""
        best: dict[str, int] = {}
        for c in list(self.copies):
            if c.key != FLUSH_KEY and c.events > best.get(c.window_id, -1):
                best[c.window_id] = c.events
        return sum(best.values())

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(15)


class LagSampler(threading.Thread):
    """The group's lag on the input topic (high watermark minus committed offset, summed) every
    SAMPLE_SECONDS; None while the broker does not answer."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.topic, self.partitions = topic, partitions
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                                  "log_level": 0})
        self.samples: list[tuple[float, int | None]] = []
        self.stop_flag = threading.Event()

    def lag(self) -> int:
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        total = 0
        for tp in self.consumer.committed(tps, timeout=3):
            low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition),
                                                            timeout=3, cached=False)
            total += high - (tp.offset if tp.offset >= 0 else low)
        return total

    def run(self) -> None:
        try:
            while not self.stop_flag.wait(SAMPLE_SECONDS):
                try:
                    value: int | None = self.lag()
                except Exception:  # noqa: BLE001 - the broker is down (on purpose): no sample
                    value = None
                self.samples.append((time.monotonic(), value))
        finally:
            self.consumer.close()

    def latest(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(15)


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Run:
    """State of one chaos run while it goes on (what the figures are made of)."""

    cfg: ChaosConfig
    log_dir: Path
    broker: PrivateBroker
    topics: TopicSettings
    group: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)        # indexes into procs
    killed: set[int] = field(default_factory=set)
    actions: list[dict] = field(default_factory=list)
    exits: list[dict] = field(default_factory=list)
    t0: float = 0.0

    def env(self) -> dict[str, str]:
        env = {**os.environ, "RCA_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
               "RCA_STACK_STATE_DIR": str(self.broker.cfg.state_dir),   # Faust's local state: this run's
               "RCA_WORKER_APP_ID": self.group, "RCA_MLFLOW_AUTO_LOG": "false",
               "RCA_MLFLOW_REGISTERED_MODEL_NAME": f"{self.group}-none",   # nothing to serve: the baseline
               "RCA_WORKER_METRICS_PORT": "0",
               "RCA_WORKER_WINDOW_SECONDS": str(self.cfg.window),
               "RCA_WORKER_ALLOWED_LATENESS_SECONDS": str(self.cfg.lateness),
               "RCA_WORKER_IDLE_TIMEOUT_SECONDS": str(self.cfg.idle_timeout),
               "RCA_WORKER_SESSION_TIMEOUT_SECONDS": str(self.cfg.session_timeout)}
        env.update({f"RCA_TOPIC_{f.upper()}": getattr(self.topics, f) for f in TopicSettings.model_fields})
        return env

    def start_worker(self) -> int:
        index = len(self.procs)
        with open(self.log_dir / f"worker-{index}.log", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--log-level", "INFO", "worker",
                                     "--disable-mlflow"], cwd=PROJECT_ROOT, env=self.env(),
                                    stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.alive.append(index)
        return index

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def kill_worker(self, rng: random.Random, progress: float) -> None:
        index = rng.choice(self.alive)
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(30)
        self.alive.remove(index)
        self.killed.add(index)
        replacement = self.start_worker()
        self.actions.append({"t": self.now(), "action": "kill -9 worker", "worker": index,
                             "replaced_by": replacement, "progress": round(progress, 3)})
        log.info("chaos: killed worker %d at %.0f%% of the input, started worker %d", index, 100 * progress,
                 replacement)

    def restart_broker(self, progress: float) -> None:
        t = self.now()
        self.broker.kill()
        time.sleep(self.cfg.broker_down)   # the outage itself (a fault's length, not a readiness wait)
        up = self.broker.up()
        self.actions.append({"t": t, "action": "kill -9 broker", "down_s": round(self.cfg.broker_down + up, 1),
                             "restart_s": round(up, 1), "progress": round(progress, 3)})
        log.info("chaos: broker hard-killed at %.0f%% of the input; back after %.1f s", 100 * progress,
                 self.cfg.broker_down + up)

    def check_exits(self) -> None:
        """A worker that exited on its own is a figure; a new one takes its place."""
        for index in list(self.alive):
            code = self.procs[index].poll()
            if code is not None:
                self.alive.remove(index)
                self.exits.append({"t": self.now(), "worker": index, "exit_code": code})
                log.warning("chaos: worker %d exited with %s (see %s); starting another", index, code,
                            self.log_dir / f"worker-{index}.log")
                self.start_worker()

    def stop_workers(self) -> None:
        for index in self.alive:
            proc = self.procs[index]
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.alive.clear()


def _records(cfg: ChaosConfig) -> list[tuple[bytes, bytes]]:
    """(key, value) of the input, in publish order: simulator records as shippers send them."""
    from bench.e2e import synthetic

    return [(r.key, r.value()) for r in synthetic(cfg.events + cfg.live_events, seed=cfg.seed)]


def _flush_value(ts: float) -> bytes:
    from schemas.log_event import format_timestamp

    return orjson.dumps({"schema_version": 1, "timestamp": format_timestamp(ts), "service": "bench",
                         "host": "bench", "instance_id": FLUSH_KEY, "level": "INFO", "logger": "bench",
                         "message": "bench: end of input"})


def _event_times(messages: list[tuple[bytes, bytes]]) -> float:
    """The latest event time of the input (for the flush events)."""
    from consumers.ingest import Decoder
    from config.settings import WorkerSettings

    decoder, latest = Decoder(WorkerSettings()), 0.0
    for key, value in messages:
        ev = decoder.decode(value, key)
        ts = getattr(ev, "timestamp", None)
        if ts is not None and ts > latest:
            latest = ts
    return latest


def _expected(messages: list[tuple[bytes, bytes]]) -> int:
    from bench.e2e import expected_events

    return expected_events(messages)


class Publisher:
    """Produces to the input topic; librdkafka holds and retries what the broker's outage delays."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
                                  "message.timeout.ms": 300_000, "log_level": 0})
        self.failed: list[str] = []

    def send(self, key: bytes, value: bytes, partition: int | None = None) -> None:
        kw = {} if partition is None else {"partition": partition}
        while True:
            try:
                self.producer.produce(self.topic, key=key, value=value, on_delivery=self._report, **kw)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def _report(self, err, _msg) -> None:
        if err is not None:
            self.failed.append(str(err))

    def flush(self, timeout: float = 300.0) -> int:
        return self.producer.flush(timeout)


def run(cfg: ChaosConfig) -> dict:
    """One chaos run (see the module doc); the figures as a dict."""
    cfg.check()
    rng = random.Random(cfg.seed)
    tmp = Path(tempfile.mkdtemp(prefix="rca-chaos-"))
    log_dir = cfg.log_dir or tmp / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(tmp / "stack")
    tag = uuid.uuid4().hex[:8]
    topics = TopicSettings(**{f: f"chaos-{tag}.{f.replace('_', '.')}" for f in TopicSettings.model_fields})
    state = Run(cfg, log_dir, broker, topics, group=f"chaos-{tag}")
    reader = sampler = None
    try:
        log.info("chaos: starting a private broker on %s (state in %s)", broker.bootstrap, tmp)
        broker.up()
        counts = {**topics.partitions(), topics.logs: cfg.partitions}
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
        for fut in admin.create_topics([NewTopic(t, n, 1) for t, n in counts.items()]).values():
            fut.result(30)
        _wait_for_leaders(admin, counts)

        messages = _records(cfg)
        backlog, live = messages[:cfg.events], messages[cfg.events:]
        expected = _expected(messages)
        flush_ts = _event_times(messages) + cfg.window + cfg.lateness + 1.0
        publisher = Publisher(broker.bootstrap, topics.logs)
        started = time.monotonic()
        for key, value in backlog:
            publisher.send(key, value)
        publisher.flush()
        publish_s = time.monotonic() - started
        log.info("chaos: published a backlog of %d messages (%d events expected) in %.1f s",
                 len(backlog), expected, publish_s)

        reader = Reader(broker.bootstrap, topics.results, topics.dlq)
        reader.start()
        sampler = LagSampler(broker.bootstrap, state.group, topics.logs, cfg.partitions)
        sampler.start()
        state.t0 = time.monotonic()
        for _ in range(cfg.workers):
            state.start_worker()

        def finish_input() -> None:
            interval = 1.0 / cfg.live_rate
            for key, value in live:
                publisher.send(key, value)
                time.sleep(interval)   # the live stream's pace
            for p in range(cfg.partitions):
                publisher.send(b"bench", _flush_value(flush_ts), partition=p)
            publisher.flush()

        feeder = threading.Thread(target=finish_input, daemon=True)
        feeder.start()

        plan = sorted([(rng.uniform(0.1, 0.85), "kill") for _ in range(cfg.kills)] +
                      [(rng.uniform(0.15, 0.8), "broker") for _ in range(cfg.broker_restarts)])
        deadline = time.monotonic() + cfg.timeout
        drained_at = None
        since_action = -1   # events reported when the last fault struck: the next waits for more
        while time.monotonic() < deadline:
            state.check_exits()
            reported = reader.reported()
            progress = reported / max(expected, 1)
            if plan and progress >= plan[0][0] and reported > since_action:
                # one fault at a time: the next one strikes once results came after the last
                _, what = plan.pop(0)
                if what == "kill":
                    state.kill_worker(rng, progress)
                else:
                    state.restart_broker(progress)
                since_action = reader.reported()
            quiet = time.monotonic() - reader.last_message
            if (not plan and not feeder.is_alive() and sampler.latest() == 0
                    and (reader.reported() >= expected or quiet > cfg.idle_timeout + 5)):
                drained_at = time.monotonic()
                break
            time.sleep(0.2)   # polling progress, lag and the workers
        if drained_at is not None:   # the reader catches up with what is on the topic by now
            settle = time.monotonic() + 10
            while time.monotonic() < settle and time.monotonic() - reader.last_message < 2.0:
                time.sleep(0.2)   # polling the reader until the results topic is read to its end
        figures = _figures(cfg, state, reader, sampler, expected, len(messages), publish_s, drained_at)
        figures["publish_failures"] = len(publisher.failed)
        figures["plan_left"] = [what for _, what in plan]
        return figures
    finally:
        for thread in (reader, sampler):
            if thread is not None:
                thread.stop()
        state.stop_workers()
        broker.down()
        shutil.rmtree(tmp / "stack", ignore_errors=True)
        log.info("chaos: logs in %s", log_dir)


def _wait_for_leaders(admin: AdminClient, counts: dict[str, int], timeout: float = 60.0) -> None:
    """Until every partition of the new topics has a leader (a created topic is acknowledged
    before the broker serves it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=10).topics
        if all(name in md and md[name].error is None and len(md[name].partitions) == n
               and all(p.leader >= 0 for p in md[name].partitions.values()) for name, n in counts.items()):
            return
        time.sleep(0.1)   # polling the broker's metadata
    raise RuntimeError(f"topics without leaders after {timeout:.0f} s")


def _figures(cfg: ChaosConfig, state: Run, reader: Reader, sampler: LagSampler, expected: int, published: int,
             publish_s: float, drained_at: float | None) -> dict:
    copies: dict[str, list[Copy]] = defaultdict(list)
    for c in reader.copies:
        if c.key != FLUSH_KEY:
            copies[c.window_id].append(c)
    twice = {wid: cs for wid, cs in copies.items() if len(cs) > 1}
    differ_counts = sum(1 for cs in twice.values() if len({(c.events, c.late) for c in cs}) > 1)
    differ_templates = sum(1 for cs in twice.values() if len({c.templates for c in cs}) > 1)
    differing = [cs for cs in twice.values() if len({(c.events, c.late, c.templates) for c in cs}) > 1]
    reported = sum(max(c.events for c in cs) for cs in copies.values())
    late = sum(max(c.late for c in cs) for cs in copies.values())
    from engine.templates import template_id

    ids_by_text: dict[str, set[str]] = defaultdict(set)
    texts_by_id: dict[str, set[str]] = defaultdict(set)
    for cs in copies.values():
        for c in cs:
            for tid, text, _count in c.templates:
                ids_by_text[text].add(tid)
                texts_by_id[tid].add(text)
    samples = [(t - state.t0, lag) for t, lag in sampler.samples if t >= state.t0]
    step = max(1, len(samples) // 40)
    letters = defaultdict(int)
    for x in reader.letters:
        letters[x["reason"]] += 1
    return {
        "events_published": published,
        "events_expected": expected,
        "dead_letters": len(reader.letters),
        "dead_letters_by_reason": dict(letters),
        "distinct_window_ids": len(copies),
        "ids_published_more_than_once": len(twice),
        "ids_whose_copies_differ": len(differing),
        "ids_whose_copies_differ_in_counts": differ_counts,
        "ids_whose_copies_differ_in_templates": differ_templates,
        # what tells a cause apart: when and how each copy of a few differing ids was made
        "differing_examples": [[{"window_id": c.window_id, "key": c.key, "events": c.events, "late": c.late,
                                 "templates": len(c.templates), "closed_by": c.closed_by,
                                 "produced_at": c.produced_at, "at": f"{c.partition}/{c.offset}"}
                                for c in cs] for cs in differing[:10]],
        "events_reported": reported,
        "events_lost": max(0, expected - reported),
        "events_reported_beyond_input": max(0, reported - expected),
        "late_share": round(late / reported, 4) if reported else None,
        "distinct_templates": len(ids_by_text),
        "template_texts_with_several_ids": sum(1 for ids in ids_by_text.values() if len(ids) > 1),
        "template_ids_with_several_texts": sum(1 for texts in texts_by_id.values() if len(texts) > 1),
        # what `rca analyze` and any other process name a template: the hash of its text
        "template_ids_not_the_hash_of_their_text": sum(1 for text, ids in ids_by_text.items()
                                                       if ids != {template_id(text)}),
        "drained": drained_at is not None,
        "drain_seconds": round(drained_at - state.t0, 1) if drained_at is not None else None,
        "final_lag": sampler.latest(),
        "lag_over_time": [[round(t, 1), lag] for t, lag in samples[::step]] + (
            [[round(samples[-1][0], 1), samples[-1][1]]] if samples and (len(samples) - 1) % step else []),
        "publish_seconds": round(publish_s, 1),
        "chaos": state.actions,
        "workers_started": len(state.procs),
        "workers_killed": len(state.killed),
        "workers_alive_at_end": sum(1 for i in state.alive if state.procs[i].poll() is None),
        "worker_exits": state.exits,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "log_dir": str(state.log_dir),
    }


def summary_lines(f: dict) -> list[str]:
    """The figures for a terminal."""
    kills = [a for a in f["chaos"] if a["action"] == "kill -9 worker"]
    brokers = [a for a in f["chaos"] if a["action"] == "kill -9 broker"]
    return [
        f"events published      {f['events_published']:,} ({f['events_expected']:,} events expected)",
        f"dead letters          {f['dead_letters']:,} {f['dead_letters_by_reason'] or ''}".rstrip(),
        f"window ids            {f['distinct_window_ids']:,} distinct, {f['ids_published_more_than_once']:,} "
        f"published more than once, {f['ids_whose_copies_differ']:,} whose copies differ "
        f"(counts {f['ids_whose_copies_differ_in_counts']:,}, templates {f['ids_whose_copies_differ_in_templates']:,})",
        f"events lost           {f['events_lost']:,} (reported {f['events_reported']:,})",
        f"late share            {f['late_share']}",
        f"templates             {f['distinct_templates']:,}; texts with several ids "
        f"{f['template_texts_with_several_ids']}, ids with several texts {f['template_ids_with_several_texts']}",
        f"drain                 {f['drain_seconds']} s to lag {f['final_lag']}" if f["drained"]
        else f"drain                 NOT drained in {f['config']['timeout']:.0f} s (lag {f['final_lag']})",
        f"chaos                 {len(kills)} workers killed at " + ", ".join(f"{a['t']} s" for a in kills)
        + f"; broker killed at " + (", ".join(f"{a['t']} s (down {a['down_s']} s)" for a in brokers) or "-"),
        f"workers               {f['workers_started']} started, {f['workers_alive_at_end']} alive at the end, "
        f"{len(f['worker_exits'])} exited on their own",
        "lag over time         " + " ".join(f"{t:.0f}s:{'-' if lag is None else lag}" for t, lag in f["lag_over_time"]),
        f"logs                  {f['log_dir']}",
    ]
