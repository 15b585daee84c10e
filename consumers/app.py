"""The Faust app of `rca worker`: openstack.logs -> windows -> rca.results.

Delivery is at-least-once end to end (DESIGN.md): the agent runs with
concurrency 1 and manual acks (`stream.noack()`); an input message is acked
only after the result of every window it fed (or its dead letter) has been
acknowledged by the broker, and Faust commits only offsets below the first
unacked one. Concurrency stays at 1 because of faust-streaming's known issue
of committing past in-flight events when an agent runs concurrently; scale
out with more worker processes (partitions), not with agent concurrency.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import ssl
import time

import faust

import schemas
from config.settings import KafkaSettings, Settings
from consumers import metrics, models
from consumers.blast_radius import BlastRadius
from consumers.deadletters import S3ClaimCheck, dead_letter
from consumers.control import DUPLICATE, CommandValidator, control_event, processed_command_ids
from consumers.feedback import VerdictCollector, add_feedback_agent
from consumers.jobs import JobRunner
from consumers.notifications import add_notification_stage
from consumers.trainer import FAILED_AND_REPORTED
from consumers.pipeline import Pipeline
from consumers.redelivery import GapRepair, seek_uncommitted_to_beginning

log = logging.getLogger(__name__)

MAX_SCORING_BATCHES = 4   # batches of closed windows waiting for the scoring thread before the agent waits
# Batches up to this many windows are scored on the event loop: handing a batch to the thread
# (a future, a wake-up, the GIL passed back and forth) cost more than scoring a few windows
# (about 0.2 ms each); bench e2e 30k, model: 3,560-4,060 -> 4,350-4,710 msg/s. Bigger batches
# (a watermark jump, an idle close) go to the thread so the loop never stalls for long.
INLINE_SCORING_WINDOWS = 32
# A bigger batch is scored and sent in chunks of this many windows, the scoring thread working on
# the next chunk while the loop sends this one: every window closed at one watermark step used to
# wait for the whole batch to be scored before the first was sent (steady p50 1.1-1.5 s).
SCORING_CHUNK_WINDOWS = 64


def broker_credentials(cfg: KafkaSettings):
    """The same Kafka security settings confluent-kafka gets, in Faust's terms."""
    context = None
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=cfg.ssl_cafile)
        if cfg.ssl_certfile:
            context.load_cert_chain(cfg.ssl_certfile, cfg.ssl_keyfile)
    if cfg.security_protocol.startswith("SASL"):
        password = cfg.sasl_password.get_secret_value() if cfg.sasl_password else None
        return faust.SASLCredentials(username=cfg.sasl_username, password=password,
                                     mechanism=cfg.sasl_mechanism or "PLAIN", ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class PublishedWindows(faust.Table):
    """The changelog-backed table of closed windows (consumers.windowing, `published`).

    Keys are "{input partition}/{window id}" and go to the changelog partition of
    that input partition, so the worker that owns the partition after a crash or a
    rebalance recovers exactly the entries it needs (Faust restores a table's
    partitions before the agents start). Windows close in timers too, out of any
    stream, hence the partition comes from the key, not the current event.
    `last_sent` is the changelog write of the latest set: a window's result is sent
    only once its entry is durable.
    """

    last_sent = None

    def partition_for_key(self, key) -> int:
        return int(key.split("/", 1)[0])

    def on_key_set(self, key, value) -> None:
        self.last_sent = self.send_changelog(self.partition_for_key(key), key, value)


def _partition_count(settings: Settings, topic: str) -> int:
    """Partitions of the input topic (the table's changelog must have as many)."""
    from producers.kafka import topic_partitions

    return topic_partitions(settings.kafka, topic) or settings.topics.partitions()[topic]


def build_app(settings: Settings, pipeline: Pipeline, model_ref: str | None = None, tracker=None,
              serve_models: bool = True) -> faust.App:
    brokers = ";".join(f"kafka://{b}" for b in settings.kafka.bootstrap_servers.split(","))
    datadir = settings.stack.state_dir / "faust" / f"{settings.worker.app_id}-data"  # Faust's own files
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker.app_id,
        broker=brokers,
        broker_credentials=broker_credentials(settings.kafka),
        broker_client_id=settings.kafka.client_id,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(datadir),
        topic_disable_leader=True,
        producer_acks=-1,
        producer_linger=0.005,  # 5 ms, as librdkafka: 50 ms held each window's record and result back (-30% msg/s, bench e2e)
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        broker_session_timeout=settings.worker.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_seconds / 3),
    )
    topics = settings.topics
    logs_topic = app.topic(topics.logs, key_type=bytes, value_type=bytes)
    results_topic = app.topic(topics.results, key_type=bytes, value_type=bytes)
    dlq_topic = app.topic(topics.dlq, key_type=bytes, value_type=bytes)
    published = app.tables.add(PublishedWindows(
        app, name="published-windows", beacon=app.tables.beacon, key_type=str,
        partitions=_partition_count(settings, topics.logs),
        help="Windows recorded when they close: id -> key, start, counts, input offsets (ranges)"))
    pipeline.windows.published = published   # written when a window closes, restored after a crash
    claim_check = S3ClaimCheck.from_settings(settings.s3)
    loop_executor = None   # asyncio's default thread pool: blocking work off the event loop

    def release_inputs(windows):
        """One delivery callback for a batch of results: Faust calls it only once the broker
        acknowledged a result, and the batch's inputs are released when every one of them was; an
        undelivered result leaves its batch's inputs unacked, so they are consumed again after a
        restart (at-least-once; the in-order AckGate would hold the later ones back anyway)."""
        pending = len(windows)

        def callback(_fut) -> None:
            nonlocal pending
            pending -= 1
            if pending == 0:
                for window in windows:
                    for token in window.tokens:
                        token.release()
        return callback

    # records faust-streaming skips around a rebalance are read again, on every stream topic
    seek_uncommitted_to_beginning()
    repair = GapRepair(app)

    @app.timer(interval=0.2)
    async def reread_gaps() -> None:
        await repair.reread()

    # blast radius (consumers/blast_radius.py) and the open incidents /metrics names (alert rules)
    blast, open_incidents = BlastRadius(), metrics.OpenIncidents()
    correlation_topic = _add_incident_stage(app, settings, pipeline, results_topic, repair, blast, open_incidents)

    scorer_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rca-scoring")
    in_flight = asyncio.Semaphore(MAX_SCORING_BATCHES)
    scoring_tasks: set[asyncio.Task] = set()

    async def publish(windows) -> None:
        """Score and send windows that closed together in a task of their own, and go on consuming.

        A big batch is scored in the scoring thread while the agent decodes the next
        messages (NumPy releases the GIL, so the two share the cores); a small one on the
        loop (INLINE_SCORING_WINDOWS). At most MAX_SCORING_BATCHES wait, then the agent
        waits too (back-pressure). Each window's inputs are released by the delivery
        callbacks, so offsets still advance only past acked inputs.
        """
        if not windows:
            return
        waited = time.perf_counter() if in_flight.locked() else None   # back-pressure, for the metrics
        await in_flight.acquire()
        if waited is not None:
            pipeline.counters.backpressure_seconds += time.perf_counter() - waited
        task = asyncio.get_running_loop().create_task(score_and_send(windows))
        scoring_tasks.add(task)
        task.add_done_callback(scoring_tasks.discard)

    async def score_and_send(windows) -> None:
        """An incident window goes to the correlator first, which publishes it to rca.results
        with its incident id; any other window goes straight to rca.results. Either way a
        window is published once."""
        try:
            if len(windows) <= INLINE_SCORING_WINDOWS:
                await send_results(windows, pipeline.results(windows))
                return
            loop = asyncio.get_running_loop()
            chunks = [windows[i:i + SCORING_CHUNK_WINDOWS] for i in range(0, len(windows), SCORING_CHUNK_WINDOWS)]
            scoring = loop.run_in_executor(scorer_thread, pipeline.results, chunks[0])
            for i, chunk in enumerate(chunks):
                results = await scoring
                if i + 1 < len(chunks):   # the thread scores the next chunk while this one is sent
                    scoring = loop.run_in_executor(scorer_thread, pipeline.results, chunks[i + 1])
                await send_results(chunk, results)
        except Exception:  # noqa: BLE001 - their inputs stay unacked and are read again after a restart
            log.exception("could not publish %d windows (first %s); their inputs stay unacked",
                          len(windows), windows[0].id)
        finally:
            in_flight.release()

    async def send_results(windows, results) -> None:
        # a result goes out only once its window's record (the table entry written at close) is
        # durable: after a crash, a window whose result got out is always rebuilt the same
        records = [w.recorded for w in windows if w.recorded is not None]
        if records:
            await asyncio.gather(*records)
        delivered = release_inputs(windows)
        for w, result in zip(windows, results):
            if result["is_incident"]:
                blast.attach(w, result)   # its own lines' subgraph, for the incident stage only
            # a quiet window with records of a recent incident's lead-up goes by the incident stage too
            topic = correlation_topic if result["is_incident"] or result.get("evidence_events") else results_topic
            await topic.send(key=w.id.encode(), value=schemas.encode(result), callback=delivered)

    async def send_dead_letters(handled, msg) -> None:
        for rejected, record in handled.rejected:
            args = (rejected.reason, rejected.error, msg.topic, msg.partition, msg.offset, msg.key, record)
            kwargs = {"max_bytes": settings.worker.max_dead_letter_bytes, "claim_check": claim_check}
            if record is not None and len(record) * 4 // 3 + 2048 > settings.worker.max_dead_letter_bytes:
                # the original goes to S3 (a blocking call): off the event loop
                letter = await asyncio.get_running_loop().run_in_executor(
                    loop_executor, functools.partial(dead_letter, *args, **kwargs))
            else:
                letter = dead_letter(*args, **kwargs)
            await dlq_topic.send(key=msg.key, value=schemas.encode(letter),
                                 callback=lambda _f, t=handled.token: t.release())

    @app.agent(logs_topic, concurrency=1)
    async def ingest(stream):
        async for event in repair.events(stream, ack=False):   # acked by pipeline.acks, in order
            msg = event.message
            handled = pipeline.handle(msg.value, msg.key, msg.partition, msg.offset,
                                      msg.timestamp and int(msg.timestamp * 1000), event)
            if handled.rejected:
                await send_dead_letters(handled, msg)
            if handled.closed:
                await publish(handled.closed)
            handled.token.release()

    @app.on_partitions_revoked.connect
    async def on_revoked(_app, revoked, **_kw) -> None:
        """Faust seeks every partition back to its committed offset after a rebalance: drop the
        open windows (never acked, so their events come again) rather than count them twice."""
        dropped = pipeline.rebalance()
        repair.reset()
        if dropped:
            log.info("rebalance: %d open windows dropped; their events are read again", len(dropped))

    # every 0.25 s at most (a pass over the partitions: cheap), so a window closed by the idle
    # timeout is not held back by the timer's period (it was 1 s with the default 5 s timeout)
    @app.timer(interval=max(0.05, min(0.25, settings.worker.idle_timeout_seconds / 5)))
    async def close_idle_windows():
        if app.rebalancing:
            # Faust sets this first thing in a rebalance, and our reset of the open windows comes
            # later (after its producer flush): a window closed in between could be recorded
            # after the partition's next owner restored the table, which would then rebuild it
            # from the commit, counted anew. Idle windows wait; the next owner closes them.
            return
        await publish(pipeline.windows.expire_idle(time.monotonic()))

    emit = _add_control_plane(app, settings, repair)
    verdicts = add_feedback_agent(app, settings, repair, emit)   # rca.feedback: refuse unsigned/forged, count
    add_notification_stage(app, settings, logs_topic, dlq_topic, repair)   # RCA_WORKER_NOTIFICATION_TOPICS

    serving = models.initial(model_ref) if serve_models else models.Serving()
    models.apply(pipeline, serving)

    if serve_models:
        _follow_production(app, settings, pipeline, serving, model_ref, tracker, emit)

    @app.timer(interval=10.0)
    async def report():
        snapshot = pipeline.counters.snapshot()
        log.info("worker metrics %s open_windows=%d late=%d model=%s", snapshot, len(pipeline.windows),
                 pipeline.windows.late_total, pipeline.model_version)
        if tracker is not None:
            tracker.log_metrics({**snapshot, "open_windows": len(pipeline.windows),
                                 "late_events": pipeline.windows.late_total})

    registry = metrics.serve(app, pipeline, settings, open_incidents)   # Prometheus /metrics (RCA_WORKER_METRICS_HOST/PORT)
    if registry is not None:
        registry.register(VerdictCollector(verdicts))
    return app


