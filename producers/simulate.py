"""`rca simulate`: a seeded generator of multi-service OpenStack logs with labelled faults.

A cloud of a controller and N compute hosts runs a workload (servers:
create, delete, resize, migrate, reboot; volumes: create, attach, detach,
delete; networks, ports, security groups; images), each operation flowing
across the services the way it does in OpenStack: nova-api ->
nova-conductor/nova-scheduler -> nova-compute -> neutron-server and its
agents, cinder-api -> cinder-volume, glance-api. Lines use the oslo.log
format of the dev set (no file-name prefix), with DEBUG chatter, lock and
processutils lines, REST access lines and multi-line tracebacks sharing one
header. Healthy runs log some warnings and errors too (transient, retried).

Faults from ``FAULTS`` are injected at planned times; the ground truth
(time, subsystem, service, module, category, affected ids, symptoms) is
returned and written beside the logs as ``ground_truth.json`` and ``.tsv``.

Infrastructure faults (``INFRA_FAULTS``: a RabbitMQ partition, Galera losing
the primary component, ovs-vswitchd losing its controller, libvirtd killed,
the OOM killer killing a guest, an HAProxy backend down) are injected by
name only (a fault count draws from ``FAULTS``, so seeds keep their runs).
The failing daemon writes its own lines in its own format to its own file,
``<out>/infra/<host>/var/log/...`` (``producers/simulator/infra_logs.py``),
and the services log the symptoms; the label's ``kind`` is
``infrastructure`` and its ``component`` the daemon (``rabbitmq`` on host
``controller``).

Deterministic: the same arguments give byte-identical output (one
``random.Random(seed)``, a fixed default start time, ids drawn from it).

    result = simulate(Path("out"), hosts=4, minutes=30, seed=1, faults=["libvirt_error"])
    for service, line in iter_lines(hosts=2, minutes=5):  # time order, e.g. for Kafka
        ...
"""
from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from engine.parsing import RecordGrouper, parse_line
from producers.simulator import (background, build, faults as fault_lib, infra_faults, infra_noise, network, outages,
                                 servers, storage)
from producers.simulator.cloud import SERVICES, SUBSYSTEM, Cloud
from producers.simulator.core import Agenda, Emitter, Timeline
from producers.simulator.infra_logs import is_infra
from producers.simulator.labels import FaultLabel, FaultSpec, Injection, iso_ms
from producers.simulator.world import World

__all__ = ["ALL_FAULTS", "DEFAULT_START", "FAULTS", "INFRA_FAULTS", "SERVICES", "Simulation", "SimulationResult", "iter_lines", "log_path",
           "parse_faults", "simulate", "simulated_events", "write_ground_truth"]

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2019, 8, 1, 10, 0, 0)
FAULTS: dict[str, FaultSpec] = fault_lib.CATALOGUE
INFRA_FAULTS: dict[str, FaultSpec] = infra_faults.CATALOGUE
ALL_FAULTS: dict[str, FaultSpec] = {**FAULTS, **INFRA_FAULTS}
DEFAULT_FAULTS = 3
MAX_HOSTS = 1000

# operation -> relative weight in the workload mix
OPERATIONS = {
    "server_create": 20, "server_delete": 13, "server_migrate": 5, "server_reboot": 4, "server_list": 8,
    "volume_create": 9, "volume_attach": 9, "volume_detach": 7, "volume_delete": 4, "volume_list": 3,
    "network_create": 2, "network_delete": 1, "port_create": 3, "port_delete": 2, "secgroup_rule_create": 2,
    "network_list": 2, "image_create": 2, "image_list": 3,
}
_FLOWS = {
    "server_create": build.server_create, "server_delete": servers.server_delete,
    "server_migrate": servers.server_migrate, "server_reboot": servers.server_reboot,
    "server_list": servers.server_list, "volume_create": storage.volume_create,
    "volume_attach": storage.volume_attach, "volume_detach": storage.volume_detach,
    "volume_delete": storage.volume_delete, "volume_list": storage.volume_list,
    "network_create": network.network_create, "network_delete": network.network_delete,
    "port_create": network.port_create, "port_delete": network.port_delete,
    "secgroup_rule_create": network.secgroup_rule_create, "network_list": network.network_list,
    "image_create": storage.image_create, "image_list": storage.image_list,
}


def log_path(out_dir: Path, service: str) -> Path:
    """Where a service's log goes: ``<out>/<subsystem>/<service>.log`` (dev-set layout)."""
    return Path(out_dir) / SUBSYSTEM[service] / f"{service}.log"


def _log_name(service: str) -> str:
    """A service's log path relative to the output folder, ``<subsystem>/<service>.log``."""
    return log_path(Path(), service).as_posix()


