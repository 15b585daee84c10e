"""Incident correlation: the second stage of the stream (pure logic, no Kafka).

The window stage publishes one RCA result per closed window (rca.results). A
fault shows up as several incident windows: one per session key (instance,
request, service@host) it touched, per minute, per service. The correlator
reads those results in arrival order and groups the incident windows of one
fault into one incident, published to ``rca.incidents`` (keyed by incident
id, compacted: the latest message of an id is its state).

    correlator = Correlator(CorrelatorConfig())
    for result in results:                       # what Pipeline.result(window) returns
        for message in correlator.observe(result):   # rca_incident messages (validated)
            publish(message["incident_id"], message)
        result["incident_id"] = correlator.incident_of(result["window_id"])
    for message in correlator.expire(event_time):    # resolved after the quiet period
        publish(message["incident_id"], message)
    state = correlator.to_state()                # JSON-able; Correlator.from_state(state) restores it

What links an incident window to an open incident (in this order):
1. a request id or instance id they share (the window's own ids, and those of
   its root causes): one request crossing nova-api, nova-compute and
   neutron-server is one story, whatever the services and hosts;
2. time proximity: the window starts within ``link_seconds`` of the
   incident's last window and shares a host, a service, or a subsystem among
   the causes both name. Two unrelated faults far apart in time stay apart;
   two faults at once on different hosts with no shared ids stay apart.
When a window links two open incidents, they are merged into the older.

Causes are merged over windows: every window votes for the causes it ranks
(its score for the cause, weighted by the window's anomaly score), and the
causes of the incident's earliest windows get a head start (``origin_weight``):
a fault's origin errors come before its symptoms elsewhere (the first error
in event time is kept as ``origin``). The top cause's recommendation is the
incident's.

States: ``open`` (first message), ``updated`` (a window joined or the ranking
changed), ``resolved`` (no incident window joined for ``quiet_seconds`` of
event time; ``expire`` returns it). Event time, not wall-clock time, drives
everything, so a replay gives the same incidents and ids: an incident's id is
``inc-`` + sha256 of its first window's id.

Decision: a window is an incident window when the window stage says so
(``is_incident``, the served bundle's detector, calibrated on labelled runs
so that fault-free runs' windows are negatives: engine/rca/detector.py; and
its follow-up gate: the workflow stalled after the window's first error,
engine/rca/followups.py). An
incident is published once it holds ``min_windows`` incident windows or one
with an anomaly score of at least ``confirm_score``; until then it is
pending (kept in state, never published), so a lone weak window of a healthy
cloud raises nothing.

Seeing every partition, and where that stops scaling
----------------------------------------------------
Each worker sees the windows of its own openstack.logs partitions only, but
one fault spans services whose logs land on different partitions. The
proposal: the window stage also sends every incident window (only those:
a small share of results) to a topic ``rca.incidents-correlation`` with ONE
partition, keyed by a constant correlation key (or by a coarse failure
domain: region, cell). A Faust agent on it (concurrency 1) runs this
correlator; its state lives in a changelog-backed Faust table under that key
(``table[key] = correlator.to_state()`` after each message that changed it,
``Correlator.from_state(table[key])`` on assignment), so a restart or a
rebalance loses no open incident. Time advances with the results' window
ends; the agent also calls ``expire`` from a timer with the newest event time
it has seen. Results on rca.results can be re-published with ``incident_id``
filled (same key, window id), or readers join on the incident's window_ids.

It stops scaling when one partition cannot carry the incident windows of the
whole cloud (one agent handles thousands of windows per second; a cloud in
trouble makes tens), or when the open incidents of one key make the table
value large (each incident is capped: ids, window ids, causes and evidence
are bounded, ~10-50 kB). Past that, shard by failure domain: incidents are
not correlated across shards, which is usually what an operator wants.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import schemas
from engine.rca.evidence import MAX_INCIDENT_EVENTS, select
from engine.rca.knowledge import family
from schemas.log_event import format_timestamp, parse_timestamp

_UUID = re.compile(r"^(req-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# an id a record's text names: a request (req-UUID) or a resource UUID (instance, volume, port, ...)
_NAMED_ID = re.compile(r"(?:req-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STATE_VERSION = 1


@dataclass(frozen=True)
class CorrelatorConfig:
    quiet_seconds: float = 600.0     # event time without a new incident window before an incident resolves
    link_seconds: float = 300.0      # max gap (event time) to join an incident on time + host/service/cause
    min_windows: int = 1             # incident windows before an incident is published ...
    confirm_score: float = 0.0       # ... or one window with at least this anomaly score
    origin_weight: float = 0.1       # head start of the causes named by the incident's first windows
    max_ids: int = 200               # request/instance ids, hosts, services, session keys kept per incident
    max_window_ids: int = 200        # window ids listed per incident (window_count counts them all)
    max_causes: int = 10             # root causes kept per incident
    max_evidence: int = 5            # evidence lines kept per cause
    max_evidence_events: int = MAX_INCIDENT_EVENTS   # anomalous records kept per incident (its analysis)

    @classmethod
    def learned(cls, gap: float | None, **overrides) -> "CorrelatorConfig":
        """The config for a model's learned incident gap (engine.rca.model.learn_incident_gap): windows
        join on time within the gap, an incident resolves after twice the gap without a window."""
        if gap is None:
            return cls(**overrides)
        return cls(**{"link_seconds": gap, "quiet_seconds": 2 * gap, **overrides})

    @classmethod
    def from_dict(cls, data: dict) -> "CorrelatorConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def incident_id(first_window_id: str) -> str:
    return "inc-" + hashlib.sha256(first_window_id.encode()).hexdigest()[:24]


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        return None


def _cause_key(rc: dict) -> str:
    return rc.get("module") or rc.get("subsystem") or "unknown"


GENERIC_CATEGORIES = frozenset({"error", "unknown", "", None})


def _signature(causes) -> set[str]:
    """What says two windows show the same fault: their causes' modules and (specific) categories.
    Time and a shared host or service are weaker (in a small cloud every fault shares them): a
    window whose causes are about another part of the cloud (volume attach while vif plugging
    fails: storage, not network) is another fault."""
    out = set()
    for rc in causes:
        if rc.get("module"):
            out.add("m:" + rc["module"])
        if rc.get("category") not in GENERIC_CATEGORIES:
            out.add("c:" + rc["category"])
    return out


def _families(signature: set[str]) -> set[str]:
    """The failure families (engine.rca.knowledge.FAMILIES) of a signature's categories."""
    return {f for s in signature if s.startswith("c:") and (f := family(s[2:]))}


