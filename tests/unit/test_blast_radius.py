"""The stream glue of the blast radius (consumers/blast_radius.py) and the open-incident series
alert rules read (consumers/metrics.OpenIncidents), without Kafka: a dict stands for the table."""
from __future__ import annotations

import json
from types import SimpleNamespace

from prometheus_client import generate_latest

import schemas
from consumers import metrics
from consumers.blast_radius import BlastRadius
from consumers.pipeline import Pipeline
from config.settings import WorkerSettings
from tests.unit.test_topology import INSTANCE, LINES, PORT, REQ, VOLUME, events


def window(evs):
    return SimpleNamespace(items=[SimpleNamespace(event=e) for e in evs])


def test_window_graph_travels_to_the_incident_stage_and_into_the_message():
    table: dict = {}
    result = {"window_id": "w-1", "session_key": INSTANCE, "instance_ids": [INSTANCE], "request_ids": [REQ],
              "hosts": ["compute-2"], "root_causes": []}
    BlastRadius.attach(window(events()), result)
    assert result["topology"]["nodes"]
    wire = json.loads(json.dumps(result))          # the correlation topic
    stage = BlastRadius()
    stage.bind(table)
    stage.take(wire)
    assert "topology" not in wire                  # rca.results never carries it
    assert table["topology"]["nodes"]              # saved beside the correlator
    incident = dict(schemas.examples("rca_incident", "valid")[0])
    incident.pop("topology")
    incident.update(instance_ids=[INSTANCE], request_ids=[REQ], hosts=["compute-2"])
    incident["root_causes"] = [{**incident["root_causes"][0], "evidence": [LINES[5][2]], "instance_ids": [INSTANCE]}]
    message = stage.annotate(incident)
    schemas.validate("rca_incident", message)
    ids = {n["id"] for n in message["topology"]["nodes"]}
    assert {INSTANCE, PORT, VOLUME, "compute-2"} <= ids and message["topology"]["origin"] == VOLUME

    restarted = BlastRadius()                      # another worker, after a rebalance
    restarted.bind(json.loads(json.dumps(table)))
    assert restarted.annotate(dict(incident))["topology"] == message["topology"]


def test_a_broken_window_still_sends_its_result():
    result = {"window_id": "w-1"}
    BlastRadius.attach(SimpleNamespace(items=None), result)
    assert "topology" not in result


def incident(iid: str, state: str, module: str = "cinder.volume.targets.lio") -> dict:
    return {"incident_id": iid, "state": state, "root_causes": [{"module": module, "subsystem": "cinder",
                                                                 "category": "volume", "service": "cinder-volume"}]}


def test_open_incidents_are_one_bounded_series_each_and_survive_a_restart():
    table: dict = {}
    board = metrics.OpenIncidents(limit=3)
    board.bind(table)
    for n in range(5):
        board.track(incident(f"inc-{n}", "open"))
    board.track(incident("inc-4", "resolved"))
    assert list(board.open) == ["inc-2", "inc-3"]              # the oldest out past the limit; resolved out
    pipeline = Pipeline(WorkerSettings())
    text = generate_latest(metrics.registry_for(pipeline, "w", incidents=board)).decode()
    assert ('rca_incident_open_info{category="volume",incident_id="inc-3",service="cinder-volume",'
            'top_cause="cinder.volume.targets.lio"} 1.0') in text
    assert 'incident_id="inc-4"' not in text
    again = metrics.OpenIncidents()
    again.bind(json.loads(json.dumps(table)))
    assert list(again.open) == ["inc-2", "inc-3"]
    again.forget()
    assert again.metric().samples == []
