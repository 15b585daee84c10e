"""The worker's /metrics collector and the incident book, without Kafka."""
from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import WorkerSettings
from consumers.metrics import StreamState, read_lag, registry_for
from consumers.pipeline import Pipeline
from consumers.results import IncidentBook, top_cause


def figures(registry) -> dict:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_collector_reads_the_pipeline_at_scrape_time():
    p = Pipeline(WorkerSettings())
    state = StreamState()
    reg = registry_for(p, "app-1", state)
    before = figures(reg)
    assert before[("rca_events_consumed_total", ())] == 0
    assert before[("rca_model_info", (("analyzer", "baseline"), ("app_id", "app-1"), ("version", "")))] == 1

    c = p.counters
    c.messages, c.events = 12, 10
    c.dead_letters["bad_json"] += 2
    c.windows_closed["watermark"] += 3
    c.incidents_opened, c.incidents_resolved = 3, 1
    c.observe_analysis(0.002)
    c.observe_analysis(0.2)
    c.model_loaded()
    c.backpressure_seconds = 1.5
    p.model_version = "7"
    state.lag = {("logs", 0): 5, ("logs", 1): 0}
    state.samples.extend([(0.0, 0), (5.0, 50)])
    after = figures(reg)
    assert after[("rca_events_consumed_total", ())] == 10
    assert after[("rca_messages_consumed_total", ())] == 12
    assert after[("rca_dead_letters_total", (("reason", "bad_json"),))] == 2
    assert after[("rca_windows_closed_total", (("reason", "watermark"),))] == 3
    assert after[("rca_incidents_open", ())] == 2
    assert after[("rca_analysis_seconds_count", ())] == 2
    assert after[("rca_analysis_seconds_bucket", (("le", "0.0025"),))] == 1
    assert after[("rca_analysis_seconds_bucket", (("le", "+Inf"),))] == 2
    assert after[("rca_model_loads_total", ())] == 1 and after[("rca_model_loaded_timestamp_seconds", ())] > 0
    assert after[("rca_model_info", (("analyzer", "baseline"), ("app_id", "app-1"), ("version", "7")))] == 1
    assert after[("rca_consumer_lag", (("partition", "0"), ("topic", "logs")))] == 5
    assert after[("rca_events_per_second", ())] == 10
    assert after[("rca_agent_backpressure_seconds_total", ())] == 1.5


def test_lag_is_highwater_minus_next_offset():
    from collections import namedtuple

    TP = namedtuple("TP", "topic partition")
    a, b, c = TP("logs", 0), TP("logs", 1), TP("logs", 2)

    class Consumer:
        def assignment(self):
            return {a, b, c}

        def highwater(self, tp):
            return {a: 100, b: 40, c: None}[tp]

    class Monitor:
        tp_read_offsets = {a: 89}
        tp_committed_offsets = {b: 30}

    assert read_lag(Consumer(), Monitor()) == {("logs", 0): 10, ("logs", 1): 10}


def test_incident_book_keeps_the_highest_revision_and_trims_resolved():
    book = IncidentBook(recent=1)
    inc = {"incident_id": "inc-a", "state": "open", "revision": 2, "last_seen": "2026-01-01T00:02:00Z",
           "window_ids": ["w-2", "w-1"], "root_causes": []}
    assert book.add(inc)
    assert not book.add({**inc, "revision": 1, "state": "resolved"})      # an older message, replayed
    assert book.incidents["inc-a"]["state"] == "open"
    for i in range(3):
        book.add({"incident_id": f"inc-r{i}", "state": "resolved", "revision": 1,
                  "last_seen": f"2026-01-01T00:0{i}:00Z"})
    assert set(book.incidents) == {"inc-a", "inc-r2"}                      # open ones always stay
    assert [i["incident_id"] for i in book.ordered()] == ["inc-a", "inc-r2"]
    book.add_window({"window_id": "w-1", "incident_id": "inc-a", "window_start": "2026-01-01T00:00:00Z"})
    book.add_window({"window_id": "w-2", "incident_id": "inc-a", "window_start": "2026-01-01T00:01:00Z"})
    assert not book.add_window({"window_id": "w-3", "incident_id": None})
    assert [w["window_id"] for w in book.timeline(book.incidents["inc-a"])] == ["w-1", "w-2"]


def test_top_cause_names_module_category_and_score():
    cause = {"subsystem": "neutron", "module": "neutron.plugins.ml2.managers", "category": "vif plugging",
             "score": 0.871}
    assert top_cause({"root_causes": [cause]}) == "neutron.plugins.ml2.managers (vif plugging, 0.87)"
    assert top_cause({"root_causes": [{**cause, "module": "oslo_db.api"}]}) == \
        "neutron/oslo_db.api (vif plugging, 0.87)"
    assert top_cause({"root_causes": []}) == "-"
