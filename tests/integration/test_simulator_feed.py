"""`rca simulate --kafka` feeds a running worker: every simulated record is counted in a result."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config.settings import PROJECT_ROOT
from producers.simulate import Simulation, simulated_events
from tests.integration.kafka_helpers import drain_until

pytestmark = pytest.mark.integration


def test_simulator_output_reaches_results(stack, topics, start_worker, tmp_path):
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    args = dict(hosts=2, minutes=6, seed=5, faults=1)
    expected = sum(1 for _ in simulated_events(Simulation(**args)))
    worker = start_worker(RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")
    sim = subprocess.run(
        [sys.executable, "-m", "cli.main", "--log-level", "WARNING", "simulate", "--kafka", "--no-progress",
         "--out", str(tmp_path / "sim"), "--hosts", "2", "--minutes", "6", "--seed", "5", "--faults", "1"],
        cwd=PROJECT_ROOT, env={**os.environ, **stack, **topics.env()}, capture_output=True, text=True, timeout=300)
    assert sim.returncode == 0, sim.stderr
    results = drain_until(bootstrap, topics.results,
                          lambda ms: sum(m["value"]["event_count"] for m in ms) >= expected, timeout=180,
                          on_poll=lambda: worker.proc.poll() is None or pytest.fail(worker.log_text()[-2000:]))
    assert sum(m["value"]["event_count"] for m in results) == expected
    assert (tmp_path / "sim" / "ground_truth.json").exists()
    services = {s for m in results for s in m["value"]["services"]}
    assert {"nova-api", "nova-compute"} <= services and any(s.startswith("neutron") for s in services)