class SinglePartitionTable(faust.Table):
    """A table on a one-partition topic, written from timers too (not only from its agent)."""

    def partition_for_key(self, key) -> int:
        return 0


def _add_incident_stage(app: faust.App, settings: Settings, pipeline: Pipeline, results_topic,
                        repair: GapRepair, blast: BlastRadius | None = None,
                        open_incidents: metrics.OpenIncidents | None = None):
    """The second stage: incident windows of every worker -> one correlator -> rca.incidents.

    Window stages send incident windows to the one-partition correlation topic, so the
    one worker of the group that owns it sees every partition's incident windows. Its
    correlator (consumers/incidents.py) keeps its state in a changelog-backed table:
    after a crash or a rebalance the new owner restores every open incident. It
    publishes each incident window to rca.results with its incident id, and each new
    state of an incident to rca.incidents (compacted, keyed by incident id).
    Returns the correlation topic.
    """
    from consumers.incidents import Correlator, CorrelatorConfig

    key = "correlator"
    EVIDENCE_KEY = "evidence:"   # + incident id: its evidence records (consumers/incidents.py)
    counts = settings.topics.partitions()   # internal: Faust creates them when missing, with these counts
    correlation_topic = app.topic(settings.topics.correlation, key_type=bytes, value_type=bytes, internal=True,
                                  partitions=counts[settings.topics.correlation])
    incidents_topic = app.topic(settings.topics.incidents, key_type=bytes, value_type=bytes, internal=True,
                                partitions=counts[settings.topics.incidents], config={"cleanup.policy": "compact"})
    state = app.tables.add(SinglePartitionTable(
        app, name="incident-state", beacon=app.tables.beacon, key_type=str, partitions=1,
        help="The correlator's open incidents (consumers/incidents.py to_state)"))
    blast, open_incidents = blast or BlastRadius(), open_incidents or metrics.OpenIncidents()
    blast.bind(state)            # the topology collector, beside the correlator
    open_incidents.bind(state)
    # the correlator, while this worker owns the partition; the event time of its newest window
    # and when (monotonic) it came, so quiet periods pass with the wall clock when nothing comes
    live: dict = {"correlator": None, "event_time": 0.0, "seen_at": 0.0}

    def analyst(packed: list[dict]) -> list[dict]:
        """The served model ranks an incident over its evidence records (none: the windows' votes)."""
        rank = pipeline.incident_analyst
        return rank(packed) if rank is not None else []

    def save(corr: Correlator) -> None:
        """The open incidents under one key, each incident's evidence records under one of its own."""
        for iid, records in corr.evidence_changes().items():
            if records is None:
                state.pop(EVIDENCE_KEY + iid, None)
            else:
                state[EVIDENCE_KEY + iid] = records
        state[key] = corr.to_state(evidence=False)

    def correlator() -> Correlator:
        if live["correlator"] is None:
            live["correlator"] = Correlator.from_state(state.get(key), config=CorrelatorConfig.learned(pipeline.incident_gap),
                                                       analyst=analyst,
                                                       evidence=lambda iid: state.get(EVIDENCE_KEY + iid))
            live["event_time"], live["seen_at"] = live["correlator"].event_time, time.monotonic()
            log.info("correlator restored: %d open incidents", len(live["correlator"].incidents))
        return live["correlator"]

    async def send_incidents(messages) -> None:
        for m in messages:
            blast.annotate(m)
            open_incidents.track(m)
            pipeline.counters.incidents_opened += m["state"] == "open"
            pipeline.counters.incidents_resolved += m["state"] == "resolved"
            await incidents_topic.send(key=m["incident_id"].encode(), value=schemas.encode(m))

    @app.agent(correlation_topic, concurrency=1)
    async def correlate(stream):
        async for event in repair.events(stream):
            corr = correlator()
            if corr.config.link_seconds != (wanted := CorrelatorConfig.learned(pipeline.incident_gap)).link_seconds:
                corr.config = wanted      # a new model learned another gap
            result = schemas.decode(event.value)
            blast.take(result)   # the window's subgraph: learnt here, never on rca.results
            messages = corr.observe(result)
            live["event_time"], live["seen_at"] = corr.event_time, time.monotonic()
            result["incident_id"] = corr.incident_of(result["window_id"])
            await results_topic.send(key=result["window_id"].encode(), value=schemas.encode(result))
            await send_incidents(messages)
            save(corr)

    @app.timer(interval=5.0)
    async def resolve_quiet_incidents():
        """Event time moves on with the wall clock while no incident window comes."""
        corr = live["correlator"]
        if corr is None or not corr.incidents:
            return
        messages = corr.expire(live["event_time"] + (time.monotonic() - live["seen_at"]))
        if messages:
            await send_incidents(messages)
            save(corr)

    @app.on_partitions_revoked.connect
    async def forget_correlator(_app, revoked, **_kw) -> None:
        live["correlator"] = None    # restored from the table by whoever owns the partition next
        blast.forget()
        open_incidents.forget()

    return correlation_topic


