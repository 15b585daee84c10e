"""What a shaped record costs the worker beside a raw line (``rca bench parse --shapes``).

Why: the worker reads every pipeline's shape (engine/shapes), and the target is that a shaped
record costs at most twice a raw line, while raw lines pay nothing for it. The figure is the
worker's own per-record code before windowing, in one thread, no Kafka: ``Decoder.decode``
(JSON or syslog unwrapping, rebuilding the oslo.log header, parsing, joining a split traceback)
plus mining the message, as ``Pipeline.handle`` does, for the same records sent raw (one message
per record, keyed host:path) and encoded in each shape (engine/shapes/encode.py).

Each shape gets ``repeat`` passes over its messages with a fresh decoder (and the miner warmed
on the first); the best pass's CPU time is the figure, as in bench/parse.py (on a shared host
interference only slows a pass down). ``us_per_record`` divides by the records, not by the
messages: a shape that splits a traceback into one message per line pays for every line, as the
worker does.
"""
from __future__ import annotations

import time
import zlib
from pathlib import Path

from config.settings import WorkerSettings
from consumers.ingest import Decoder
from engine.parsing import parse_lines
from engine.shapes.encode import ENCODED_SHAPES, RawRecord, encode
from engine.templates import TemplateMiner

__all__ = ["bench_shapes", "records_of"]


def records_of(paths: list[str], host: str = "bench-host") -> list[RawRecord]:
    """Every record of the files (a line, or a multi-line record's lines), with its time."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        last = None
        pending = []
        for event in parse_lines(lines, source=path):
            if event.timestamp is not None:
                last = event.timestamp
            if not event.raw.strip():
                continue
            if last is None:
                pending.append(event.raw)
                continue
            out.extend(RawRecord(raw, host, path, last) for raw in pending)
            pending = []
            out.append(RawRecord(event.raw, host, path, last))
    return out


def _pass(messages, miner: TemplateMiner) -> tuple[float, int]:
    decoder = Decoder(WorkerSettings(max_message_bytes=10_000_000))
    decode, add = decoder.decode, miner.add
    events = 0
    c0 = time.process_time()
    for key, value, arrival in messages:
        got = decode(value, key, arrival)
        if got.__class__.__name__ == "LogEvent":
            add(got.message)
            events += 1
    return time.process_time() - c0, events


def bench_shapes(paths: list[str], shapes: list[str] | None = None, repeat: int = 5,
                 max_records: int = 20_000) -> dict:
    """Per shape: microseconds per record (best pass), events, messages, and the ratio to raw."""
    records = records_of(paths)[:max_records]
    if not records:
        raise ValueError("no records to benchmark")
    shapes = list(shapes or ENCODED_SHAPES)
    if "raw" not in shapes:
        shapes.insert(0, "raw")
    miner = TemplateMiner()
    out: dict = {"records": len(records), "files": len(paths), "repeat": repeat, "shapes": {}}
    for shape in shapes:
        messages = [m for r in records for m in encode(shape, r)]
        _pass(messages, miner)   # warm the miner and the caches
        best = min(_pass(messages, miner)[0] for _ in range(max(1, repeat)))
        events = _pass(messages, miner)[1]
        out["shapes"][shape] = {"messages": len(messages), "events": events,
                                "us_per_record": round(1e6 * best / len(records), 2)}
    raw = out["shapes"]["raw"]["us_per_record"]
    for figures in out["shapes"].values():
        figures["x_raw"] = round(figures["us_per_record"] / raw, 2) if raw else None
    out["worst_x_raw"] = max(f["x_raw"] for s, f in out["shapes"].items() if s != "raw") if len(shapes) > 1 else None
    return out


def _timed(pipeline, messages, partitions: int) -> dict:
    """bench/offline.py's loop, timed in CPU seconds of this process (a busy host's other work
    does not count), handle and results apart."""
    handle_s = results_s = 0.0
    results = 0
    offsets: dict[int, int] = {}
    clock = time.process_time
    for key, value, part in messages:
        offset = offsets[part] = offsets.get(part, -1) + 1
        t0 = clock()
        handled = pipeline.handle(value, key, part, offset, None)
        t1 = clock()
        results += len(pipeline.results(handled.closed))
        handle_s += t1 - t0
        results_s += clock() - t1
    t1 = clock()
    results += len(pipeline.results(pipeline.windows.close_all("shutdown")))
    results_s += clock() - t1
    return {"handle_s": handle_s, "results_s": results_s, "results": results, "events": pipeline.counters.events}


def split_shapes(paths: list[str], shapes: list[str] | None = None, repeat: int = 3,
                 max_records: int = 20_000, window: float = 60.0) -> dict:
    """The offline split (bench/offline.py: ``Pipeline.handle`` and ``Pipeline.results`` in one
    thread, the baseline analyzer, every window closed at the end) per shape: CPU microseconds
    per record in handle and in results, the best of `repeat` runs, and the total as x raw. Every
    message goes to the partition of its record's raw key, whatever key its shape sends."""
    from consumers.pipeline import Pipeline

    records = records_of(paths)[:max_records]
    if not records:
        raise ValueError("no records to benchmark")
    shapes = list(shapes or ENCODED_SHAPES)
    if "raw" not in shapes:
        shapes.insert(0, "raw")
    settings = WorkerSettings(window_seconds=window, max_message_bytes=10_000_000)
    out: dict = {"records": len(records), "window_s": window, "repeat": repeat, "analyzer": "baseline", "shapes": {}}
    for shape in shapes:
        # every message in the partition its raw lines take (a shipper keyed by its stream), so
        # the shapes differ only in what they send, not in how the windows spread
        messages = [(k, v, zlib.crc32(f"{r.host}:{r.path}".encode()) % 6) for r in records
                    for k, v, _ in encode(shape, r)]
        best = None
        for _ in range(max(1, repeat)):
            t = _timed(Pipeline(settings), messages, 6)
            if best is None or t["handle_s"] + t["results_s"] < best["handle_s"] + best["results_s"]:
                best = t
        n = len(records)
        out["shapes"][shape] = {"messages": len(messages), "events": best["events"], "results": best["results"],
                                "handle_us_per_record": round(1e6 * best["handle_s"] / n, 1),
                                "results_us_per_record": round(1e6 * best["results_s"] / n, 1),
                                "us_per_record": round(1e6 * (best["handle_s"] + best["results_s"]) / n, 1)}
    raw = out["shapes"]["raw"]["us_per_record"]
    for figures in out["shapes"].values():
        figures["x_raw"] = round(figures["us_per_record"] / raw, 2) if raw else None
    out["worst_x_raw"] = max(f["x_raw"] for s, f in out["shapes"].items() if s != "raw") if len(shapes) > 1 else None
    return out


def main_files(paths: list[str]) -> list[str]:
    """The service logs of a run folder (engine.rca.dataset: labels and workload output left out),
    or the paths themselves (for the CLI)."""
    from engine.rca.dataset import service_log_files

    files: list[str] = []
    for p in paths:
        q = Path(p)
        if q.is_dir():
            files.extend(str(f) for f in service_log_files(q))
        else:
            files.append(p)
    return files
