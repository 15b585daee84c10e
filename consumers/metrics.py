"""Prometheus metrics of a worker, served on /metrics (prometheus-client).

Nothing is counted twice: a custom collector reads the worker's own state at
scrape time (``Pipeline.counters``, the open windows, the served model), so
the per-message path does no extra work for metrics. Consumer lag per
partition is the one figure that needs the event loop: a Faust timer reads
the consumer's high-water marks and read positions every few seconds.

One call wires it into a worker (consumers/app.py, build_app)::

    metrics.serve(app, pipeline, settings)

The endpoint listens on ``RCA_WORKER_METRICS_HOST:RCA_WORKER_METRICS_PORT``
(127.0.0.1:9464 by default; port 0 turns it off). A port already in use is
logged once and the worker carries on without metrics.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from consumers.pipeline import ANALYSIS_BUCKETS, Pipeline

log = logging.getLogger(__name__)

LAG_INTERVAL = 5.0      # seconds between consumer lag readings
RATE_WINDOW = 60.0      # events/s is averaged over about this many seconds


@dataclass
class StreamState:
    """What the lag timer reads on the event loop, for the collector (another thread) to serve."""

    lag: dict[tuple[str, int], int] = field(default_factory=dict)        # (topic, partition) -> messages behind
    samples: deque = field(default_factory=lambda: deque(maxlen=64))     # (monotonic time, events so far)

    def events_per_second(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, e0), (t1, e1) = self.samples[0], self.samples[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0


OPEN_INCIDENTS_KEY = "open-incidents"   # the board's key in the incident stage's table


class OpenIncidents:
    """The open incidents of the incident stage, for ``rca_incident_open_info`` (one series each).

    Why a series per incident: an alert rule can only carry what its series' labels
    carry, and an operator's page needs the incident id and the top cause. Cardinality is
    bounded: at most ``limit`` incidents (the most recently changed), and a resolved one
    is dropped at once (its series goes stale, the alert resolves). Only the worker that
    runs the incident stage fills it; the board lives in that stage's table
    (``bind``), so a restart does not resolve and re-fire every open alert.
    """

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self.state = None
        self._open: dict[str, dict[str, str]] | None = None

    def bind(self, state) -> None:
        self.state = state

    @property
    def open(self) -> dict[str, dict[str, str]]:
        if self._open is None:
            stored = self.state.get(OPEN_INCIDENTS_KEY) if self.state is not None else None
            self._open = dict(stored or {})
        return self._open

    def forget(self) -> None:
        """Another worker runs the incident stage now: it reports them."""
        self._open = None

    def track(self, message: dict) -> None:
        """One rca_incident message (open, updated or resolved)."""
        iid = message["incident_id"]
        board = self.open
        board.pop(iid, None)
        if message["state"] != "resolved":
            top = (message.get("root_causes") or [{}])[0]
            board[iid] = {"incident_id": iid, "top_cause": top.get("module") or top.get("subsystem") or "unknown",
                          "category": top.get("category") or "unknown", "service": top.get("service") or ""}
            while len(board) > self.limit:
                del board[next(iter(board))]
        if self.state is not None:
            self.state[OPEN_INCIDENTS_KEY] = dict(board)

    def metric(self) -> InfoMetricFamily:
        info = InfoMetricFamily("rca_incident_open", "One series per open incident (the most recent "
                                "ones, bounded): its id and top cause, for alert rules",
                                labels=["incident_id", "top_cause", "category", "service"])
        for entry in list((self._open or {}).values()):
            info.add_metric([entry["incident_id"], entry["top_cause"], entry["category"], entry["service"]], {})
        return info


class WorkerCollector(Collector):
    """Reads a Pipeline (and the stream state) each time Prometheus scrapes."""

    def __init__(self, pipeline: Pipeline, app_id: str, state: StreamState | None = None,
                 incidents: OpenIncidents | None = None) -> None:
        self.pipeline = pipeline
        self.app_id = app_id
        self.state = state or StreamState()
        self.incidents = incidents
        self._seen_version: str | None = None
        self._seen_at: float | None = None

    def collect(self) -> Iterator:
        p, c = self.pipeline, self.pipeline.counters

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, value=value)

        def by_label(name: str, doc: str, label: str, values) -> CounterMetricFamily:
            m = CounterMetricFamily(name, doc, labels=[label])
            for k, v in sorted(values.items()):
                m.add_metric([str(k)], v)
            return m

        yield counter("rca_messages_consumed", "Messages read from the logs topic", c.messages)
        yield counter("rca_events_consumed", "Log events decoded (one message can carry several)", c.events)
        yield by_label("rca_dead_letters", "Messages sent to the dead-letter topic, by reason", "reason",
                       c.dead_letters)
        yield by_label("rca_messages_by_shape", "Records read, by the shape they came in (engine/shapes: raw, "
                       "log_event, journald, kolla_fluentd, rsyslog, ...; unknown: dead-lettered as unknown_shape)",
                       "shape", dict(p.decoder.shape_counts))
        yield by_label("rca_windows_closed", "Windows closed, by what closed them", "reason", c.windows_closed)
        yield GaugeMetricFamily("rca_windows_open", "Windows open now", value=len(p.windows))
        yield counter("rca_late_events", "Events that arrived after their window closed (kept, counted)",
                      getattr(p.windows, "late_total", 0))
        yield counter("rca_incident_windows", "Windows judged to be incidents", c.incidents)
        yield counter("rca_incidents_opened", "Incidents opened", c.incidents_opened)
        yield counter("rca_incidents_resolved", "Incidents resolved", c.incidents_resolved)
        yield GaugeMetricFamily("rca_incidents_open", "Incidents open now",
                                value=max(c.incidents_opened - c.incidents_resolved, 0))
        yield counter("rca_agent_backpressure_seconds", "Seconds the agent waited for scoring and delivery "
                      "to catch up (no input read meanwhile)", c.backpressure_seconds)
        yield counter("rca_analyzer_errors", "Windows the model failed on (the baseline answered)", c.analyzer_errors)
        yield counter("rca_model_loads", "Model bundles loaded and served", c.model_loads)
        yield counter("rca_model_refusals", "Model bundles refused (verification, loading or self-check)",
                      c.model_refusals)
        yield self._model_info(p, c)
        if self.incidents is not None:
            yield self.incidents.metric()
        loaded_at = c.model_loaded_at or self._seen_at
        if loaded_at is not None:
            yield GaugeMetricFamily("rca_model_loaded_timestamp_seconds", "When the served model was loaded",
                                    value=loaded_at)
        watermark = getattr(p.windows, "watermark", None)
        if watermark is not None and watermark != float("-inf"):
            yield GaugeMetricFamily("rca_watermark_timestamp_seconds", "Event-time watermark", value=watermark)

        hist = HistogramMetricFamily("rca_analysis_seconds", "Time to analyse one closed window")
        cumulative, buckets = 0, []
        for bound, n in zip((*ANALYSIS_BUCKETS, float("inf")), c.analysis_buckets):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        hist.add_metric([], buckets, sum_value=c.analysis_sum)
        yield hist

        lag = GaugeMetricFamily("rca_consumer_lag", "Messages behind the high-water mark, per partition",
                                labels=["topic", "partition"])
        for (topic, partition), behind in sorted(self.state.lag.items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        yield GaugeMetricFamily("rca_events_per_second", f"Events consumed per second over the last "
                                f"{RATE_WINDOW:.0f} s", value=self.state.events_per_second())

    def _model_info(self, p: Pipeline, c) -> InfoMetricFamily:
        version = p.model_version
        if version != self._seen_version:   # a load the worker did not report itself
            self._seen_version, self._seen_at = version, time.time()
        info = InfoMetricFamily("rca_model", "The analyzer this worker serves")
        info.add_metric([], {"version": version or "", "analyzer": getattr(p, "analyzer_name", ""),
                             "app_id": self.app_id})
        return info


def registry_for(pipeline: Pipeline, app_id: str, state: StreamState | None = None,
                 incidents: OpenIncidents | None = None) -> CollectorRegistry:
    """A registry of this worker's metrics plus the process's (CPU, memory, GC)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(pipeline, app_id, state, incidents))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def read_lag(consumer, monitor) -> dict[tuple[str, int], int]:
    """Per assigned partition: high-water mark minus the next offset to read (the last read + 1,
    or the committed offset before anything was read). Partitions with no high-water mark yet are
    left out."""
    out: dict[tuple[str, int], int] = {}
    read = getattr(monitor, "tp_read_offsets", None) or {}
    committed = getattr(monitor, "tp_committed_offsets", None) or {}
    for tp in consumer.assignment():
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not fetched yet / rebalancing
            continue
        if high is None:
            continue
        position = read[tp] + 1 if tp in read else committed.get(tp, high)
        out[(tp.topic, tp.partition)] = max(int(high) - int(position), 0)
    return out