def _follow_production(app: faust.App, settings: Settings, pipeline: Pipeline, serving: models.Serving,
                       model_ref: str | None, tracker, emit) -> None:
    """Hot reload: a timer verifies and loads a new production bundle off the event loop, then swaps it in."""
    backend = None           # tracking.backend.Backend: built on the first poll, then reused
    reported_error: str | None = None

    def refresh() -> tuple[bool, str | None]:
        nonlocal backend
        if backend is None:
            from tracking.backend import Backend

            backend = Backend.from_env()
        return models.refresh(serving, model_ref, backend)

    outage_since: float | None = None   # the tracking server (or S3) stopped answering: one warning, one info

    @app.timer(interval=settings.worker.model_poll_seconds)
    async def follow_production():
        nonlocal reported_error, outage_since
        changed, error = await asyncio.get_running_loop().run_in_executor(None, refresh)
        if models.is_outage(error):
            if outage_since is None:
                outage_since = time.monotonic()
                log.warning("model registry unreachable (%s); keeping model %s, retrying every %g s",
                            error.splitlines()[0][:300], serving.version, settings.worker.model_poll_seconds)
            return
        if outage_since is not None:
            log.info("model registry reachable again after %.0f s; following production (model %s)",
                     time.monotonic() - outage_since, serving.version)
            outage_since = None
        if changed:
            models.apply(pipeline, serving)
            if tracker is not None:
                tracker.set_model_version(serving.version)
            reported_error = error
            await emit(f"model-{settings.worker.app_id}", "model_loaded", model_version=serving.version)
            return
        if error and error != reported_error and models.is_bundle_problem(error):
            pipeline.counters.model_refusals += 1
            log.warning("keeping model %s: %s", serving.version, error.splitlines()[0][:300])
            await emit(f"model-{settings.worker.app_id}", "model_load_failed", reason=error[:1000],
                       model_version=serving.version)
        reported_error = error


