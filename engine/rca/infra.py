"""The infrastructure as a cause: join daemons' events to an incident and rank them as candidates.

Many OpenStack failures start below the services (a RabbitMQ node partitioned, a Galera node
out of the primary component, ovs-vswitchd without its controller, libvirtd killed, the OOM
killer, an HAProxy backend down); the services then log symptoms only, and a ranker that sees
Python modules names a symptom. Once the daemons' lines are events with a time and a level
(``engine.grammars``: ``service`` is the daemon, ``logger`` its component, plus ``host``,
``peer``, ``instance_id``/``instance_name``/``port_id``), this module:

1. groups the problem events (WARNING and above; not access log lines, whose 5xx is a backend's
   answer) of the infrastructure by *component* and host:
   ``rabbitmq``, ``mariadb/galera`` (a WSREP line) or ``mariadb``, ``ovs-vswitchd``, ``libvirtd``
   (also systemd's lines about ``libvirtd.service``), ``qemu``, ``kernel/oom`` (the OOM killer),
   ``haproxy:<backend>``, ``keepalived``...;
2. joins to each group the service anomalies after it that it can explain: those naming the same instance or
   port, those naming the group's address (``AMQP server on controller:5672``, ``MySQL server on
   'controller'``: the host, or the address and port the daemon serves), those of the same host,
   and, weakest, those that merely follow it in time: at its onset (``ONSET``, 10 s), or later
   (within ``HORIZON``: the longest a service waits on the infrastructure before it gives up, nova's
   VIF plugging timeout of 300 s) when they continue a story already tied to it (the same request
   or instance as a symptom credited to it, or the same symptom again);
3. scores each group by principles, not by fault names: does its first problem *precede* the
   service errors it explains, what share of the incident's service anomalies does it explain
   (how strongly linked; each service anomaly credited to the latest story of infrastructure
   failures before it that it links to), does it start its story (the OOM killer
   before libvirt's "End of file from qemu monitor"), did it log an error. The share is of all the
   incident's service anomalies: RabbitMQ's "missed heartbeats" beside one service's reconnection
   does not explain a fault whose errors lie elsewhere. ``CONFIDENCE``
   turns them into a probability with fixed weights (no infrastructure-labelled training data
   exists outside the simulator, so nothing is fitted to it);
4. puts the components whose probability reaches 0.5 before the module candidates (their
   scores scaled by what is left), the others after them (the best keeping the last place of a
   full list), so a weak infrastructure candidate never moves the modules' first places.

Where the incident holds no infrastructure event (every fault-injection data set), the causes
come back unchanged: the same list, the same order, the same scores.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.log_event import LogEvent

from . import knowledge
from .report import RootCause, cap_evidence

KIND_MODULE = "module"
KIND_INFRASTRUCTURE = "infrastructure"
SUBSYSTEM = "infrastructure"          # the subsystem name of an infrastructure cause

PROBLEM_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
HORIZON = 360.0      # s: nova waits 300 s for network-vif-plugged, oslo.messaging 60 s for a reply
LEAD_TOLERANCE = 1.0   # s: the same second (syslog's whole seconds, clocks of two hosts)
MAX_EVIDENCE = 5

# the daemons engine.grammars names in ``service``
_DAEMONS = frozenset({"rabbitmq", "mariadb", "mysqld", "libvirtd", "virtqemud", "virtproxyd", "qemu", "kernel",
                      "systemd", "haproxy", "keepalived", "apache2", "httpd", "nginx", "uwsgi", "memcached"})
# systemd units -> the component they run
_UNITS = {"libvirtd": "libvirtd", "virtqemud": "libvirtd", "rabbitmq-server": "rabbitmq", "mariadb": "mariadb",
          "mysql": "mariadb", "openvswitch-switch": "ovs-vswitchd", "ovs-vswitchd": "ovs-vswitchd",
          "ovsdb-server": "ovsdb-server", "haproxy": "haproxy", "keepalived": "keepalived", "apache2": "apache2"}
_OOM = re.compile(r"out of memory|oom-kill|oom_reaper|invoked oom-killer|killed by the oom killer", re.IGNORECASE)
_UNIT = re.compile(r"^([\w@.\\-]+)\.(service|scope|socket):")
_BACKEND = re.compile(r"\b(?:Server|backend|Proxy)\s+'?([\w.-]+?)(?:/|'|\s|$)")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_DOMAIN = re.compile(r"\binstance-[0-9a-f]{8}\b")
_PORT_DEV = re.compile(r"\b(?:tap|qvo|qvb|qbr)([0-9a-f]{8}-[0-9a-f]{2})")
# an address a service message names: host:port, or "server on 'host'" (pymysql), a URL's host
_HOSTPORT = re.compile(r"(?<![\w.:/-])((?:\d{1,3}\.){3}\d{1,3}|[A-Za-z][\w-]*(?:\.[\w-]+)*):(\d{2,5})\b")
_SERVER_ON = re.compile(r"server on '?([\w.-]+)'?")
_SERVED = re.compile(r"->\s*((?:\d{1,3}\.){3}\d{1,3}|[\w.-]+):(\d{2,5})")   # the server side of "a -> b"
# an access log line (HAProxy, Apache, nginx): one request's outcome, which the backend decided
_REQUEST_LINE = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/\d')


def is_infrastructure(event: LogEvent) -> bool:
    """An event of a daemon below the services (parsed by engine.grammars), not of OpenStack."""
    svc = (event.service or "").lower()
    return svc in _DAEMONS or svc.startswith(("ovs-", "ovsdb-", "ovn-"))


def component_of(event: LogEvent) -> str | None:
    """The component an infrastructure event is about (None: about nothing we can name)."""
    svc = (event.service or "").lower()
    text = event.message or ""
    if svc == "rabbitmq":
        return "rabbitmq"
    if svc in ("mariadb", "mysqld"):
        return "mariadb/galera" if (event.logger == "WSREP" or text.startswith("WSREP")) else "mariadb"
    if svc.startswith(("ovs-", "ovsdb-", "ovn-")):
        return svc
    if svc in ("libvirtd", "virtqemud", "virtproxyd"):
        return "libvirtd"
    if svc == "qemu":
        return "qemu"
    if svc == "kernel":
        return "kernel/oom" if _OOM.search(text) else "kernel"
    if svc == "systemd":
        if _OOM.search(text):
            return "kernel/oom"
        unit = event.logger if event.logger and event.logger.endswith(".service") else None
        m = _UNIT.match(text)
        name = unit[: -len(".service")] if unit else (m.group(1) if m and m.group(2) == "service" else None)
        return _UNITS.get(name, name) if name else None
    if svc == "haproxy":
        backend = event.logger if event.logger and event.logger != "haproxy" else None
        if backend is None:
            m = _BACKEND.search(text)
            backend = m.group(1) if m else None
        return f"haproxy:{backend}" if backend else "haproxy"
    return svc or None


def _service_of_component(component: str) -> str:
    return {"mariadb/galera": "mariadb", "kernel/oom": "kernel"}.get(component, component.split(":", 1)[0])


@dataclass
class Group:
    """The problem events of one component on one host, and what they name."""

    component: str
    host: str | None
    events: list[LogEvent] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)          # instance uuids, domain names, port id prefixes
    hosts: set[str] = field(default_factory=set)        # names and addresses it serves on
    ports: set[str] = field(default_factory=set)        # ports it serves on (the server side of its connections)
    novelty: list[float] = field(default_factory=list)   # of its events, 0..1 against the normal profile

    @property
    def first(self) -> float:
        return min(e.timestamp for e in self.events)

    def add(self, e: LogEvent) -> None:
        self.events.append(e)
        text = e.message.split("\n", 1)[0]
        for v in (e.instance_id, getattr(e, "instance_name", None), getattr(e, "port_id", None)):
            if v:
                self.ids.add(v)
        self.ids.update(_UUID.findall(text))
        self.ids.update(_DOMAIN.findall(text))
        self.ids.update(_PORT_DEV.findall(text))
        if e.host:
            self.hosts.add(e.host)
        for host, port in _SERVED.findall(text):
            self.hosts.add(host)
            self.ports.add(port)


def _unpack(item) -> tuple[LogEvent, float | None]:
    """(event, novelty) of a ranker ``Anomaly`` or a plain event (novelty unknown)."""
    event = getattr(item, "event", None)
    return (event, getattr(item, "novelty", None)) if event is not None else (item, None)


def infrastructure_groups(events: Sequence) -> list[Group]:
    """The infrastructure's problem events grouped by (component, host), in order of their first problem.
    Events of an unknown host join the one group of their component with a host, when there is one.
    ``events``: LogEvents, or the ranker's ``Anomaly`` records (their novelty is kept)."""
    groups: dict[tuple[str, str | None], Group] = {}
    for item in events:
        e, novelty = _unpack(item)
        if e.timestamp is None or e.level not in PROBLEM_LEVELS or not is_infrastructure(e):
            continue
        if _REQUEST_LINE.search(e.message):   # a 5xx in an access log is the backend's symptom, not the proxy's fault
            continue
        comp = component_of(e)
        if comp is None:
            continue
        key = (comp, e.host)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(comp, e.host)
        g.add(e)
        if novelty is not None:
            g.novelty.append(novelty)
    for (comp, host), g in list(groups.items()):
        if host is not None:
            continue
        named = [o for (c, h), o in groups.items() if c == comp and h is not None]
        if len(named) == 1:
            for e in g.events:
                named[0].add(e)
            named[0].novelty.extend(g.novelty)
            del groups[(comp, host)]
    return sorted(groups.values(), key=lambda g: (g.first, g.component, g.host or ""))


