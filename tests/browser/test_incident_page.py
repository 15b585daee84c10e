"""The live incident page in a real headless Chromium, against the real stack.

`rca ui` runs as operators run it, reading this test's rca.incidents and
rca.results topics and the /metrics of a running worker. Incidents are
published to the topic; the page must show the incident with its top root
cause within a bounded time, then an update without a reload. A screenshot is
saved under the test's tmp_path and copied to .state/screenshots/.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from confluent_kafka import Producer

import schemas
from config.settings import PROJECT_ROOT
from producers.publish import publish
from config.settings import KafkaSettings
from tests.integration.test_worker_e2e import generated_events

pytestmark = [pytest.mark.integration, pytest.mark.browser]

T0 = "2026-11-29T10:00:00"
EVIDENCE = [
    "2026-11-29 10:00:03.112 2931 ERROR neutron.plugins.ml2.managers [req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70 - - - - -] "
    "Failed to bind port 8c2f6a1e-3d4b-4f5a-9e8d-7c6b5a4f3e2d on host compute-2 for vnic_type normal using segments",
    "2026-11-29 10:00:08.540 4411 ERROR nova.compute.manager [req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70 - - - - -] "
    "[instance: 3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f] Instance failed to spawn: VirtualInterfaceCreateException",
]
INSTANCE, PORT = "3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f", "8c2f6a1e-3d4b-4f5a-9e8d-7c6b5a4f3e2d"
REQUEST = "req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70"
TOPOLOGY = {   # as engine/topology.py builds it from the evidence lines above
    "nodes": [{"id": PORT, "kind": "port"}, {"id": INSTANCE, "kind": "instance"}, {"id": "compute-2", "kind": "host"},
              {"id": "controller", "kind": "host"}, {"id": REQUEST, "kind": "request"},
              {"id": "9faba827-2e50-4d4e-b52f-a53c0bf64ef7", "kind": "network", "name": "private"}],
    "edges": [{"source": PORT, "target": INSTANCE, "kind": "port_of"}, {"source": INSTANCE, "target": "compute-2", "kind": "runs_on"},
              {"source": PORT, "target": "compute-2", "kind": "bound_to"},
              {"source": PORT, "target": "9faba827-2e50-4d4e-b52f-a53c0bf64ef7", "kind": "in_network"},
              {"source": REQUEST, "target": PORT, "kind": "touched"}, {"source": REQUEST, "target": INSTANCE, "kind": "touched"},
              {"source": REQUEST, "target": "controller", "kind": "touched"}],
    "origin": PORT, "truncated": False}
RECOMMENDATION = ("Check the neutron L2 agent on the target host and the ML2 mechanism drivers; "
                  "nova waits for the network-vif-plugged event (vif_plugging_timeout).")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wid(n: int, tag: str) -> str:
    return "w-" + hashlib.sha256(f"{tag}{n}".encode()).hexdigest()[:24]


def incident(tag: str, revision: int, state: str, windows: int, resolved: bool = False, n: int = 0) -> dict:
    iid = "inc-" + hashlib.sha256(f"{tag}-{n}".encode()).hexdigest()[:24]
    causes = [
        {"rank": 1, "subsystem": "neutron", "service": "neutron-server", "module": "neutron.plugins.ml2.managers",
         "category": "vif plugging", "score": 0.87, "first_seen": f"{T0}.112Z", "evidence": EVIDENCE,
         "request_ids": ["req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70"],
         "instance_ids": ["3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f"], "recommendation": RECOMMENDATION, "windows": windows},
        {"rank": 2, "subsystem": "nova", "service": "nova-compute", "module": "nova.compute.manager",
         "category": "vif plugging", "score": 0.41, "evidence": EVIDENCE[1:], "windows": 1},
        {"rank": 3, "subsystem": "neutron", "service": "neutron-openvswitch-agent",
         "module": "neutron.agent.linux.openvswitch_firewall.firewall", "category": "agent", "score": 0.12,
         "evidence": [], "windows": 1},
    ]
    if resolved:   # an older, unrelated fault, already over
        causes = [{"rank": 1, "subsystem": "cinder", "service": "cinder-volume", "module": "cinder.volume.manager",
                   "category": "volume attach", "score": 0.66, "evidence": [
                       "2026-11-29 09:12:40.301 1210 ERROR cinder.volume.manager [req-0b1c - - - - -] "
                       "Unable to attach volume: iSCSI target not found"],
                   "recommendation": "Check the iSCSI target service on the storage node.", "windows": 1}]
    msg = {
        "schema_version": 1, "incident_id": iid, "state": state, "revision": revision,
        "first_seen": f"{T0}.112Z" if not resolved else "2026-11-29T09:12:40.301Z",
        "last_seen": f"2026-11-29T10:0{windows}:00.000Z" if not resolved else "2026-11-29T09:14:00.000Z",
        "resolved_at": "2026-11-29T09:24:00.000Z" if resolved else None,
        "summary": causes[0]["category"] + " in " + causes[0]["module"] + f" ({causes[0]['service']})",
        "score": causes[0]["score"], "root_causes": causes, "recommendation": causes[0].get("recommendation"),
        "origin": {"time": causes[0].get("first_seen"), "service": causes[0]["service"],
                   "logger": causes[0]["module"], "message": causes[0]["evidence"][0].split("] ", 1)[-1]
                   if causes[0]["evidence"] else ""},
        "services": ["neutron-server", "nova-compute", "neutron-openvswitch-agent"] if not resolved else ["cinder-volume"],
        "hosts": ["controller", "compute-2"] if not resolved else ["storage-1"],
        "instance_ids": ["3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f"] if not resolved else [],
        "request_ids": ["req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70", "req-1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]
        if not resolved else ["req-0b1c"],
        "session_keys": ["3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f", "neutron-server@controller"],
        "window_ids": [wid(i, iid) for i in range(windows)], "window_count": windows,
        "model_version": "3", "analyzer": "bundle", "produced_at": "2026-11-29T10:05:00.000Z",
    }
    if not resolved:
        msg["topology"] = TOPOLOGY
    schemas.validate("rca_incident", msg)
    return msg


def window_results(inc: dict) -> list[dict]:
    """The rca.results messages of the incident's windows (the page draws its timeline from them)."""
    keys = ["3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f", "neutron-server@controller", "req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70"]
    out = []
    for i, w in enumerate(inc["window_ids"]):
        minute = i // 2
        out.append({
            "schema_version": 1, "window_id": w, "session_key": keys[i % len(keys)],
            "window_start": f"2026-11-29T10:0{minute}:00.000Z", "window_end": f"2026-11-29T10:0{minute + 1}:00.000Z",
            "event_count": 20 + 7 * i, "is_incident": True, "anomaly_score": 0.9 - 0.15 * i,
            "root_causes": inc["root_causes"][:1], "incidents": [], "model_version": "3",
            "incident_id": inc["incident_id"], "analyzer": "bundle"})
        schemas.validate("rca_result", out[-1])
    return out


