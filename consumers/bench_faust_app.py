"""A bare Faust agent that only iterates a topic: the framework's own rate, for `rca bench e2e`.

Run as ``python -m consumers.bench_faust_app`` with
``BENCH_TOPIC`` (the topic), ``BENCH_EXPECT`` (messages to read) and ``BENCH_OUT``
(a JSON file written once they are read: count, wall time of the first and the
last message), plus the usual ``RCA_KAFKA_*`` settings and ``RCA_WORKER_APP_ID``
(the consumer group). The app is configured like the worker's (raw serializers,
same commit interval, same broker settings), the agent has concurrency 1 and
acks each message as Faust does by default; it does nothing else.
"""
from __future__ import annotations

import json
import os
import time

import faust

from config.settings import get_settings


def build(topic: str, expect: int, out_path: str) -> faust.App:
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
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes)
    state = {"count": 0, "first": None, "last": None}

    @app.agent(source, concurrency=1)
    async def iterate(stream):
        async for _value in stream:
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
    app = build(os.environ["BENCH_TOPIC"], int(os.environ["BENCH_EXPECT"]), os.environ["BENCH_OUT"])
    faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False).execute_from_commandline()


if __name__ == "__main__":
    main()