# -- links from the service anomalies ---------------------------------------------------------------------

STRONG, HOST, TIME = 1.0, 0.8, 0.5   # how much a link counts: ids or address, the same host, time alone


def _service_ids(e: LogEvent) -> set[str]:
    head = e.message.split("\n", 1)[0]
    ids = set(_UUID.findall(head))
    if e.instance_id:
        ids.add(e.instance_id)
    return ids


def _addresses(e: LogEvent) -> tuple[set[str], set[str]]:
    """(ports, bare hosts) a service record names as the peer it failed to reach: the ports of its
    host:port addresses, and the hosts it names without a port ("MySQL server on 'controller'")."""
    text = e.message.split("\n", 1)[0] + "\n" + (e.exception_text or "")
    pairs = _HOSTPORT.findall(text)
    with_port = {h for h, _ in pairs}
    return {p for _, p in pairs}, {h for h in _SERVER_ON.findall(text) if h not in with_port}


def link(g: Group, e: LogEvent) -> float:
    """How strongly a service record is tied to a group (0: not at all), given it falls in its time."""
    ids = _service_ids(e)
    if ids and (ids & g.ids or any(i.startswith(p) for i in ids for p in g.ids if len(p) == 11)):
        return STRONG
    ports, bare = _addresses(e)
    if ports & g.ports:                       # the port the daemon serves (its own lines show it: "-> host:5672")
        return STRONG
    if bare & g.hosts and not g.ports:        # a host named without a port: the daemons there whose port we do
        return STRONG                         # not know ("MySQL server on 'controller'" is not RabbitMQ's: 5672)
    if e.host and g.host:
        return HOST if e.host == g.host else 0.0
    return TIME


