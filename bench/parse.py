"""Benchmarks of the parser and the template miner (``rca bench parse``).

The functions return plain dicts; the CLI prints them. They measure what the
worker does per line: parse (with multi-line grouping) and mine the message.

- ``bench_parse``: steady-state lines/s on one core. One pass warms the
  miner up (it learns every template), then each of ``repeat`` passes
  parses the lines afresh and mines them with the warmed miner. The best
  pass is the figure (as timeit does: on a shared host, interference only
  ever slows a pass down, so the fastest pass is the closest to what the
  code costs); the median and the slowest pass are printed beside it to
  show the noise. Many short passes (20 of 20,000 lines by default) find
  a quiet moment more surely than a few long ones: on the 2-core build VM
  a fixed CPU loop varied by up to 2x from one tenth of a second to the
  next. Parse-only and mine-only rates show where the time goes.
  Replaying a sample repeats every message exactly, which the miner's
  recent-message cache serves; ``new_values_lines_per_s`` replays it with
  every number renumbered (nothing repeats), the cost of a live stream.
- ``grouping_accuracy``: Loghub's metric on a ``*_structured.csv`` file,
  one pass of online mining.
- ``bench_memory``: a long stream of synthetic lines whose variables never
  repeat (digits replaced by a counter), to show that templates and memory
  stay flat.
"""
from __future__ import annotations

import csv
import re
import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.parsing import parse_line, parse_lines
from engine.templates import TemplateMiner

__all__ = [
    "bench_parse", "grouping_accuracy", "bench_memory", "read_lines", "synthetic_lines",
    "LOGHUB_SAMPLE", "BUILTIN_SEED",
]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOGHUB_SAMPLE = SHARED_DATA / "loghub-openstack-2k" / "OpenStack_2k.log"


# used by bench_memory when the Loghub sample is absent (a fresh clone)
BUILTIN_SEED = [
    "2018-06-28 16:09:45.418 31854 DEBUG nova.osapi_compute.wsgi.server [req-07588acd-8474-415a-8b77-b6906affe908"
    " - - - - -] (31854) accepted ('10.0.20.46', 42382) server /usr/lib/python2.7/site-packages/eventlet/wsgi.py:883",
    "2018-06-28 16:08:56.892 601 INFO nova.api.openstack.placement.requestlog [req-178166a2-5f60-477f-95f0-"
    "054dce018d51 3ec588bb3df34732984ee22f40b56f44 0ca3103c90a24980adf86a98ed1a7af3 - default default] 10.0.20.46"
    ' "GET /placement/resource_providers/ee55194e-219e-4882-aaf9-44e42a328d38/aggregates" status: 200 len: 18',
    "2018-06-28 16:12:30.836 31753 DEBUG oslo_concurrency.lockutils [req-89eef5a6-4e24-471a-a84c-2a0d8423123e"
    ' - - - - -] Lock "72c9866c-097e-4830-88cc-fbc19314d896" acquired by "nova.context.get_or_set_cached_cell"'
    " :: waited 0.000s inner /usr/lib/python2.7/site-packages/oslo_concurrency/lockutils.py:270",
    "2018-06-28 16:23:35.200 31547 INFO nova.compute.claims [req-9f3af9c4-2bbb-4bd1-9c11-2275a88d550f - - - - -]"
    " [instance: 0aecc0c3-33f1-44a4-a2d9-25a018aa575f] Attempting claim on node localhost: memory 64 MB, disk 1 GB,"
    " vcpus 1 CPU",
    "2018-06-28 16:08:54.457 31934 DEBUG heat.engine.service [req-a43ab9fb-b310-4fcb-a9c8-8d0f9414ebf1 - - - - -]"
    " Service 042610e5-8a73-4d2a-8143-6647506409e3 is updated service_manage_report"
    " /usr/lib/python2.7/site-packages/heat/engine/service.py:2423",
]