def _add_control_plane(app: faust.App, settings: Settings, repair: GapRepair):
    """The control agent: validate commands, publish accepted/rejected, run retraining jobs.

    Returns the coroutine that publishes a control event (the model follower uses it too)."""
    validator = CommandValidator(settings.control)
    runner = JobRunner(settings.control)
    control_topic = app.topic(settings.topics.control, key_type=bytes, value_type=bytes)
    events_topic = app.topic(settings.topics.control_events, key_type=bytes, value_type=bytes)

    async def emit(command_id: str, event: str, **fields) -> None:
        msg = control_event(command_id, event, settings.worker.app_id, **fields)
        await (await events_topic.send(key=command_id.encode(), value=schemas.encode(msg)))

    processed_loaded = asyncio.Event()

    @app.task
    async def load_processed_commands() -> None:
        try:
            seen = await asyncio.get_running_loop().run_in_executor(
                None, processed_command_ids, settings.kafka, settings.topics.control_events)
            validator.remember(seen)
            log.info("control agent: %d processed commands known from %s", len(seen),
                     settings.topics.control_events)
        except Exception as exc:  # noqa: BLE001 - the issued_at age check still bounds replays
            log.warning("could not read processed commands from %s (%s); only commands younger than "
                        "%g s can be replayed", settings.topics.control_events, exc,
                        settings.control.max_command_age_seconds)
        finally:
            processed_loaded.set()

    @app.agent(control_topic, concurrency=1)
    async def control(stream):
        # Commands processed before this start (by any worker, before any restart) are duplicates:
        # `load_processed_commands` reads rca.control.events back, off the event loop, so a
        # captured command sent again is not run again. The stream is iterated at once (Faust
        # subscribes an agent's topic when its stream starts); a command waits for that read.
        async for event in repair.events(stream):
            await processed_loaded.wait()
            verdict = validator.check(event.message.value)
            cid = str((verdict.command or {}).get("command_id") or f"invalid-{event.message.offset}")
            if verdict.reason == DUPLICATE:
                log.info("ignoring duplicate control command %s", cid)
                continue
            if not verdict.accepted:
                log.warning("rejected control command %s: %s", cid, verdict.reason)
                await emit(cid, "rejected", reason=verdict.reason[:1000])
                continue
            if verdict.command["command"] == "reload":
                await emit(cid, "accepted")
                continue  # every worker follows production on its own timer
            busy = runner.submit(verdict.command)
            await emit(cid, "rejected", reason=busy) if busy else await emit(cid, "accepted")

    @app.timer(interval=1.0)
    async def watch_jobs():
        done = runner.poll()
        if done is not None and done[1] not in (0, FAILED_AND_REPORTED):
            job, code = done
            log.warning("retraining %s exited with %d", job.command["command_id"], code)
            await emit(job.command["command_id"], "failed", reason=f"trainer process exited with code {code}")

    return emit