ONSET = 10.0   # s: a symptom tied by time alone must come this soon after the component's first problem
AT_ONCE = 2.0  # s: one that comes this soon weighs as a link by host: near-simultaneity is itself a sign


# -- scoring ---------------------------------------------------------------------------------------------

# logit = bias + weights . (precedes, explains, first, strong, error, novel). What it explains gates the rest:
# with nothing explained every other sign together stays under 0.5 (0.27); a component first in its story,
# before the service errors it ties to, explaining a third of them, with a novel error, scores about 0.85;
# one that fails the way healthy clouds routinely do (RabbitMQ closing a connection whose client missed its
# heartbeats: ``novel`` near 0) needs to explain about a half.
CONFIDENCE = {"bias": -6.0, "precedes": 1.5, "explains": 6.0, "first": 1.0, "strong": 0.5, "error": 0.5,
              "novel": 1.5}


@dataclass
class InfraCandidate:
    group: Group
    features: dict[str, float]
    linked: list[tuple[LogEvent, float]]
    probability: float


BURST = 5.0   # s: infrastructure failures this close together are one story (the OOM killer, then libvirt, then qemu)
DECAY = 60.0  # s: how fast a story's claim on a later symptom fades, against a story that began nearer to it


_MASK = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|req-\S+|\d+")


