"""engine/topology.py: the entities and relations log lines state, the bound, the subgraph, the state."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.parsing import parse_line
from engine.topology import TopologyCollector, TopologyConfig, by_kind, entities, one_line, origin_of

INSTANCE = "00ad9227-d733-4669-87d7-8f2642aebff6"
PORT = "03b4bce5-76aa-47d0-8e8c-a9fa6cfc5b62"
VOLUME = "8895787f-99c4-458b-bc98-500014b9adb5"
NETWORK = "9faba827-2e50-4d4e-b52f-a53c0bf64ef7"
SUBNET = "1e782196-324f-4e81-b453-324ef486ab73"
IMAGE = "5b8e8fb2-bff2-4101-b300-1cee05da8467"
REQ = "req-9180a898-110a-4876-aadf-ffe971831764"
CINDER_REQ = "req-1d4799c2-00ca-4f9c-a20e-0fbb6c9bfef3"
GLOBAL = "req-6f1c2a9e-5b7d-4c1e-9a3f-2d8e4b6c1a70"
CTX = "621aef57e4cc4132f7108e96f770c226 6a3753915c76f18a0585a01c4c7d6df0 - default default"

LINES = [
    # nova-compute names the instance (context) and its host; the claim says the node too
    ("nova-compute", "compute-2", f"2019-08-01 10:02:32.523 27320 INFO nova.compute.claims [{REQ} {CTX}] "
                                  f"[instance: {INSTANCE}] Claim successful on node compute-2"),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:32.743 27320 DEBUG nova.network.neutronv2.api [{REQ} {CTX}] "
                                  f"[instance: {INSTANCE}] Successfully created port: {PORT} _create_port_minimal"),
    ("neutron-openvswitch-agent", "compute-2",
     f"2019-08-01 10:02:35.040 3557 INFO neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent "
     f"[req-2a759159-fb7f-4337-b5ca-e3bf3729c619 - - - - -] Port {PORT} updated. Details: {{'device': '{PORT}', "
     f"'device_id': '{INSTANCE}', 'network_id': '{NETWORK}', 'port_id': '{PORT}', "
     f"'fixed_ips': [{{'subnet_id': '{SUBNET}', 'ip_address': '10.1.0.5'}}]}}"),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:39.075 27320 INFO nova.compute.manager [{REQ} {CTX}] "
                                  f"[instance: {INSTANCE}] Attaching volume {VOLUME} to /dev/vdb"),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:40.554 27320 ERROR nova.volume.cinder [{REQ} {CTX}] "
                                  f"Initialize connection failed for volume {VOLUME} on host compute-2. Error: "
                                  f"(HTTP 500) (Request-ID: {CINDER_REQ})"),
    ("cinder-volume", "controller", f"2019-08-01 10:02:40.411 16457 ERROR cinder.volume.targets.lio [{CINDER_REQ} {CTX}] "
                                    f"Failed to create iscsi target for volume id:volume-{VOLUME}."),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:32.778 27320 INFO nova.virt.libvirt.driver "
                                  f"[{GLOBAL} {REQ} {CTX}] [instance: {INSTANCE}] Fetching image {IMAGE}"),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:33.100 27320 DEBUG nova.network.base_api [{REQ} {CTX}] "
                                  f"[instance: {INSTANCE}] Updating instance_info_cache with network_info: "
                                  f'[{{"id": "{PORT}", "address": "fa:16:3e:00:00:01", "network": {{"id": "{NETWORK}", '
                                  f'"bridge": "br-int", "label": "private", "subnets": []}}}}]'),
    ("nova-compute", "compute-2", f"2019-08-01 10:02:38.518 9570 DEBUG oslo_concurrency.lockutils [{REQ} {CTX}] "
                                  f'Lock "00000000-0000-0000-0000-000000000000" acquired by "set_target_cell"'),
]


def events():
    out = []
    for service, host, line in LINES:
        event = parse_line(line)
        assert event.parse_error is None, line
        event.service, event.host = service, host
        out.append(event)
    return out


@pytest.fixture
def topo() -> TopologyCollector:
    c = TopologyCollector()
    for e in events():
        c.observe(e)
    return c


def edge_set(c: TopologyCollector) -> set[tuple[str, str, str]]:
    return set(c.edges)


def test_each_line_states_its_relations(topo):
    edges = edge_set(topo)
    assert (INSTANCE, "runs_on", "compute-2") in edges
    assert (PORT, "port_of", INSTANCE) in edges
    assert (PORT, "in_network", NETWORK) in edges and (PORT, "in_subnet", SUBNET) in edges
    assert (SUBNET, "subnet_of", NETWORK) in edges
    assert (VOLUME, "attached_to", INSTANCE) in edges
    assert (VOLUME, "on_host", "compute-2") in edges
    assert (INSTANCE, "boots_from", IMAGE) in edges
    assert (REQ, "touched", INSTANCE) in edges and (REQ, "touched", VOLUME) in edges
    assert (REQ, "calls", CINDER_REQ) in edges           # the Request-ID nova names from cinder's answer
    assert (REQ, "part_of", GLOBAL) in edges             # oslo's [global_request_id request_id ...]
    assert (CINDER_REQ, "touched", "controller") in edges
    kinds = {ident: kind for ident, (kind, _) in topo.nodes.items()}
    assert kinds[VOLUME] == "volume" and kinds[IMAGE] == "image" and kinds[GLOBAL] == "request"
    assert "00000000-0000-0000-0000-000000000000" not in kinds   # the nil UUID of a lock is no entity
    assert topo.nodes[NETWORK][1] == "private"                   # the label network_info gives


def test_kind_comes_from_the_words_before_an_id():
    text = (f"GET /v2.0/ports/{PORT} ; /v3/p/volumes/{VOLUME}/action ; router {NETWORK[:-1]}1 ; "
            f"'image_id': '{IMAGE}' ; binding:host_id=compute-7, Lock \"{INSTANCE}\"")
    found = dict((i, k) for k, i in entities(text))
    assert found[PORT] == "port" and found[VOLUME] == "volume" and found[IMAGE] == "image"
    assert found[NETWORK[:-1] + "1"] == "router" and found["compute-7"] == "host"
    assert INSTANCE not in found                                     # no hint, not known: left out
    assert dict((i, k) for k, i in entities(text, {INSTANCE: ["instance", None]}))[INSTANCE] == "instance"


def test_a_line_naming_two_instances_links_neither():
    c = TopologyCollector()
    other = "3e628fa4-67e1-4849-a8b3-8144318c43fa"
    c.observe({"message": f"port {PORT} of instance {INSTANCE} or instance {other}", "service": "x"})
    assert not any(k == "port_of" for _, k, _ in c.edges)


def test_origin_is_the_most_specific_entity_of_the_first_line_naming_one():
    evidence = ["2019-08-01 10:02:40.000 1 ERROR x.y [-] something broke",
                LINES[4][2], LINES[5][2]]
    assert origin_of(evidence) == ("volume", VOLUME)
    assert origin_of([f"[instance: {INSTANCE}] Instance failed to spawn"]) == ("instance", INSTANCE)
    assert origin_of(["nothing here"]) is None


def test_subgraph_of_an_incident_has_its_instance_host_port_volume_and_origin(topo):
    graph = topo.subgraph([INSTANCE, REQ], hosts=["compute-2"], origin=origin_of([LINES[5][2]]))
    kinds = by_kind(graph)
    assert graph["origin"] == VOLUME and graph["nodes"][0]["id"] == VOLUME
    assert INSTANCE in kinds["instance"] and PORT in kinds["port"] and VOLUME in kinds["volume"]
    assert "compute-2" in kinds["host"] and "private" in kinds["network"]
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert {"source": PORT, "target": INSTANCE, "kind": "port_of"} in graph["edges"]
    line = one_line(graph)
    assert line.startswith("instance: 00ad9227-d73") and "host: compute-2" in line and "volume: " in line


def test_subgraph_does_not_grow_through_shared_resources():
    c = TopologyCollector()
    for i in range(50):   # fifty instances on one network: a subgraph of one of them keeps to it
        inst, port = f"{i:08x}-0000-4000-8000-000000000001", f"{i:08x}-0000-4000-8000-000000000002"
        c.observe({"message": f"[instance: {inst}] port {port} 'network_id': '{NETWORK}'", "instance_id": inst,
                   "service": "nova-compute", "host": f"compute-{i % 3}", "request_id": f"req-{i:08x}-0000-4000-8000-0000000000aa"})
    graph = c.subgraph(["00000031-0000-4000-8000-000000000001"])    # the latest (the network keeps its latest edges)
    assert {n["kind"] for n in graph["nodes"]} == {"instance", "port", "network", "host"}   # not the other requests
    assert sum(n["kind"] == "instance" for n in graph["nodes"]) == 1
    assert not graph["truncated"]
    assert len(c.subgraph([f"{i:08x}-0000-4000-8000-000000000001" for i in range(50)], max_nodes=10)["nodes"]) == 10


def test_state_round_trips_through_json_and_keeps_the_subgraph(topo):
    state = json.loads(json.dumps(topo.to_state()))
    again = TopologyCollector.from_state(state)
    assert list(again.nodes) == list(topo.nodes) and edge_set(again) == edge_set(topo)
    assert again.subgraph([INSTANCE]) == topo.subgraph([INSTANCE])
    assert TopologyCollector.from_state(None).nodes == {}
    smaller = TopologyCollector.from_state(state, TopologyConfig(max_nodes=3))
    assert len(smaller.nodes) == 3 and list(smaller.nodes) == list(topo.nodes)[-3:]   # the most recent kept


def test_merge_adds_another_collectors_subgraph(topo):
    stage = TopologyCollector()
    stage.merge(topo.subgraph([INSTANCE]))
    stage.merge({"nodes": [{"id": "x", "kind": "spaceship"}], "edges": [{"source": "x", "target": INSTANCE, "kind": "?"}]})
    assert (PORT, "port_of", INSTANCE) in stage.edges and "x" not in stage.nodes


_ids = st.integers(0, 400).map(lambda n: f"{n:08x}-1111-4222-8333-444455556666")
_line = st.tuples(st.sampled_from(["instance", "port", "volume", "network", "subnet", "image", "router", "on host",
                                   "Request-ID: req-"]), _ids, st.sampled_from(["instance", "port", "volume"]), _ids)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(_line, min_size=1, max_size=300), hosts=st.integers(1, 30),
       max_nodes=st.integers(2, 40), max_edges=st.integers(1, 60), max_degree=st.integers(1, 8))
def test_memory_stays_within_its_bounds_whatever_the_lines(lines, hosts, max_nodes, max_edges, max_degree):
    c = TopologyCollector(TopologyConfig(max_nodes=max_nodes, max_edges=max_edges, max_degree=max_degree))
    for i, (word, a, other, b) in enumerate(lines):
        first = f"compute-{a[:2]}" if word == "on host" else a
        c.observe({"message": f"{word} {first} and {other} {b}", "service": "nova-compute",
                   "host": f"h{i % hosts}", "request_id": f"req-{b}", "instance_id": a if i % 2 else None})
        assert len(c.nodes) <= max_nodes and len(c.edges) <= max_edges
        assert all(len(adj) <= max_degree for adj in c._adjacent.values())
    # the index agrees with the edges, every edge joins two kept nodes, and the state restores it
    assert set(c._adjacent) == set(c.nodes)
    assert {k for adj in c._adjacent.values() for k in adj} == set(c.edges)
    assert all(s in c.nodes and t in c.nodes for s, _, t in c.edges)
    again = TopologyCollector.from_state(json.loads(json.dumps(c.to_state())))
    assert list(again.nodes) == list(c.nodes) and set(again.edges) == set(c.edges)


def test_window_graph_then_incident_graph_as_the_two_stages_use_them():
    from engine.topology import INCIDENT_CONFIG, incident_graph, window_graph

    evs = events()
    result = {"session_key": INSTANCE, "instance_ids": [INSTANCE], "request_ids": [REQ, "req-unknown"],
              "hosts": ["compute-2"], "root_causes": [{"instance_ids": [INSTANCE], "request_ids": [REQ]}]}
    graph = window_graph(evs[:5], result)
    cinder = window_graph(evs[5:6], {"session_key": CINDER_REQ, "request_ids": [CINDER_REQ], "hosts": ["controller"]})
    stage = TopologyCollector(INCIDENT_CONFIG)
    stage.merge(graph)
    stage.merge(cinder)
    incident = {"root_causes": [{"evidence": [LINES[5][2]], "instance_ids": [INSTANCE], "request_ids": [REQ]}],
                "instance_ids": [INSTANCE], "request_ids": [REQ, CINDER_REQ], "hosts": ["compute-2", "controller"],
                "origin": {"message": "Failed to create iscsi target"}}
    topo = incident_graph(stage, incident)
    kinds = by_kind(topo)
    assert topo["origin"] == VOLUME
    assert kinds["instance"] == [INSTANCE] and PORT in kinds["port"] and kinds["volume"] == [VOLUME]
    assert set(kinds["host"]) == {"compute-2", "controller"} and CINDER_REQ in kinds["request"]
    assert "req-unknown" not in {n["id"] for n in topo["nodes"]}    # not an id: never a node
    import schemas
    schemas.validate("rca_incident", {**schemas.examples("rca_incident", "valid")[0], "topology": topo})


def test_one_line_per_incident_for_the_demo(monkeypatch, capsys):
    import io

    import schemas
    from engine import topology

    lines = "\n".join(json.dumps(e) for e in schemas.examples("rca_incident", "valid"))
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    topology.main()
    out = capsys.readouterr().out.splitlines()
    assert out[1].strip().startswith("instance: b9000564") and "host: compute-1, controller" in out[1]
    assert out[3].strip() == "no entities named"
