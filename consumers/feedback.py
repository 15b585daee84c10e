"""Operators' verdicts on incidents: checked, read back, and turned into what a retrain learns.

A verdict (schemas/feedback.schema.json) is published to rca.feedback, compacted and keyed by
incident id, so the latest verdict of an incident is the one that counts and the topic itself
is where verdicts are kept (with their evidence records: a retrain weeks later still has
them). When a control secret is configured, a verdict must be signed as control commands are:
the worker's feedback agent refuses unsigned or forged ones with a reason (a `rejected` event
on rca.control.events keyed by the verdict id, as a refused command gets), and every reader
here skips them, so a retrain never learns from one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import schemas
from config.settings import ControlSettings, Settings
from schemas import control as signing
from schemas.log_event import parse_timestamp

log = logging.getLogger(__name__)

ORIGIN = {"confirm": "confirmed", "reject": "rejected", "missed": "missed"}   # engine.experience.Lesson.origin


@dataclass(frozen=True)
class Checked:
    verdict: dict | None
    reason: str | None     # None: accepted

    @property
    def accepted(self) -> bool:
        return self.reason is None


class VerdictValidator:
    """Schema, then signature when a secret is configured (the control commands' rule)."""

    def __init__(self, cfg: ControlSettings) -> None:
        self.secret = cfg.secret_bytes()

    def check(self, value: bytes | None) -> Checked:
        try:
            verdict = schemas.decode(value or b"")
        except ValueError as exc:
            return Checked(None, f"not JSON: {exc}")
        try:
            schemas.validate("feedback", verdict)
        except schemas.SchemaError as exc:
            return Checked(verdict if isinstance(verdict, dict) else None, f"schema: {exc}")
        if self.secret is not None and not signing.verify(verdict, self.secret):
            return Checked(verdict, "missing or invalid signature" if "signature" in verdict
                           else "missing signature (a shared secret is configured)")
        return Checked(verdict, None)


def read_verdicts(settings: Settings, timeout: float = 60.0) -> list[dict]:
    """The latest accepted verdict of every incident on the feedback topic, oldest first (by `at`).

    Refused ones (unsigned, forged, not following the schema) are skipped and logged; a later
    valid verdict of the same incident still counts. An absent topic has no verdicts."""
    from producers.kafka import make_consumer

    topic = settings.topics.feedback
    validator = VerdictValidator(settings.control)
    latest: dict[str, dict] = {}
    c = make_consumer(settings.kafka, "rca-feedback-reader", logger=log)
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        ends: dict[int, int] = {}
        for p in md.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in c.consume(1000, 0.5):
                if msg.error():
                    continue
                p = msg.partition()
                if msg.value() is not None:          # a tombstone withdraws nothing we rely on
                    checked = validator.check(msg.value())
                    if checked.accepted:
                        latest[checked.verdict["incident_id"]] = checked.verdict
                    else:
                        log.warning("verdict at %s/%d@%d refused: %s", topic, p, msg.offset(), checked.reason)
                if p in ends and msg.offset() + 1 >= ends[p]:
                    del ends[p]
        if ends:
            log.warning("read %s for %.0f s without reaching its end: %d verdicts so far", topic, timeout, len(latest))
    finally:
        c.close()
    return sorted(latest.values(), key=lambda v: (_at(v), v["incident_id"]))


def _at(v: dict) -> float:
    try:
        return parse_timestamp(v["at"])
    except (ValueError, OverflowError, KeyError):
        return 0.0


def split_verdicts(verdicts: Sequence[dict], cfg: ControlSettings) -> tuple[list[dict], list[dict]]:
    """(to learn from, held back for the gate): the latest share, once there are enough of them.
    With fewer, every verdict is learned from (an operator's first verdicts must count)."""
    if len(verdicts) < cfg.min_verdicts_to_hold or cfg.verdict_holdout_fraction <= 0:
        return list(verdicts), []
    n = max(1, round(len(verdicts) * cfg.verdict_holdout_fraction))
    return list(verdicts[:-n]), list(verdicts[-n:])


def to_lessons(verdicts: Iterable[dict]):
    """engine.experience lessons of verdicts (a verdict with no records is kept out: nothing to learn)."""
    from engine.experience import verdict_lesson
    from engine.rca.evidence import unpack

    out = []
    for v in verdicts:
        events = [unpack(d) for d in v.get("evidence") or []]
        if not events:
            log.info("verdict on %s carries no records: nothing to learn from it", v["incident_id"])
            continue
        out.append(verdict_lesson(f"verdict:{v['incident_id']}", ORIGIN[v["verdict"]], events, v.get("cause"),
                                  v.get("stall")))
    return out


def counts(verdicts: Iterable[dict]) -> dict[str, int]:
    out = {k: 0 for k in ORIGIN}
    for v in verdicts:
        out[v["verdict"]] += 1
    return out


def precision(verdicts: Iterable[dict], last: int) -> float | None:
    """Share of confirmed among the last ``last`` incidents that have a verdict (missed faults are
    no incident the service raised); None: no verdict yet."""
    judged = [v for v in verdicts if v["verdict"] in ("confirm", "reject")][-last:]
    if not judged:
        return None
    return sum(1 for v in judged if v["verdict"] == "confirm") / len(judged)


# -- giving a verdict (the CLI and the page) -------------------------------------------------------
class VerdictError(ValueError):
    """A verdict that cannot be given as asked (one line, for the CLI and the page)."""


# infrastructure components an operator may name as a cause (engine/grammars' daemons; a name may
# carry a part after '/' or ':', as engine/rca/infra.py writes them: mariadb/galera, haproxy:nova_api)
COMPONENTS = frozenset({"libvirt", "libvirtd", "qemu", "kvm", "ovs", "ovs-vswitchd", "ovsdb-server", "ovn",
                        "ovn-controller", "ovn-northd", "rabbitmq", "mariadb", "galera", "mysql", "haproxy",
                        "keepalived", "apache2", "httpd", "nginx", "uwsgi", "memcached", "kernel", "systemd",
                        "etcd", "network", "storage", "disk", "dns", "ntp"})
RESULTS_SCAN_SECONDS = 60.0     # how long reading rca.results for an incident's records may take


def candidates_of(incident: dict) -> list[str]:
    return [rc.get("module") or rc.get("subsystem") for rc in incident.get("root_causes") or []
            if rc.get("module") or rc.get("subsystem")]


def check_cause(cause: str, candidates: Sequence[str] = ()) -> int | None:
    """The cause's rank among ``candidates`` (None: not one of them but a module or component);
    VerdictError for a name that is neither."""
    from engine.rca.modules import is_project_module

    if cause in candidates:
        return list(candidates).index(cause) + 1
    head = cause.replace(":", "/").split("/", 1)[0].lower()
    if is_project_module(cause) or head in COMPONENTS:
        return None
    hint = f"one of its candidates ({', '.join(candidates[:5])}), " if candidates else ""
    raise VerdictError(f"unknown cause {cause!r}: name {hint}an OpenStack module (nova.compute.manager) or "
                       f"a component ({', '.join(sorted(COMPONENTS)[:6])}, ...)")


def find_incident(settings: Settings, incident_id: str) -> dict:
    """The latest state of an incident on rca.incidents (VerdictError when there is none)."""
    from consumers.results import IncidentBook, read_topic

    book = IncidentBook(recent=10**9)
    for item in read_topic(settings.kafka, settings.topics.incidents, group_prefix="rca-verdict-reader"):
        if isinstance(item, dict) and item.get("incident_id") == incident_id:
            book.add(item)
    incident = book.incidents.get(incident_id)
    if incident is None:
        raise VerdictError(f"unknown incident {incident_id} (not on {settings.topics.incidents})")
    return incident


def incident_evidence(settings: Settings, incident_id: str) -> tuple[list[dict], float | None]:
    """The records of an incident's windows (rca.results, while retained), bounded as a lesson's,
    and the highest workflow stall the worker measured over them."""
    from consumers.results import read_topic
    from engine.experience import MAX_LESSON_CHARS, MAX_LESSON_EVENTS
    from engine.rca.evidence import select

    records: list[dict] = []
    stalls: list[float] = []
    deadline = time.monotonic() + RESULTS_SCAN_SECONDS
    for item in read_topic(settings.kafka, settings.topics.results, group_prefix="rca-verdict-evidence",
                           stop=lambda: time.monotonic() > deadline):
        if isinstance(item, dict) and item.get("incident_id") == incident_id:
            records.extend(item.get("evidence_events") or [])
            stall = (item.get("scores") or {}).get("workflow_stall")
            if isinstance(stall, (int, float)):
                stalls.append(float(stall))
    return select(records, MAX_LESSON_EVENTS, MAX_LESSON_CHARS), max(stalls) if stalls else None


def missed_evidence(settings: Settings, start: float, end: float, host: str | None, service: str | None,
                    search_since: float | None = None) -> list[dict]:
    """The error and warning records of the logs topic in [start, end] (event time) on ``host``
    and/or of ``service``, bounded as a lesson's. The topic is read from ``search_since`` (broker
    time; default an hour before ``start``)."""
    from consumers.trainer import read_topic as read_logs
    from engine.experience import problem_records

    since = search_since if search_since is not None else start - 3600
    events = [e for e in read_logs(settings, settings.topics.logs, since, time.time() + 60)
              if e.timestamp is not None and start <= e.timestamp <= end
              and (not host or e.host == host) and (not service or (e.service or "").startswith(service))]
    return problem_records(events)


def prepare(settings: Settings, kind: str, incident_id: str | None = None, cause: str | None = None,
            by: str | None = None, note: str | None = None, start: float | None = None, end: float | None = None,
            host: str | None = None, service: str | None = None, search_since: float | None = None,
            incident: dict | None = None) -> dict:
    """A verdict message (unsigned), with the records a retrain needs; VerdictError for bad input."""
    import getpass
    import hashlib
    import uuid

    from schemas.log_event import format_timestamp

    if kind not in ORIGIN:
        raise VerdictError(f"unknown verdict {kind!r} (confirm, reject or missed)")
    verdict: dict = {"schema_version": 1, "verdict_id": f"vrd-{uuid.uuid4().hex}", "verdict": kind,
                     "by": by or getpass.getuser(), "at": format_timestamp(time.time())}
    if note:
        verdict["note"] = note[:2000]
    if kind == "missed":
        if start is None or end is None or end <= start:
            raise VerdictError("a missed fault needs a time range: --from before --to")
        if not host and not service:
            raise VerdictError("a missed fault needs --host or --service")
        if cause:
            check_cause(cause)
        place = f"{start}|{end}|{host or ''}|{service or ''}"
        verdict.update(incident_id="missed-" + hashlib.sha256(place.encode()).hexdigest()[:24],
                       range={"start": format_timestamp(start), "end": format_timestamp(end)},
                       host=host, service=service, cause=cause or None,
                       evidence=missed_evidence(settings, start, end, host, service, search_since))
    else:
        if not incident_id:
            raise VerdictError("an incident id is needed")
        incident = incident or find_incident(settings, incident_id)
        verdict.update(incident_id=incident_id, model_version=incident.get("model_version"))
        if kind == "confirm":
            if not cause:
                raise VerdictError("confirm needs the cause (--cause MODULE_OR_COMPONENT)")
            verdict.update(cause=cause, cause_rank=check_cause(cause, candidates_of(incident)))
        records, stall = incident_evidence(settings, incident_id)
        verdict.update(evidence=records, stall=stall)
    try:
        schemas.validate("feedback", verdict)
    except schemas.SchemaError as exc:
        raise VerdictError(str(exc)) from None
    return verdict


def publish_verdict(settings: Settings, verdict: dict) -> dict:
    """Sign (when a control secret is configured), validate and produce to rca.feedback keyed by
    incident id; returns what was sent."""
    from producers.kafka import make_producer

    key = settings.control.secret_bytes()
    if key is not None:
        verdict = signing.sign(verdict, key)
    schemas.validate("feedback", verdict)
    producer = make_producer(settings.kafka, logger=log)
    errors: list[str] = []
    producer.produce(settings.topics.feedback, key=verdict["incident_id"].encode(), value=schemas.encode(verdict),
                     on_delivery=lambda err, _m: err and errors.append(str(err)))
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not deliver the verdict to {settings.topics.feedback}: {errors or 'timeout'}")
    return verdict


# -- the worker's feedback agent and its /metrics --------------------------------------------------
class Tally:
    """Verdicts this worker's agent accepted, by kind, and those it refused (for /metrics)."""

    def __init__(self) -> None:
        self.accepted = {k: 0 for k in ORIGIN}
        self.refused = 0


def add_feedback_agent(app, settings: Settings, repair, emit) -> Tally:
    """The agent on rca.feedback: a verdict that does not follow its schema, or is unsigned or
    forged while a control secret is set, is refused with its reason, as a refused control
    command is (a `rejected` control event keyed by the verdict id); the others are counted by
    kind. The topic itself keeps them: retraining reads it back (``read_verdicts``)."""
    validator = VerdictValidator(settings.control)
    tally = Tally()
    topic = app.topic(settings.topics.feedback, key_type=bytes, value_type=bytes, internal=True,
                      partitions=settings.topics.partitions()[settings.topics.feedback],
                      config={"cleanup.policy": "compact"})

    @app.agent(topic, concurrency=1)
    async def feedback(stream):
        async for event in repair.events(stream):
            if event.message.value is None:        # a tombstone (compaction's delete marker)
                continue
            checked = validator.check(event.message.value)
            if checked.accepted:
                tally.accepted[checked.verdict["verdict"]] += 1
                log.info("verdict %s on %s: %s", checked.verdict["verdict_id"], checked.verdict["incident_id"],
                         checked.verdict["verdict"])
                continue
            tally.refused += 1
            vid = str((checked.verdict or {}).get("verdict_id") or f"verdict-invalid-{event.message.offset}")
            log.warning("refused verdict %s: %s", vid, checked.reason)
            await emit(vid, "rejected", reason=f"verdict refused: {checked.reason}"[:1000])

    return tally


class VerdictCollector:
    """``rca_verdicts_total{kind}`` and ``rca_verdicts_refused_total`` for a worker's /metrics."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        by_kind = CounterMetricFamily("rca_verdicts", "operators' verdicts accepted on rca.feedback, by kind",
                                      labels=["kind"])
        for kind, n in self.tally.accepted.items():
            by_kind.add_metric([kind], n)
        yield by_kind
        yield CounterMetricFamily("rca_verdicts_refused", "verdicts refused (schema, missing or forged signature)",
                                  value=self.tally.refused)


__all__ = ["COMPONENTS", "Checked", "Tally", "VerdictError", "check_cause", "find_incident", "prepare",
           "publish_verdict", "VerdictCollector", "add_feedback_agent", "VerdictValidator", "counts", "precision", "read_verdicts", "split_verdicts", "to_lessons"]