def _recurring(e: LogEvent) -> tuple:
    """What makes two service records the same symptom again (service, logger, masked first line)."""
    return e.service, e.logger, _MASK.sub("#", e.message.split("\n", 1)[0][:120])


def score_groups(groups: Sequence[Group], service: Sequence) -> list[InfraCandidate]:
    """Each group's features and probability of being the cause, given the incident's service anomalies
    (LogEvents, or ``Anomaly`` records whose novelty then weighs each one).

    Each service anomaly is credited to one story of infrastructure failures (a group and those whose
    first problem lies within ``BURST`` of it): the one it links to most strongly, a link weighing less
    the longer before the symptom its story began (``DECAY``), not every daemon that failed earlier: a
    RabbitMQ blip minutes before a Galera partition does not explain the database errors after it. A symptom that recurs (the same
    service, logger and message) stays with the story its first occurrence was credited to. What a
    group explains is weighed by the records' novelty: the routine errors every healthy cloud logs
    explain nothing and need no explaining.
    """
    items = sorted((_unpack(x) for x in service), key=lambda p: p[0].timestamp or 0.0)
    total = sum(1.0 if n is None else n for e, n in items if e.timestamp is not None)
    linked: dict[int, list[tuple[LogEvent, float]]] = {i: [] for i in range(len(groups))}
    explained = [0.0] * len(groups)
    story_of: dict[tuple, list[int]] = {}
    chain: dict[int, set[str]] = {i: set() for i in range(len(groups))}   # ids of the symptoms credited to it
    for e, novelty in items:
        if e.timestamp is None:
            continue
        key = _recurring(e)
        ids = _service_ids(e) | ({e.request_id} if e.request_id else set())
        links = {}
        for i, g in enumerate(groups):
            if not g.first - LEAD_TOLERANCE <= e.timestamp <= g.first + HORIZON:
                continue
            w = link(g, e)
            # time alone ties only a symptom at the onset, or one of a story already told: the same request
            # or instance as a symptom credited to it, or the same symptom again
            if w == TIME and e.timestamp - g.first > ONSET and not (ids & chain[i]) \
                    and i not in story_of.get(key, ()):
                w = 0.0
            elif w == TIME and e.timestamp - g.first <= AT_ONCE:
                w = HOST
            if w > 0:
                links[i] = w
        if not links:
            continue
        chosen = [i for i in story_of.get(key, ()) if i in links]
        if not chosen:
            # the most specific, then the nearest explanation: a link weighs less the longer ago its story began
            near = {i: w / (1.0 + max(0.0, e.timestamp - groups[i].first) / DECAY) for i, w in links.items()}
            top = max(near, key=lambda i: (near[i], groups[i].first))
            chosen = [i for i in links if links[i] == links[top] and abs(groups[i].first - groups[top].first) <= BURST]
            story_of[key] = chosen
        for i in chosen:
            linked[i].append((e, links[i]))
            explained[i] += links[i] * (1.0 if novelty is None else novelty)
            chain[i] |= ids
    out = []
    for i, g in enumerate(groups):
        t0, mine = g.first, linked[i]
        # the share of the whole incident's (novel) service anomalies: a blip that explains the one error
        # beside it does not explain an incident whose other errors lie elsewhere
        # (at least one novel record's worth: routine errors alone leave nothing much to explain)
        explains = explained[i] / max(total, 1.0)
        precedes = 1.0 if mine and t0 <= min(e.timestamp for e, _ in mine) + LEAD_TOLERANCE else 0.0
        strong = sum(1 for _, w in mine if w >= HOST) / len(mine) if mine else 0.0
        starts = not any(o is not g and t0 - BURST <= o.first < t0 for o in groups)   # nothing failed just before
        feats = {
            "precedes": precedes, "explains": explains, "first": 1.0 if starts else 0.0, "strong": strong,
            "error": 1.0 if any(e.level in ERROR_LEVELS for e in g.events) else 0.0,
            "novel": max(g.novelty) if g.novelty else 1.0,
        }
        logit = CONFIDENCE["bias"] + sum(CONFIDENCE[k] * v for k, v in feats.items())
        out.append(InfraCandidate(g, feats, mine, 1.0 / (1.0 + math.exp(-logit))))
    out.sort(key=lambda c: (-c.probability, c.group.first, c.group.component))
    return out


