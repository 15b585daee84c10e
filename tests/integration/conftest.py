"""Fixtures for tests on the real stack (the session-wide `stack` fixture is in tests/conftest.py).

Each test gets its own topics and consumer group, so tests never see each
other's messages.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from config.settings import PROJECT_ROOT, TopicSettings


@dataclass
class Topics:
    """This test's topic names; the fields are those of config.settings.TopicSettings."""

    logs: str
    results: str
    dlq: str
    control: str
    control_events: str
    incidents: str
    correlation: str
    feedback: str

    def settings(self) -> TopicSettings:
        return TopicSettings(**asdict(self))

    def env(self) -> dict[str, str]:
        """RCA_TOPIC_* variables that point a process at these topics."""
        prefix = TopicSettings.model_config["env_prefix"]
        return {f"{prefix}{field.upper()}": name for field, name in asdict(self).items()}


@pytest.fixture
def topics(stack) -> Topics:
    """Fresh topics with DESIGN.md partition counts, unique to this test."""
    tag = uuid.uuid4().hex[:8]
    t = Topics(**{field: f"t-{tag}.{field.replace('_', '.')}" for field in TopicSettings.model_fields})
    admin = AdminClient({"bootstrap.servers": stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]})
    counts = t.settings().partitions()
    for fut in admin.create_topics([NewTopic(n, p, 1) for n, p in counts.items()]).values():
        fut.result(30)
    _wait_for_leaders(admin, counts)
    return t


def _wait_for_leaders(admin: AdminClient, counts: dict[str, int], timeout: float = 30.0) -> None:
    """Until every partition of the new topics has a leader: a created topic is acknowledged by
    the controller before the broker serves it (a watermark query in between answered
    NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=10).topics
        ready = all(name in md and md[name].error is None and len(md[name].partitions) == n
                    and all(p.leader >= 0 and p.error is None for p in md[name].partitions.values())
                    for name, n in counts.items())
        if ready:
            return
        assert time.monotonic() < deadline, f"topics without leaders after {timeout:.0f} s: {sorted(counts)}"
        time.sleep(0.1)   # polling the broker's metadata for readiness


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
               "RCA_MLFLOW_REGISTERED_MODEL_NAME": f"test-{group}",
               "RCA_WORKER_METRICS_PORT": "0", **extra}   # /metrics off unless a test asks for a port
        w = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