def _add_capped(target: list, values, cap: int) -> None:
    seen = set(target)
    for v in values:
        if v and v not in seen and len(target) < cap:
            target.append(v)
            seen.add(v)


# packed evidence records (engine/rca/evidence.py) -> ranked root causes (rca_result root_cause
# dicts): the served model's run-level analysis (engine.rca.model.rank_incident)
Analyst = Callable[[list[dict]], list[dict]]


@dataclass
class Correlator:
    """Open incidents and what links windows to them; all state is plain data (see to_state).

    ``analyst``: ranks an incident over its evidence records with the served model, as
    ``rca analyze`` ranks a run (None: the windows' own causes are merged by their votes).
    """

    config: CorrelatorConfig = field(default_factory=CorrelatorConfig)
    incidents: dict[str, dict] = field(default_factory=dict)   # id -> incident state (JSON-able)
    event_time: float = float("-inf")                          # newest window end seen
    window_incident: dict[str, str] = field(default_factory=dict)  # window id -> incident id (open ones)
    analyst: Analyst | None = None
    # incidents whose evidence records changed since ``evidence_changes`` was last asked
    _evidence_dirty: set = field(default_factory=set)

    # -- state ------------------------------------------------------------------
    def to_state(self, evidence: bool = True) -> dict:
        """A JSON-able snapshot (what the Faust table stores). ``evidence=False``: without the
        incidents' evidence records, which the worker stores under keys of their own
        (``evidence_changes``) so that one table value stays small."""
        incidents = self.incidents if evidence else {
            iid: {k: v for k, v in inc.items() if k != "evidence_events"} for iid, inc in self.incidents.items()}
        return {"version": STATE_VERSION, "config": asdict(self.config), "incidents": incidents,
                "event_time": None if self.event_time == float("-inf") else self.event_time}

    def evidence_changes(self) -> dict[str, list | None]:
        """Incident id -> its evidence records, for the incidents whose records changed since the
        last call (None: the incident is gone)."""
        out = {iid: (self.incidents[iid].get("evidence_events") if iid in self.incidents else None)
               for iid in sorted(self._evidence_dirty)}
        self._evidence_dirty.clear()
        return out

    @classmethod
    def from_state(cls, state: dict | None, config: CorrelatorConfig | None = None,
                   analyst: Analyst | None = None,
                   evidence: Mapping[str, list] | Callable[[str], list | None] | None = None) -> "Correlator":
        """Restore a snapshot; ``config`` (when given) replaces the stored one. ``evidence``:
        incident id -> evidence records, for a snapshot taken with ``evidence=False``."""
        if not state:
            return cls(config or CorrelatorConfig(), analyst=analyst)
        cfg = config or CorrelatorConfig.from_dict(state.get("config") or {})
        out = cls(cfg, {iid: dict(inc) for iid, inc in (state.get("incidents") or {}).items()}, analyst=analyst)
        out.event_time = state.get("event_time") if state.get("event_time") is not None else float("-inf")
        lookup = evidence.get if isinstance(evidence, Mapping) else evidence
        for iid, inc in out.incidents.items():
            for wid in inc["window_ids"]:
                out.window_incident[wid] = iid
            if "evidence_events" not in inc:
                inc["evidence_events"] = list((lookup(iid) if lookup else None) or [])
        return out

    # -- the API ----------------------------------------------------------------
    def incident_of(self, window_id: str) -> str | None:
        """The published incident a window joined (None: not an incident window, or still pending)."""
        iid = self.window_incident.get(window_id)
        inc = self.incidents.get(iid) if iid else None
        return iid if inc is not None and inc["published"] else None

    def observe(self, result: dict) -> list[dict]:
        """One RCA result in; the incident messages to publish (validated), oldest first."""
        end = _ts(result.get("window_end"))
        if end is not None and end > self.event_time:
            self.event_time = end
        if not result.get("is_incident"):
            return self._late_context(result.get("evidence_events") or [])
        wid = result["window_id"]
        if wid in self.window_incident:
            return []      # a re-delivered result: already counted
        window = self._window(result)
        linked = self._links(window)
        if not linked:
            inc = self._new(window)
            self.incidents[inc["incident_id"]] = inc
        else:
            inc = self.incidents[linked[0]]
            for other in linked[1:]:
                self._absorb(inc, self.incidents.pop(other))
        self._add(inc, window)
        return self._publish(inc)

    def _late_context(self, records: list[dict]) -> list[dict]:
        """A quiet window's records that led up to open incidents (engine/rca/evidence.py
        ``late_context``): each joins the incidents whose span, from ``link_seconds`` before their
        first window, holds it; a published incident whose first three causes change is updated."""
        out: list[dict] = []
        if not records:
            return out
        times = [_ts(d.get("timestamp")) for d in records]
        for iid in sorted(self.incidents, key=lambda i: (self.incidents[i]["first_seen"], i)):
            inc = self.incidents[iid]
            lo, hi = inc["first_seen"] - self.config.link_seconds, inc["last_seen"]
            mine = [d for d, t in zip(records, times) if t is not None and lo <= t <= hi]
            if not mine:
                continue
            if not self._add_evidence(inc, mine) or not inc["published"]:
                continue
            analysis = self._analysis(inc)
            ranking = [_cause_key(rc) for rc in analysis[:3]] if analysis else inc["ranking"]
            if ranking != inc["ranking"]:
                out.extend(self._publish(inc))
        return out

    def expire(self, event_time: float | None = None) -> list[dict]:
        """Resolve incidents quiet for ``quiet_seconds`` of event time; their last messages.

        ``event_time``: the stream's present (default: the newest window end observed).
        Pending incidents that never confirmed are dropped silently.
        """
        return self._resolve(self.event_time if event_time is None else event_time, force=False)

    def flush(self) -> list[dict]:
        """Resolve every open incident now (the end of a replay)."""
        return self._resolve(self.event_time, force=True)

    def _resolve(self, now: float, force: bool) -> list[dict]:
        self.event_time = now = max(now, self.event_time)
        out = []
        for iid in sorted(self.incidents, key=lambda i: (self.incidents[i]["last_seen"], i)):
            inc = self.incidents[iid]
            if not force and now - inc["last_seen"] < self.config.quiet_seconds:
                continue
            del self.incidents[iid]
            self._evidence_dirty.add(iid)
            self.window_incident = {w: i for w, i in self.window_incident.items() if i != iid}
            if inc["published"]:
                inc["state"] = "resolved"
                inc["resolved_at"] = now
                out.append(self._message(inc))
        return out

    def open_incidents(self) -> list[dict]:
        """Messages of the published, not yet resolved incidents (for a page or a restart)."""
        return [self._message(i) for i in self.incidents.values() if i["published"]]

    # -- internals --------------------------------------------------------------
    def _window(self, r: dict) -> dict:
        causes = r.get("root_causes") or []
        ids = set(r.get("request_ids") or []) | set(r.get("instance_ids") or [])
        for rc in causes:
            ids.update(rc.get("request_ids") or [])
            ids.update(rc.get("instance_ids") or [])
        key = r.get("session_key") or ""
        if _UUID.match(key):
            ids.add(key)
        evidence = r.get("evidence_events") or []
        named = set()
        for e in evidence:   # the ids its anomalous records name: instance, request chain, volume, port
            ids.update(v for v in (e.get("request_id"), e.get("instance_id")) if v)
            named.update(_NAMED_ID.findall((e.get("message") or "").split("\n", 1)[0][:2000]))
        named -= ids
        start = _ts(r.get("window_start")) or self.event_time
        end = _ts(r.get("window_end")) or start
        first_error = r.get("first_error") or None
        err_time = _ts(first_error.get("time")) if first_error else None
        cause_times = [t for t in (_ts(rc.get("first_seen")) for rc in causes) if t is not None]
        first = min([t for t in (err_time, *cause_times) if t is not None], default=start)
        return {
            "id": r["window_id"], "start": start, "end": end, "first": first,
            "score": float(r.get("anomaly_score") or 0.0), "ids": ids, "named": named, "key": key,
            "hosts": set(r.get("hosts") or []), "services": set(r.get("services") or []),
            "causes": causes, "first_error": first_error,
            "subsystems": {rc.get("subsystem") for rc in causes[:3] if rc.get("subsystem")},
            "signature": _signature(causes[:1]),
            "model_version": r.get("model_version"), "analyzer": r.get("analyzer") or "",
            "evidence": evidence,
        }

    def _links(self, w: dict) -> list[str]:
        """Open incidents this window joins: by shared ids, else (close in time) by the same cause, else by
        shared hosts, services or subsystems unless the causes say it is another fault; oldest first."""
        by_id, by_cause, by_context = [], [], []
        mine = w["ids"] | w["named"]
        for iid, inc in self.incidents.items():
            if mine and (not mine.isdisjoint(inc["request_ids"]) or not mine.isdisjoint(inc["instance_ids"])
                         or not mine.isdisjoint(inc.get("resource_ids") or ())):
                by_id.append(iid)
                continue
            gap = w["start"] - inc["last_seen"]
            if gap > self.config.link_seconds or inc["first_seen"] - w["end"] > self.config.link_seconds:
                continue
            theirs = _signature(inc["causes"].values())
            if not w["signature"].isdisjoint(theirs):
                by_cause.append(iid)                # the same module or failure category
            elif (mine := _families(w["signature"])) and (other := _families(theirs)) and mine.isdisjoint(other):
                continue                            # another part of the cloud failed: another fault
            elif (not w["hosts"].isdisjoint(inc["hosts"]) or not w["services"].isdisjoint(inc["services"])
                    or not w["subsystems"].isdisjoint(inc["subsystems"])):
                by_context.append(iid)
        linked = by_id or by_cause or by_context
        return sorted(linked, key=lambda i: (self.incidents[i]["first_seen"], i))

    def _new(self, w: dict) -> dict:
        return {
            "incident_id": incident_id(w["id"]), "state": "open", "revision": 0, "published": False,
            "first_seen": w["first"], "last_seen": w["end"], "resolved_at": None, "score": 0.0,
            "causes": {}, "origin": None, "origin_time": None,
            "services": [], "hosts": [], "instance_ids": [], "request_ids": [], "session_keys": [],
            "subsystems": [], "window_ids": [], "window_count": 0,
            "model_version": w["model_version"], "analyzer": w["analyzer"], "ranking": [],
            "evidence_events": [], "analysis": None,
        }

    def _add(self, inc: dict, w: dict) -> None:
        cap = self.config.max_ids
        inc["window_count"] += 1
        if len(inc["window_ids"]) < self.config.max_window_ids:
            inc["window_ids"].append(w["id"])
        self.window_incident[w["id"]] = inc["incident_id"]
        inc["first_seen"] = min(inc["first_seen"], w["first"])
        inc["last_seen"] = max(inc["last_seen"], w["end"])
        inc["score"] = max(inc["score"], w["score"])
        _add_capped(inc["services"], sorted(w["services"]), cap)
        _add_capped(inc["hosts"], sorted(w["hosts"]), cap)
        _add_capped(inc["session_keys"], [w["key"]], cap)
        _add_capped(inc["request_ids"], sorted(i for i in w["ids"] if i.startswith("req-")), cap)
        _add_capped(inc["instance_ids"], sorted(i for i in w["ids"] if not i.startswith("req-")), cap)
        _add_capped(inc["subsystems"], sorted(w["subsystems"]), cap)
        _add_capped(inc.setdefault("resource_ids", []), sorted(w["named"]), cap)
        if w["model_version"] is not None:
            inc["model_version"] = w["model_version"]
        inc["analyzer"] = w["analyzer"] or inc["analyzer"]
        fe = w["first_error"]
        if fe and (inc["origin_time"] is None or (w["first"] < inc["origin_time"])):
            inc["origin"] = {k: fe.get(k) for k in ("time", "service", "logger", "message") if k in fe}
            inc["origin_time"] = w["first"]
        weight = max(w["score"], 0.05)
        for rc in w["causes"]:
            key = _cause_key(rc)
            c = inc["causes"].get(key)
            if c is None:
                c = inc["causes"][key] = {
                    "subsystem": rc.get("subsystem") or "unknown", "service": rc.get("service"),
                    "module": rc.get("module"), "category": rc.get("category") or "unknown",
                    "votes": 0.0, "best": 0.0, "first": None, "windows": 0, "evidence": [],
                    "request_ids": [], "instance_ids": [], "recommendation": rc.get("recommendation") or "",
                }
            score = float(rc.get("score") or 0.0)
            c["votes"] += weight * score
            c["best"] = max(c["best"], score)
            c["windows"] += 1
            t = _ts(rc.get("first_seen"))
            if t is not None and (c["first"] is None or t < c["first"]):
                c["first"] = t
            _add_capped(c["evidence"], rc.get("evidence") or [], self.config.max_evidence)
            _add_capped(c["request_ids"], rc.get("request_ids") or [], 20)
            _add_capped(c["instance_ids"], rc.get("instance_ids") or [], 20)
        self._trim_causes(inc)
        if w["evidence"]:
            self._add_evidence(inc, w["evidence"])

    def _add_evidence(self, inc: dict, records: list[dict]) -> bool:
        """Add records to the incident's evidence (bounded); whether its evidence changed."""
        kept = select(inc["evidence_events"] + list(records), self.config.max_evidence_events)
        if kept == inc["evidence_events"]:
            return False            # records it had already (a redelivery): its analysis stands
        inc["evidence_events"] = kept
        inc["analysis"] = None      # ranked again when next published
        self._evidence_dirty.add(inc["incident_id"])
        return True

    def _absorb(self, inc: dict, other: dict) -> None:
        """Merge ``other`` (a younger incident) into ``inc``."""
        cap = self.config.max_ids
        inc["window_count"] += other["window_count"]
        for wid in other["window_ids"]:
            self.window_incident[wid] = inc["incident_id"]
            if len(inc["window_ids"]) < self.config.max_window_ids:
                inc["window_ids"].append(wid)
        for k in ("services", "hosts", "session_keys", "request_ids", "instance_ids", "subsystems", "resource_ids"):
            _add_capped(inc.setdefault(k, []), other.get(k) or [], cap)
        inc["first_seen"] = min(inc["first_seen"], other["first_seen"])
        inc["last_seen"] = max(inc["last_seen"], other["last_seen"])
        inc["score"] = max(inc["score"], other["score"])
        inc["published"] = inc["published"] or other["published"]
        if other["origin_time"] is not None and (inc["origin_time"] is None or other["origin_time"] < inc["origin_time"]):
            inc["origin"], inc["origin_time"] = other["origin"], other["origin_time"]
        for key, oc in other["causes"].items():
            c = inc["causes"].get(key)
            if c is None:
                inc["causes"][key] = oc
                continue
            c["votes"] += oc["votes"]
            c["best"] = max(c["best"], oc["best"])
            c["windows"] += oc["windows"]
            if oc["first"] is not None and (c["first"] is None or oc["first"] < c["first"]):
                c["first"] = oc["first"]
            _add_capped(c["evidence"], oc["evidence"], self.config.max_evidence)
        self._trim_causes(inc)
        self._evidence_dirty.add(other["incident_id"])
        if other.get("evidence_events"):
            self._add_evidence(inc, other["evidence_events"])

    def _ranked(self, inc: dict) -> list[tuple[str, float]]:
        """(cause key, merged score) best first: window votes, plus a head start for the origin's causes."""
        causes = inc["causes"]
        if not causes:
            return []
        total = sum(c["votes"] for c in causes.values()) or 1.0
        t0 = min((c["first"] for c in causes.values() if c["first"] is not None), default=None)
        out = []
        for key, c in causes.items():
            share = c["votes"] / total
            early = 1.0 if (t0 is not None and c["first"] is not None and c["first"] - t0 <= 1.0) else 0.0
            out.append((key, share + self.config.origin_weight * early * c["best"]))
        out.sort(key=lambda kv: (-kv[1], kv[0]))
        return out

    def _trim_causes(self, inc: dict) -> None:
        ranked = self._ranked(inc)
        keep = {k for k, _ in ranked[: self.config.max_causes * 2]}
        for k in list(inc["causes"]):
            if k not in keep:
                del inc["causes"][k]

    def _analysis(self, inc: dict) -> list[dict] | None:
        """The incident's causes by the run-level analysis of its evidence records (None: no analyst,
        or no records: the windows' votes decide). Computed once per change, kept with the state."""
        if self.analyst is None or not inc.get("evidence_events"):
            return None
        if inc.get("analysis") is None:
            inc["analysis"] = self.analyst(inc["evidence_events"])[: self.config.max_causes]
        return inc["analysis"]

    def _publish(self, inc: dict) -> list[dict]:
        analysis = self._analysis(inc)
        ranking = ([_cause_key(rc) for rc in analysis[:3]] if analysis
                   else [k for k, _ in self._ranked(inc)[:3]])
        if not inc["published"]:
            if inc["window_count"] < self.config.min_windows and inc["score"] < self.config.confirm_score:
                return []
            inc["published"] = True
            inc["state"] = "open"
        else:
            inc["state"] = "updated"
        inc["ranking"] = ranking
        return [self._message(inc)]

    def _message(self, inc: dict) -> dict:
        """The rca_incident message of an incident's current state (validated)."""
        inc["revision"] += 1
        analysis = self._analysis(inc)
        causes = self._analysed_causes(inc, analysis) if analysis else self._voted_causes(inc)
        head = causes[0] if causes else None
        summary = (f"{head['category']} in {head['module'] or head['subsystem']} ({head['service'] or 'unknown service'})"
                   f", {inc['window_count']} window(s), {len(inc['services'])} service(s)"
                   if head else "anomalous records without a located cause")
        msg: dict[str, Any] = {
            "schema_version": 1, "incident_id": inc["incident_id"], "state": inc["state"],
            "revision": inc["revision"], "first_seen": format_timestamp(inc["first_seen"]),
            "last_seen": format_timestamp(inc["last_seen"]),
            "resolved_at": format_timestamp(inc["resolved_at"]) if inc["resolved_at"] is not None else None,
            "summary": summary, "score": round(inc["score"], 4), "root_causes": causes,
            "recommendation": head["recommendation"] if head and head["recommendation"] else None,
            "origin": inc["origin"], "services": list(inc["services"]), "hosts": list(inc["hosts"]),
            "instance_ids": list(inc["instance_ids"]), "request_ids": list(inc["request_ids"]),
            "session_keys": list(inc["session_keys"]), "window_ids": list(inc["window_ids"]),
            "window_count": inc["window_count"], "model_version": inc["model_version"],
            "analyzer": inc["analyzer"], "produced_at": format_timestamp(time.time()),
        }
        schemas.validate("rca_incident", msg)
        return msg

    def _analysed_causes(self, inc: dict, analysis: list[dict]) -> list[dict]:
        """The analyst's causes as rca_incident causes (``windows``: how many windows named it)."""
        out = []
        for rank, rc in enumerate(analysis, 1):
            voted = inc["causes"].get(_cause_key(rc))
            out.append({
                "rank": rank, "subsystem": rc["subsystem"], "service": rc.get("service"),
                "module": rc.get("module"), "category": rc.get("category") or "unknown",
                "score": round(float(rc.get("score") or 0.0), 4), "first_seen": rc.get("first_seen"),
                "evidence": list(rc.get("evidence") or [])[: 4 * self.config.max_evidence],
                "request_ids": list(rc.get("request_ids") or []), "instance_ids": list(rc.get("instance_ids") or []),
                "recommendation": rc.get("recommendation") or "", "windows": voted["windows"] if voted else 0,
            })
            if rc.get("confidence") is not None:
                out[-1]["confidence"] = rc["confidence"]
            out[-1].update({k: rc[k] for k in ("kind", "host") if rc.get(k) is not None})   # engine/rca/infra.py
        return out

    def _voted_causes(self, inc: dict) -> list[dict]:
        """Causes merged over the windows' own rankings, by their votes (no analyst)."""
        ranked = self._ranked(inc)[: self.config.max_causes]
        top = max((s for _, s in ranked), default=1.0) or 1.0
        causes = []
        for rank, (key, score) in enumerate(ranked, 1):
            c = inc["causes"][key]
            causes.append({
                "rank": rank, "subsystem": c["subsystem"], "service": c["service"], "module": c["module"],
                "category": c["category"], "score": round(min(score / top, 1.0) * inc["score"], 4),
                "first_seen": format_timestamp(c["first"]) if c["first"] is not None else None,
                "evidence": list(c["evidence"]), "request_ids": list(c["request_ids"]),
                "instance_ids": list(c["instance_ids"]), "recommendation": c["recommendation"],
                "windows": c["windows"],
            })
        return causes
