"""The real stack, started once per test session by the code behind `rca stack up`.

If `rca stack up` already ran (the README's test command does that), `up` finds
the services running and only checks that they answer. Each test gets its own
topics and consumer group, so tests never see each other's messages.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import PROJECT_ROOT, Settings
from devstack import stack as devstack


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    settings = Settings()
    devstack.up(settings)
    return devstack.env(settings)


@dataclass
class Topics:
    logs: str
    results: str
    dlq: str
    control: str
    control_events: str

    def env(self) -> dict[str, str]:
        return {"RCA_TOPIC_LOGS": self.logs, "RCA_TOPIC_RESULTS": self.results, "RCA_TOPIC_DLQ": self.dlq,
                "RCA_TOPIC_CONTROL": self.control, "RCA_TOPIC_CONTROL_EVENTS": self.control_events}


@pytest.fixture
def topics(stack) -> Topics:
    """Fresh topics with DESIGN.md partition counts, unique to this test."""
    tag = uuid.uuid4().hex[:8]
    t = Topics(f"t-{tag}.logs", f"t-{tag}.results", f"t-{tag}.dlq", f"t-{tag}.control", f"t-{tag}.control.events")
    admin = AdminClient({"bootstrap.servers": stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]})
    counts = {t.logs: 6, t.results: 6, t.dlq: 1, t.control: 1, t.control_events: 1}
    for fut in admin.create_topics([NewTopic(n, p, 1) for n, p in counts.items()]).values():
        fut.result(30)
    return t


class WorkerProcess:
    """`rca worker` in its own process, as operators run it."""

    def __init__(self, env: dict[str, str], log_path) -> None:
        self.group = env.get("RCA_WORKER_APP_ID", "")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=PROJECT_ROOT,
                                     env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_worker(stack, topics, tmp_path):
    """Factory: start workers for this test's topics; all are stopped at teardown."""
    started: list[WorkerProcess] = []
    group = f"rca-test-{uuid.uuid4().hex[:8]}"

    def start(**extra: str) -> WorkerProcess:
        # A registered model of its own (none is production: the baseline serves) and no
        # tracking, unless the test says otherwise.
        env = {**stack, **topics.env(), "RCA_WORKER_APP_ID": group, "RCA_MLFLOW_AUTO_LOG": "false",
               "RCA_MLFLOW_REGISTERED_MODEL_NAME": f"test-{group}", **extra}
        w = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
