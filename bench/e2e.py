"""`rca bench e2e`: what one worker carries, beside what its framework and its broker carry.

Everything runs in one go on the same broker and the same input topic (fresh
topics, fresh consumer groups), figures only, no asserts:

1. input: the simulator (multi-service, many templates, injected faults) or
   ``--logs PATH...`` replayed as shippers send it, one record per message: raw
   oslo.log lines (key ``host:path``) and JSON log events (key ``host``), in
   event-time order. It is published as a backlog before anything reads it,
   framed by a probe per partition (an empty value: the worker dead-letters it
   at once, which tells when it started consuming) and a flush event per
   partition at the end (far ahead in event time: every window closes by the
   watermark, as a stream that goes on would close it);
2. a bare confluent-kafka consumer reads the topic (the box's physical limit);
3. a bare Faust agent that only iterates it (the framework's limit,
   ``bench/faust_app.py``), then the same agent running the worker's
   per-message code (``Pipeline.handle``), then that plus inline scoring with
   the model: nothing is sent, so the rates split a message's cost into
   Faust's, ours and delivery's (``cost_us_per_message``);
4. ``rca worker`` with the baseline analyzer (a fresh registered model name:
   nothing to serve);
5. ``--workers N`` (N > 1): N workers serving the model in one group, total
   and per-worker rates, lost events and windows reported twice;
6. ``rca worker`` serving a real bundle (trained on the input and registered as
   production under a fresh name, or ``--model REF``): its backlog rate and
   latency, consumer lag over time, and ``--profile`` (py-spy) meanwhile;
7. the same worker, then, under a steady stream at about half its backlog
   rate (event time re-based onto the wall clock): latency from the moment a
   window could close (its end + allowed lateness, or the end of the stream +
   the idle timeout for the last ones) to its result on the results topic;
8. the same worker, then, the input again in batch envelopes of ``--batch``
   records (``schemas/log_batch.schema.json``): records/s, or what the worker
   did with them (dead letters) if it does not read envelopes; and
   ``--profile-batched`` (py-spy) meanwhile.

A worker's rate runs from its first consumed message (its probe's dead
letter, broker time) to its last result (broker append time), so the publish
and the worker's start-up are not in it. Each worker process writes to its
own results and DLQ topics, which attributes results to processes.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import PROJECT_ROOT, Settings, TopicSettings
from producers.kafka import make_producer
from schemas.log_event import format_timestamp, parse_timestamp

FLUSH_KEY = "bench-flush"        # session key (instance_id) of the flush events
_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?")


# -- input ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class Record:
    """One message of the input: a raw line or a log event, with its event time."""

    ts: float
    key: bytes
    line: str | None = None
    event: dict | None = None

    def value(self, ts: float | None = None) -> bytes:
        """The message value, with its event time moved to `ts` when given."""
        if self.event is not None:
            return orjson.dumps(self.event if ts is None else {**self.event, "timestamp": format_timestamp(ts)})
        return (self.line if ts is None else _retime(self.line, ts)).encode()

    def batch_item(self, ts: float) -> bytes:
        """The record as an item of a batch envelope (a JSON object or string)."""
        if self.event is not None:
            return orjson.dumps({**self.event, "timestamp": format_timestamp(ts)})
        return orjson.dumps(_retime(self.line, ts))


def _retime(line: str, ts: float) -> str:
    """`line` with its oslo.log timestamp replaced (UTC, milliseconds); unchanged without one."""
    text = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return _TS.sub(text, line, count=1)


def _as_json(fmt: str, source: str) -> bool:
    return fmt == "json" or (fmt == "mixed" and zlib.crc32(source.encode()) % 2 == 0)


def synthetic(n: int, hosts: int = 8, seed: int = 1, fmt: str = "mixed") -> list[Record]:
    """`n` messages of a simulated cloud (faults included), in time order."""
    from producers.simulate import SUBSYSTEM, Simulation, log_path, simulated_events

    minutes = max(2.0, 1.2 * n / (hosts * 120))   # about 120 messages per host-minute
    out: list[Record] = []
    for ev in simulated_events(Simulation(hosts, minutes, seed, faults=3)):
        # an infrastructure daemon's record carries its own file path (/var/log/rabbitmq/...)
        path = log_path(Path(), ev.service).as_posix() if ev.service in SUBSYSTEM else ev.source
        source = f"{ev.host}:{path}"
        if _as_json(fmt, source):
            out.append(Record(ev.timestamp, (ev.host or "bench").encode(), event=ev.to_dict()))
        else:
            out.extend(Record(ev.timestamp, source.encode(), line=line) for line in ev.raw.split("\n"))
        if len(out) >= n:
            break
    return out[:n]


def replay(paths: list[str], n: int | None, fmt: str = "mixed") -> list[Record]:
    """Real log files as shippers send them, merged in event-time order (the first `n`)."""
    from engine.parsing import parse_line
    from engine.readers import expand, file_events, read_lines

    files = [f for f in expand(paths) if os.path.getsize(f) > 0]
    root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    out: list[Record] = []
    for f in files:
        source = f"replay:{os.path.relpath(f, root)}"
        last = None
        if _as_json(fmt, source):
            for ev in file_events(f):
                last = ev.timestamp if ev.timestamp is not None else last
                if last is not None:
                    out.append(Record(last, b"replay", event=ev.to_dict()))
            continue
        for line in read_lines(f):
            if not line.strip():
                continue
            ts = parse_line(line).timestamp
            last = ts if ts is not None else last
            if last is not None:
                out.append(Record(last, source.encode(), line=line))
    if not out:
        raise ValueError("no timestamped log records in the input")
    out.sort(key=lambda r: r.ts)
    return out[:n] if n else out


def expected_events(messages) -> int:
    """How many events the worker should report for these (key, value) messages, in order: the
    worker's own decoder joins a raw continuation line (a traceback sent line by line) to its record
    and dead-letters what it rejects, so those are not events of a window."""
    from config.settings import WorkerSettings
    from consumers.ingest import Decoder

    decoder = Decoder(WorkerSettings())
    return sum(1 for key, value in messages if type(decoder.decode(value, key)).__name__ == "LogEvent")


def _flush_value(ts: float) -> bytes:
    return orjson.dumps({"schema_version": 1, "timestamp": format_timestamp(ts), "service": "bench",
                         "host": "bench", "instance_id": FLUSH_KEY, "level": "INFO", "logger": "bench",
                         "message": "bench: end of input"})


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _weighted_percentile(pairs: list[tuple[float, int]], q: float) -> float | None:
    """Percentile of values each counted `weight` times (a window's latency, once per event)."""
    pairs = sorted(p for p in pairs if p[1] > 0)
    total = sum(w for _, w in pairs)
    if not total:
        return None
    need, seen = q * total, 0
    for value, weight in pairs:
        seen += weight
        if seen >= need:
            return value
    return pairs[-1][0]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds and seconds > 0 else None


# -- reading what workers write -------------------------------------------------------------------
@dataclass
class Sink:
    """Results and dead letters of one worker process, read as they arrive (broker times)."""

    results: list[dict] = field(default_factory=list)
    letters: list[dict] = field(default_factory=list)


class Reader(threading.Thread):
    """Reads results and DLQ topics from their start into Sinks until stopped."""

    def __init__(self, bootstrap: str, topics: dict[str, tuple[Sink, str]]) -> None:
        super().__init__(daemon=True)
        self.topics = topics            # topic -> (sink, "results" | "dlq")
        self.stop_flag = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self.consumer.subscribe(list(topics))
        self.error: str | None = None

    def run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                for msg in self.consumer.consume(1000, 0.1):
                    if msg.error():
                        continue
                    sink, kind = self.topics[msg.topic()]
                    ts = msg.timestamp()[1] / 1000.0
                    v = orjson.loads(msg.value())
                    if kind == "results":
                        sink.results.append({"t": ts, "id": v["window_id"], "key": v["session_key"],
                                             "start": parse_timestamp(v["window_start"]),
                                             "end": parse_timestamp(v["window_end"]), "events": v["event_count"],
                                             "closed_by": v.get("closed_by"), "analyzer": v.get("analyzer"),
                                             "produced": parse_timestamp(v["produced_at"])})
                    else:
                        sink.letters.append({"t": ts, "reason": v.get("reason"), "partition": v.get("source_partition"),
                                             "offset": v.get("source_offset")})
        except Exception as exc:  # noqa: BLE001 - reported in the figures
            self.error = repr(exc)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(10)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class LagSampler(threading.Thread):
    """Committed offsets of a group vs the high watermarks of the input, every `every` seconds;
    beside them, the CPU time the group's processes (`pids`) have used."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int, every: float = 0.5,
                 pids: list[int] | None = None) -> None:
        super().__init__(daemon=True)
        self.every, self.topic, self.partitions = every, topic, partitions
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        self.samples: list[tuple[float, int]] = []
        self.pids = list(pids or [])
        self.cpu: list[tuple[float, float]] = []   # (wall time, CPU seconds of all pids)
        self.stop_flag = threading.Event()

    def cpu_cores(self, t0: float, t1: float) -> float | None:
        """Cores the processes kept busy on average between t0 and t1 (1.0: one core all the time)."""
        inside = [(t, c) for t, c in self.cpu if t0 <= t <= t1]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
            return None
        (ta, ca), (tb, cb) = inside[0], inside[-1]
        return round((cb - ca) / (tb - ta), 2)

    def run(self) -> None:
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            while not self.stop_flag.wait(self.every):
                used = [cpu_seconds(p) for p in self.pids]
                if used and all(u is not None for u in used):
                    self.cpu.append((time.time(), sum(used)))
                committed = self.consumer.committed(tps, timeout=5)
                lag = 0
                for tp in committed:
                    low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition),
                                                                    timeout=5, cached=False)
                    lag += high - (tp.offset if tp.offset >= 0 else low)
                self.samples.append((time.time(), lag))
        except Exception:  # noqa: BLE001 - lag is a side figure
            pass
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(10)

    def series(self, t0: float, t1: float, points: int = 30) -> list[list[float]]:
        """[seconds since t0, lag] from t0 to t1, thinned to about `points` samples."""
        s = [(t - t0, lag) for t, lag in self.samples if t0 - self.every <= t <= t1 + self.every]
        step = max(1, len(s) // points)
        return [[round(t, 1), lag] for t, lag in s[::step]]


# -- the run ------------------------------------------------------------------------------------
class Bench:
    def __init__(self, *, window: float, lateness: float, idle: float, partitions: int, timeout: float,
                 log_dir: Path, say) -> None:
        self.settings = Settings()
        self.bootstrap = self.settings.kafka.bootstrap_servers
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.tag = uuid.uuid4().hex[:8]
        self.prefix = f"bench-{self.tag}"
        self.window, self.lateness, self.idle = window, lateness, idle
        self.partitions, self.timeout = partitions, timeout
        self.log_dir = log_dir
        self.say = say
        self.logs = f"{self.prefix}.logs"
        self.backlog_end = math.inf   # windows of the backlog start before this (set once it is known)
        self.expect = 0               # events the worker should report for the input (joined lines are not)
        self.procs: list[subprocess.Popen] = []
        self._create({self.logs: partitions, f"{self.prefix}.control": 1, f"{self.prefix}.control.events": 1,
                      f"{self.prefix}.incidents": partitions})

    def _create(self, topics: dict[str, int], append_time: bool = False) -> None:
        config = {"message.timestamp.type": "LogAppendTime"} if append_time else {}
        futures = self.admin.create_topics([NewTopic(t, p, 1, config=config) for t, p in topics.items()])
        for fut in futures.values():
            fut.result(30)

    # publishing
    def publish(self, messages, partition_msgs: list[bytes] | None = None, linger_ms: int = 20) -> float:
        """Produce (key, value) pairs (after one `partition_msgs[p]` value per partition, if given);
        returns the seconds it took."""
        producer = make_producer(self.settings.kafka, **{"linger.ms": linger_ms})
        started = time.monotonic()
        failed = []

        def report(err, _msg):
            if err is not None:
                failed.append(str(err))

        def send(**kw):
            while True:
                try:
                    producer.produce(self.logs, on_delivery=report, **kw)
                    return
                except BufferError:
                    producer.poll(0.05)

        for key, value in messages:
            send(key=key, value=value)
            producer.poll(0)
        if partition_msgs:
            for p in range(self.partitions):
                send(key=b"bench", value=partition_msgs[p], partition=p)
        producer.flush(120)
        if failed:
            raise RuntimeError(f"{len(failed)} messages not delivered: {failed[0]}")
        return time.monotonic() - started

    def probes(self) -> None:
        """An empty message at the head of each partition (the worker dead-letters it at once)."""
        self.publish([], [b""] * self.partitions)

    # bare readers
    def raw_consumer(self, expect: int) -> dict:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{self.prefix}-raw",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        c.subscribe([self.logs])
        got, first, last = 0, None, None
        deadline = time.monotonic() + self.timeout
        try:
            while got < expect and time.monotonic() < deadline:
                asked = time.perf_counter()   # a batch counts from the call that fetched it
                batch = c.consume(min(10_000, expect - got), 0.5)   # never waits on a batch the topic can't fill
                for msg in batch:
                    if not msg.error():
                        first = first or asked
                        got += 1
                last = time.perf_counter()
        finally:
            c.close()
        return {"messages": got, "events_per_s": _rate(got, (last or 0) - (first or 0))}

    def faust_agent(self, expect: int, stage: str = "iterate", model_name: str = "", model_ref: str = "") -> dict:
        """A bare Faust agent (bench/faust_app.py) at `stage`: iterate only, or also run the
        worker's per-message code (handle), or that and inline scoring with the model (score)."""
        name = "faust" if stage == "iterate" else f"faust-{stage}"
        out = self.log_dir / f"{name}.json"
        env = {**os.environ, "BENCH_TOPIC": self.logs, "BENCH_EXPECT": str(expect), "BENCH_OUT": str(out),
               "BENCH_STAGE": stage, "BENCH_MODEL": model_ref or "", "RCA_WORKER_APP_ID": f"{self.prefix}-{name}",
               "RCA_WORKER_WINDOW_SECONDS": str(self.window), "RCA_WORKER_ALLOWED_LATENESS_SECONDS": str(self.lateness),
               "RCA_WORKER_IDLE_TIMEOUT_SECONDS": str(self.idle), "RCA_MLFLOW_REGISTERED_MODEL_NAME": model_name}
        proc = self._spawn([sys.executable, "-m", "bench.faust_app"], env, f"{name}.log")
        try:
            deadline = time.monotonic() + self.timeout
            while not out.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"the bare Faust agent exited (see {self.log_dir / (name + '.log')})")
                if time.monotonic() > deadline:
                    return {"messages": None, "events_per_s": None, "error": "timed out"}
                time.sleep(0.2)   # polling for the agent's result file
        finally:
            self._stop(proc)
        r = json.loads(out.read_text())
        return {"messages": r["count"], "events_per_s": _rate(r["count"] - 1, r["last"] - r["first"]),
                "analyzer": r.get("analyzer"),
                "work_us_per_message": round(1e6 * r["work_s"] / r["count"], 1) if r.get("work_s") else None}

    def offline(self, records: list[Record], size: int, model_name: str, model_ref: str | None) -> dict:
        """Our per-message code alone, no Kafka, no Faust (bench/offline.py), on this input:
        one record per message, and the same records in envelopes of `size`, with the served model."""
        from bench.offline import write_input

        path, out = self.log_dir / "offline-input.ndjson", self.log_dir / "offline.json"
        write_input(path, [(r.key, r.value()) for r in records], [(k, v) for k, v, _n in envelopes(records, size)])
        env = {**os.environ, "BENCH_INPUT": str(path), "BENCH_OUT": str(out), "BENCH_MODEL": model_ref or "",
               "BENCH_PARTITIONS": str(self.partitions), "RCA_MLFLOW_REGISTERED_MODEL_NAME": model_name,
               "RCA_WORKER_WINDOW_SECONDS": str(self.window), "RCA_WORKER_ALLOWED_LATENESS_SECONDS": str(self.lateness),
               "RCA_WORKER_IDLE_TIMEOUT_SECONDS": str(self.idle)}
        proc = self._spawn([sys.executable, "-m", "bench.offline"], env, "offline.log")
        try:
            proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            return {"error": "timed out"}
        finally:
            self._stop(proc)
        if not out.exists():
            return {"error": f"exit {proc.returncode} (see {self.log_dir / 'offline.log'})"}
        return json.loads(out.read_text())

    # workers
    def _spawn(self, cmd: list[str], env: dict, log_name: str) -> subprocess.Popen:
        fh = open(self.log_dir / log_name, "wb")
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        fh.close()
        self.procs.append(proc)
        return proc

    def _stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop_all(self) -> None:
        for p in self.procs:
            self._stop(p)

    def start_workers(self, name: str, n: int, model_name: str, model_ref: str | None) -> "WorkerGroup":
        # topics of this group's own (correlation, incidents, control...): groups never see each other
        topics = TopicSettings(**{f: f"{self.prefix}.{name}.{f.replace('_', '.')}" for f in TopicSettings.model_fields})
        group = WorkerGroup(self, name, f"{self.prefix}-{name}")
        sinks: dict[str, tuple[Sink, str]] = {}
        for i in range(n):
            results, dlq = f"{self.prefix}.{name}{i}.results", f"{self.prefix}.{name}{i}.dlq"
            self._create({results: self.partitions, dlq: 1}, append_time=True)
            sink = Sink()
            sinks[results], sinks[dlq] = (sink, "results"), (sink, "dlq")
            group.sinks.append(sink)
            env = {**os.environ,
                   **{f"RCA_TOPIC_{f.upper()}": getattr(topics, f) for f in TopicSettings.model_fields},
                   "RCA_TOPIC_LOGS": self.logs, "RCA_TOPIC_RESULTS": results, "RCA_TOPIC_DLQ": dlq,
                   "RCA_WORKER_APP_ID": group.group, "RCA_MLFLOW_AUTO_LOG": "false",
                   "RCA_MLFLOW_REGISTERED_MODEL_NAME": model_name, "RCA_WORKER_METRICS_PORT": "0"}
            cmd = [sys.executable, "-m", "cli.main", "--log-level", "INFO", "worker", "--window", str(self.window),
                   "--lateness", str(self.lateness), "--idle-timeout", str(self.idle), "--disable-mlflow"]
            if model_ref:
                cmd += ["--model", model_ref]
            group.procs.append(self._spawn(cmd, env, f"{name}{i}.log"))
        group.reader = Reader(self.bootstrap, sinks)
        group.reader.start()
        group.lag = LagSampler(self.bootstrap, group.group, self.logs, self.partitions, pids=group.pids())
        group.lag.start()
        return group


