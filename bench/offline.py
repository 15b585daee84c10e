"""Our code alone, no Kafka and no Faust: the ceiling of one worker process (``rca bench e2e``).

Run as ``python -m bench.offline`` with ``BENCH_INPUT`` (an NDJSON file
the bench wrote: one ``{"key": base64, "value": base64, "batched": bool}`` per
message), ``BENCH_OUT`` (a JSON file written at the end) and ``BENCH_MODEL`` (a
registry ref; empty: the production version of
``RCA_MLFLOW_REGISTERED_MODEL_NAME``, as the worker serves), ``BENCH_PARTITIONS``
(the input topic's), plus the worker's ``RCA_WORKER_*`` window settings.

It loads the model as the worker does, tunes the garbage collector as the
worker does, then times exactly the worker's per-message code over the bench's
input, in one thread: ``Pipeline.handle`` (decode, parse, mine, window) and
``Pipeline.results`` (score the windows that closed, build and validate their
results), separately for the one-record messages and for the batch envelopes.

Why it exists: the worker's rate is bounded by what this costs per record on
one core (the worker is one Python process, and its GIL runs one thread at a
time), whatever the framework around it costs. Set beside the bare Faust
agent's rate it says what a target like "0.8x of Faust" or "30,000 records/s"
asks of our code, and whether the framework or our code stands in the way.
"""
from __future__ import annotations

import base64
import json
import os
import time
import zlib

import orjson

from config.settings import get_settings


def _timed(pipeline, messages: list[tuple[bytes | None, bytes]], partitions: int) -> dict:
    """Run the messages through `pipeline` (a key's messages in one of `partitions`, offsets in
    order) and close what is left, as the flush events do; seconds in handle and in results."""
    handle_s = results_s = 0.0
    results = 0
    offsets: dict[int, int] = {}
    for key, value in messages:
        part = zlib.crc32(key or b"") % partitions
        offset = offsets[part] = offsets.get(part, -1) + 1
        t0 = time.perf_counter()
        handled = pipeline.handle(value, key, part, offset, None)
        t1 = time.perf_counter()
        results += len(pipeline.results(handled.closed))
        handle_s += t1 - t0
        results_s += time.perf_counter() - t1
    t1 = time.perf_counter()
    results += len(pipeline.results(pipeline.windows.close_all("shutdown")))
    results_s += time.perf_counter() - t1
    return {"handle_s": handle_s, "results_s": results_s, "results": results, "events": pipeline.counters.events}


def run(messages: list[tuple[bytes | None, bytes, bool]], serving, worker_settings, partitions: int = 6) -> dict:
    """Time `messages` ((key, value, is an envelope)) through a fresh Pipeline serving `serving`
    (consumers.models.Serving), the one-record messages and the envelopes apart."""
    from consumers import models
    from consumers.pipeline import Pipeline

    out: dict = {"analyzer": "bundle" if serving.scorer is not None else "baseline"}
    for name, batched in (("single", False), ("batched", True)):
        part = [(k, v) for k, v, b in messages if b is batched]
        if not part:
            continue
        pipeline = Pipeline(worker_settings)
        models.apply(pipeline, serving)
        t = _timed(pipeline, part, partitions)
        records = t["events"]
        total = t["handle_s"] + t["results_s"]
        out[name] = {"messages": len(part), "events": records, "results": t["results"],
                     "events_per_s": round(records / total, 1) if total else None,
                     "handle_us_per_event": round(1e6 * t["handle_s"] / max(records, 1), 1),
                     "results_us_per_event": round(1e6 * t["results_s"] / max(records, 1), 1),
                     "us_per_message": round(1e6 * total / len(part), 1)}
    return out


def read_input(path: str) -> list[tuple[bytes | None, bytes, bool]]:
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            m = orjson.loads(line)
            key = base64.b64decode(m["key"]) if m["key"] is not None else None
            out.append((key, base64.b64decode(m["value"]), bool(m["batched"])))
    return out


def write_input(path, single, batched) -> None:
    """The bench's side: (key, value) pairs of one-record messages and of envelopes, to `path`."""
    with open(path, "wb") as fh:
        for flag, messages in ((False, single), (True, batched)):
            for key, value in messages:
                fh.write(orjson.dumps({"key": None if key is None else base64.b64encode(key).decode(),
                                       "value": base64.b64encode(value).decode(), "batched": flag}) + b"\n")


def main() -> None:
    from consumers import models
    from consumers.app import tune_garbage_collector

    settings = get_settings()
    serving = models.initial(os.environ.get("BENCH_MODEL") or None)   # as the worker loads it
    tune_garbage_collector(settings.worker.gc_young_threshold)         # as the worker runs
    result = run(read_input(os.environ["BENCH_INPUT"]), serving, settings.worker,
                 int(os.environ.get("BENCH_PARTITIONS", "6")))
    tmp = os.environ["BENCH_OUT"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.environ["BENCH_OUT"])


if __name__ == "__main__":
    main()
