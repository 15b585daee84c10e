"""Time, ids, the oslo.log line format and the time-ordered record heap.

Everything random comes from one ``random.Random`` and every time is an
integer number of milliseconds since the simulation start, so a seed gives
byte-identical output. A *record* is one log call: one line, or several
lines sharing one header (a traceback the oslo.log way), written together so
that no other line ever lands inside it.
"""
from __future__ import annotations

import functools
import heapq
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime as DateTime, timedelta  # plain ``datetime`` is a Timeline method

# where code lives on a devstack host (tracebacks and DEBUG suffixes)
_PROJECT_ROOT = "/opt/stack"
_LIB_ROOT = "/usr/local/lib/python3.6/dist-packages"
_PROJECTS = ("nova", "neutron", "cinder", "glance")
_PACKAGE_MODULES = frozenset({"os_vif", "os_brick", "glance_store", "oslo_messaging"})
_LOGGER_ALIASES = {"oslo.messaging": "oslo_messaging"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=None)
def module_path(module: str) -> str:
    """Python module -> its source file on a devstack host.

    ``nova.compute.manager`` -> ``/opt/stack/nova/nova/compute/manager.py``;
    libraries live in dist-packages; ``libvirt`` is the system binding.
    Cached: every DEBUG line and traceback frame asks, for a few dozen modules.
    """
    for alias, real in _LOGGER_ALIASES.items():
        if module == alias or module.startswith(alias + "."):
            module = real + module[len(alias):]
    rel = module.replace(".", "/")
    rel += "/__init__.py" if module in _PACKAGE_MODULES else ".py"
    top = module.split(".", 1)[0]
    if top in _PROJECTS:
        return f"{_PROJECT_ROOT}/{top}/{rel}"
    if top == "libvirt":
        return "/usr/lib/python3/dist-packages/libvirt.py"
    return f"{_LIB_ROOT}/{rel}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One traceback frame: module, line, function and the code line."""

    module: str
    line: int
    func: str
    code: str


def traceback_lines(frames: Sequence[Frame], exc: str, extra: Sequence[str] = ()) -> list[str]:
    """The lines of a Python 3 traceback (without log headers).

    ``exc`` is the final ``module.ExceptionType: text`` line; ``extra`` are
    more lines of its text (e.g. ProcessExecutionError's Command/Stderr).
    """
    out = ["Traceback (most recent call last):"]
    for f in frames:
        out.append(f'  File "{module_path(f.module)}", line {f.line}, in {f.func}')
        out.append(f"    {f.code}")
    out.append(exc)
    out.extend(extra)
    return out


def chained(cause: list[str], effect: list[str]) -> list[str]:
    """Two tracebacks joined the way Python 3 prints ``raise ... from``."""
    return [*cause, "", "The above exception was the direct cause of the following exception:", "", *effect]


class Ids:
    """Deterministic identifiers from the simulation's random generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex32(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def req(self) -> str:
        return "req-" + self.uuid()

    def mac(self) -> str:
        b = self.rng.getrandbits(24)
        return f"fa:16:3e:{b >> 16:02x}:{(b >> 8) & 255:02x}:{b & 255:02x}"


@dataclass(frozen=True, slots=True)
class Proc:
    """One OpenStack process: which service's log it writes, on which host."""

    subsystem: str
    service: str
    host: str
    pid: int


@dataclass(frozen=True, slots=True)
class Ctx:
    """An oslo.context request context as oslo.log prints it."""

    request_id: str
    user: str | None = None
    project: str | None = None
    domain: str = "default"

    def __str__(self) -> str:
        if self.user is None:
            return f"{self.request_id} - - - - -"
        return f"{self.request_id} {self.user} {self.project} - {self.domain} {self.domain}"


NO_CTX = "-"  # oslo.log's "[-]": a log call outside any request


class Clock:
    """A cursor in simulated time (ms) for one strand of an operation."""

    __slots__ = ("t", "rng")

    def __init__(self, t: int, rng: random.Random):
        self.t = t
        self.rng = rng

    def tick(self, lo: float = 0.001, hi: float = 0.02) -> int:
        self.t += max(1, round(self.rng.uniform(lo, hi) * 1000))
        return self.t

    def wait(self, seconds: float) -> int:
        self.t += max(0, round(seconds * 1000))
        return self.t

    def fork(self) -> "Clock":
        return Clock(self.t, self.rng)

    def join(self, other: "Clock") -> int:
        self.t = max(self.t, other.t)
        return self.t