def produce(bootstrap: str, topic: str, messages: list[dict], key: str) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for m in messages:
        p.produce(topic, key=m[key].encode(), value=schemas.encode(m))
    assert p.flush(30) == 0


@pytest.fixture
def ui(stack, topics, tmp_path):
    """`rca ui` on a free port, reading this test's topics; yields its URL."""
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, **stack, **topics.env(), "RCA_UI_PORT": str(port),
           "RCA_UI_METRICS_URLS": f"http://127.0.0.1:{metrics_port}/metrics"}
    log = open(tmp_path / "ui.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "ui"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "ui.log").read_text()
        try:
            urllib.request.urlopen(url + "healthz", timeout=1).read()
            break
        except OSError:
            assert time.monotonic() < deadline, "rca ui did not answer within 60 s"
            time.sleep(0.3)
    yield url, metrics_port
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        pytest.fail("rca ui did not stop within 15 s of SIGTERM")
    finally:
        log.close()


def test_incident_appears_with_top_cause_and_updates_live(stack, topics, start_worker, ui, browser, tmp_path):
    from playwright.sync_api import expect

    url, metrics_port = ui
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    worker = start_worker(RCA_WORKER_METRICS_PORT=str(metrics_port), RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")
    publish(generated_events(), KafkaSettings(bootstrap_servers=bootstrap), topics.logs, progress=False,
            extra_values=[(b"empty", b"  ")])

    tag = topics.incidents
    old = incident(tag, 3, "resolved", 1, resolved=True, n=1)
    first = incident(tag, 1, "open", 2)
    produce(bootstrap, topics.results, window_results(incident(tag, 2, "updated", 4)), "window_id")
    produce(bootstrap, topics.incidents, [old, first], "incident_id")

    page = browser.new_page()
    page.goto(url)
    card = page.locator(f'[data-incident-id="{first["incident_id"]}"]')
    expect(card).to_be_visible(timeout=60_000)
    expect(card.locator(".top-cause")).to_contain_text("neutron.plugins.ml2.managers", timeout=10_000)
    expect(card.locator(".badge")).to_have_text("open")
    expect(card).to_contain_text("Failed to bind port")          # evidence
    expect(card).to_contain_text("vif_plugging_timeout")         # recommendation
    expect(card).to_contain_text("compute-2")                    # hosts
    expect(page.locator(f'[data-incident-id="{old["incident_id"]}"]')).to_have_attribute("data-state", "resolved")
    # the blast radius: drawn (SVG), origin highlighted, entities listed by kind
    graph = card.locator("svg.topology")
    expect(graph).to_be_visible()
    expect(graph.locator(".node")).to_have_count(6)
    expect(graph.locator(f'.node.origin[data-id="{PORT}"]')).to_have_count(1)
    assert graph.locator(".edge").count() == 7
    entities = card.locator(".entities")
    expect(entities.locator('[data-kind="instance"]')).to_contain_text(INSTANCE)
    expect(entities.locator('[data-kind="port"] .chip.origin')).to_have_text(PORT)
    expect(entities.locator('[data-kind="host"]')).to_contain_text("compute-2")
    expect(entities.locator('[data-kind="network"]')).to_contain_text("private")

    # an update arrives: the page changes without a reload (server-sent events)
    page.evaluate("window.__marker = 'same page'")
    produce(bootstrap, topics.incidents, [incident(tag, 2, "updated", 4)], "incident_id")
    expect(card.locator(".badge")).to_have_text("updated", timeout=30_000)
    expect(card).to_contain_text("4 window(s)")
    expect(card.locator(".timeline .w")).to_have_count(4, timeout=30_000)
    assert page.evaluate("window.__marker") == "same page"

    # the health strip reads the worker's /metrics
    expect(page.locator("#health")).to_contain_text("1 of 1", timeout=90_000)
    expect(page.locator("#health .tile").nth(2)).not_to_contain_text("–")
    assert worker.proc.poll() is None

    shot = tmp_path / "incident-page.png"
    page.screenshot(path=str(shot), full_page=True)
    keep = PROJECT_ROOT / ".state" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "incident-page.png")
    assert shot.stat().st_size > 10_000


def test_injected_fault_becomes_an_incident_on_the_page(stack, topics, start_worker, ui, browser, tmp_path):
    """End to end: simulated logs with one injected fault -> worker (windows, analysis, incident
    correlation) -> rca.incidents -> the page shows the incident and its top root cause."""
    from playwright.sync_api import expect

    url, metrics_port = ui
    worker = start_worker(RCA_WORKER_METRICS_PORT=str(metrics_port), RCA_WORKER_IDLE_TIMEOUT_SECONDS="2")
    sim = tmp_path / "sim"
    done = subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "WARNING", "simulate", "--out", str(sim),
                           "--hosts", "2", "--minutes", "8", "--seed", "5", "--faults", "volume_attach_failure",
                           "--kafka", "--no-progress"], cwd=PROJECT_ROOT, env={**os.environ, **stack, **topics.env()},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    header, fault = (sim / "ground_truth.tsv").read_text().splitlines()[:2]
    truth = dict(zip(header.split("\t"), fault.split("\t")))

    page = browser.new_page()
    page.goto(url)
    cards = page.locator("[data-incident-id]")
    deadline = time.monotonic() + 180
    while cards.count() == 0:       # the page updates itself; we only look again
        assert worker.proc.poll() is None, worker.log_text()[-3000:]
        assert time.monotonic() < deadline, f"no incident on the page within 180 s\n{worker.log_text()[-3000:]}"
        page.wait_for_timeout(1000)
    top_causes = page.locator("[data-incident-id] .top-cause")
    expect(top_causes.first).to_be_visible(timeout=30_000)
    expect(page.locator("main")).to_contain_text(truth["subsystem"], timeout=30_000)
    expect(page.locator("[data-incident-id]").filter(has_text=truth["module"]).first).to_be_visible(timeout=30_000)
    expect(page.locator("#health")).to_contain_text("1 of 1", timeout=60_000)
    # its blast radius, from the logs alone: the fault's instance, the host it runs on, its volume
    instance, volume = truth["instance_ids"].split(",")[0], truth["resource_ids"].split(",")[0]
    blast = page.locator(".blast").filter(has_text=volume).filter(has_text=instance).first
    expect(blast).to_be_visible(timeout=30_000)
    entities = blast.locator(".entities")
    expect(entities.locator('[data-kind="instance"]')).to_contain_text(instance)
    expect(entities.locator('[data-kind="volume"]')).to_contain_text(volume)
    expect(blast.locator(f'svg.topology .node[data-kind="volume"][data-id="{volume}"]')).to_have_count(1)
    expect(blast.locator(f'svg.topology .node[data-kind="instance"][data-id="{instance}"]')).to_have_count(1)
    expect(blast.locator("svg.topology .node.origin")).to_have_count(1)
    relations = blast.evaluate("el => [...el.querySelectorAll('svg.topology path.edge title')].map(t => t.textContent)")
    assert f"{volume} attached_to {instance}" in relations, relations
    runs_on = [r.split(" runs_on ")[1] for r in relations if r.startswith(f"{instance} runs_on ")]
    assert runs_on and runs_on[0].startswith("compute-"), relations
    expect(entities.locator('[data-kind="host"]')).to_contain_text(runs_on[0])
    blast.scroll_into_view_if_needed()
    blast.screenshot(path=str(tmp_path / "blast-radius.png"))

    shot = tmp_path / "incident-page-e2e.png"
    page.screenshot(path=str(shot), full_page=True)
    keep = PROJECT_ROOT / ".state" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "incident-page-e2e.png")
    shutil.copy(tmp_path / "blast-radius.png", keep / "blast-radius.png")
