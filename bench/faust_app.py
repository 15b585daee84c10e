"""Bare Faust agents for `rca bench e2e`: what the framework carries, and what our work adds to it.

Run as ``python -m bench.faust_app`` with
``BENCH_TOPIC`` (the topic), ``BENCH_EXPECT`` (messages to read), ``BENCH_OUT``
(a JSON file written once they are read: count, wall time of the first and the
last message) and ``BENCH_STAGE``, plus the usual ``RCA_KAFKA_*`` /
``RCA_WORKER_*`` settings and ``RCA_WORKER_APP_ID`` (the consumer group):

- ``iterate`` (default): the agent only iterates, the framework's own rate;
- ``handle``: it also runs the worker's per-message code, ``Pipeline.handle``
  (decode, parse, mine, window); closed windows are dropped unscored;
- ``send``: ``handle``, and for each window that closes two records of
  ``BENCH_SEND_BYTES`` bytes sent through Faust's producer (as the worker sends
  the window's changelog record and its result), acks not awaited; nothing
  scored: what Faust itself costs to deliver this stream's results;
- ``score``: it also scores the windows that close, inline, with the model
  ``BENCH_MODEL`` (a registry ref; when empty, the production version of
  ``RCA_MLFLOW_REGISTERED_MODEL_NAME``, as the worker serves).

Only ``send`` sends anything: the worker's rate less these tells what delivering
results costs beyond Faust's own sends (the changelog table layer, ordered acks).
The app is configured like the worker's (raw serializers, same commit
interval, same broker settings); the agent has concurrency 1 and acks each
message as Faust does by default. ``handle`` and ``score`` tune the garbage
collector as the worker does (``consumers.app.tune_garbage_collector``);
``iterate`` runs Faust as it comes.
"""
from __future__ import annotations

import json
import os
import time

import faust

from config.settings import get_settings

STAGES = ("iterate", "handle", "send", "score")
SEND_BYTES = 2048   # about an encoded rca.results message of the simulator's windows


def _work(stage: str, model_ref: str | None):
    """What the agent does to each message beyond iterating: (a callable(message) or None, the
    analyzer that scores: "bundle" or "baseline", or None when nothing is scored)."""
    if stage == "iterate":
        return None, None
    from consumers import models
    from consumers.app import tune_garbage_collector
    from consumers.pipeline import Pipeline

    pipeline = Pipeline(get_settings().worker)
    if stage == "score":   # the model the worker would serve: BENCH_MODEL, or production's
        models.apply(pipeline, models.initial(model_ref))
    tune_garbage_collector(get_settings().worker.gc_young_threshold)   # as the worker runs

    def handle(msg) -> list:
        closed = pipeline.handle(msg.value, msg.key, msg.partition, msg.offset, None).closed
        if stage == "score" and closed:
            pipeline.results(closed)
        return closed
    return handle, (pipeline.analyzer_name if stage == "score" else None)


def build(topic: str, expect: int, out_path: str, stage: str = "iterate", model_ref: str | None = None) -> faust.App:
    if stage not in STAGES:
        raise ValueError(f"BENCH_STAGE must be one of {STAGES}, not {stage!r}")
    settings = get_settings()
    brokers = ";".join(f"kafka://{b}" for b in settings.kafka.bootstrap_servers.split(","))
    datadir = settings.stack.state_dir / "faust" / f"{settings.worker.app_id}-data"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    from consumers.app import broker_credentials

    app = faust.App(
        settings.worker.app_id, broker=brokers, broker_credentials=broker_credentials(settings.kafka),
        broker_client_id=settings.kafka.client_id, key_serializer="raw", value_serializer="raw",
        web_enabled=False, datadir=str(datadir), topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", broker_commit_interval=1.0, stream_wait_empty=False,
        producer_acks=-1, producer_linger=0.005,   # as the worker's
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes)
    sink = (app.topic(f"{topic}.bench-sink", key_type=bytes, value_type=bytes, internal=True, partitions=6)
            if stage == "send" else None)
    payload = b"x" * int(os.environ.get("BENCH_SEND_BYTES", SEND_BYTES)) if sink is not None else b""
    work, analyzer = _work(stage, model_ref)
    # work_s: time spent in our code, measured inside the agent (the rest is Faust's)
    state = {"count": 0, "first": None, "last": None, "stage": stage, "analyzer": analyzer, "work_s": 0.0}

    @app.agent(source, concurrency=1)
    async def iterate(stream):
        async for event in stream.events():
            if work is not None:
                started = time.perf_counter()
                closed = work(event.message)
                state["work_s"] += time.perf_counter() - started
                if sink is not None:
                    for window in closed:
                        key = window.id.encode()
                        await sink.send(key=key, value=payload)   # its changelog record
                        await sink.send(key=key, value=payload)   # its result
            now = time.time()
            if state["first"] is None:
                state["first"] = now
            state["count"] += 1
            state["last"] = now
            if state["count"] == expect:
                tmp = out_path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(state, fh)
                os.replace(tmp, out_path)

    return app


def main() -> None:
    app = build(os.environ["BENCH_TOPIC"], int(os.environ["BENCH_EXPECT"]), os.environ["BENCH_OUT"],
                os.environ.get("BENCH_STAGE", "iterate"), os.environ.get("BENCH_MODEL") or None)
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()


if __name__ == "__main__":
    main()