@dataclass
class WorkerGroup:
    bench: Bench
    name: str
    group: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=list)
    reader: Reader | None = None
    lag: LagSampler | None = None

    def results(self, since_start: float = -math.inf, until_start: float = math.inf) -> list[dict]:
        return [r for s in self.sinks for r in list(s.results)
                if r["key"] != FLUSH_KEY and since_start <= r["start"] < until_start]

    def letters(self, since: float = -math.inf) -> list[dict]:
        return [x for s in self.sinks for x in list(s.letters) if x["t"] >= since]

    def wait(self, expect: int, since_start: float = -math.inf, until_start: float = math.inf,
             letters_since: float | None = None, expect_letters: int | None = None, stall: float = 30.0) -> bool:
        """Until `expect` events are reported in windows starting in [since, until) (or `expect_letters`
        dead letters arrived after `letters_since`); False on a stall, a timeout or a dead worker."""
        deadline = time.monotonic() + self.bench.timeout
        last_progress, last_seen = time.monotonic(), -1
        while time.monotonic() < deadline:
            seen = sum(r["events"] for r in self.results(since_start, until_start))
            letters = len(self.letters(letters_since)) if letters_since is not None else 0
            if seen >= expect or (expect_letters and letters >= expect_letters):
                return True
            if seen + letters != last_seen:
                last_seen, last_progress = seen + letters, time.monotonic()
            elif time.monotonic() - last_progress > stall:
                return False
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a worker of {self.name} exited (logs in {self.bench.log_dir})")
            time.sleep(0.2)   # polling the reader's progress
        return False

    def first_consumed(self, sink: Sink | None = None) -> float | None:
        """Broker time of the first probe dead letter (the worker's first message); without one,
        the first lag sample below the backlog, less the commit interval (1 s), for the group."""
        sinks = [sink] if sink else self.sinks
        probes = [x["t"] for s in sinks for x in list(s.letters) if x["reason"] == "empty"]
        if probes:
            return min(probes)
        samples = self.lag.samples if self.lag is not None else []
        drops = [t for t, lag in samples if samples and lag < samples[0][1]]
        return drops[0] - 1.0 if drops and sink is None else None

    def stop(self) -> None:
        for p in self.procs:
            self.bench._stop(p)
        for t in (self.reader, self.lag):
            if t is not None:
                t.stop()

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def _backlog_figures(group: WorkerGroup, n: int, ok: bool, since: float = -math.inf, until: float = math.inf,
                     expect: int | None = None) -> dict:
    """Rate, latency, lag and delivery checks of a backlog of `n` messages (`expect` events once joined
    lines are in their records) in windows starting in [since, until).

    The rate is in messages/s, comparable with the bare readers': the messages behind the events
    reported (all of them when every expected event was reported)."""
    expect = expect or n
    results = group.results(since, until)
    t0 = group.first_consumed()
    events = sum(r["events"] for r in results)
    last = max((r["t"] for r in results), default=None)
    messages = round(n * min(1.0, events / expect))
    out = {"complete": ok, "events_reported": events, "windows": len(results),
           "events_per_s": _rate(messages, (last - t0) if (last and t0) else None),
           "analyzers": dict(Counter(r["analyzer"] for r in results)),
           "closed_by": dict(Counter(r["closed_by"] for r in results)),
           "dead_letters": dict(Counter(x["reason"] for x in group.letters()))}
    if t0:
        lat = [(r["t"] - t0, r["events"]) for r in results]
        out["latency_p50_ms"] = _ms(_weighted_percentile(lat, 0.50))
        out["latency_p99_ms"] = _ms(_weighted_percentile(lat, 0.99))
        out["lag"] = group.lag.series(t0, last or t0)
        # below 1.0 for one process: it waited (on the broker, its own sends, acks) as much as it worked
        out["cpu_cores_busy"] = group.lag.cpu_cores(t0, last or t0)
    else:
        out["note"] = "no probe dead letter seen: the first consumed message time is unknown"
    # delivery checks: every event in exactly one reported window
    ids = Counter(r["id"] for r in results)
    dup = [i for i, c in ids.items() if c > 1]
    distinct: dict[str, int] = {}
    for r in results:
        distinct.setdefault(r["id"], r["events"])
    out.update({"messages_published": n, "events_expected": expect,
                "events_in_distinct_windows": sum(distinct.values()),
                "events_lost": max(0, expect - sum(distinct.values())), "windows_reported_twice": len(dup)})
    if len(group.sinks) > 1:
        per = []
        for s in group.sinks:
            rs = [r for r in list(s.results) if r["key"] != FLUSH_KEY and since <= r["start"] < until]
            first = group.first_consumed(s) or t0
            ev = sum(r["events"] for r in rs)
            end = max((r["t"] for r in rs), default=None)
            per.append({"events": ev, "events_per_s": _rate(round(ev * n / expect),
                                                            (end - first) if (end and first) else None)})
        out["per_worker"] = per
    return out


