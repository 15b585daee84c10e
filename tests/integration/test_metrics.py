"""A running worker's /metrics, scraped over HTTP: the figures move as events flow."""
from __future__ import annotations

import socket
import time
import urllib.request

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import KafkaSettings
from producers.publish import publish
from tests.integration.test_worker_e2e import generated_events

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> dict[tuple[str, tuple], float] | None:
    """{(sample name, sorted labels): value}, or None while the endpoint is not up."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def total(figures: dict, name: str) -> float:
    return sum(v for (n, _), v in figures.items() if n == name)


def test_metrics_move_as_events_flow(stack, topics, start_worker):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    worker = start_worker(RCA_WORKER_METRICS_PORT=str(port), RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")

    def poll_until(check, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        figures = None
        while time.monotonic() < deadline:
            assert worker.proc.poll() is None, worker.log_text()[-3000:]
            figures = scrape(url)
            if figures is not None and check(figures):
                return figures
            time.sleep(0.5)
        raise AssertionError(f"{what} within {timeout} s; last scrape: "
                             f"{ {k: v for k, v in (figures or {}).items() if k[0].startswith('rca_')} }")

    before = poll_until(lambda f: ("rca_events_consumed_total", ()) in f, 120, "/metrics up")
    assert value(before, "rca_events_consumed_total") == 0
    assert value(before, "rca_model_info", analyzer="baseline", app_id=worker.group, version="") == 1
    assert ("process_resident_memory_bytes", ()) in before

    events = generated_events()
    bad = [(b"binary", b"\xff\xfe\xfd not utf-8 \x80"), (b"empty", b"   ")]
    report = publish(events, KafkaSettings(bootstrap_servers=stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]), topics.logs,
                     progress=False, extra_values=bad)
    assert report.failed == 0

    after = poll_until(lambda f: value(f, "rca_events_consumed_total") >= len(events)
                       and total(f, "rca_dead_letters_total") >= len(bad)
                       and total(f, "rca_windows_closed_total") > 0, 120, "events, dead letters and windows counted")
    assert value(after, "rca_messages_consumed_total") >= len(events) + len(bad)
    assert value(after, "rca_dead_letters_total", reason="not_utf8") >= 1
    assert value(after, "rca_analysis_seconds_count") <= total(after, "rca_windows_closed_total")
    # the lag timer reads the logs topic's partitions; caught up, it is zero on each
    lagged = poll_until(lambda f: any(n == "rca_consumer_lag" and dict(lab).get("topic") == topics.logs
                                      for n, lab in f), 60, "consumer lag per partition")
    assert all(v >= 0 for (n, _), v in lagged.items() if n == "rca_consumer_lag")
    print(orjson.dumps({n: v for (n, lab), v in after.items() if n.startswith("rca_") and not lab}).decode())