def tune_garbage_collector(young_threshold: int) -> None:
    """Collect cycles less often, and never look at what start-up loaded again.

    Faust, aiokafka and our pipeline allocate a few dozen containers per message, so with
    CPython's default (a young collection every 700 allocations, a full one every 100 young
    ones) the collector ran every few messages and each full pass walked every live object:
    the open windows, the template miner, the model. Offline, on simulator input with
    Faust-like garbage, that was a third of `Pipeline.handle`'s time (32 -> 23 us/message).
    Objects that live until exit (modules, Faust's services, the model served at start) are
    frozen out of every pass; cycles are still collected, just in larger, rarer batches. (When
    a hot reload replaces the start-up model, reference counting frees it; a reference cycle
    inside it would stay, once.)
    """
    import gc

    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(young_threshold, second, third)
    log.info("garbage collector: %d objects frozen, young threshold %d", gc.get_freeze_count(), young_threshold)


def run_worker(settings: Settings, pipeline: Pipeline, loglevel: str = "INFO", model_ref: str | None = None,
               track: bool = True, serve_models: bool = True) -> None:
    """Run until SIGTERM/SIGINT (blocking); one tracked MLflow run per worker lifetime. Waits for
    Kafka first (RCA_WORKER_BROKER_WAIT_SECONDS), so a worker started while it is down comes up
    with it instead of exiting."""
    from producers.kafka import wait_for_broker

    wait_for_broker(settings.kafka, settings.worker.broker_wait_seconds)
    tracker = None
    if track:
        from tracking.api import worker_run

        tracker = worker_run({"app_id": settings.worker.app_id, "topic": settings.topics.logs,
                              "window_seconds": settings.worker.window_seconds})
    app = build_app(settings, pipeline, model_ref=model_ref, tracker=tracker, serve_models=serve_models)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    tune_garbage_collector(settings.worker.gc_young_threshold)
    try:
        worker.execute_from_commandline()
    finally:
        if tracker is not None:
            tracker.close()