def _train_and_register(records: list[Record], epochs: int, max_events: int, say) -> tuple[str, str | None, str]:
    """Train a bundle on the input; register it as production under a fresh name.
    Returns (registered model name, --model ref or None, description)."""
    from consumers.ingest import decode_value
    from engine.training import TrainingData, train
    from schemas.log_event import LogEvent
    from tracking.api import track_training
    from tracking.backend import Backend

    events = [e for e in (decode_value(r.value(), 10**7) for r in records[:max_events]) if isinstance(e, LogEvent)]
    data = TrainingData(runs=[events], names=["bench input"], labels=[False], root_causes=[None], lines=len(events))
    started = time.monotonic()
    bundle = train(data, epochs=epochs)
    say(f"trained a bundle on {len(events)} events in {time.monotonic() - started:.0f} s")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    rec = track_training(bundle, params={"purpose": "rca bench e2e"}, data_summary=data.summary(),
                         backend=Backend.from_env(registered_model_name=name))
    if rec.tracked and rec.version is not None:
        return name, None, f"registered {name} v{rec.version} @production"
    return name, rec.model_url, f"untracked bundle {rec.model_url} ({rec.skipped_reason})"


def _profile(pid: int, out: str, seconds: float) -> list[subprocess.Popen]:
    """py-spy record on `pid`: a flame graph (.svg) or speedscope (.json) at `out`, and raw stacks beside."""
    exe = Path(sys.executable).with_name("py-spy")
    exe = str(exe) if exe.exists() else "py-spy"
    raw = str(Path(out).with_suffix(".collapsed.txt"))
    procs = []
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(out).suffix)
    # --gil: only the thread holding the GIL is sampled, so the shares are of the CPU time the
    # process's Python code gets (the event loop and the scoring thread share one GIL), not of
    # threads waiting in select() or on a lock
    common = ["record", "--pid", str(pid), "--duration", str(int(max(1, seconds))), "--rate", "100", "--nonblocking",
              "--gil"]
    if fmt:
        procs.append(subprocess.Popen([exe, *common, "--format", fmt, "-o", out],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    procs.append(subprocess.Popen([exe, *common, "--format", "raw", "-o", raw],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def _profile_summary(out: str, seconds: float) -> dict:
    """The files of a `_profile` run, its top frames, and the share of the time some thread held the GIL."""
    raw_path = str(Path(out).with_suffix(".collapsed.txt"))
    summary = {"files": [p for p in (out, raw_path) if Path(p).exists()],
               **(top_frames(raw_path) if Path(raw_path).exists() else {"error": "no samples"})}
    if summary.get("samples"):
        # with --gil a sample is taken only while some thread holds the GIL (100 samples/s)
        summary["gil_held_share"] = round(summary["samples"] / (seconds * 100), 2)
    return summary


def top_frames(collapsed: str, n: int = 15) -> dict:
    """Top functions of py-spy raw (collapsed) stacks: by own samples and by inclusive samples."""
    own, incl, total = Counter(), Counter(), 0
    for line in Path(collapsed).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            incl[f] += c
    pct = lambda c: round(100.0 * c / total, 1) if total else 0.0  # noqa: E731

    def inclusive(prefixes: tuple[str, ...]) -> list:
        return [[f, pct(c)] for f, c in incl.most_common() if any(f"({p}" in f for p in prefixes)][:n]

    return {"samples": total,
            "self": [[f, pct(c)] for f, c in own.most_common(n)],
            "inclusive_ours": inclusive(("consumers/", "engine/", "schemas/", "tracking/")),
            "inclusive_framework": inclusive(("faust/", "aiokafka/", "mode/"))}


def run(*, events: int = 20_000, logs: list[str] | None = None, fmt: str = "mixed", window: float = 10.0,
        lateness: float = 2.0, idle: float = 5.0, partitions: int = 6, workers: int = 1, batch: int = 100,
        model: str | None = None, epochs: int = 1, steady_seconds: float = 30.0, profile: str | None = None,
        profile_batched: str | None = None, timeout: float = 900.0, say=lambda text: None) -> dict:
    log_dir = Path(tempfile.mkdtemp(prefix="rca-bench-e2e-"))
    records = replay(logs, events or None) if logs else synthetic(events, fmt=fmt)
    n = len(records)
    t_min, t_max = records[0].ts, max(r.ts for r in records)
    say(f"input: {n} messages ({sum(1 for r in records if r.line is not None)} raw lines), "
        f"{(t_max - t_min) / 60:.1f} min of event time; logs of processes in {log_dir}")
    bench = Bench(window=window, lateness=lateness, idle=idle, partitions=partitions, timeout=timeout,
                  log_dir=log_dir, say=say)
    flush_ts = t_max + window + lateness + 1.0
    bench.backlog_end = math.floor(flush_ts / window) * window   # windows of the backlog start before this
    expect = bench.expect = expected_events((r.key, r.value()) for r in records)
    source = ("replay " + " ".join(logs)) if logs else f"simulator ({fmt})"
    summary: dict = {"events": n, "events_expected": expect, "input": source,
                     "partitions": partitions, "window_s": window, "lateness_s": lateness, "idle_timeout_s": idle,
                     "process_logs": str(log_dir)}
    try:
        bench.probes()
        took = bench.publish(((r.key, r.value()) for r in records), [_flush_value(flush_ts)] * partitions)
        total = n + 2 * partitions
        summary["publish_events_per_s"] = _rate(n, took)
        say(f"published the backlog ({total} messages with probes and flush events) in {took:.1f} s")

        if model:
            # REF resolves against the configured registered model name (or is a path / URL)
            model_name, model_ref, about = bench.settings.mlflow.registered_model_name, model, f"--model {model}"
        else:
            model_name, model_ref, about = _train_and_register(records, epochs, 50_000, say)
        summary["model"] = about

        raw = bench.raw_consumer(total)
        summary["raw_consumer_events_per_s"] = raw["events_per_s"]
        say(f"bare confluent-kafka consumer: {raw['events_per_s']} messages/s")
        fa = bench.faust_agent(total)
        summary["faust_events_per_s"] = fa["events_per_s"]
        say(f"bare Faust agent: {fa['events_per_s']} messages/s")
        fh = bench.faust_agent(total, "handle")
        summary["faust_handle_events_per_s"] = fh["events_per_s"]
        say(f"bare Faust agent + Pipeline.handle (decode, parse, mine, window; nothing scored or sent): "
            f"{fh['events_per_s']} messages/s ({fh['work_us_per_message']} us/message in our code)")
        fd = bench.faust_agent(total, "send")
        summary["faust_send_events_per_s"] = fd["events_per_s"]
        say(f"bare Faust agent + Pipeline.handle + two records sent through Faust per closed window "
            f"(nothing scored): {fd['events_per_s']} messages/s")
        fs = bench.faust_agent(total, "score", model_name, model_ref)
        summary["faust_score_events_per_s"] = fs["events_per_s"]
        summary["faust_stages"] = {"handle": fh, "send": fd, "score": fs}
        say(f"bare Faust agent + Pipeline.handle + scoring inline with the {fs['analyzer']} analyzer (nothing sent): "
            f"{fs['events_per_s']} messages/s ({fs['work_us_per_message']} us/message in our code)")

        off = summary["offline"] = bench.offline(records, batch, model_name, model_ref)
        summary["offline_events_per_s"] = off.get("single", {}).get("events_per_s")
        summary["offline_batched_records_per_s"] = off.get("batched", {}).get("events_per_s")
        say(f"our code alone (handle + results, no Kafka, no Faust, one thread, the {off.get('analyzer')} analyzer): "
            f"{summary['offline_events_per_s']} events/s one record per message, "
            f"{summary['offline_batched_records_per_s']} records/s in envelopes of {batch}; {off}")

        base = bench.start_workers("baseline", 1, f"bench-none-{bench.tag}", None)
        ok = base.wait(expect, until_start=bench.backlog_end)
        base.stop()
        summary["worker_baseline"] = b = _backlog_figures(base, n, ok, until=bench.backlog_end, expect=expect)
        summary["worker_baseline_events_per_s"] = b["events_per_s"]
        say(f"worker, baseline analyzer: {b['events_per_s']} events/s "
            f"({b['events_reported']} of {expect} expected events reported)")

        main = bench.start_workers("model", 1, model_name, model_ref)
        spies: list[subprocess.Popen] = []
        if profile:
            _wait_for(lambda: main.first_consumed() is not None, main, timeout)
            # inside the backlog (a little shorter than the baseline worker took), so every sample is of work
            profile_s = max(1, int(min(n / (summary["worker_baseline_events_per_s"] or 1000.0) * 0.8, 120.0)))
            spies = _profile(main.pids()[0], profile, profile_s)
        ok = main.wait(expect, until_start=bench.backlog_end)
        for s in spies:
            s.wait(150)
        summary["worker"] = m = _backlog_figures(main, n, ok, until=bench.backlog_end, expect=expect)
        rate = summary["worker_events_per_s"] = m["events_per_s"]
        summary["backlog_latency_p50_ms"] = m.get("latency_p50_ms")
        summary["backlog_latency_p99_ms"] = m.get("latency_p99_ms")
        say(f"worker serving the model: {rate} events/s ({m['events_reported']} of {expect} expected events reported, "
            f"analyzers {m['analyzers']}); backlog latency p99 {m.get('latency_p99_ms')} ms; "
            f"CPU {m.get('cpu_cores_busy')} cores busy")
        if profile:
            summary["profile"] = _profile_summary(profile, profile_s)
        summary["cost_us_per_message"] = cost_breakdown(summary)
        say(f"where a message's time goes (microseconds, from the rates above): {summary['cost_us_per_message']}")
        summary["budget_us"] = budgets(summary)
        say(f"what the targets leave our code, and what it costs alone (microseconds): {summary['budget_us']}")
        for k, v in (("worker_to_faust_ratio", summary["faust_events_per_s"]),
                     ("worker_to_raw_ratio", summary["raw_consumer_events_per_s"])):
            summary[k] = round(rate / v, 4) if rate and v else None

        # steady stream at about half the measured rate: the input (again and again if short), evenly
        # spaced, its event time re-based on the wall clock
        steady_rate = max(50.0, 0.5 * (rate or 1000.0))
        m_count = int(steady_rate * steady_seconds)
        sub = [records[k % n] for k in range(m_count)]
        base_ts = math.ceil((flush_ts + 2 * window + lateness) / window) * window
        new_ts = [base_ts + k / steady_rate for k in range(m_count)]
        say(f"steady stream: {m_count} events at ~{steady_rate:.0f}/s for {steady_seconds:.0f} s")
        t0, t_end = _steady_publish(bench, sub, new_ts, base_ts)
        steady_end = math.ceil((new_ts[-1] + window) / window) * window
        batch_base = math.ceil((steady_end + 2 * window + lateness) / window) * window
        m_expect = expected_events((r.key, r.value(ts)) for r, ts in zip(sub, new_ts))
        ok = main.wait(m_expect, since_start=base_ts - window, until_start=batch_base - window)
        rs = main.results(since_start=base_ts - window, until_start=batch_base - window)
        # a window could close when the stream passed its end + lateness; the last ones, which the stream
        # never passes, when it stopped + the idle timeout. One closed earlier (idle) counts 0.
        def could_close(end: float) -> float:
            at = t0 + (end + lateness - base_ts)
            return at if at <= t_end else t_end + idle

        lat = [(r["t"] - could_close(r["end"]), r["events"]) for r in rs]
        summary["steady"] = {"complete": ok, "events": m_count, "events_expected": m_expect,
                             "rate_per_s": round(steady_rate, 1),
                             "events_reported": sum(r["events"] for r in rs), "windows": len(rs),
                             "closed_by": dict(Counter(r["closed_by"] for r in rs)),
                             "events_in_windows_closed_before_they_could": sum(w for v, w in lat if v < 0)}
        # the same, up to when the worker built the result (produced_at): the rest is its delivery
        built = [(max(0.0, r["produced"] - could_close(r["end"])), r["events"]) for r in rs]
        summary["steady"]["until_result_built_p50_ms"] = _ms(_weighted_percentile(built, 0.50))
        summary["steady"]["until_result_built_p99_ms"] = _ms(_weighted_percentile(built, 0.99))
        lat = [(max(0.0, v), w) for v, w in lat]
        for how in sorted({r["closed_by"] for r in rs}):
            part = [x for x, r in zip(lat, rs) if r["closed_by"] == how]
            summary["steady"][f"latency_p50_ms_closed_by_{how}"] = _ms(_weighted_percentile(part, 0.50))
            summary["steady"][f"latency_p99_ms_closed_by_{how}"] = _ms(_weighted_percentile(part, 0.99))
        summary["steady"]["lag"] = main.lag.series(t0, t_end + idle + 5.0)
        summary["steady"]["cpu_cores_busy"] = main.lag.cpu_cores(t0, t_end)
        summary["steady_latency_p50_ms"] = _ms(_weighted_percentile(lat, 0.50))
        summary["steady_latency_p99_ms"] = _ms(_weighted_percentile(lat, 0.99))
        say(f"steady latency after a window could close: p50 {summary['steady_latency_p50_ms']} ms, "
            f"p99 {summary['steady_latency_p99_ms']} ms")

        # the input again, in batch envelopes
        # py-spy inside the batched phase: it runs at about 3x the backlog's rate (measured), so a
        # little shorter than that
        batch_profile = (profile_batched, max(1.0, min(0.8 * n / (3.0 * (rate or 1000.0)), 60.0))) \
            if profile_batched else None
        batched, batch_end = _batched(bench, main, records, batch, batch_base, say, batch_profile)
        summary.update(batched)
        main.stop()

        if workers > 1:
            summary.update(_scaled(bench, records, workers, model_name, model_ref,
                                   math.ceil((batch_end + 2 * window + lateness) / window) * window, say))
    finally:
        bench.stop_all()
    return summary


def _wait_for(cond, group: WorkerGroup, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        if any(p.poll() is not None for p in group.procs):
            raise RuntimeError(f"a worker of {group.name} exited")
        time.sleep(0.05)   # polling for the worker's first message


def _steady_publish(bench: Bench, records: list[Record], new_ts: list[float], base_ts: float) -> tuple[float, float]:
    """Publish each record when the wall clock reaches its (re-based) event time; (start, end) wall times."""
    producer = make_producer(bench.settings.kafka, **{"linger.ms": 1})
    t0 = time.time()
    for r, ts in zip(records, new_ts):
        ahead = t0 + (ts - base_ts) - time.time()
        if ahead > 0:
            producer.poll(0)
            time.sleep(ahead)   # pacing the stream, not waiting for a condition
        while True:
            try:
                producer.produce(bench.logs, key=r.key, value=r.value(ts))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    t_end = time.time()
    producer.flush(60)
    return t0, t_end


def envelopes(records: list[Record], size: int, shift: float = 0.0) -> list[tuple[bytes, bytes, int]]:
    """The records as batch envelopes of `size` records per key ((key, value, records) each, as
    `producers.publish.Batcher` makes them), event times moved by `shift` seconds."""
    from producers.publish import Batcher

    batcher = Batcher(size)
    out = [full for r in records if (full := batcher.add(r.key, r.batch_item(r.ts + shift)))]
    out.extend(batcher.drain())
    return out


def _batched(bench: Bench, main: WorkerGroup, records: list[Record], size: int, base_ts: float,
             say, profile: tuple[str, float] | None = None) -> tuple[dict, float]:
    """The input as envelopes of `size` records per key (event time moved past what the worker saw);
    `profile`: (OUT, seconds) to py-spy the worker from the start of the publish."""
    shift = base_ts - records[0].ts
    messages = envelopes(records, size, shift)
    end_ts = records[-1].ts + shift + bench.window + bench.lateness + 1.0
    batch_end = math.floor(end_ts / bench.window) * bench.window
    since = time.time() - 1.0
    t_pub = time.time()
    spies = _profile(main.pids()[0], profile[0], profile[1]) if profile else []
    bench.publish(((k, v) for k, v, _n in messages), [_flush_value(end_ts)] * bench.partitions)
    n, expect = len(records), bench.expect
    ok = main.wait(expect, since_start=base_ts - bench.window, until_start=batch_end, letters_since=since,
                   expect_letters=len(messages), stall=30.0)
    for spy in spies:
        spy.wait(150)
    rs = main.results(since_start=base_ts - bench.window, until_start=batch_end)
    reported = sum(r["events"] for r in rs)
    letters = Counter(x["reason"] for x in main.letters(since))
    last = max((r["t"] for r in rs), default=None)
    out = {"batched": {"messages": len(messages), "records": n, "records_per_message": size, "complete": ok,
                       "events_expected": expect, "events_reported": reported, "dead_letters": dict(letters)}}
    out["batched_records_per_s"] = _rate(round(n * min(1.0, reported / expect)),
                                         (last - t_pub) if last else None)   # see "complete"
    if profile:
        out["batched"]["profile"] = _profile_summary(*profile)
    if reported < expect:
        out["batched"]["note"] = (f"the worker reported {reported} of {expect} events; dead letters {dict(letters)}: "
                                  "it does not read batch envelopes yet" if letters else "incomplete")
    say(f"batched ({size} records/message): {out['batched_records_per_s']} records/s; {out['batched']}")
    return out, end_ts


def _scaled(bench: Bench, records: list[Record], workers: int, model_name: str, model_ref: str | None,
            base_ts: float, say) -> dict:
    """N model-serving workers in one group: they join at the end of the topic, then the input arrives
    (probes, the records with their event time moved to `base_ts`, flush events) and all read it."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    group = f"{bench.prefix}-scaled"
    c = Consumer({"bootstrap.servers": bench.bootstrap, "group.id": f"{bench.prefix}-offsets"})
    ends = [TopicPartition(bench.logs, p, c.get_watermark_offsets(TopicPartition(bench.logs, p), timeout=10)[1])
            for p in range(bench.partitions)]
    c.close()
    bench.admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, ends)])[group].result(30)
    many = bench.start_workers("scaled", workers, model_name, model_ref)
    try:
        _wait_for_members(bench, group, many, workers)
        shift = base_ts - records[0].ts
        end_ts = records[-1].ts + shift + bench.window + bench.lateness + 1.0
        until = math.floor(end_ts / bench.window) * bench.window
        bench.probes()
        bench.publish(((r.key, r.value(r.ts + shift)) for r in records), [_flush_value(end_ts)] * bench.partitions)
        n = len(records)
        ok = many.wait(bench.expect, since_start=base_ts - bench.window, until_start=until)
    finally:
        many.stop()
    w = _backlog_figures(many, n, ok, base_ts - bench.window, until, expect=bench.expect)
    per = [p["events_per_s"] for p in w["per_worker"]]
    say(f"{workers} workers with the model: {w['events_per_s']} events/s in total, per worker {per} "
        f"({[p['events'] for p in w['per_worker']]} events); lost {w['events_lost']}, "
        f"reported twice {w['windows_reported_twice']}")
    return {"workers": w, "workers_total_events_per_s": w["events_per_s"], "per_worker_events_per_s": per}


def _wait_for_members(bench: Bench, group: str, many: WorkerGroup, n: int) -> None:
    """Until the group is stable with `n` members that each own input partitions (or as many as there are)."""
    deadline = time.monotonic() + bench.timeout
    want = min(n, bench.partitions)
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in many.procs):
            raise RuntimeError(f"a scaled worker exited (logs in {bench.log_dir})")
        try:
            g = bench.admin.describe_consumer_groups([group])[group].result(10)
            owners = [m for m in g.members
                      if any(tp.topic == bench.logs for tp in (m.assignment.topic_partitions or []))]
            if str(g.state).endswith("STABLE") and len(g.members) >= n and len(owners) >= want:
                time.sleep(2.0)   # let each worker start its streams after the assignment
                return
        except Exception:  # noqa: BLE001 - the group does not exist yet
            pass
        time.sleep(0.5)   # polling the group's membership
    raise RuntimeError(f"{n} workers did not join {group} in time")


def cost_breakdown(summary: dict) -> dict | None:
    """Microseconds per message each layer adds, from the rates of one run: Faust iterating;
    our per-message code (handle); Faust sending two records per closed window (send - handle);
    scoring (inline, score - handle); and the rest of the worker (ordered acks, the changelog
    table layer, redelivery checks, tasks, timers). None when a rate is missing."""
    keys = ("faust_events_per_s", "faust_handle_events_per_s", "faust_send_events_per_s",
            "faust_score_events_per_s", "worker_events_per_s")
    rates = [summary.get(k) for k in keys]
    if not all(rates):
        return None
    f, h, d, s, w = (1e6 / r for r in rates)
    return {"faust": round(f, 1), "handle": round(h - f, 1), "faust_sends": round(d - h, 1),
            "scoring_inline": round(s - h, 1), "rest": round(w - s - (d - h), 1), "worker_total": round(w, 1),
            "faust_own": round(f + d - h, 1)}


def budgets(summary: dict) -> dict | None:
    """What the throughput targets leave our code, beside what it costs alone (bench/offline.py): for
    0.8x of the bare Faust agent, our work per message may add a quarter of Faust's own time; for
    30,000 batched records/s, everything per record (our code and the framework's share) must fit
    in 33 us. Microseconds; None when a figure is missing."""
    off = summary.get("offline") or {}
    faust, single, batched = summary.get("faust_events_per_s"), off.get("single"), off.get("batched")
    if not (faust and single and batched and single.get("events_per_s") and batched.get("events_per_s")):
        return None
    return {"ours_per_message_for_0.8x_faust": round(0.25 * 1e6 / faust, 1),
            "ours_alone_per_message": single["us_per_message"],
            "per_record_for_30k_batched": round(1e6 / 30_000, 1),
            "ours_alone_per_batched_record": round(1e6 / batched["events_per_s"], 1)}


HEADLINE = ("raw_consumer_events_per_s", "faust_events_per_s", "faust_handle_events_per_s",
            "faust_send_events_per_s", "faust_score_events_per_s", "offline_events_per_s", "offline_batched_records_per_s",
            "worker_baseline_events_per_s", "worker_events_per_s",
            "worker_to_faust_ratio", "worker_to_raw_ratio", "batched_records_per_s", "backlog_latency_p50_ms",
            "backlog_latency_p99_ms", "steady_latency_p50_ms", "steady_latency_p99_ms",
            "workers_total_events_per_s", "per_worker_events_per_s")


def to_json(obj) -> str:
    """Indented JSON with short lists of numbers (the lag series, the profile's rows) kept on one line."""
    text = json.dumps(obj, indent=2)
    short = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)
    return short if json.loads(short) == json.loads(text) else text   # a bracket inside a string: keep it plain


def summary_lines(summary: dict) -> list[str]:
    """The headline figures, one per line, then the details as JSON."""
    lines = [f"{k:30} {summary[k]}" for k in HEADLINE if k in summary]
    details = {k: v for k, v in summary.items() if k not in HEADLINE}
    return lines + [to_json(details)]