def read_lines(path: str | Path) -> list[str]:
    """All lines of a plain-text log file (undecodable bytes replaced)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read().splitlines()


def _run(files: list[tuple[str, list[str]]], miner: TemplateMiner, rounds: int = 1) -> int:
    add = miner.add
    events = 0
    for _ in range(rounds):
        for path, lines in files:
            for event in parse_lines(lines, source=path):
                add(event.message)
                events += 1
    return events


def _timed(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of ``fn()``."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def bench_parse(paths: list[str], repeat: int = 20, min_pass_lines: int = 20_000) -> dict:
    """Steady-state parse + mine throughput over the given files (see module doc).

    Rates are lines per CPU second of this (single-threaded) process, which is
    one core's throughput even on a busy machine; wall-clock rates are given
    too. A pass covers the files as many times as needed to reach
    ``min_pass_lines`` lines, so that timer noise does not dominate.
    """
    files = [(str(p), read_lines(p)) for p in paths]
    n_lines = sum(len(lines) for _, lines in files)
    if n_lines == 0:
        raise ValueError("no lines to benchmark")
    rounds = max(1, -(-min_pass_lines // n_lines))
    miner = TemplateMiner()
    events = 0

    def warm_up():
        nonlocal events
        events = _run(files, miner)

    warm_cpu, _ = _timed(warm_up)
    passes = [_timed(lambda: _run(files, miner, rounds)) for _ in range(max(1, repeat))]
    cpu = [c for c, _ in passes]
    wall = [w for _, w in passes]

    parsed: list = []

    def parse_only():
        parsed.clear()
        parsed.extend(e.message for _ in range(rounds) for path, lines in files
                      for e in parse_lines(lines, source=path))

    def mine_only():
        add = miner.add
        for msg in parsed:
            add(msg)

    split_passes = max(1, min(5, repeat))  # best of a few, like the main figure
    parse_cpu = min(_timed(parse_only)[0] for _ in range(split_passes))
    mine_cpu = min(_timed(mine_only)[0] for _ in range(split_passes))

    # The same lines with every digit run renumbered, so no message repeats:
    # what a live stream costs once templates are known (the recent-message
    # cache never hits; masking and the template lookup run for every line).
    fresh_lines = []
    for path, lines in files:
        try:
            fresh_lines.append((path, list(synthetic_lines(lines, len(lines) * rounds))))
        except ValueError:  # no parseable line to vary
            pass
    fresh_n = sum(len(lines) for _, lines in fresh_lines)
    fresh_cpu = min(_timed(lambda: _run(fresh_lines, miner))[0] for _ in range(split_passes)) \
        if fresh_n else 0.0

    pass_lines = n_lines * rounds
    return {
        "files": len(files),
        "lines": n_lines,
        "events": events,
        "templates": len(miner),
        "passes": len(passes),
        "lines_per_pass": pass_lines,
        "warmup_lines_per_s": round(n_lines / warm_cpu) if warm_cpu else None,
        "lines_per_s": round(pass_lines / min(cpu)),
        "median_lines_per_s": round(pass_lines / statistics.median(cpu)),
        "slowest_lines_per_s": round(pass_lines / max(cpu)),
        "wall_lines_per_s": round(pass_lines / min(wall)),
        "parse_only_lines_per_s": round(pass_lines / parse_cpu) if parse_cpu else None,
        "mine_only_events_per_s": round(len(parsed) / mine_cpu) if mine_cpu else None,
        "new_values_lines_per_s": round(fresh_n / fresh_cpu) if fresh_cpu else None,
    }


def grouping_accuracy(structured_csv: str | Path) -> float:
    """Loghub grouping accuracy of one online pass over the ``Content`` column.

    A line is correct when the set of lines in its predicted group (the
    final template of its cluster) equals the set of lines of its true
    ``EventId``.
    """
    with open(structured_csv, newline="", encoding="utf-8") as fh:
        rows = [(r["Content"], r["EventId"]) for r in csv.DictReader(fh)]
    if not rows:
        raise ValueError(f"no rows in {structured_csv}")
    miner = TemplateMiner()
    predicted = [miner.add(content).template_id for content, _ in rows]
    predicted = [miner.resolve(tid) for tid in predicted]
    groups_pred: dict[int, set[int]] = defaultdict(set)
    groups_true: dict[str, set[int]] = defaultdict(set)
    for i, (tid, (_, event_id)) in enumerate(zip(predicted, rows)):
        groups_pred[tid].add(i)
        groups_true[event_id].add(i)
    correct = sum(
        1 for i, (tid, (_, event_id)) in enumerate(zip(predicted, rows))
        if groups_pred[tid] == groups_true[event_id]
    )
    return correct / len(rows)


_DIGITS = re.compile(r"\d+")


def synthetic_lines(seed_lines: list[str], n_lines: int) -> Iterator[str]:
    """``n_lines`` lines cycling over ``seed_lines``, with every digit run after
    the header (request ids, uuids, numbers, ips in context and message)
    replaced by a counter, so variable values never repeat while the header
    stays a valid oslo.log header."""
    pieces = []
    for line in seed_lines:
        event = parse_line(line)
        if event.parse_error is None and line.endswith(event.message):
            cut = line.find(" [")  # the request context starts after the logger
            cut = cut if cut > 0 else len(line) - len(event.message)
            pieces.append((line[:cut], _DIGITS.split(line[cut:])))
    if not pieces:
        raise ValueError("no parseable seed lines")
    k = len(pieces)
    for i in range(n_lines):
        head, parts = pieces[i % k]
        yield head + str(1_000_000 + i).join(parts)


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * resource.getpagesize() / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def bench_memory(n_lines: int = 10_000_000, seed_path: str | Path | None = None,
                 report_every: int | None = None,
                 on_report: Callable[[dict], None] | None = None) -> dict:
    """Stream synthetic lines through parse + mine; report templates and RSS.

    Seed lines come from ``seed_path`` (default: the Loghub OpenStack sample
    under ../shared, if present). Digit runs are rewritten with a counter so
    variable values are always new; a bounded miner keeps the template count
    and RSS flat. ``on_report`` receives each interval's report as it is
    made (long runs: show progress).
    """
    seed = Path(seed_path) if seed_path else LOGHUB_SAMPLE
    seed_lines = read_lines(seed) if seed_path or seed.is_file() else BUILTIN_SEED
    report_every = report_every or max(1, n_lines // 10)
    miner = TemplateMiner()
    add = miner.add
    reports = []
    t0 = time.perf_counter()
    count = 0
    for event in parse_lines(synthetic_lines(seed_lines, n_lines), source=str(seed)):
        add(event.message)
        count += 1
        if count % report_every == 0:
            reports.append(_memory_report(count, miner, t0))
            if on_report is not None:
                on_report(reports[-1])
    if not reports or reports[-1]["events"] != count:
        reports.append(_memory_report(count, miner, t0))
    return {
        "lines": n_lines,
        "seed": str(seed) if seed_lines is not BUILTIN_SEED else "builtin",
        "templates": len(miner),
        "peak_rss_mb": _peak_rss_mb(),
        "reports": reports,
    }


def _memory_report(count: int, miner: TemplateMiner, t0: float) -> dict:
    elapsed = time.perf_counter() - t0
    return {
        "events": count,
        "templates": len(miner),
        "rss_mb": _rss_mb(),
        "peak_rss_mb": _peak_rss_mb(),
        "lines_per_s": round(count / elapsed) if elapsed else None,
    }