class Timeline:
    """A heap of formatted records, released in time order.

    Operations are generated in order of their start time and never log
    before it, so every record earlier than the next operation's start is
    final and can be released (``until``); memory stays bounded by what is
    in flight.
    """

    def __init__(self, start: DateTime):
        self.start = start
        self._heap: list[tuple[int, int, str, str, str]] = []
        self._seq = 0
        self._released = 0  # every record before this time (ms) has been handed out
        self._second: int | None = None
        self._prefix = ""

    def stamp(self, ms: int) -> str:
        """'YYYY-MM-DD HH:MM:SS.mmm' of a simulation time."""
        sec, milli = divmod(ms, 1000)
        if sec != self._second:
            self._second = sec
            self._prefix = (self.start + timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._prefix}.{milli:03d}"

    def datetime(self, ms: int) -> DateTime:
        return self.start + timedelta(milliseconds=ms)

    def push(self, ms: int, service: str, host: str, text: str) -> None:
        if ms < self._released:
            raise RuntimeError(f"simulator bug: a record at {ms} ms after records up to {self._released} ms "
                               "were released")
        self._seq += 1
        heapq.heappush(self._heap, (ms, self._seq, service, host, text))

    def until(self, ms: int | None) -> Iterator[tuple[int, str, str, str]]:
        """Pop every record (ms, service, host, text) earlier than ``ms`` (all when None)."""
        heap = self._heap
        if ms is not None:
            self._released = max(self._released, ms)
        while heap and (ms is None or heap[0][0] < ms):
            t, _seq, service, host, text = heapq.heappop(heap)
            yield t, service, host, text


class Agenda:
    """Pending actions (periodic tasks, workload operations, faults) by start time.

    An action is a callable taking its start time (ms); it may schedule
    more actions (a periodic task reschedules itself), never earlier than
    its own start.
    """

    def __init__(self):
        self._heap: list[tuple[int, int, object]] = []
        self._seq = 0

    def at(self, t: int, action) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, action))

    def pop(self) -> tuple[int, object] | None:
        if not self._heap:
            return None
        t, _seq, action = heapq.heappop(self._heap)
        return t, action


