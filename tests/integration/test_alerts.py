"""An injected fault pages through real Prometheus and Alertmanager (Debian's packages).

The worker runs as operators run it and serves /metrics; Prometheus scrapes it every second
and evaluates deploy/alerts.yml as shipped; Alertmanager delivers to a webhook receiver
served by this test. The alert must carry the incident id, its top cause and the page's
URL. Readiness and delivery are polled, never slept for.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from config.settings import PROJECT_ROOT
from tests.browser.test_incident_page import free_port

pytestmark = [pytest.mark.integration]

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
UI_URL = "http://127.0.0.1:8765"


class Receiver:
    """A webhook receiver: every Alertmanager notification it gets, in order."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, name: str) -> list[dict]:
        return [a for n in list(self.received) for a in n["alerts"] if a["labels"].get("alertname") == name]


def start(args: list[str], log_path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, url: str, log_path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready in {timeout:.0f} s"
        time.sleep(0.2)   # polling readiness


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def alerting(tmp_path, receiver):
    """Alertmanager and Prometheus on free loopback ports; yields a function that points
    Prometheus at a worker's /metrics port (started once the port is known)."""
    if PROMETHEUS is None or ALERTMANAGER is None:
        pytest.skip("prometheus / prometheus-alertmanager not installed (apt-get install prometheus "
                    "prometheus-alertmanager; scripts/install.sh does it as root)")
    procs: list[subprocess.Popen] = []
    am_port = free_port()
    am_config = {"route": {"receiver": "test", "group_by": ["alertname", "incident_id"], "group_wait": "1s",
                           "group_interval": "1s", "repeat_interval": "1h"},
                 "receivers": [{"name": "test", "webhook_configs": [{"url": receiver.url, "send_resolved": True}]}]}
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
    am_log = tmp_path / "alertmanager.log"
    procs.append(start([ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}",
                        f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address="], am_log))
    wait_ready(procs[-1], f"http://127.0.0.1:{am_port}/-/ready", am_log)

    def scrape(metrics_port: int) -> str:
        prom_port = free_port()
        config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s", external_labels={"rca_ui_url": UI_URL})
        config["rule_files"] = [str(PROJECT_ROOT / "deploy" / "alerts.yml")]     # the rules as shipped
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
        config["scrape_configs"] = [{"job_name": "rca-worker",
                                     "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_log = tmp_path / "prometheus.log"
        procs.append(start([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                            f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                            "--rules.alert.resend-delay=1s"], prom_log))
        wait_ready(procs[-1], f"http://127.0.0.1:{prom_port}/-/ready", prom_log)
        return f"http://127.0.0.1:{prom_port}"

    yield scrape
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def test_injected_fault_reaches_the_webhook_through_prometheus_and_alertmanager(stack, topics, start_worker,
                                                                                 alerting, receiver, tmp_path):
    metrics_port = free_port()
    worker = start_worker(RCA_WORKER_METRICS_PORT=str(metrics_port), RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")
    prometheus = alerting(metrics_port)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "WARNING", "simulate", "--out",
                           str(tmp_path / "sim"), "--hosts", "2", "--minutes", "8", "--seed", "5", "--faults",
                           "volume_attach_failure", "--kafka", "--no-progress"], cwd=PROJECT_ROOT,
                          env={**os.environ, **stack, **topics.env()}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    deadline = time.monotonic() + 150
    while not receiver.alerts("RCAIncidentOpen"):   # delivery is polled
        assert worker.proc.poll() is None, worker.log_text()[-3000:]
        assert time.monotonic() < deadline, (
            f"no RCAIncidentOpen at the webhook within 150 s; received {receiver.received}\n"
            f"prometheus alerts: {urllib.request.urlopen(prometheus + '/api/v1/alerts').read()[:2000]!r}\n"
            f"{worker.log_text()[-3000:]}")
        time.sleep(0.25)
    alert = receiver.alerts("RCAIncidentOpen")[0]
    iid = alert["labels"]["incident_id"]
    assert iid.startswith("inc-") and alert["status"] == "firing" and alert["labels"]["severity"] == "page"

    # the worker's own series says what the top cause is; the alert carries the same
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    line = next(x for x in scraped.splitlines() if x.startswith("rca_incident_open_info") and iid in x)
    top_cause = line.split('top_cause="', 1)[1].split('"', 1)[0]
    assert alert["annotations"]["top_cause"] == top_cause != ""
    assert top_cause in alert["annotations"]["summary"] and iid in alert["annotations"]["summary"]
    assert alert["annotations"]["incident_url"] == f"{UI_URL}/#{iid}"
    print(f"alert delivered {time.monotonic() - started:.1f} s after the fault was published: {alert['annotations']}")
