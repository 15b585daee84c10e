"""Topology from logs: the entities OpenStack logs name, and the relations each line states.

Why from the logs: an operator paged for an incident asks what is affected (which
instances, ports, volumes, networks, images, hosts, and which user request started
it). Vitrage built that graph from the service APIs; the logs already carry every id
it needs, in context fields (``instance_id``, ``request_id``, ``host``) and in the
messages themselves ("Attaching volume V", "Bound port: P, host: H", ``/v2.0/ports/P``,
``'network_id': 'N'``). This module reads them, with no I/O and no Kafka:

    topo = TopologyCollector()
    for event in events:                    # schemas.log_event.LogEvent (or its dict form)
        topo.observe(event)
    graph = topo.subgraph(instance_ids + request_ids, hosts=hosts,
                          origin=origin_of(top_cause_evidence))
    state = topo.to_state()                 # JSON-able; TopologyCollector.from_state(state)

What a line states (one line, one fact; a relation needs the line to name exactly
one entity of each side, so a line listing two instances links neither):

    port ─port_of─> instance ─runs_on─> host      volume ─attached_to─> instance
    port ─in_network─> network   port ─in_subnet─> subnet ─subnet_of─> network
    port ─bound_to─> host        port ─interface_of─> router   volume ─on_host─> host
    instance ─boots_from─> image
    request ─touched─> every entity of its lines (and the host that logged them)
    request ─part_of─> global request      request ─calls─> request (a Request-ID it names)

A UUID with no word before it that says its kind ("Lock "<uuid>" acquired") takes
the kind it is already known by, else it is left out: an unknown id is noise.

Memory is bounded: at most ``max_nodes`` nodes and ``max_edges`` edges, least
recently seen first out (a node leaves with its edges), and each node keeps at most
``max_degree`` edges (a host named by every request keeps the latest ones).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

STATE_VERSION = 1
KINDS = ("instance", "port", "network", "subnet", "volume", "image", "router", "host", "request")
EDGE_KINDS = ("runs_on", "port_of", "attached_to", "in_network", "in_subnet", "subnet_of", "bound_to",
              "interface_of", "on_host", "boots_from", "touched", "part_of", "calls")
# a subgraph grows from these kinds only: shared resources (hosts, networks, subnets, images,
# routers) would bring in everything else that uses them
EXPANDS = frozenset({"instance", "port", "volume", "request"})
REQUEST_EDGES = frozenset({"touched", "calls", "part_of"})   # followed from the request only
# which entity of a line the fault touches first: the most specific resource it names
ORIGIN_PRECEDENCE = ("volume", "port", "router", "subnet", "network", "image", "instance", "host", "request")

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_IDS = re.compile(rf"(req-)?({_UUID})")
_NIL = "00000000-0000-0000-0000-000000000000"
_BARE_ID = re.compile(rf"^(?:req-)?{_UUID}$")
_Q = r"""['"]?\s*[:=]\s*['"]?"""   # 'port_id': '...', port_id=..., "volumeId": "..."
# the words just before a UUID that say its kind (matched at the end of the text before it)
_HINTS = [(kind, re.compile(pattern + r"$")) for kind, pattern in (
    ("instance", rf"(?:\binstance(?:[:=]\s*|\s+)|instance_uuid{_Q}|server_uuid{_Q}|device_id{_Q}|/servers/"
                 rf"|\bfor instance\s+)"),
    ("port", rf"(?:\bport(?:[:=]\s*|\s+)|port_id{_Q}|/ports/|'device{_Q}|\btag{_Q}|vif-(?:un)?plugged[:-])"),
    ("subnet", rf"(?:\bsubnet(?:[:=]\s*|\s+)|subnet_id{_Q}|/subnets/|subnets\?id=)"),
    ("network", rf"(?:\bnetwork(?:[:=]\s*|\s+|\()|network_id{_Q}|/networks/|net-id=|\"network\": \{{\"id\": \")"),
    ("volume", rf"(?:\bvolume(?:[:=]\s*|\s+)|volume-|volume_id{_Q}|volumeid{_Q}|/volumes/|\battach(?:ing)?\s+"
               rf"(?:volume\s+)?)"),
    ("image", rf"(?:\bimage(?:[:=]\s*|\s+)|image_id{_Q}|imageref{_Q}|/images/)"),
    ("router", rf"(?:\brouter(?:[:=]\s*|\s+)|router_id{_Q}|/routers/|qrouter-)"),
)]
# host names as OpenStack writes them (lower case: "host: WeighedHost" is a class, not a host)
_HOSTS = re.compile(r"""(?:\bon (?:host|node)\s+|\bhost(?:_id)?['"]?\s*[:=]\s*['"]?|binding:host_id=)"""
                    r"""([a-z][a-z0-9_\-]*(?:\.[a-z0-9_\-]+)*)\b""")
_NOT_HOSTS = frozenset({"None", "none", "null", "for", "the", "and", "host", "node"})
_NETWORK_LABEL = re.compile(rf'"network": \{{"id": "({_UUID})"[^{{}}]*?"label": "([^"]+)"')
_GLOBAL_REQUEST = re.compile(rf"\[(req-{_UUID}) (req-{_UUID})[ \]]")   # oslo: [global_request_id request_id ...


@dataclass(frozen=True)
class TopologyConfig:
    max_nodes: int = 20_000      # nodes kept (least recently seen out first, with their edges)
    max_edges: int = 50_000      # edges kept (least recently seen out first)
    max_degree: int = 64         # edges kept per node (a host named by every request keeps the latest)
    hub_degree: int = 24         # a subgraph does not expand through nodes with more edges than this
    subgraph_nodes: int = 60     # nodes of one subgraph at most
    subgraph_edges: int = 150    # edges of one subgraph at most

    @classmethod
    def from_dict(cls, data: dict) -> "TopologyConfig":
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


def _get(event: Any, name: str):
    return event.get(name) if event.__class__ is dict else getattr(event, name, None)


def _kind_before(text: str, start: int) -> str | None:
    before = text[max(0, start - 40):start].lower()
    for kind, hint in _HINTS:
        if hint.search(before):
            return kind
    return None


def entities(text: str, known: dict | None = None) -> list[tuple[str, str]]:
    """(kind, id) of every entity a text names, in order of appearance, each once.

    ``known``: id -> kind of entities seen before (a UUID without a hint takes that kind).
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    if not text:
        return out
    if "-" in text:
        for m in _IDS.finditer(text):
            req, uid = m.group(1), m.group(2)
            if uid == _NIL:
                continue
            if req:
                kind, ident = "request", req + uid
            else:
                kind, ident = _kind_before(text, m.start(2)), uid
                if kind is None and known is not None:
                    entry = known.get(uid)
                    kind = entry[0] if entry else None
            if kind is not None and ident not in seen:
                seen.add(ident)
                out.append((kind, ident))
    if "host" in text or "on node" in text:
        for m in _HOSTS.finditer(text):
            host = m.group(1).rstrip(".")
            if host not in _NOT_HOSTS and host not in seen:
                seen.add(host)
                out.append(("host", host))
    return out


def origin_of(texts: Iterable[str]) -> tuple[str, str] | None:
    """(kind, id) of the entity the first of ``texts`` (a cause's evidence lines, earliest
    first) that names any touches: the most specific one it names (ORIGIN_PRECEDENCE)."""
    rank = {k: i for i, k in enumerate(ORIGIN_PRECEDENCE)}
    for text in texts:
        found = entities(text or "")
        if found:
            return min(found, key=lambda e: rank[e[0]])
    return None


class TopologyCollector:
    """A bounded graph of the entities logs name; all state is plain data (to_state)."""

    def __init__(self, config: TopologyConfig | None = None) -> None:
        self.config = config or TopologyConfig()
        self.nodes: OrderedDict[str, list] = OrderedDict()    # id -> [kind, name]; least recently seen first
        self.edges: OrderedDict[tuple[str, str, str], None] = OrderedDict()   # (source, kind, target)
        self._adjacent: dict[str, OrderedDict] = {}           # id -> its edges, oldest first

    def __len__(self) -> int:
        return len(self.nodes)

    # -- what goes in ---------------------------------------------------------------
    def observe(self, event: Any) -> None:
        """One log event (a LogEvent, or its dict form): its entities and the relations it states."""
        message = _get(event, "message") or ""
        found = entities(message, self.nodes)
        for field_name, kind in (("instance_id", "instance"), ("request_id", "request")):
            value = _get(event, field_name)
            if value and all(value != i for _, i in found):
                found.insert(0, (kind, value))
        raw = _get(event, "raw") or ""
        global_request = None
        if raw.count("[req-") or raw.count(" req-") > 1:
            m = _GLOBAL_REQUEST.search(raw[:400])
            if m and m.group(1) != m.group(2):
                global_request = m.group(1)
        if not found and global_request is None:
            return
        by_kind: dict[str, list[str]] = {}
        for kind, ident in found:
            by_kind.setdefault(kind, []).append(ident)
        names = {}
        if "network" in by_kind and '"label"' in message:
            names = dict(_NETWORK_LABEL.findall(message))
        for kind, ident in found:
            self._node(ident, kind, names.get(ident))
        self._relate(by_kind, _get(event, "host"), _get(event, "service") or "", _get(event, "request_id"),
                     global_request)

    def _relate(self, by_kind: dict[str, list[str]], emitter: str | None, service: str,
                request: str | None, global_request: str | None) -> None:
        def one(kind: str) -> str | None:
            ids = by_kind.get(kind)
            return ids[0] if ids and len(ids) == 1 else None

        instance, port, volume = one("instance"), one("port"), one("volume")
        network, subnet, router, image, host = one("network"), one("subnet"), one("router"), one("image"), one("host")
        if instance:
            if port:
                self._edge(port, "port_of", instance)
            if volume:
                self._edge(volume, "attached_to", instance)
            if image:
                self._edge(instance, "boots_from", image)
            runs_on = host or (emitter if service.startswith("nova-compute") and not by_kind.get("host") else None)
            if runs_on:
                self._node(runs_on, "host")
                self._edge(instance, "runs_on", runs_on)
        if port:
            if network:
                self._edge(port, "in_network", network)
            if subnet:
                self._edge(port, "in_subnet", subnet)
            if router:
                self._edge(port, "interface_of", router)
            if host and not instance:
                self._edge(port, "bound_to", host)
        if subnet and network:
            self._edge(subnet, "subnet_of", network)
        if volume and host and not instance:
            self._edge(volume, "on_host", host)
        if request:
            if emitter:
                self._node(emitter, "host")
                self._edge(request, "touched", emitter)
            for kind, ids in by_kind.items():
                for ident in ids:
                    if ident == request:
                        continue
                    self._edge(request, "calls" if kind == "request" else "touched", ident)
            if global_request and global_request != request:
                self._node(global_request, "request")
                self._edge(request, "part_of", global_request)

    def merge(self, graph: dict | None) -> None:
        """Add a subgraph (another collector's ``subgraph``): how the incident stage learns
        what every window stage saw."""
        if not graph:
            return
        for node in graph.get("nodes") or []:
            if node.get("kind") in KINDS and node.get("id"):
                self._node(node["id"], node["kind"], node.get("name"))
        for edge in graph.get("edges") or []:
            if edge.get("source") in self.nodes and edge.get("target") in self.nodes and edge.get("kind") in EDGE_KINDS:
                self._edge(edge["source"], edge["kind"], edge["target"])

    # -- bounded storage ------------------------------------------------------------
    def _node(self, ident: str, kind: str, name: str | None = None) -> None:
        entry = self.nodes.get(ident)
        if entry is None:
            self.nodes[ident] = [kind, name]
            self._adjacent[ident] = OrderedDict()
            while len(self.nodes) > self.config.max_nodes:
                self._drop_node(next(iter(self.nodes)))
        else:
            self.nodes.move_to_end(ident)
            if name and not entry[1]:
                entry[1] = name

    def _edge(self, source: str, kind: str, target: str) -> None:
        if source == target or source not in self.nodes or target not in self.nodes:
            return
        key = (source, kind, target)
        if key in self.edges:
            self.edges.move_to_end(key)
            for end in (source, target):
                self._adjacent[end].move_to_end(key)
            return
        self.edges[key] = None
        for end in (source, target):
            adjacent = self._adjacent[end]
            adjacent[key] = None
            if len(adjacent) > self.config.max_degree:
                self._drop_edge(next(iter(adjacent)))
        while len(self.edges) > self.config.max_edges:
            self._drop_edge(next(iter(self.edges)))

    def _drop_edge(self, key: tuple[str, str, str]) -> None:
        self.edges.pop(key, None)
        for end in (key[0], key[2]):
            adjacent = self._adjacent.get(end)
            if adjacent is not None:
                adjacent.pop(key, None)

    def _drop_node(self, ident: str) -> None:
        for key in list(self._adjacent.get(ident, ())):
            self._drop_edge(key)
        self._adjacent.pop(ident, None)
        self.nodes.pop(ident, None)

    # -- what comes out -------------------------------------------------------------
    def kind_of(self, ident: str) -> str | None:
        entry = self.nodes.get(ident)
        return entry[0] if entry else None

    def subgraph(self, seeds: Iterable[str], hosts: Iterable[str] = (), origin: tuple[str, str] | None = None,
                 max_nodes: int | None = None, extra: Iterable[str] = ()) -> dict:
        """The part of the graph around ``seeds`` (ids: an incident's instances and requests),
        two hops out, never expanding through hubs (hosts, or nodes with more than
        ``hub_degree`` edges) nor from shared resources (EXPANDS), at most ``max_nodes``
        nodes. ``hosts`` are included as they are; ``origin`` (origin_of) is included first
        and named as the graph's origin; ``extra`` ids (the rest of an incident's requests)
        come last, while there is room. An id the graph does not know is included when it
        looks like one (``req-`` + UUID: a request; a UUID: an instance).

        Returns {"nodes": [{"id", "kind", "name"?}], "edges": [{"source", "target", "kind"}],
        "origin": id or None, "truncated": bool}."""
        cap = max_nodes or self.config.subgraph_nodes
        chosen: dict[str, str] = {}        # id -> kind, in the order they were reached
        truncated = False

        def take(ident: str, kind: str | None) -> bool:
            nonlocal truncated
            if ident in chosen:
                return False
            if kind is None:
                return False
            if len(chosen) >= cap:
                truncated = True
                return False
            chosen[ident] = kind
            return True

        def guess(ident: str) -> str | None:
            kind = self.kind_of(ident)
            if kind is None and _BARE_ID.match(ident):
                kind = "request" if ident.startswith("req-") else "instance"
            return kind

        if origin is not None:
            take(origin[1], self.kind_of(origin[1]) or origin[0])
        frontier = []
        for ident in seeds:
            if ident and take(ident, guess(ident)):
                frontier.append(ident)
        if origin is not None and origin[1] in chosen:
            frontier.insert(0, origin[1])
        for host in hosts:
            if host:
                take(host, "host")
        for _ in range(2):
            following = []
            for ident in frontier:
                adjacent = self._adjacent.get(ident)
                if not adjacent or len(adjacent) > self.config.hub_degree or chosen.get(ident) not in EXPANDS:
                    continue
                for source, kind, target in reversed(adjacent):   # the latest relations first
                    if kind in REQUEST_EDGES and source != ident:
                        continue     # the other requests that touched it are not this incident's
                    other = target if source == ident else source
                    if take(other, self.kind_of(other)):
                        following.append(other)
            frontier = following
        for ident in extra:
            if ident and len(chosen) < cap:
                take(ident, guess(ident))
        edges = []
        for ident in chosen:
            for key in self._adjacent.get(ident, ()):
                source, kind, target = key
                if source == ident and target in chosen:
                    if len(edges) >= self.config.subgraph_edges:
                        truncated = True
                        break
                    edges.append({"source": source, "target": target, "kind": kind})
        nodes = []
        for ident, kind in chosen.items():
            node = {"id": ident, "kind": kind}
            name = (self.nodes.get(ident) or [None, None])[1]
            if name:
                node["name"] = name
            nodes.append(node)
        return {"nodes": nodes, "edges": edges, "origin": origin[1] if origin and origin[1] in chosen else None,
                "truncated": truncated}

    # -- state ----------------------------------------------------------------------
    def to_state(self) -> dict:
        """A JSON-able snapshot, compact (edges refer to nodes by position), in recency order."""
        index = {ident: i for i, ident in enumerate(self.nodes)}
        return {"version": STATE_VERSION, "config": asdict(self.config),
                "nodes": [[ident, kind, name] if name else [ident, kind] for ident, (kind, name) in self.nodes.items()],
                "edges": [[index[s], k, index[t]] for s, k, t in self.edges]}

    @classmethod
    def from_state(cls, state: dict | None, config: TopologyConfig | None = None) -> "TopologyCollector":
        """Restore a snapshot; ``config`` (when given) replaces the stored one (and its bounds apply)."""
        if not state or state.get("version") != STATE_VERSION:
            return cls(config)
        out = cls(config or TopologyConfig.from_dict(state.get("config") or {}))
        ids = []
        for entry in state.get("nodes") or []:
            ids.append(entry[0])
            out._node(entry[0], entry[1], entry[2] if len(entry) > 2 else None)
        for s, k, t in state.get("edges") or []:
            out._edge(ids[s], k, ids[t])
        return out


def by_kind(graph: dict | None) -> dict[str, list[str]]:
    """The entities of a subgraph by kind (names where given), in KINDS order: what a page or a
    terminal lists as the blast radius."""
    out: dict[str, list[str]] = {}
    for node in (graph or {}).get("nodes") or []:
        out.setdefault(node["kind"], []).append(node.get("name") or node["id"])
    return {k: out[k] for k in KINDS if k in out}


def one_line(graph: dict | None, width: int = 8) -> str:
    """'instance: 00ad9227…; port: 03b4bce5…; host: compute-2' (ids shortened, at most ``width`` per kind)."""
    parts = []
    for kind, names in by_kind(graph).items():
        shown = [n[:12] + "…" if len(n) > 13 and "-" in n else n for n in names[:width]]
        more = f" +{len(names) - width}" if len(names) > width else ""
        parts.append(f"{kind}: {', '.join(shown)}{more}")
    return "; ".join(parts) or "no entities named"


WINDOW_CONFIG = TopologyConfig(max_nodes=2_000, max_edges=5_000, subgraph_nodes=40, subgraph_edges=100)
INCIDENT_CONFIG = TopologyConfig(max_nodes=2_000, max_edges=4_000, subgraph_nodes=60, subgraph_edges=150)


def _cause_ids(causes: list[dict]) -> list[str]:
    return [i for rc in causes for key in ("instance_ids", "request_ids") for i in (rc.get(key) or [])]


def window_graph(events: Iterable[Any], result: dict, config: TopologyConfig = WINDOW_CONFIG) -> dict:
    """What one incident window's own lines state, around its ids: the window stage sends it
    with the window, and the incident stage merges it (``merge``), so the incident stage
    learns what every partition's lines said without reading them again."""
    c = TopologyCollector(config)
    for event in events:
        c.observe(event)
    seeds = [*_cause_ids(result.get("root_causes") or []), *(result.get("instance_ids") or []),
             result.get("session_key") or ""]
    return c.subgraph(seeds, hosts=result.get("hosts") or [], extra=result.get("request_ids") or [])


def incident_graph(collector: TopologyCollector, incident: dict) -> dict:
    """An incident's subgraph: around its top cause's ids and its instances (then its other
    requests), its hosts, and the origin the top cause's evidence (earliest first) names."""
    causes = incident.get("root_causes") or []
    top = causes[0] if causes else {}
    texts = list(top.get("evidence") or [])
    if incident.get("origin"):
        texts.append(incident["origin"].get("message") or "")
    origin = origin_of(texts)
    if origin is None:
        first = (top.get("instance_ids") or incident.get("instance_ids") or [None])[0]
        origin = ("instance", first) if first else None
    seeds = [*_cause_ids(causes[:1]), *(incident.get("instance_ids") or [])]
    return collector.subgraph(seeds, hosts=incident.get("hosts") or [], origin=origin,
                              extra=incident.get("request_ids") or [])


def main() -> None:
    """`python -m engine.topology`: rca_incident JSON lines in (``rca incidents --json``), one line
    per incident out: its id, state and top cause, then its affected entities by kind."""
    import json
    import sys

    for line in sys.stdin:
        if not line.strip():
            continue
        incident = json.loads(line)
        top = (incident.get("root_causes") or [{}])[0]
        cause = top.get("module") or top.get("subsystem") or "no located cause"
        sys.stdout.write(f"{incident['incident_id']}  {incident['state']:<8}  {cause}\n"
                         f"    {one_line(incident.get('topology'))}\n")


if __name__ == "__main__":
    main()
