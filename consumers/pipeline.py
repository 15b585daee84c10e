"""What the worker does to each message, without Kafka: decode, parse, mine,
window, and build results. The Faust agent (consumers/app.py) only moves bytes
in and out and acknowledges offsets; everything here is testable as is.
"""
from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemas
from config.settings import WorkerSettings
from consumers.envelope import split_records
from consumers.ingest import Decoder, Joined, Rejected
from engine.shapes import Pending
from consumers.windowing import DUPLICATE, Window, WindowStore
from engine.baseline import MAX_IDS, MinedEvent, analyze_window, template_summary
from engine.chains import RequestChains
from engine.parsing import has_problem
from engine.rca.evidence import CONTEXT_KEY, RecentAnomalies
from engine.rca.features import signature
from engine.rca.followups import Activity, FollowUps
from engine.rca.model import first_problem_time
from engine.sessions import event_session_key
from engine.templates import TemplateMiner
from schemas.log_event import format_timestamp

log = logging.getLogger(__name__)

WindowAnalyzer = Callable[[list[list[MinedEvent]]], list[dict]]   # many windows' items -> their analyses
RECORDS_PER_MESSAGE = 4096   # records of one envelope; positions are offset * this + index
ANALYSIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # seconds


@dataclass
class Counters:
    """Worker metrics; logged periodically, tracked in MLflow by the worker run, and read at
    scrape time by consumers/metrics.py (plain ints: the per-message path pays nothing more)."""

    messages: int = 0
    events: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    windows_closed: Counter = field(default_factory=Counter)
    incidents: int = 0                 # windows judged to be incidents
    incidents_opened: int = 0          # incidents (correlated windows) opened / resolved by this worker
    incidents_resolved: int = 0
    analyzer_errors: int = 0
    duplicates: int = 0                # re-delivered events already in a published window (acked, skipped)
    model_loads: int = 0               # bundles loaded and served (initial + hot reloads)
    model_refusals: int = 0            # bundles refused (verification, loading or self-check failed)
    model_loaded_at: float | None = None   # wall-clock time the served model was loaded
    analysis_buckets: list[int] = field(default_factory=lambda: [0] * (len(ANALYSIS_BUCKETS) + 1))
    analysis_sum: float = 0.0
    # seconds the agent waited for scoring and delivery to catch up (MAX_SCORING_BATCHES in
    # flight): it reads no input meanwhile, so a share of wall time near 1 means the worker is
    # held by its outputs, not by decoding
    backpressure_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def observe_analysis(self, seconds: float) -> None:
        """One window's analysis time (the /metrics histogram rca_analysis_seconds)."""
        self.analysis_buckets[bisect_left(ANALYSIS_BUCKETS, seconds)] += 1
        self.analysis_sum += seconds

    def model_loaded(self) -> None:
        self.model_loads += 1
        self.model_loaded_at = time.time()

    def snapshot(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        out = {"messages": self.messages, "events": self.events, "events_per_s": self.events / elapsed,
               "dead_letters": sum(self.dead_letters.values()), "incidents": self.incidents,
               "analyzer_errors": self.analyzer_errors, "duplicates": self.duplicates,
               "windows_closed": sum(self.windows_closed.values()),
               "backpressure_seconds": round(self.backpressure_seconds, 3)}
        out.update({f"dead_letters_{k}": v for k, v in self.dead_letters.items()})
        return out


class AckToken:
    """Acknowledges one input message once everything that depends on it is delivered.

    A message may feed several windows (a batch envelope) and dead letters; each
    holds the token and releases it when its result or letter was acknowledged
    by the broker. When the last hold is released the message is done, and the
    partition's `AckGate` acks it, in offset order.
    """

    __slots__ = ("event", "holds", "gate", "partition", "done")

    def __init__(self, event: Any, gate: "AckGate | None" = None, partition: int = 0) -> None:
        self.event = event
        self.holds = 1          # the handler's own hold, released when handle() returns
        self.gate = gate
        self.partition = partition
        self.done = False
        if gate is not None:
            gate.register(self)

    def hold(self) -> "AckToken":
        self.holds += 1
        return self

    def release(self) -> None:
        self.holds -= 1
        if self.holds == 0:
            self.done = True
            if self.gate is not None:
                self.gate.finished(self)
            elif self.event is not None:
                self.event.ack()


class AckGate:
    """Acks each partition's messages in offset order, never one before an earlier one is done.

    Windows finish out of order, but faust-streaming's commit takes the first run
    of consecutive acked offsets even when it does not start at the committed
    position (its check is skipped when nothing was committed yet, offset None or
    0), which would commit past messages still in open windows and lose them in a
    crash. Acking in order keeps that run starting at the commit.
    """

    def __init__(self) -> None:
        self._queues: dict[int, deque[AckToken]] = {}

    def register(self, token: AckToken) -> None:
        queue = self._queues.get(token.partition)
        if queue is None:
            queue = self._queues[token.partition] = deque()
        queue.append(token)

    def finished(self, token: AckToken) -> None:
        queue = self._queues.get(token.partition)
        while queue and queue[0].done:
            event = queue.popleft().event
            if event is not None:
                event.ack()

    def reset(self) -> None:
        """A rebalance: Faust reads every partition again from its commit; forget the waiting ones."""
        self._queues.clear()


@dataclass(slots=True)
class Handled:
    """What one message gave: rejected records (each to become a dead letter) and closed windows."""

    rejected: list[tuple[Rejected, bytes | None]]
    closed: list[Window]
    token: AckToken


class Pipeline:
    """Per-worker state: the decoder, the template miner, the open windows, the analyzer."""

    check_results = False   # validate every result against schemas/rca_result (tests turn it on)

    def __init__(self, cfg: WorkerSettings, published=None) -> None:
        self.cfg = cfg
        self.analyzer: WindowAnalyzer = baseline_windows
        self.analyzer_name = "baseline"
        # the served model's incident ranking (consumers/incidents.py Analyst; None: the baseline)
        self.incident_analyst: Callable[[list[dict]], list[dict]] | None = None
        self.incident_gap: float | None = None   # the served model's learned incident gap (seconds)
        self.model_version: str | None = None
        self.decoder = Decoder(cfg)
        self.acks = AckGate()
        # Kafka key -> the window of its latest record (None: it was a re-delivered duplicate)
        self._record_windows: dict[bytes, Window | None] = {}
        self.miner = TemplateMiner()
        self.chains = RequestChains()   # which requests called which (engine/chains.py)
        self.recent = RecentAnomalies()  # anomalous records of recent quiet windows (engine/rca/evidence.py)
        self.windows = WindowStore(cfg.window_seconds, cfg.allowed_lateness_seconds, cfg.idle_timeout_seconds,
                                   cfg.max_open_windows, cfg.max_events_per_window, published,
                                   staggered=cfg.window_staggered, describe=self._closing)
        self.counters = Counters()
        # the served model's follow-up check (None: baseline, or a bundle without one) and the
        # workflow steps this worker has seen lately (engine/rca/followups.py)
        self.followups: FollowUps | None = None
        self.activity: Activity | None = None

    def rebalance(self) -> list[Window]:
        """A rebalance: Faust seeks every partition back to its commit, so this worker goes on as
        a fresh one started there would: open windows, the ack queues and each key's last record
        (what continuation lines join) are dropped; the events come again. Published windows
        (the table), templates and request chains are kept. Returns the dropped windows.

        Before this, the keys' last records survived: a traceback open at the rebalance, read
        again line by line, joined the dropped window's record, so its event was in no window
        and its messages were never acked (the partition's commit stopped there)."""
        dropped = self.windows.reset()
        self.acks.reset()
        self.decoder.forget_records()
        self._record_windows.clear()
        return dropped

    def follow(self, followups: FollowUps | None) -> None:
        """Check incident windows against these follow-ups from now on (None, or a model whose gate
        is 0: no check, and no per-event cost). What was seen of the workflow starts afresh: step
        numbers are the model's own."""
        if followups is None or not followups.followers or followups.threshold <= 0:
            self.followups = self.activity = None
            return
        retention = self.cfg.window_seconds + self.cfg.allowed_lateness_seconds + 2 * followups.horizon
        self.followups, self.activity = followups, Activity(len(followups.signatures), retention)

    def handle(self, value: bytes | None, key: bytes | None, partition: int, offset: int,
               timestamp_ms: int | None, event: Any = None, now: float | None = None) -> Handled:
        """One message in (one record, or a batch envelope of records); rejected records and the
        windows that closed out. Never raises: a record that fails unexpectedly is rejected as
        `internal_error`, so no message can stop the stream."""
        self.counters.messages += 1
        token = AckToken(event, self.acks, partition)
        out = Handled([], [], token)
        now = time.monotonic() if now is None else now
        records = split_records(value) if value and value[:1] in b"{[" else None
        if records is not None and len(records) > RECORDS_PER_MESSAGE:
            extra = records[RECORDS_PER_MESSAGE:]
            records = records[:RECORDS_PER_MESSAGE]
            out.rejected.append((Rejected("oversize", f"envelope of {len(extra) + RECORDS_PER_MESSAGE} records > "
                                                      f"{RECORDS_PER_MESSAGE}; these {len(extra)} are kept here"),
                                 b"\n".join(extra)))
        for index, record in enumerate((value,) if records is None else records):
            # each record's position in the partition: its message's offset, then its place in it
            position = offset * RECORDS_PER_MESSAGE + index if offset >= 0 else -1
            try:
                self._record(record, key, partition, position, timestamp_ms, token, now, out)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the stream
                log.exception("internal error on a record at partition %d offset %d", partition, offset)
                out.rejected.append((Rejected("internal_error", f"{type(exc).__name__}: {exc}"), record))
        for rejected, _ in out.rejected:
            self.counters.dead_letters[rejected.reason] += 1
            token.hold()
        return out

    def _record(self, value: bytes | None, key: bytes | None, partition: int, position: int,
                timestamp_ms: int | None, token: AckToken, now: float, out: Handled) -> None:
        decoded = self.decoder.decode(value, key, timestamp_ms / 1000.0 if timestamp_ms is not None else None)
        if decoded.__class__ is Rejected:
            out.rejected.append((decoded, value))
            return
        if decoded.__class__ is Pending:   # a piece of a record (a CRI 'P' line): its last piece brings it
            return
        # the record's stream: its Kafka key, or for a shaped record the key plus its host and file or
        # program (engine/shapes), which lines of one record share
        key = self.decoder.stream
        if decoded.__class__ is Joined:
            # a line of the key's open record (a traceback sent line by line): the record, in its
            # window, now holds it; the message is acked with that window. If the window has
            # closed meanwhile, the line stands as an event of its own.
            attached = self.windows.attach(partition, position, token)   # re-delivered, of a closed window
            if attached is DUPLICATE:
                self.counters.duplicates += 1
                return
            if attached is not None:
                if self.windows.token_added:
                    token.hold()
                out.closed.extend(attached)
                return
            window = self._record_windows.get(key)
            if window is not None and not window.closed_by and window.expected is None:
                if not window.tokens or window.tokens[-1] is not token:
                    window.tokens.append(token.hold())
                window.offsets.append(position)     # so a re-delivery of this line is known
                return
            decoded = decoded.alone()
        event = decoded
        self.counters.events += 1
        if event.timestamp is None:
            # A line without a time of its own (unparsed) joins its partition's present: the newest
            # event time seen there, so it never drags the watermark to the broker's wall clock
            # (which, on a replay of old logs, would make every later event late).
            seen = self.windows.stream_time(partition)
            event.timestamp = seen if seen != float("-inf") else (timestamp_ms or time.time() * 1000) / 1000.0
        self.chains.observe(event)
        item = MinedEvent.from_match(event, self.miner.add(event.message))
        if self.activity is not None:
            item.signature = signature(event)   # scoring reuses it
            step = self.followups.index.get(item.signature)
            if step is not None:
                self.activity.add(step, event.timestamp)
        closed = self.windows.add(event_session_key(event), event.timestamp, item, token, now, partition, position)
        duplicate = closed is DUPLICATE
        if duplicate:
            self.counters.duplicates += 1
        else:
            if self.windows.token_added:   # one hold per window a message feeds, not per record
                token.hold()
            out.closed.extend(closed)
        if key is not None:   # where the key's latest record is (for lines that join it)
            windows = self._record_windows
            windows.pop(key, None)
            if len(windows) >= self.cfg.continuation_keys:
                del windows[next(iter(windows))]
            windows[key] = None if duplicate else self.windows.last_window

    def _closing(self, window: Window) -> dict:
        """A window closes: its events name their templates as they are now (one generalised or
        merged since a line was mined has a new id: engine/templates.py), and the published-windows
        table keeps them beside its offsets, so a copy published again after a crash names them as
        the first copy did, although the restarted miner has not generalised what this one had."""
        live = self.miner.live
        for item in window.items:
            tid = item.template_id
            try:
                now_id, text = live(tid)
            except KeyError:   # mined by a miner swapped out since (a model reload)
                continue
            if now_id != tid:
                item.template_id, item.template = now_id, text
        return {"templates": template_summary(window.items)}

    def swap_miner(self, miner: TemplateMiner) -> None:
        """Use a model's miner; events already in open windows are re-mined so ids match the model."""
        self.miner = miner
        for window in self.windows.open_windows():
            for item in window.items:
                r = miner.add(item.event.message)
                item.template_id, item.template, item.params = r.template_id, r.template, list(r.params)
                item.model_id = r.model_id

    def result(self, window: Window) -> dict:
        """The RCA result message of one closed window (see `results`)."""
        return self.results([window])[0]

    def results(self, windows: list[Window]) -> list[dict]:
        """The RCA result messages of windows that closed together, scored in one batch (the
        bundle runs its LSTM once over all of them). Built here once, from typed parts, and not
        validated on the hot path (a JSON Schema check cost about 60 us a window, a third of
        scoring one): tests set `check_results` (tests/unit/conftest.py), and input is validated
        where it comes in (consumers/ingest.py).

        If the model fails on the batch, each window is still reported, by the
        baseline analyzer, and the failure is logged and counted.
        """
        if not windows:
            return []
        started = time.perf_counter()
        try:
            if self.followups is not None and self.analyzer_name != "baseline":
                analyses = self.analyzer([w.items for w in windows], stalls=[self._stall(w) for w in windows])
            else:
                analyses = self.analyzer([w.items for w in windows])
            analyzer_name = self.analyzer_name
        except Exception:  # noqa: BLE001 - bad windows must not stop the stream
            log.exception("analyzer %s failed on %d windows (first %s); using the baseline",
                          self.analyzer_name, len(windows), windows[0].id)
            self.counters.analyzer_errors += 1
            analyses, analyzer_name = baseline_windows([w.items for w in windows]), "baseline"
        elapsed = (time.perf_counter() - started) / len(windows)
        model_version = self.model_version if analyzer_name != "baseline" else None
        produced_at = format_timestamp(time.time())
        out = []
        for window, analysis in zip(windows, analyses):
            if window.record is not None and "templates" in window.record:
                # a rebuilt window names its templates as its first copy did (windowing.py)
                analysis["templates"] = window.record["templates"]
            self.counters.observe_analysis(elapsed)
            self.counters.windows_closed[window.closed_by] += 1
            self.counters.incidents += bool(analysis["is_incident"])
            quiet_records = analysis.pop(CONTEXT_KEY, None)
            if quiet_records:
                self.recent.add(quiet_records)
                # what led up to an incident window that closed before this one: the incident stage
                # adds it to that incident (consumers/incidents.py, Correlator.observe)
                late = self.recent.late_context(quiet_records, self.cfg.window_seconds)
                if late:
                    analysis["evidence_events"] = late
            elif "evidence_events" in analysis:   # an incident window carries what led up to it
                analysis["evidence_events"] = (self.recent.context(window.start, self.cfg.window_seconds)
                                               + analysis["evidence_events"])
                self.recent.incident_window(window.start, window.end)
            if analysis["is_incident"] and analysis.get("request_ids"):
                # the incident stage joins windows on the request chain, not only the window's own ids
                analysis["request_ids"] = sorted(self.chains.expand(analysis["request_ids"]))[:MAX_IDS]
            result = {
                "schema_version": 1,
                "window_id": window.id,
                "session_key": window.key,
                "source_partition": window.partition,
                "window_start": format_timestamp(window.start),
                "window_end": format_timestamp(window.end),
                "closed_by": window.closed_by,
                "event_count": window.event_count,
                "late_event_count": window.late_count,
                **analysis,
                "shapes": sorted({item.event.shape for item in window.items}),
                "model_version": model_version,
                "analyzer": analyzer_name,
                "produced_at": produced_at,
            }
            if self.check_results:
                schemas.validate("rca_result", result)
            out.append(result)
        return out

    def _stall(self, window: Window) -> float | None:
        """The served model's follow-up check of a window with a problem (an error or a warning):
        the share of the workflow's usual next steps that did not come after its first problem
        (engine/rca/followups.py; None: no problem, or no step with follow-ups seen before it).
        The model decides with it (engine.rca.model.window_decision): a novel error whose workflow
        went on is not an outage, and a familiar error that stopped the work is one."""
        events = [m.event for m in window.items]
        if not has_problem(events):
            return None
        return self.followups.stall(self.activity, first_problem_time(events))


def baseline_windows(windows: list[list[MinedEvent]]) -> list[dict]:
    """The baseline analyzer over a batch of windows."""
    return [analyze_window(items) for items in windows]
