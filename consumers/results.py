"""Readers of the worker's output topics with confluent-kafka: rca.results (windows) and
rca.incidents (incidents, latest state per id), for `rca results`, `rca incidents` and `rca ui`."""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

import schemas
from config.settings import KafkaSettings
from producers.kafka import make_consumer, watermarks

log = logging.getLogger(__name__)


CAUGHT_UP = object()   # yielded once by read_topic(follow=True) when the backlog is read


def read_topic(cfg: KafkaSettings, topic: str, follow: bool = False, since_ms: int | None = None,
               idle_timeout: float = 10.0, group_prefix: str = "rca-reader",
               stop: Callable[[], bool] | None = None) -> Iterator:
    """Yield decoded messages of every partition from the start (or from `since_ms`).

    Without `follow`, stop at the end of what the topic held when reading began (the
    partitions' high-water marks), or after `idle_timeout` quiet seconds, whichever comes
    first. With `follow`, yield CAUGHT_UP once at that point and go on until `stop()`."""
    consumer = make_consumer(cfg, group_prefix, logger=log)
    try:
        try:
            md = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise RuntimeError(f"cannot reach Kafka at {cfg.bootstrap_servers}: {exc.args[0].str()}") from None
        if topic not in md.topics or md.topics[topic].error is not None:
            raise RuntimeError(f"topic {topic} not found on {cfg.bootstrap_servers}")
        tps = [TopicPartition(topic, p, since_ms if since_ms is not None else OFFSET_BEGINNING)
               for p in md.topics[topic].partitions]
        if since_ms is not None:
            tps = consumer.offsets_for_times(tps, timeout=10)
        pending: dict[int, int] = {}    # partition -> last offset to read before we are caught up
        deadline = time.monotonic() + 15
        for tp in tps:
            low, high = watermarks(consumer, tp, deadline)
            if since_ms is not None and tp.offset < 0:
                # nothing at or after since_ms yet: start at today's end, not at a logical
                # "end" that librdkafka would resolve later, past what arrives meanwhile
                tp.offset = high
            start = low if tp.offset < 0 else max(tp.offset, low)
            if high > start:
                pending[tp.partition] = high - 1
        consumer.assign(tps)
        caught_up = False
        last = time.monotonic()
        while stop is None or not stop():
            if not pending and not caught_up:
                caught_up = True
                if not follow:
                    return
                yield CAUGHT_UP
            msg = consumer.poll(0.5)
            if msg is None:
                if not follow and time.monotonic() - last > idle_timeout:
                    return
                continue
            if msg.error():
                log.warning("consumer error: %s", msg.error())
                continue
            last = time.monotonic()
            if pending.get(msg.partition(), -1) <= msg.offset():
                pending.pop(msg.partition(), None)
            if msg.value() is None:      # a tombstone of a compacted topic
                continue
            try:
                yield schemas.decode(msg.value())
            except ValueError:
                log.warning("skipping undecodable message at %s[%d]@%d", topic, msg.partition(), msg.offset())
    finally:
        consumer.close()


def read_results(cfg: KafkaSettings, topic: str, follow: bool = False, since_ms: int | None = None,
                 idle_timeout: float = 10.0) -> Iterator[dict]:
    """Decoded RCA results of `topic` (see read_topic; no CAUGHT_UP marker)."""
    return (r for r in read_topic(cfg, topic, follow, since_ms, idle_timeout, group_prefix="rca-results-reader")
            if r is not CAUGHT_UP)


# -- incidents -----------------------------------------------------------------
OPEN_STATES = ("open", "updated")


class IncidentBook:
    """The latest state of each incident (highest revision wins; replays and duplicates are
    harmless), every open one plus the `recent` newest resolved ones, and the windows
    (rca.results) that joined an incident, for timelines."""

    def __init__(self, recent: int = 50, max_windows: int = 20_000) -> None:
        self.recent = recent
        self.max_windows = max_windows
        self.incidents: dict[str, dict] = {}
        self.windows: OrderedDict[str, dict] = OrderedDict()
        self.version = 0          # grows on every change; the page sends a new snapshot when it moves

    def add(self, incident: dict) -> bool:
        """Take one rca.incidents message; True if it changed what is known."""
        iid = incident.get("incident_id")
        if not iid:
            return False
        held = self.incidents.get(iid)
        if held is not None and held.get("revision", 0) >= incident.get("revision", 0):
            return False
        self.incidents[iid] = incident
        self._trim()
        self.version += 1
        return True

    def add_window(self, result: dict) -> bool:
        """Take one rca.results message; only windows that joined an incident are kept."""
        if not result.get("incident_id"):
            return False
        self.windows[result["window_id"]] = {
            k: result.get(k) for k in ("window_id", "session_key", "window_start", "window_end", "event_count",
                                       "anomaly_score", "services", "incident_id", "closed_by")}
        self.windows.move_to_end(result["window_id"])
        while len(self.windows) > self.max_windows:
            self.windows.popitem(last=False)
        self.version += 1
        return True

    def ordered(self) -> list[dict]:
        """Open incidents first (newest activity first), then resolved ones, newest first."""
        return sorted(self.incidents.values(),
                      key=lambda i: (i.get("state") in OPEN_STATES, i.get("last_seen") or "",
                                     i.get("first_seen") or ""), reverse=True)

    def timeline(self, incident: dict) -> list[dict]:
        """The incident's windows known from rca.results, oldest first."""
        found = [self.windows[w] for w in incident.get("window_ids", []) if w in self.windows]
        return sorted(found, key=lambda w: w.get("window_start") or "")

    def _trim(self) -> None:
        resolved = [i for i in self.incidents.values() if i.get("state") not in OPEN_STATES]
        if len(resolved) <= self.recent:
            return
        resolved.sort(key=lambda i: i.get("last_seen") or "", reverse=True)
        for old in resolved[self.recent:]:
            del self.incidents[old["incident_id"]]


def top_cause(item: dict) -> str:
    """'subsystem/module (category, score)' of the first root cause, or '-'."""
    causes = item.get("root_causes") or []
    if not causes:
        return "-"
    top = causes[0]
    where = top.get("module") or top.get("service") or "-"
    if not where.startswith(top["subsystem"]):
        where = f"{top['subsystem']}/{where}"
    return f"{where} ({top['category']}, {top['score']:.2f})"