class Emitter:
    """Formats log calls the oslo.log way and pushes them on the timeline.

    Header: ``DATE TIME PID LEVEL logger [context] [instance: X] message``;
    DEBUG lines end with oslo.log's ``func path:line`` suffix; a traceback
    or a multi-line message continues on lines that repeat the header with
    level ERROR and no request context (``logging_exception_prefix``).
    """

    def __init__(self, timeline: Timeline, rng: random.Random):
        self.timeline = timeline
        self.rng = rng

    def log(self, c: Clock | int, proc: Proc, level: str, logger: str, msg: str,
            ctx: Ctx | str = NO_CTX, inst: str | None = None, fn: str | None = None,
            tb: Sequence[str] | None = None, tail: Sequence[str] = (), tick: bool = True) -> int:
        """Log one record at the clock's next tick (or at an exact ms); returns its time.

        ``fn`` ("func:line") adds the DEBUG suffix; ``tb`` are traceback
        lines logged under the exception prefix; ``tail`` are header-less
        continuation lines of a multi-line message (e.g. guest XML).
        """
        if isinstance(c, Clock):
            ms = c.tick() if tick else c.t
        else:
            ms = c
        stamp = self.timeline.stamp(ms)
        prefix_inst = f"[instance: {inst}] " if inst else ""
        suffix = ""
        if fn is not None:
            func, _, line = fn.partition(":")
            suffix = f" {func} {module_path(logger)}:{line}"
        if tail:  # a multi-line message: oslo.log's DEBUG suffix follows its last line
            lines = [f"{stamp} {proc.pid} {level} {logger} [{ctx}] {prefix_inst}{msg}", *tail]
            if suffix:
                lines.append(suffix)
        else:
            lines = [f"{stamp} {proc.pid} {level} {logger} [{ctx}] {prefix_inst}{msg}{suffix}"]
        if tb:
            head = f"{stamp} {proc.pid} ERROR {logger} {prefix_inst}"
            lines.extend(head + t for t in tb)
            lines.append(head)  # oslo.log ends a traceback with an empty prefixed line
        self.timeline.push(ms, proc.service, proc.host, "\n".join(lines))
        return ms

    # -- frequent shapes --------------------------------------------------

    def lock(self, c: Clock, proc: Proc, ctx: Ctx | str, name: str, by: str, held: float | None = None) -> None:
        """oslo_concurrency lock acquired ... released around a short section."""
        waited = self.rng.choice(("0.000", "0.000", "0.000", "0.001"))
        self.lock_acquired(c, proc, ctx, name, by, waited)
        held_s = held if held is not None else self.rng.uniform(0.001, 0.05)
        c.wait(held_s)
        self.lock_released(c, proc, ctx, name, by, held_s)

    def lock_acquired(self, c: Clock, proc: Proc, ctx: Ctx | str, name: str, by: str, waited: str = "0.000") -> int:
        """oslo_concurrency's "Lock acquired" line alone, for a section that logs inside; returns its time."""
        return self.log(c, proc, "DEBUG", "oslo_concurrency.lockutils",
                        f'Lock "{name}" acquired by "{by}" :: waited {waited}s', ctx, fn="inner:327")

    def lock_released(self, c: Clock, proc: Proc, ctx: Ctx | str, name: str, by: str, held: float) -> int:
        """oslo_concurrency's "Lock released" line, ``held`` seconds after it was acquired; returns its time."""
        return self.log(c, proc, "DEBUG", "oslo_concurrency.lockutils",
                        f'Lock "{name}" released by "{by}" :: held {held:.3f}s', ctx, fn="inner:339")

    def semaphore(self, c: Clock, proc: Proc, ctx: Ctx | str, name: str, acquire: bool) -> None:
        if acquire:
            self.log(c, proc, "DEBUG", "oslo_concurrency.lockutils", f'Acquired semaphore "{name}"', ctx, fn="lock:212")
        else:
            self.log(c, proc, "DEBUG", "oslo_concurrency.lockutils", f'Releasing semaphore "{name}"', ctx, fn="lock:228")

    def cmd(self, c: Clock, proc: Proc, ctx: Ctx | str, command: str, seconds: float, rc: int = 0) -> None:
        """oslo_concurrency.processutils: a command run and its result."""
        self.log(c, proc, "DEBUG", "oslo_concurrency.processutils", f"Running cmd (subprocess): {command}", ctx,
                 fn="execute:372")
        c.wait(seconds)
        self.log(c, proc, "DEBUG", "oslo_concurrency.processutils",
                 f'CMD "{command}" returned: {rc} in {seconds:.3f}s', ctx, fn="execute:409")

    def nova_wsgi(self, c: Clock, proc: Proc, ctx: Ctx, client: str, method: str, path: str,
                  status: int, started: int) -> int:
        """nova-api's eventlet access line: 'status: 200 len: 1893 time: 0.25'."""
        c.tick(0.002, 0.01)
        elapsed = max(0.001, (c.t - started) / 1000 + self.rng.uniform(0.0, 0.003))
        length = {200: self.rng.randint(300, 4200), 202: self.rng.randint(400, 2000), 204: 0}.get(
            status, self.rng.randint(100, 400))
        return self.log(c, proc, "INFO", "nova.osapi_compute.wsgi.server",
                        f'{client} "{method} {path} HTTP/1.1" status: {status} len: {length} time: {elapsed:.7f}',
                        ctx, tick=False)

    def eventlet_wsgi(self, c: Clock, proc: Proc, ctx: Ctx, logger: str, client: str, method: str, path: str,
                      status: int, started: int) -> int:
        """neutron/cinder access line (two spaces before 'len', as they print it)."""
        c.tick(0.002, 0.01)
        elapsed = max(0.001, (c.t - started) / 1000 + self.rng.uniform(0.0, 0.003))
        length = 0 if status == 204 else self.rng.randint(200, 2400)
        return self.log(c, proc, "INFO", logger,
                        f'{client} "{method} {path} HTTP/1.1" status: {status}  len: {length} time: {elapsed:.7f}',
                        ctx, tick=False)

    def glance_wsgi(self, c: Clock, proc: Proc, ctx: Ctx, client: str, method: str, path: str,
                    status: int, started: int, length: int | None = None) -> int:
        """glance-api's access line (Apache-like, as glance prints it)."""
        c.tick(0.002, 0.01)
        elapsed = max(0.001, (c.t - started) / 1000 + self.rng.uniform(0.0, 0.003))
        d = self.timeline.datetime(c.t)
        when = f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year} {d:%H:%M:%S}"  # locale-independent
        size = length if length is not None else self.rng.randint(300, 6000)
        return self.log(c, proc, "INFO", "eventlet.wsgi.server",
                        f'{client} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} {elapsed:.6f}',
                        ctx, tick=False)