def serve(app, pipeline: Pipeline, settings, incidents: OpenIncidents | None = None) -> CollectorRegistry | None:
    """Expose /metrics for this worker (call once in build_app); None when turned off."""
    cfg = settings.worker
    if not cfg.metrics_port:
        return None
    state = StreamState()
    registry = registry_for(pipeline, cfg.app_id, state, incidents)

    @app.task
    async def start_metrics_endpoint() -> None:
        try:
            start_http_server(cfg.metrics_port, addr=cfg.metrics_host, registry=registry)
        except OSError as exc:
            log.warning("metrics endpoint %s:%d not started (%s); the worker runs without /metrics",
                        cfg.metrics_host, cfg.metrics_port, exc.strerror or exc)
            return
        log.info("metrics on http://%s:%d/metrics", cfg.metrics_host, cfg.metrics_port)

    @app.timer(interval=LAG_INTERVAL)
    async def read_stream_state() -> None:
        state.samples.append((time.monotonic(), pipeline.counters.events))
        while len(state.samples) > 2 and state.samples[-1][0] - state.samples[0][0] > RATE_WINDOW:
            state.samples.popleft()
        try:
            state.lag = read_lag(app.consumer, app.monitor)
        except Exception as exc:  # noqa: BLE001 - metrics never stop the worker
            log.debug("consumer lag not read: %s", exc)

    return registry