def _root_cause(c: InfraCandidate) -> RootCause:
    g = c.group
    evs = sorted(g.events, key=lambda e: e.timestamp)
    text = " ".join([g.component] + [e.message.split("\n", 1)[0][:300] for e in evs[:MAX_EVIDENCE]])
    mode = knowledge.classify(text)
    where = f" on {g.host}" if g.host else ""
    linked = [e for e, _ in c.linked]
    return RootCause(
        rank=0, subsystem=SUBSYSTEM, service=_service_of_component(g.component), module=g.component,
        category=mode.category, score=c.probability, first_seen=g.first,
        evidence=cap_evidence([e.raw for e in evs[:MAX_EVIDENCE]]),
        request_ids=sorted({e.request_id for e in linked if e.request_id})[:20],
        instance_ids=sorted({e.instance_id for e in linked if e.instance_id})[:20],
        recommendation=f"Check {g.component}{where}: its own log shows the failure first. "
                       + knowledge.recommendation(mode, text),
        package=g.component, kind=KIND_INFRASTRUCTURE, host=g.host)


def rank_with_infrastructure(anomalous: Sequence, causes: list[RootCause], limit: int) -> list[RootCause]:
    """The module causes with the infrastructure's candidates joined (see module doc); unchanged (the
    same list) when the records hold no infrastructure problem.

    ``anomalous``: the incident's anomalous records (``ranker.find_anomalies``' ``Anomaly`` records:
    every error, with how novel it is, and the warnings normal runs do not show; or plain events), so
    a daemon's routine trouble, like a service's, weighs little.
    """
    groups = infrastructure_groups(anomalous)
    if not groups:
        return causes
    service = [item for item in anomalous
               if (e := _unpack(item)[0]).level in PROBLEM_LEVELS and not is_infrastructure(e)]
    cands = score_groups(groups, service)
    names = {c.group.component for c in cands}
    modules = [rc for rc in causes if rc.module not in names]   # a memory vote for a component: now its own
    ahead = [_root_cause(c) for c in cands if c.probability >= 0.5]
    behind = [_root_cause(c) for c in cands if c.probability < 0.5]
    if ahead:
        left = 1.0 - max(rc.score for rc in ahead)
        for rc in modules:
            rc.score *= left
    merged = ahead + modules
    if behind:   # the others after the modules; the best keeps the last place when the list is full
        merged = merged[: max(limit - len(behind), min(len(merged), limit - 1))] + behind
    merged = merged[:limit]
    for i, rc in enumerate(merged, 1):
        rc.rank = i
    return merged


__all__ = ["KIND_INFRASTRUCTURE", "KIND_MODULE", "Group", "component_of", "infrastructure_groups",
           "is_infrastructure", "rank_with_infrastructure", "score_groups"]