def infra_log_path(out_dir: Path, host: str, path: str) -> Path:
    """Where an infrastructure log goes: ``<out>/infra/<host><path>`` (the daemon's own path on its host)."""
    return Path(out_dir) / "infra" / host / path.lstrip("/")


def _infra_key(host: str, path: str) -> str:
    """The ``host:path`` key a tailing shipper gives a line of this file."""
    return f"{host}:{path}"


@contextmanager
def _log_files(out_dir: Path) -> Iterator[dict[str, TextIO]]:
    """Every service's log file under ``out_dir``, created empty; closed on exit, even on error.
    Infrastructure files are opened on their first line (``_open_infra``) and closed with these."""
    with ExitStack() as stack:
        handles: dict = {"": stack}
        for _sub, svc in SERVICES:
            path = log_path(out_dir, svc)
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[svc] = stack.enter_context(path.open("w", encoding="utf-8", newline="\n"))
        yield handles


def _open_infra(path: Path, handles: dict) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return handles[""].enter_context(path.open("w", encoding="utf-8", newline="\n"))


def parse_faults(text: str) -> int | list[str]:
    """CLI form of ``faults``: a count ('3') or names ('libvirt_error,db_outage'); ``infra`` stands for
    every infrastructure fault."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    names = []
    for n in (n.strip() for n in text.split(",")):
        if n == "infra":
            names.extend(INFRA_FAULTS)
        elif n:
            names.append(n)
    if not names:
        raise ValueError("--faults needs a count or a comma-separated list of fault names")
    return names


@dataclass
class SimulationResult:
    """What a run produced: where, how much, and the ground truth."""

    out_dir: Path | None
    seed: int
    hosts: int
    minutes: float
    rate: float
    start: datetime
    end: datetime
    operations: int
    faults: list[FaultLabel]
    line_counts: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)
    ground_truth: Path | None = None
    infra_line_counts: dict[str, int] = field(default_factory=dict)  # "host:path" -> lines

    @property
    def total_lines(self) -> int:
        return sum(self.line_counts.values()) + sum(self.infra_line_counts.values())

    def to_dict(self) -> dict:
        return {
            "seed": self.seed, "hosts": self.hosts, "minutes": self.minutes, "rate_ops_per_minute": self.rate,
            "start": iso_ms(self.start), "end": iso_ms(self.end),
            "operations": self.operations,
            "services": {svc: {"subsystem": SUBSYSTEM[svc], "lines": n, "path": _log_name(svc)}
                         for svc, n in self.line_counts.items()},
            "infra_logs": {key: {"host": key.split(":", 1)[0], "path": key.split(":", 1)[1], "lines": n}
                           for key, n in sorted(self.infra_line_counts.items())},
            "faults": [f.to_dict() for f in self.faults],
        }


class Simulation:
    """One seeded run. ``lines()`` generates it (once); labels are complete afterwards."""

    def __init__(self, hosts: int = 4, minutes: float = 30, seed: int = 0,
                 faults: int | list[str] | tuple[str, ...] | None = None, rate: float | None = None,
                 start: datetime | None = None):
        if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts <= 0:
            raise ValueError(f"hosts must be a positive integer, got {hosts!r}")
        if hosts > MAX_HOSTS:
            raise ValueError(f"hosts must be at most {MAX_HOSTS}, got {hosts}")
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) \
                or minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes!r}")
        if rate is not None and (not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0):
            raise ValueError(f"rate must be positive (operations per minute), got {rate!r}")
        self.hosts, self.minutes, self.seed = hosts, float(minutes), int(seed)
        self.rate = float(rate) if rate is not None else max(2.0, 1.5 * hosts)
        if start is None:
            start = DEFAULT_START
        elif start.tzinfo is not None:  # logs carry local time without zone: write UTC
            start = start.astimezone(timezone.utc).replace(tzinfo=None)
        self.start = start.replace(microsecond=(start.microsecond // 1000) * 1000)
        self.duration = round(self.minutes * 60_000)
        self.rng = random.Random(self.seed)
        self.names = self._fault_names(faults)
        self.operations = 0
        self.line_counts = {svc: 0 for _sub, svc in SERVICES}
        self.infra_line_counts: dict[str, int] = {}
        self._injections: list[Injection] = []
        self._used = False
        self._last_ms = 0

    def _fault_names(self, faults) -> list[str]:
        if faults is None:
            faults = DEFAULT_FAULTS
        if isinstance(faults, bool):
            raise ValueError("faults must be a count or a list of fault names")
        if isinstance(faults, int):
            if faults < 0:
                raise ValueError(f"faults must be >= 0, got {faults}")
            pool: list[str] = []
            names = []
            for _ in range(faults):
                if not pool:
                    pool = sorted(FAULTS)
                    self.rng.shuffle(pool)
                names.append(pool.pop())
            return names
        names = list(faults)
        unknown = [n for n in names if n not in ALL_FAULTS]
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known faults: {', '.join(ALL_FAULTS)}")
        return names

    # -- generation ---------------------------------------------------------------

    def lines(self) -> Iterator[tuple[str, str]]:
        """Every log line as (service, line), in time order (records never split); an infrastructure
        line's "service" is its file's ``host:path`` key."""
        for service, host, lines in self.records():
            key = _infra_key(host, service) if is_infra(service) else service
            for line in lines:
                yield key, line

    def records(self) -> Iterator[tuple[str, str, list[str]]]:
        """Every log record as (service, host, lines), in time order.

        A record is one log call: one line, or a traceback / multi-line
        message whose lines belong together. An infrastructure record's
        service is its file's absolute path (``infra_logs.is_infra``).
        """
        if self._used:
            raise RuntimeError("a Simulation generates its lines once; create a new one")
        self._used = True
        rng = self.rng
        timeline = Timeline(self.start)
        cloud = Cloud(rng, self.hosts)
        cloud.populate()
        w = World(rng, timeline, cloud, Emitter(timeline, rng))
        # the infrastructure's routine noise draws from its own generator: a seed's service logs stay as they were
        w.noise_rng = random.Random(self.seed * 1_000_003 + 7)
        agenda = Agenda()
        self._plan_faults(w, agenda)
        background.start(w, agenda, self.duration)
        infra_noise.start(w, agenda, self.duration)
        agenda.at(round(rng.uniform(0.5, 5.0) * 1000), lambda t: self._operation(w, agenda, t))
        log.info("simulating %s hosts for %.1f minutes (seed %s, %.1f ops/min, %d faults)", self.hosts, self.minutes,
                 self.seed, self.rate, len(self.names))
        while (item := agenda.pop()) is not None:
            t, action = item
            yield from self._release(timeline.until(t))
            action(t)
        yield from self._release(timeline.until(None))
        log.info("simulated %d lines, %d operations", sum(self.line_counts.values()), self.operations)

    def _release(self, records) -> Iterator[tuple[str, str, list[str]]]:
        counts, infra = self.line_counts, self.infra_line_counts
        for ms, service, host, text in records:
            self._last_ms = ms
            lines = text.split("\n")
            if is_infra(service):
                key = _infra_key(host, service)
                infra[key] = infra.get(key, 0) + len(lines)
            else:
                counts[service] += len(lines)
            yield service, host, lines

    def _operation(self, w: World, agenda: Agenda, t: int) -> None:
        cl, rng = w.cloud, self.rng
        weights = dict(OPERATIONS)
        n = len(cl.instances)
        if n < self.hosts:
            weights["server_create"] *= 3
        elif n > 4 * self.hosts:
            weights["server_delete"] *= 3
        kinds = list(weights)
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        _FLOWS[kind](w, t)
        self.operations += 1
        nxt = t + max(1, round(rng.expovariate(self.rate / 60.0) * 1000))
        if nxt < self.duration:
            agenda.at(nxt, lambda t2: self._operation(w, agenda, t2))

    def _plan_faults(self, w: World, agenda: Agenda) -> None:
        """One slot of the run per fault; each fires early in its slot."""
        if not self.names:
            return
        slot = self.duration / len(self.names)
        planned = []
        for k, name in enumerate(self.names):
            spec = ALL_FAULTS[name]
            t = round(k * slot + slot * self.rng.uniform(0.2, 0.4))
            inj = Injection(f"F{k + 1}", spec, t)
            self._injections.append(inj)
            if spec.outage:
                length = max(20_000, min(round(self.rng.uniform(60.0, 150.0) * 1000), round(slot * 0.5)))
                register = infra_faults.register if name in INFRA_FAULTS else outages.register
                register(w, name, t, t + length, inj)
            planned.append((t, name, inj))
        for t, name, inj in planned:
            if not inj.spec.outage:
                # a request fault inside an outage would fail at the API instead: start it after the outage
                # (and after the API timeouts it causes)
                for o in w.outages:
                    if o.start - 5_000 <= t < o.end + 65_000:
                        t = inj.planned = o.end + 65_000 + round(self.rng.uniform(1.0, 5.0) * 1000)
            runner = infra_faults.run if name in INFRA_FAULTS else fault_lib.run
            agenda.at(t, lambda t2, n=name, i=inj, run=runner: run(n, w, t2, i))

    # -- results ------------------------------------------------------------------------

    @property
    def faults(self) -> list[FaultLabel]:
        return [inj.label(self._datetime) for inj in self._injections]

    def _datetime(self, ms: int) -> datetime:
        return self.start + timedelta(milliseconds=ms)

    def result(self, out_dir: Path | None = None, files: dict[str, Path] | None = None,
               ground_truth: Path | None = None) -> SimulationResult:
        return SimulationResult(
            out_dir=out_dir, seed=self.seed, hosts=self.hosts, minutes=self.minutes, rate=self.rate,
            start=self.start, end=self._datetime(max(self._last_ms, self.duration)), operations=self.operations,
            faults=self.faults, line_counts=dict(self.line_counts), files=files or {}, ground_truth=ground_truth,
            infra_line_counts=dict(self.infra_line_counts))


def iter_lines(hosts: int = 4, minutes: float = 30, seed: int = 0, faults: int | list[str] | None = None,
               rate: float | None = None, start: datetime | None = None) -> Iterator[tuple[str, str]]:
    """The simulated logs as (service, line) in time order (labels: use ``Simulation``)."""
    yield from Simulation(hosts, minutes, seed, faults, rate, start).lines()


def simulate(out_dir: Path | None, hosts: int = 4, minutes: float = 30, seed: int = 0,
             faults: int | list[str] | None = None, rate: float | None = None,
             start: datetime | None = None) -> SimulationResult:
    """Run a simulation; write ``<out>/<subsystem>/<service>.log`` and the ground truth.

    With ``out_dir=None`` nothing is written (line counts and labels only).
    """
    sim = Simulation(hosts, minutes, seed, faults, rate, start)
    if out_dir is None:
        for _ in sim.lines():
            pass
        return sim.result()
    out_dir = Path(out_dir)
    files = {svc: log_path(out_dir, svc) for _sub, svc in SERVICES}
    with _log_files(out_dir) as handles:
        for svc, host, lines in sim.records():
            if is_infra(svc):
                key = _infra_key(host, svc)
                handle = handles.get(key)
                if handle is None:
                    files[key] = path = infra_log_path(out_dir, host, svc)
                    handle = handles[key] = _open_infra(path, handles)
            else:
                handle = handles[svc]
            handle.write("\n".join(lines) + "\n")
    result = sim.result(out_dir, files)
    result.ground_truth = write_ground_truth(out_dir, result)
    log.info("wrote %d lines to %s", result.total_lines, out_dir)
    return result


def simulated_events(sim: Simulation, out_dir: Path | None = None) -> Iterator:
    """The run as parsed log events (``engine.parsing``), one per record, in time order.

    Each event carries its service and host (the files cannot: one
    nova-compute.log serves every compute host). With ``out_dir`` the
    lines are written to the usual files as well (the ground truth is the
    caller's: ``write_ground_truth`` once the iterator is exhausted).
    """
    groupers = {svc: RecordGrouper(source=_log_name(svc)) for _sub, svc in SERVICES}
    with _log_files(out_dir) if out_dir is not None else nullcontext({}) as handles:
        for svc, host, lines in sim.records():
            if is_infra(svc):
                if handles:
                    key = _infra_key(host, svc)
                    if key not in handles:
                        handles[key] = _open_infra(infra_log_path(out_dir, host, svc), handles)
                    handles[key].write("\n".join(lines) + "\n")
                yield _infra_event(svc, host, lines)
                continue
            if handles:
                handles[svc].write("\n".join(lines) + "\n")
            grouper = groupers[svc]
            events = []
            for line in lines:
                events.extend(grouper.feed(line))
            events.extend(grouper.flush())
            for ev in events:
                ev.host = host
                yield ev


def _infra_event(path: str, host: str, lines: list[str]):
    """One infrastructure record as the parser reads it (its first line; the others are its text):
    what the worker makes of the line is the parser's business (``engine.parsing.parse_line`` and the
    daemon grammars behind it), keyed by the file's path and its host as a shipper keys it."""
    event = parse_line(lines[0], source=path)
    if len(lines) > 1:
        event.raw = "\n".join(lines)
        event.line_count = len(lines)
    event.host = host
    return event


TSV_COLUMNS = ("id", "name", "category", "subsystem", "service", "module", "scope", "host", "time", "end_time",
               "exception_type", "request_ids", "instance_ids", "resource_ids")


def write_ground_truth(out_dir: Path, result: SimulationResult) -> Path:
    """``ground_truth.json`` (everything) and ``ground_truth.tsv`` (one row per fault)."""
    out_dir = Path(out_dir)
    path = out_dir / "ground_truth.json"
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    rows = ["\t".join(TSV_COLUMNS)]
    for f in result.faults:
        d = f.to_dict()
        rows.append("\t".join(",".join(v) if isinstance(v, list) else ("" if v is None else str(v))
                              for v in (d[c] for c in TSV_COLUMNS)))
    (out_dir / "ground_truth.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
